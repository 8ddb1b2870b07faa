"""CloudEvents over HTTP (v1.0 HTTP protocol binding): structured, binary and batched modes.

- structured: `Content-Type: application/cloudevents+json` (or `application/json`), the body is
  one event object;
- binary: the attributes are `ce-*` headers (percent-encoded), the body is `data` and
  `Content-Type` becomes `datacontenttype`;
- batched: `Content-Type: application/cloudevents-batch+json`, the body is an array of events.

This module only turns a request into event objects; the envelope and the contract are checked
by the ingest path like every other event.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import orjson

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class RequestError(Exception):
    """A request that does not carry events at all (400 / 415)."""

    def __init__(self, status: int, code: str, detail: str, hint: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.hint = hint


def media_type(headers: Mapping[str, str]) -> str:
    return headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _is_json(kind: str) -> bool:
    return kind in ("", "application/json", "text/json") or kind.endswith("+json")


def _loads(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise RequestError(
            400, "envelope.not_json", f"{what} is not valid JSON: {exc}", "send UTF-8 JSON"
        ) from exc


def parse_events(headers: Mapping[str, str], body: bytes) -> tuple[list[Any], bool]:
    """The events a request carries and whether it was a batch; RequestError if it carries none."""
    kind = media_type(headers)
    if "ce-specversion" in headers:
        return [binary_event(headers, body, kind)], False
    if kind == BATCH:
        batch = _loads(body, "the batch")
        if not isinstance(batch, list):
            raise RequestError(
                400,
                "envelope.not_batch",
                "a batch is a JSON array of CloudEvents",
                f"send one event with Content-Type {STRUCTURED}, or wrap events in [ … ]",
            )
        return batch, True
    if kind == STRUCTURED or _is_json(kind):
        event = _loads(body, "the body")
        if isinstance(event, list):
            raise RequestError(
                400,
                "envelope.not_object",
                "the body is a JSON array, but the request is not a batch",
                f"send batches with Content-Type {BATCH}",
            )
        return [event], False
    raise RequestError(
        415,
        "envelope.media_type",
        f"unsupported Content-Type {kind!r} for a structured CloudEvent",
        f"use {STRUCTURED}, {BATCH}, or binary mode (ce-* headers with the data as the body)",
    )


def binary_event(headers: Mapping[str, str], body: bytes, kind: str) -> dict[str, Any]:
    """An event from `ce-*` headers (values percent-decoded) with the body as its data."""
    event: dict[str, Any] = {}
    for name, value in headers.items():
        if name.lower().startswith("ce-") and len(name) > 3:
            event[name[3:].lower()] = unquote(value)
    if kind:
        event["datacontenttype"] = headers.get("content-type", kind)
    if body:
        if _is_json(kind):
            event["data"] = _loads(body, "the data")
        elif kind.startswith("text/") or kind in ("application/xml", "application/csv"):
            try:
                event["data"] = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RequestError(
                    400, "envelope.encoding", f"the data is not UTF-8: {exc}"
                ) from exc
        else:
            event["data_base64"] = base64.b64encode(body).decode()
    return event


__all__ = ["BATCH", "STRUCTURED", "RequestError", "binary_event", "media_type", "parse_events"]

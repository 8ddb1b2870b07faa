"""What an http operation puts on the wire and makes of error answers."""

from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from runtime.connectors.secrets import connector_error
from runtime.errors import ConnectorError
from runtime.expressions.compiled import CompiledValue, InterpolatedString


def render_path(path: CompiledValue, document: dict[str, Any]) -> str:
    """The request path with every interpolated value percent-encoded, so data cannot change
    which resource is called (no `/`, `?`, `#` or `..` smuggled in from an event)."""
    if isinstance(path, InterpolatedString):
        out = []
        for part in path.parts:
            if isinstance(part, str):
                out.append(part)
            else:
                value = part.evaluate(document)
                out.append(
                    quote(
                        ""
                        if value is None
                        else value
                        if isinstance(value, str)
                        else orjson.dumps(value).decode(),
                        safe="",
                    )
                )
        text = "".join(out)
    else:
        value = path.evaluate(document)
        text = "/".join(quote(segment, safe="") for segment in str(value).split("/"))
    if any(segment in (".", "..") for segment in text.split("/")):
        raise connector_error(
            f"request path {text!r} contains a dot segment", transient=False, error_class="bad_path"
        )
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


def status_error(method: str, path: str, response: httpx.Response) -> ConnectorError:
    status = response.status_code
    return connector_error(
        f"{method} {path} answered {status}: {response.text[:300]}",
        transient=status in (408, 429) or status >= 500,
        status=status,
        retry_after=_retry_after(response.headers.get("Retry-After")),
        error_class=f"http_{status}",
    )

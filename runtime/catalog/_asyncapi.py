"""AsyncAPI 3.0 for the catalog: one channel per event type, one message per contract version,
one operation per flow that receives or sends it. Messages are CloudEvents 1.0 in structured
mode (`application/cloudevents+json`): the payload schema is the envelope, with the contract
version's schema (draft 2020-12, unchanged) as its `data`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.catalog import Catalog, EventEntry, VersionEntry

SCHEMA_FORMAT = "application/schema+json;version=draft-2020-12"
CONTENT_TYPE = "application/cloudevents+json"


def message_id(event_type: str, version: int) -> str:
    return f"{event_type}.v{version}"


def _envelope(event: EventEntry, version: VersionEntry) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, structured mode; `data` is the contract version.",
        "required": ["specversion", "id", "source", "type", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "description": "Unique per source."},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": event.type},
            "subject": {"type": "string", "description": "The business key."},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"const": version.uri},
            "data": version.schema,
        },
    }


def _examples(root: Path, version: VersionEntry) -> list[dict[str, Any]]:
    out = []
    for file, valid in version.examples:
        if not valid:
            continue
        try:
            payload = json.loads((root / file).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        out.append({"name": Path(file).stem, "summary": file, "payload": payload})
    return out


def asyncapi_document(catalog: Catalog) -> dict[str, Any]:
    root = Path(catalog.root)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for event in catalog.events:
        channel_messages = {}
        for version in event.versions:
            key = message_id(event.type, version.number)
            messages[key] = {
                "name": event.type,
                "title": f"{event.type} v{version.number}",
                "summary": (event.description or event.type).split(". ")[0],
                "description": event.description or "",
                "contentType": CONTENT_TYPE,
                "payload": {"schemaFormat": SCHEMA_FORMAT, "schema": _envelope(event, version)},
                "examples": _examples(root, version),
                "x-seamline-contract-file": version.file,
            }
            channel_messages[key] = {"$ref": f"#/components/messages/{key}"}
        channels[event.type] = {
            "address": event.type,
            "title": event.type,
            "description": event.description or "",
            "messages": channel_messages,
            "x-seamline-owner": event.owner,
            "x-seamline-compatibility": event.compatibility,
        }
        every = [{"$ref": f"#/channels/{event.type}/messages/{k}"} for k in channel_messages]
        for flow in event.consumers:
            entry = next(f for f in catalog.flows if f.name == flow)
            operations[f"{flow}.receive.{event.type}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{event.type}"},
                "title": f"{flow} is triggered by {event.type}",
                "summary": entry.description or flow,
                "messages": every,
                "x-seamline-flow": flow,
                "x-seamline-filter": entry.filter,
            }
        for flow, step in event.awaiters:
            operations[f"{flow}.{step}.receive.{event.type}"] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{event.type}"},
                "title": f"{flow} waits for {event.type} (step {step})",
                "messages": every,
                "x-seamline-flow": flow,
                "x-seamline-step": step,
            }
        for ref, kind in event.sources:
            operations[f"{ref}.send.{event.type}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{event.type}"},
                "title": f"source {ref} ({kind}) emits {event.type}",
                "messages": every,
                "x-seamline-source": ref,
            }
        for flow, step, number in event.emitters:
            key = message_id(event.type, number)
            operations[f"{flow}.{step}.send.{event.type}"] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{event.type}"},
                "title": f"{flow} emits {event.type} v{number} (step {step})",
                "messages": [{"$ref": f"#/channels/{event.type}/messages/{key}"}],
                "x-seamline-flow": flow,
                "x-seamline-step": step,
            }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{catalog.workspace} event catalog",
            "version": f"0.0.0+{catalog.workspace_hash[:12]}",
            "description": "Generated by `seamline catalog` from the workspace's contracts/ and "
            "flows/: one channel per event type, one message per contract version, one "
            "operation per flow that receives or sends it.",
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }

"""The OpenAPI 3.1 document of the server, built from the route table (GET /api/openapi.json)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from runtime.server._problem import TITLES
from runtime.server._routes import Endpoint

SECURITY_SCHEMES = {
    "apiToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token from `tokens:` in seamline.yaml; its role (viewer < operator "
        "< admin) decides what it may do. Each operation names the role it needs in "
        "`x-seamline-role`.",
    },
    "ingressToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "An ingress token from `ingress_tokens:`; it may only post events.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Seamline-Signature",
        "description": '`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>` '
        "with the source's secret from `hooks:`.",
    },
}

PROBLEM = {
    "type": "object",
    "description": "An RFC 9457 problem document; `code` is stable.",
    "required": ["type", "title", "status", "code", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "violations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "contract": {"type": ["string", "null"]},
    },
}


def _operation_id(endpoint: Endpoint) -> str:
    words = re.sub(r"[{}]", "", endpoint.path).strip("/").replace("-", "_").split("/")
    return "_".join([endpoint.method.lower(), *[w for w in words if w]])


def _security(endpoint: Endpoint) -> list[dict[str, list[str]]]:
    if endpoint.access == "open":
        return []
    if endpoint.access == "ingress":
        return [{"ingressToken": []}]
    if endpoint.access == "hmac":
        return [{"webhookSignature": []}]
    return [{"apiToken": []}]


def _responses(endpoint: Endpoint) -> dict[str, Any]:
    codes = dict(endpoint.responses)
    if endpoint.access not in ("open", "hmac"):
        codes.setdefault(401, "No token, or an unknown one")
        codes.setdefault(403, "The token's role is not enough")
    out: dict[str, Any] = {}
    for code in sorted(codes):
        entry: dict[str, Any] = {"description": codes[code] or TITLES.get(code, "")}
        if code < 300 and endpoint.result is not None:
            entry["content"] = {endpoint.result_type: {"schema": dict(endpoint.result)}}
        elif code >= 400:
            entry["content"] = {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            }
        out[str(code)] = entry
    return out


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": _operation_id(endpoint),
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": _security(endpoint),
        "x-seamline-role": endpoint.access,
        "responses": _responses(endpoint),
    }
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.params:
        operation["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "description": p.description,
                "required": p.required,
                "schema": dict(p.schema),
            }
            for p in endpoint.params
        ]
    if endpoint.body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {kind: {"schema": dict(schema)} for kind, schema in endpoint.body.items()},
        }
    return operation


def openapi_document(endpoints: Iterable[Endpoint], version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    tags: dict[str, None] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
        tags[endpoint.tag] = None
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "seamline runtime",
            "version": version,
            "description": "Event ingress, webhooks and the ops API of `seamline serve`.",
        },
        "tags": [{"name": t} for t in tags],
        "paths": paths,
        "components": {"securitySchemes": SECURITY_SCHEMES, "schemas": {"Problem": PROBLEM}},
    }


__all__ = ["openapi_document"]

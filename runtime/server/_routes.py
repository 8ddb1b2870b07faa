"""The route table: each endpoint with its access rule and its OpenAPI description, in one place.

The Starlette routes (app.py) and the OpenAPI document (openapi.py) are both built from it, so
the document cannot drift from what is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from runtime.server.auth import Access

Handler = Callable[[Request], Awaitable[Response]]
Schema = Mapping[str, Any]


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # query | path | header
    description: str
    schema: Schema = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    tag: str
    params: tuple[Param, ...] = ()
    body: Mapping[str, Schema] | None = None  # content type -> schema
    responses: Mapping[int, str] = field(default_factory=lambda: {200: "OK"})
    result: Schema | None = None  # schema of the success answer
    result_type: str = "application/json"
    description: str = ""


def query(name: str, description: str, **schema: Any) -> Param:
    return Param(name, "query", description, schema or {"type": "string"})


def path(name: str, description: str) -> Param:
    return Param(name, "path", description, {"type": "string"}, required=True)


OBJECT: Schema = {"type": "object"}
LIST_OF_OBJECTS: Schema = {"type": "array", "items": {"type": "object"}}

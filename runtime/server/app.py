"""The Starlette app: the route table behind its access rules, and the lifespan that runs the
workers and the reloader (`create_app(state)`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.server import api, hooks, ingress, status
from runtime.server._problem import json_response, problem
from runtime.server._routes import Endpoint
from runtime.server.auth import guard
from runtime.server.openapi import openapi_document
from runtime.server.state import ServerState
from runtime.server.status import server_version

log = logging.getLogger("seamline.server")


def route_table(state: ServerState) -> list[Endpoint]:
    table = [
        *ingress.endpoints(state),
        *hooks.endpoints(state),
        *api.endpoints(state),
        *status.endpoints(state),
    ]
    document: dict[str, object] = {}

    async def get_openapi(request: Request) -> Response:
        if not document:
            document.update(openapi_document(table, server_version()))
        return json_response(document)

    table.append(
        Endpoint(
            "GET",
            "/api/openapi.json",
            get_openapi,
            "viewer",
            "This document (OpenAPI 3.1)",
            "status",
            result={"type": "object"},
        )
    )
    return table


def create_app(state: ServerState) -> Starlette:
    """The server app for `state`; its lifespan starts and drains the background work."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with anyio.create_task_group() as group:
            await state.start(group)
            try:
                yield
            finally:
                with anyio.CancelScope(shield=True):
                    await state.stop()
                group.cancel_scope.cancel()

    async def on_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "server.error", f"{type(exc).__name__}: the error is in the server log")

    async def not_found(request: Request, exc: Exception) -> Response:
        return problem(404, "api.not_found", f"no endpoint {request.method} {request.url.path}")

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return problem(405, "api.method_not_allowed", f"{request.method} is not allowed here")

    table = route_table(state)
    routes = [
        Route(e.path, guard(lambda: state.auth, e.access, e.handler), methods=[e.method])
        for e in table
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: not_allowed, 500: on_error},
    )
    app.state.seamline = state
    app.state.route_table = table
    return app


__all__ = ["create_app", "route_table"]

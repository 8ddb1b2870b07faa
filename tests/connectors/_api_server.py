"""A second real HTTP service for the http connector: OAuth2, pagination, health, echoes.

Served like `_server.LiveServer` (uvicorn on 127.0.0.1 in a thread). Routes:

    POST /oauth/token               client credentials grant: basic auth or form client_id/secret;
                                    issues `at-<n>-<random>` living `token_lifetime` seconds; 401 otherwise
    GET  /api/me                    200 with a live token issued above, else 401
    GET  /api/always401             401 whatever the token
    GET  /paged/cursor?cursor=N     items N.. (page of `page_size`); meta.next_cursor or null
    GET  /paged/link?page=N         data + links.next (a relative URL) until the last page
    GET  /paged/header?page=N       a list body + `Link: <…>; rel="next"` until the last page
    GET  /paged/offset?offset&limit items[offset:offset+limit]
    GET  /paged/endless?cursor=N    always has a next cursor
    GET  /paged/elsewhere           links.next points at another origin
    GET  /health/{name}             503 while `state.down` holds name, else 200
    GET  /echo-auth                 401 whose body repeats the Authorization header it got
    GET  /tick                      200 (for pacing measurements)
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.connectors._server import LiveServer, ServerState, record_request

CLIENT_ID = "seamline-client"
CLIENT_SECRET = "cs-8d1e-client-secret"
ITEMS = [{"n": i} for i in range(25)]


@dataclass
class ApiState(ServerState):
    page_size: int = 10
    token_lifetime: float = 3600.0
    tokens: dict[str, float] = field(default_factory=dict)
    """access token -> monotonic expiry"""
    issued: list[dict[str, Any]] = field(default_factory=list)
    down: set[str] = field(default_factory=set)

    def revoke_all(self) -> None:
        with self.lock:
            self.tokens.clear()

    def api(self, path: str) -> list[Any]:
        with self.lock:
            return [r for r in self.requests if r.path == path]


def _client_credentials(request: Request, form: Any) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.startswith("Basic "):
        user, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        return user, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def build_api(state: ApiState) -> Starlette:  # noqa: C901 - one small handler per route
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        await record_request(state, request)
        client, secret = _client_credentials(request, form)
        if form.get("grant_type") != "client_credentials" or (client, secret) != (CLIENT_ID, CLIENT_SECRET):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        with state.lock:
            value = f"at-{len(state.issued) + 1}-{secrets.token_hex(6)}"
            state.tokens[value] = time.monotonic() + state.token_lifetime
            state.issued.append({"token": value, "scope": form.get("scope"), "audience": form.get("audience")})
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": state.token_lifetime})

    def live(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        with state.lock:
            expiry = state.tokens.get(header.removeprefix("Bearer "))
        return expiry is not None and time.monotonic() < expiry

    async def me(request: Request) -> Response:
        await record_request(state, request)
        if not live(request):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"ok": True})

    async def always401(request: Request) -> Response:
        await record_request(state, request)
        return JSONResponse({"error": "invalid_token"}, status_code=401)

    def window(start: int) -> list[Any]:
        return ITEMS[start:start + state.page_size]

    async def cursor(request: Request) -> Response:
        await record_request(state, request)
        start = int(request.query_params.get("cursor", "0"))
        nxt = start + state.page_size
        return JSONResponse({"items": window(start), "meta": {"next_cursor": str(nxt) if nxt < len(ITEMS) else None}})

    async def link(request: Request) -> Response:
        await record_request(state, request)
        page = int(request.query_params.get("page", "1"))
        nxt = f"/paged/link?page={page + 1}" if page * state.page_size < len(ITEMS) else None
        return JSONResponse({"data": window((page - 1) * state.page_size), "links": {"next": nxt}})

    async def header(request: Request) -> Response:
        await record_request(state, request)
        page = int(request.query_params.get("page", "1"))
        headers = {}
        if page * state.page_size < len(ITEMS):
            headers["Link"] = f'<{request.url_for("header").include_query_params(page=page + 1)}>; rel="next"'
        return JSONResponse(window((page - 1) * state.page_size), headers=headers)

    async def offset(request: Request) -> Response:
        await record_request(state, request)
        start, limit = int(request.query_params["offset"]), int(request.query_params["limit"])
        return JSONResponse({"items": ITEMS[start:start + limit]})

    async def endless(request: Request) -> Response:
        await record_request(state, request)
        at = int(request.query_params.get("cursor", "0"))
        return JSONResponse({"items": [{"n": at}], "next": str(at + 1)})

    async def elsewhere(request: Request) -> Response:
        await record_request(state, request)
        return JSONResponse({"data": [1], "links": {"next": "http://127.0.0.2:9/steal"}})

    async def health(request: Request) -> Response:
        await record_request(state, request)
        if request.path_params["name"] in state.down:
            return JSONResponse({"error": "down"}, status_code=503)
        return JSONResponse({"ok": True})

    async def echo_auth(request: Request) -> Response:
        await record_request(state, request)
        got = request.headers.get("authorization", "")
        return JSONResponse({"error": f"credentials {got!r} are not valid here"}, status_code=401)

    async def tick(request: Request) -> Response:
        await record_request(state, request)
        return JSONResponse({"ok": True})

    return Starlette(routes=[
        Route("/oauth/token", token, methods=["POST"]),
        Route("/api/me", me, methods=["GET"]),
        Route("/api/always401", always401, methods=["GET"]),
        Route("/paged/cursor", cursor, methods=["GET"]),
        Route("/paged/link", link, methods=["GET"]),
        Route("/paged/header", header, methods=["GET"], name="header"),
        Route("/paged/offset", offset, methods=["GET"]),
        Route("/paged/endless", endless, methods=["GET"]),
        Route("/paged/elsewhere", elsewhere, methods=["GET"]),
        Route("/health/{name}", health, methods=["GET"]),
        Route("/echo-auth", echo_auth, methods=["GET"]),
        Route("/tick", tick, methods=["GET"]),
    ])


def api_server() -> LiveServer:
    """A started API server; `server.state` is its ApiState."""
    return LiveServer(token="", build=build_api, state=ApiState(token="")).start()

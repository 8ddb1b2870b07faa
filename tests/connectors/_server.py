"""A small but real HTTP service for the http connector tests.

A Starlette app served by uvicorn on 127.0.0.1 (a free port) in a background thread. It keeps
every request it receives, so tests can assert on the headers, query and body that really went
over the wire, and it supports idempotency keys the way the simulated ERP does: a second POST
with the same `Idempotency-Key` answers the first record instead of creating another.

Routes:

    GET  /customers?tax_id=X        customers with that tax id (a list, maybe empty)
    POST /customers                 create a customer (idempotent per Idempotency-Key)
    GET  /customers/{id}            one customer; 404 when unknown
    POST /flaky/{name}?fails=N      503 for the first N calls per name, then 200
    GET  /limited/{name}            429 with Retry-After: 1 on the first call per name, then 200
    POST /invalid                   400 always
    GET  /slow?seconds=S            answers after S seconds (default 1)
    GET  /secure                    200 only with `Authorization: Bearer <token>`, else 401
    GET  /echo/{rest:path}          the raw request path and query as the server received them
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


@dataclass
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    client_port: int = 0
    at: float = 0.0
    """time.monotonic() when the request arrived."""


@dataclass
class ServerState:
    token: str
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_key: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: int = 0
    counters: dict[str, int] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def for_run(self, run_id: str) -> list[Received]:
        """Requests a run made (it sends its id as X-Correlation-Id)."""
        with self.lock:
            return [r for r in self.requests if r.headers.get("x-correlation-id") == run_id]

    def count(self, name: str) -> int:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0) + 1
            return self.counters[name]


async def record_request(state: ServerState, request: Request) -> Any:
    """Keep the request in `state.requests`; its JSON (or text) body."""
    raw = await request.body()
    body: Any = None
    if raw:
        try:
            body = await request.json()
        except ValueError:
            body = raw.decode("utf-8", "replace")
    with state.lock:
        state.requests.append(Received(
            method=request.method,
            path=request.url.path,
            raw_path=request.scope.get("raw_path", b"").decode("latin-1"),
            query=dict(request.query_params),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            client_port=request.client.port if request.client else 0,
            at=time.monotonic(),
        ))
    return body


def build_app(state: ServerState) -> Starlette:
    async def record(request: Request) -> Any:
        return await record_request(state, request)

    async def list_customers(request: Request) -> Response:
        await record(request)
        tax_id = request.query_params.get("tax_id")
        with state.lock:
            found = [c for c in state.customers.values() if tax_id is None or c["tax_id"] == tax_id]
        return JSONResponse(found)

    async def create_customer(request: Request) -> Response:
        body = await record(request)
        key = request.headers.get("idempotency-key")
        with state.lock:
            if key and key in state.by_key:
                return JSONResponse(state.by_key[key], status_code=200)
            state.created += 1
            customer = {"id": f"C{state.created}", "tax_id": body.get("tax_id"), "name": body.get("name")}
            state.customers[customer["id"]] = customer
            if key:
                state.by_key[key] = customer
        return JSONResponse(customer, status_code=201)

    async def get_customer(request: Request) -> Response:
        await record(request)
        with state.lock:
            customer = state.customers.get(request.path_params["id"])
        if customer is None:
            return JSONResponse({"error": "no such customer"}, status_code=404)
        return JSONResponse(customer)

    async def flaky(request: Request) -> Response:
        await record(request)
        name = request.path_params["name"]
        calls = state.count(f"flaky:{name}")
        if calls <= int(request.query_params.get("fails", "1")):
            return JSONResponse({"error": "temporarily unavailable"}, status_code=503)
        return JSONResponse({"ok": True, "calls": calls})

    async def limited(request: Request) -> Response:
        await record(request)
        if state.count(f"limited:{request.path_params['name']}") == 1:
            return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "1"})
        return JSONResponse({"ok": True})

    async def invalid(request: Request) -> Response:
        await record(request)
        return JSONResponse({"error": "tax_id is malformed"}, status_code=400)

    async def slow(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(float(request.query_params.get("seconds", "1")))
        return JSONResponse({"ok": True})

    async def secure(request: Request) -> Response:
        await record(request)
        if request.headers.get("authorization") != f"Bearer {state.token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        return JSONResponse({"ok": True})

    async def echo(request: Request) -> Response:
        await record(request)
        return JSONResponse({"raw_path": request.scope.get("raw_path", b"").decode("latin-1"),
                             "query": dict(request.query_params)})

    return Starlette(routes=[
        Route("/customers", list_customers, methods=["GET"]),
        Route("/customers", create_customer, methods=["POST"]),
        Route("/customers/{id}", get_customer, methods=["GET"]),
        Route("/flaky/{name}", flaky, methods=["POST"]),
        Route("/limited/{name}", limited, methods=["GET"]),
        Route("/invalid", invalid, methods=["POST"]),
        Route("/slow", slow, methods=["GET"]),
        Route("/secure", secure, methods=["GET"]),
        Route("/echo/{rest:path}", echo, methods=["GET"]),
    ])


def free_port() -> int:
    """A port nothing listens on (bound and released); also used for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """The app above, served by uvicorn in a daemon thread until `stop()`."""

    def __init__(self, token: str, build: Any = None, state: ServerState | None = None) -> None:
        self.state = state or ServerState(token=token)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config((build or build_app)(self.state), log_level="warning", access_log=False,
                                lifespan="off", timeout_graceful_shutdown=1)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("test HTTP server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

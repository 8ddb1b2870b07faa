"""What every simulated system shares: bearer auth, a token-bucket rate limit, fault injection,
`Idempotency-Key` replay, problem+json errors, pagination, webhooks, /healthz and /_admin.

A system is a `Service` subclass: its tables, its routes (sync handlers that get a `Call` and
return a JSON-able body or a `Reply`), and its CloudEvents source. Handlers run inside one
SQLite transaction together with the idempotency record and the outbox rows they emit.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from starlette.applications import Starlette
from starlette.datastructures import Headers, QueryParams
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from runtime.sandbox._problem import Problem
from runtime.sandbox._store import Store, Table, now_iso
from runtime.sandbox.faults import FaultConfig, FaultInjector
from runtime.sandbox.ratelimit import RateLimit, TokenBucket
from runtime.sandbox.webhooks import WebhookDispatcher, cloud_event

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
log = logging.getLogger("seamline.sandbox")


@dataclass
class ServiceSettings:
    """How one system behaves; every field has a flag and an environment variable in the CLI."""

    token: str = "sandbox-token"
    rate_limit: RateLimit = field(default_factory=RateLimit)
    faults: FaultConfig = field(default_factory=FaultConfig)
    webhook_url: str | None = None
    webhook_secret: str = "sandbox-webhook-secret"


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    """One request as a handler sees it."""

    service: Service
    method: str
    url: str
    params: dict[str, str]
    query: QueryParams
    body: Any
    emitted: int = 0

    @property
    def store(self) -> Store:
        return self.service.store

    def emit(self, event_type: str, subject: str, data: dict[str, Any], version: int = 1) -> None:
        """Announce a change by webhook (written to the outbox in this transaction)."""
        event = cloud_event(self.service.source, event_type, subject, data, version)
        self.service.webhooks.record(event)
        self.emitted += 1

    def page(self, table: str, filters: Mapping[str, Any]) -> dict[str, Any]:
        """A page of `table` filtered by doc fields, in the service's pagination style."""
        from runtime.sandbox._pages import PAGERS

        return PAGERS[self.service.page_style](self, table, dict(filters))


Handler = Callable[[Call], Any]


class Service:
    """A simulated system: subclass with `name`, `source`, `tables`, `routes()`."""

    name: ClassVar[str]
    title: ClassVar[str]
    source: ClassVar[str]  # CloudEvents `source` of its webhooks
    tables: ClassVar[list[Table]]
    page_style: ClassVar[str] = "offset"  # cursor | link | offset

    def __init__(self, db_path: Path, settings: ServiceSettings | None = None) -> None:
        self.settings = settings or ServiceSettings()
        self.store = Store(db_path, self.tables)
        self.faults = FaultInjector(self.settings.faults)
        self.bucket = TokenBucket(self.settings.rate_limit)
        self.webhooks = WebhookDispatcher(
            self.store, self.name, self.settings.webhook_url, self.settings.webhook_secret
        )
        with self.store.tx():
            self.seed()

    def seed(self) -> None:
        """Reference data the system starts with (runs at every start; must be idempotent)."""

    def routes(self) -> list[tuple[str, str, Handler]]:
        raise NotImplementedError

    def counts(self) -> dict[str, int]:
        """Records per business table."""
        return {name: self.store.count(name) for name in self.store.tables}

    def replays(self, exclude_prefix: str | None = None) -> int:
        """Requests answered from the idempotency store: writes a retry did not repeat (those
        whose key starts with `exclude_prefix` left out)."""
        sql, params = "SELECT COALESCE(SUM(replays), 0) FROM _idempotency", ()
        if exclude_prefix:
            sql, params = (
                sql + " WHERE substr(key, 1, ?) != ?",
                (len(exclude_prefix), exclude_prefix),
            )
        row = self.store.one(sql, params)
        return int(row[0]) if row else 0

    def set_faults(self, faults: FaultConfig) -> None:
        self.faults.config = faults

    # ── the ASGI app ────────────────────────────────────────────────────────────────────
    def app(self) -> ASGIApp:
        routes = [Route(path, self._endpoint(h), methods=[m]) for m, path, h in self.routes()]
        routes += [
            Route("/healthz", self._healthz, methods=["GET"]),
            Route("/_admin/counts", self._admin_counts, methods=["GET"]),
            Route("/_admin/events", self._admin_events, methods=["GET"]),
            Route("/_admin/events/{seq:int}/redeliver", self._admin_redeliver, methods=["POST"]),
            Route("/_admin/faults", self._admin_faults, methods=["GET", "PUT"]),
            Route("/_admin/webhook", self._admin_webhook, methods=["PUT"]),
        ]
        app = Starlette(
            routes=routes,
            lifespan=self._lifespan,
            exception_handlers={HTTPException: _http_problem},
        )
        return Gate(app, self)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(self.webhooks.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _endpoint(self, handler: Handler) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            body: Any = None
            raw = await request.body() if request.method in WRITES else b""
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return Problem(400, "malformed_json", "the body is not valid JSON").response()
            key = request.headers.get("idempotency-key") if request.method in WRITES else None
            call = Call(
                self,
                request.method,
                str(request.url),
                dict(request.path_params),
                request.query_params,
                body,
            )
            try:
                with self.store.tx():
                    replayed = self._replay(key, call, request) if key else None
                    if replayed is not None:
                        return replayed
                    result = handler(call)
                    reply = result if isinstance(result, Reply) else Reply(result)
                    if key:
                        self._remember(key, call, request, reply)
            except Problem as problem:
                return problem.response()
            except Exception as exc:  # a bug or unexpected input: rolled back, said as JSON
                log.exception("%s %s %s failed", self.name, request.method, request.url.path)
                detail = f"{type(exc).__name__}: {exc}"
                return Problem(500, "internal_error", detail).response()
            if call.emitted:
                self.webhooks.kick()
            return JSONResponse(reply.body, status_code=reply.status, headers=reply.headers)

        return endpoint

    def _fingerprint(self, call: Call, request: Request) -> str:
        text = json.dumps(
            [call.method, request.url.path, str(call.query), call.body], sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()

    def _replay(self, key: str, call: Call, request: Request) -> Response | None:
        row = self.store.one("SELECT * FROM _idempotency WHERE key = ?", (key,))
        if row is None:
            return None
        if row["fingerprint"] != self._fingerprint(call, request):
            raise Problem(
                422,
                "idempotency_key_reused",
                f"Idempotency-Key {key!r} was first used for {row['method']} {row['path']} "
                "with a different request; use a new key for a different request",
                idempotency_key=key,
            )
        self.store.execute("UPDATE _idempotency SET replays = replays + 1 WHERE key = ?", (key,))
        return JSONResponse(
            json.loads(row["body"]),
            status_code=row["status"],
            headers={"Idempotent-Replayed": "true"},
        )

    def _remember(self, key: str, call: Call, request: Request, reply: Reply) -> None:
        self.store.execute(
            "INSERT INTO _idempotency (key, method, path, fingerprint, status, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                call.method,
                request.url.path,
                self._fingerprint(call, request),
                reply.status,
                json.dumps(reply.body),
                now_iso(),
            ),
        )

    # ── operations endpoints ────────────────────────────────────────────────────────────
    async def _healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "service": self.name, "title": self.title})

    async def _admin_counts(self, request: Request) -> Response:
        return JSONResponse(self.counts())

    async def _admin_events(self, request: Request) -> Response:
        q = request.query_params
        return JSONResponse({"items": self.webhooks.events(q.get("type"), q.get("status"))})

    async def _admin_redeliver(self, request: Request) -> Response:
        if not self.webhooks.redeliver(int(request.path_params["seq"])):
            return Problem(404, "not_found", "no such outbox event").response()
        return JSONResponse({"status": "pending"}, status_code=202)

    async def _admin_faults(self, request: Request) -> Response:
        if request.method == "PUT":
            try:
                self.set_faults(self.faults.config.with_changes(**(await request.json())))
            except (TypeError, ValueError) as exc:
                return Problem(422, "validation", str(exc)).response()
        return JSONResponse(asdict(self.faults.config))

    async def _admin_webhook(self, request: Request) -> Response:
        body = await request.json()
        self.webhooks.url = body.get("url")
        if body.get("secret"):
            self.webhooks.secret = body["secret"]
        self.webhooks.kick()
        return JSONResponse({"url": self.webhooks.url})


async def _http_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = f"{request.method} {request.url.path}: {exc.detail}"
    return Problem(exc.status_code, code, detail).response()


class Gate:
    """ASGI middleware in front of a service: auth (401), rate limit (429), faults (503/504,
    latency). `/healthz` is open; `/_admin/*` needs the token but is never limited or faulted."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == "/healthz":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        service = self.service
        expected = f"Bearer {service.settings.token}"
        if not hmac.compare_digest(headers.get("authorization", "").encode(), expected.encode()):
            problem = Problem(
                401,
                "unauthorized",
                "missing or invalid bearer token",
                headers={"WWW-Authenticate": f'Bearer realm="{service.name}"'},
            )
            await problem.response()(scope, receive, send)
            return
        if scope["path"].startswith("/_admin/"):
            await self.app(scope, receive, send)
            return
        allowed, left, wait = service.bucket.take()
        if not allowed:
            problem = Problem(
                429,
                "rate_limited",
                f"rate limit of {service.bucket.limit.rate:g} requests/s exceeded; "
                f"retry after {wait}s",
                headers={"Retry-After": str(wait), "X-RateLimit-Remaining": "0"},
            )
            await problem.response()(scope, receive, send)
            return
        decision = service.faults.decide(
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            headers.get("idempotency-key"),
        )
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.hang:
            if scope["method"] in WRITES:
                # the nastiest timeout: the change is made, the answer never arrives in time
                await self.app(scope, receive, _discard)
            await asyncio.sleep(service.faults.config.hang)
            problem = Problem(504, "timeout", "injected fault: the request timed out")
            await problem.response()(scope, receive, send)
            return
        if decision.error:
            problem = Problem(
                503,
                "unavailable",
                f"injected fault: {service.title} is temporarily unavailable",
                headers={"Retry-After": "1"},
            )
            await problem.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _discard(message: Any) -> None:
    return None

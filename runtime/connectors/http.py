"""`kind: http` — named operations over HTTP/JSON.

Auth (static or OAuth2 client credentials), pagination, timeouts, a token-bucket rate limit, a
circuit breaker, W3C `traceparent`, `X-Correlation-Id` and `Idempotency-Key` on every request,
and pooled connections. The helpers live in `_http_auth.py`, `_http_paging.py`,
`_resilience.py` and `_trace.py`.

Status classes: 408, 429 and 5xx, timeouts and connection errors are transient (retried,
`Retry-After` honoured); any other 4xx is permanent.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import orjson
from pydantic import Field

from runtime.connectors._http_auth import Authenticator, HttpAuth, authenticator
from runtime.connectors._http_messages import render_path, status_error
from runtime.connectors._http_paging import HttpPagination, Page, Pager, page_items
from runtime.connectors._resilience import (
    CircuitBreaker,
    CircuitBreakerConfig,
    RateLimit,
    TokenBucket,
)
from runtime.connectors._trace import traceparent
from runtime.connectors.base import CallRequest, ConnectorCompiler, ConnectorConfig, connector_kind
from runtime.connectors.secrets import (
    SecretRef,
    connector_error,
    resolve_secret,
    resolve_setting,
)
from runtime.expressions.compiled import CompiledValue
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.common import Duration, Expression, Identifier, SpecModel, Value

__all__ = [
    "CircuitBreakerConfig",
    "HttpAuth",
    "render_path",
    "HttpConnector",
    "HttpConnectorConfig",
    "HttpOperation",
    "HttpOperationConfig",
    "HttpPagination",
    "HttpPool",
    "RateLimit",
    "SecretRef",
    "resolve_secret",
]


class HttpOperationConfig(SpecModel):
    """One operation: a request built from the step's `with` (seen as `input`) and a result selector."""

    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = Field(
        default="GET", description="HTTP method."
    )
    path: str = Field(
        description="Path under base_url; `${ input.id }` interpolates.",
        examples=["/customers/${ input.id }"],
    )
    query: dict[str, Value] | None = Field(
        default=None, description="Query parameters; null values are left out."
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra request headers.")
    body: Value = Field(
        default=None,
        description="JSON body; defaults to the whole `input` for POST, PUT and PATCH.",
    )
    result: Expression | None = Field(
        default=None,
        description="JMESPath over the response JSON selecting the result (over each page when paginated).",
    )
    not_found: Literal["error", "null"] = Field(
        default="error", description="`null` makes a 404 return null (for find operations)."
    )
    timeout: Duration | None = Field(default=None, description="Overrides the connector's timeout.")
    paginate: HttpPagination | None = Field(
        default=None,
        description="Collect every page: the result is the list of all pages' selections.",
    )


class HttpPool(SpecModel):
    """Connection pooling (keep-alive) of the connector's HTTP client."""

    max_connections: int = Field(default=100, ge=1, description="Open connections at most.")
    max_keepalive: int = Field(
        default=20, ge=0, description="Idle connections kept open for reuse."
    )
    keepalive_expiry: Duration = Field(
        default="5s", description="How long an idle connection is kept."
    )


class HttpConnectorConfig(ConnectorConfig):
    """A JSON-over-HTTP system."""

    kind_name = "http"
    kind: Literal["http"] = Field(description="`http`.")
    base_url: str = Field(
        pattern=r"^(https?://\S+|env:\S+)$",
        description="Root URL, or `env:NAME` to read it from the environment.",
    )
    auth: HttpAuth | None = Field(default=None, description="Authentication.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Headers sent with every request."
    )
    timeout: Duration = Field(default="10s", description="Time allowed for a request.")
    connect_timeout: Duration | None = Field(
        default=None, description="Time allowed to connect (default: `timeout`)."
    )
    rate_limit: RateLimit | None = Field(
        default=None, description="Pace requests to what the system allows (token bucket)."
    )
    circuit_breaker: CircuitBreakerConfig | None = Field(
        default=None, description="Fail fast while the system keeps failing."
    )
    pool: HttpPool = Field(default_factory=HttpPool, description="Connection pooling.")
    operations: dict[Identifier, HttpOperationConfig] = Field(
        description="Operation name -> request."
    )


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every client: building one costs ~0.1 s (it loads the CA bundle)."""
    return ssl.create_default_context()


@dataclass
class HttpOperation:
    connector: HttpConnector
    name: str
    method: str
    path: CompiledValue
    query: CompiledValue | None
    headers: dict[str, str]
    body: CompiledValue | None
    result: CompiledExpression | None
    not_found_null: bool
    timeout: float | None
    pager: Pager | None = None

    @property
    def ref(self) -> str:
        return f"{self.connector.name}.{self.name}"

    async def invoke(self, request: CallRequest) -> Any:
        doc = {"input": request.payload}
        path = render_path(self.path, doc)
        query = {
            k: v
            for k, v in (self.query.evaluate(doc) if self.query else {}).items()
            if v is not None
        }
        body = self.body.evaluate(doc) if self.body is not None else None
        headers = {
            **self.headers,
            "Idempotency-Key": request.idempotency_key,
            "X-Correlation-Id": request.correlation_id,
        }
        timeout = self.timeout or request.timeout or self.connector.timeout
        send = self.connector.send
        if self.pager is None:
            response = await send(self.method, path, query, headers, body, timeout, request)
            if response.status_code == 404 and self.not_found_null:
                return None
            if response.status_code >= 400:
                raise status_error(self.method, path, response)
            payload = self._json(path, response)
            return self.result.evaluate(payload) if self.result is not None else payload
        items: list[Any] = []
        page: Page | None = self.pager.first(path, query)
        pages = 0
        while page is not None:
            pages += 1
            if pages > self.pager.config.max_pages:
                raise self.pager.too_many(f"{self.method} {path}")
            response = await send(
                self.method, page.url, page.query, headers, body, timeout, request
            )
            if response.status_code == 404 and self.not_found_null and pages == 1:
                return None
            if response.status_code >= 400:
                raise status_error(self.method, page.url, response)
            payload = self._json(path, response)
            selected = page_items(
                self.result.evaluate(payload) if self.result is not None else payload
            )
            items.extend(selected)
            page = self.pager.after(page, response, payload, selected, self.connector.origin)
        return items

    def _json(self, path: str, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise connector_error(
                f"{self.method} {path} answered {response.status_code} with a body that is not "
                f"JSON: {response.text[:200]}",
                transient=False,
                status=response.status_code,
                error_class="bad_response",
            ) from exc


@dataclass
class HttpConnector:
    name: str
    base_url: str
    auth: Authenticator | None
    headers: dict[str, str]
    timeout: float
    connect_timeout: float | None = None
    limits: httpx.Limits = field(default_factory=httpx.Limits)
    rate_limit: TokenBucket | None = None
    breaker: CircuitBreaker | None = None
    operations: dict[str, HttpOperation] = field(default_factory=dict)
    kind: str = "http"
    _clients: dict[int, httpx.AsyncClient] = field(default_factory=dict, repr=False)
    _loops: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = field(
        default_factory=dict, repr=False
    )
    _origin: str | None = field(default=None, repr=False)

    def operation(self, name: str) -> HttpOperation | None:
        return self.operations.get(name)

    def operation_names(self) -> list[str]:
        return sorted(self.operations)

    @property
    def origin(self) -> str:
        """`scheme://host:port` of base_url: where next-page links may lead."""
        if self._origin is None:
            url = httpx.URL(resolve_setting(self.base_url))
            self._origin = f"{url.scheme}://{url.netloc.decode()}"
        return self._origin

    def _client(self) -> httpx.AsyncClient:
        # an httpx client belongs to one event loop; tests and CLI runs may use several. Clients
        # of loops that have ended are dropped (their sockets went with the loop).
        running = asyncio.get_running_loop()
        client = self._clients.get(id(running))
        if client is None:
            for key, (loop, _) in list(self._loops.items()):
                if loop.is_closed():
                    self._loops.pop(key, None)
                    self._clients.pop(key, None)
            client = httpx.AsyncClient(
                base_url=resolve_setting(self.base_url),
                headers=self.headers,
                limits=self.limits,
                verify=_tls_context(),
            )
            self._clients[id(running)] = client
            self._loops[id(running)] = (running, client)
        return client

    async def send(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        headers: dict[str, str],
        body: Any,
        timeout: float,
        request: CallRequest | None = None,
    ) -> httpx.Response:
        """One request (through the circuit breaker and the rate limit); on a 401 with OAuth2,
        one more with a freshly fetched token."""
        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        run = request.correlation_id if request else headers.get("X-Correlation-Id", "")
        response, token = await self._send_once(method, path, query, headers, content, timeout, run)
        if response.status_code == 401 and self.auth is not None and self.auth.refreshable:
            self.auth.invalidate(token)
            response, _ = await self._send_once(method, path, query, headers, content, timeout, run)
        return response

    async def _send_once(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        headers: dict[str, str],
        content: bytes | None,
        timeout: float,
        run: str,
    ) -> tuple[httpx.Response, str | None]:
        client = self._client()
        if self.breaker is not None:
            self.breaker.before()
        try:
            if self.rate_limit is not None:
                await self.rate_limit.acquire()
            auth_headers, token = (
                await self.auth.headers(client) if self.auth is not None else ({}, None)
            )
            response = await client.request(
                method,
                path,
                params=query or None,
                headers={**headers, **auth_headers, "traceparent": traceparent(run)},
                content=content,
                timeout=httpx.Timeout(timeout, connect=self.connect_timeout or timeout),
            )
        except httpx.TimeoutException as exc:
            self._outcome(ok=False)
            raise connector_error(
                f"{method} {path} timed out after {timeout}s", transient=True, error_class="timeout"
            ) from exc
        except httpx.TransportError as exc:
            self._outcome(ok=False)
            raise connector_error(
                f"{method} {path} failed: {exc}", transient=True, error_class="connection"
            ) from exc
        except BaseException:  # cancelled, or no secret/token to send: not the system's fault
            if self.breaker is not None:
                self.breaker.release()
            raise
        status = response.status_code
        self._outcome(ok=not (status == 408 or status >= 500))
        return response, token

    def _outcome(self, *, ok: bool) -> None:
        if self.breaker is not None:
            self.breaker.record(ok)

    async def aclose(self) -> None:
        loop = id(asyncio.get_running_loop())
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


@connector_kind(
    HttpConnectorConfig,
    summary="Calls a JSON-over-HTTP API: named operations, auth (incl. OAuth2 client credentials), "
    "pagination, timeouts, rate limit, circuit breaker, tracing and idempotency keys.",
)
def create_http(config: HttpConnectorConfig, cc: ConnectorCompiler) -> HttpConnector:
    timeout = cc.duration(config.timeout) or 10.0
    pool = config.pool
    connector = HttpConnector(
        config.connector,
        config.base_url,
        authenticator(config.auth, config.connector, timeout, cc.duration),
        dict(config.headers),
        timeout,
        connect_timeout=cc.duration(config.connect_timeout),
        limits=httpx.Limits(
            max_connections=pool.max_connections,
            max_keepalive_connections=pool.max_keepalive,
            keepalive_expiry=cc.duration(pool.keepalive_expiry),
        ),
        rate_limit=(
            TokenBucket(config.rate_limit.rate, config.rate_limit.burst)
            if config.rate_limit
            else None
        ),
        breaker=(
            CircuitBreaker(
                config.connector,
                config.circuit_breaker.failures,
                cc.duration(config.circuit_breaker.open_for) or 30.0,
            )
            if config.circuit_breaker
            else None
        ),
    )
    for name, op in config.operations.items():
        path = ("operations", name)
        body_raw = (
            op.body
            if op.body is not None
            else ("${ input }" if op.method in ("POST", "PUT", "PATCH") else None)
        )
        pager = None
        if op.paginate is not None:
            where = (*path, "paginate")
            pager = Pager(
                op.paginate,
                cc.expression(op.paginate.cursor, (*where, "cursor"), roots=("@",)),
                cc.expression(op.paginate.next, (*where, "next"), roots=("@",)),
            )
        connector.operations[name] = HttpOperation(
            connector=connector,
            name=name,
            method=op.method,
            path=cc.value(op.path, (*path, "path")),
            query=cc.value(op.query, (*path, "query")) if op.query else None,
            headers=dict(op.headers),
            body=cc.value(body_raw, (*path, "body")) if body_raw is not None else None,
            result=cc.expression(op.result, (*path, "result"), roots=("@",)) if op.result else None,
            not_found_null=op.not_found == "null",
            timeout=cc.duration(op.timeout),
            pager=pager,
        )
    return connector

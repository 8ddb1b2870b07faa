"""`kind: http` — named operations over HTTP/JSON with auth, timeouts and idempotency keys.

Status classes: 408, 429 and 5xx, timeouts and connection errors are transient (retried,
`Retry-After` honoured); any other 4xx is permanent.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

import httpx
import orjson
from pydantic import Field

from runtime.connectors.base import CallRequest, ConnectorCompiler, ConnectorConfig, connector_kind
from runtime.errors import ConnectorError
from runtime.expressions.compiled import CompiledValue, InterpolatedString
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.common import Duration, Expression, Identifier, SpecModel, Value

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^(env|file):.+$",
        description="A secret reference, `env:NAME` or `file:PATH`; never the secret itself.",
    ),
]


class HttpAuth(SpecModel):
    """How requests authenticate."""

    type: Literal["bearer", "basic", "api_key"] = Field(
        description="`bearer` token, HTTP `basic`, or an `api_key` header."
    )
    token: SecretRef | None = Field(
        default=None, description="Token for `bearer` or `api_key`, as `env:NAME` or `file:PATH`."
    )
    username: str | None = Field(default=None, description="User name for `basic`.")
    password: SecretRef | None = Field(
        default=None, description="Password for `basic`, as `env:NAME` or `file:PATH`."
    )
    header: str = Field(
        default="X-API-Key", description="Header that carries the key for `api_key`."
    )


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
        default=None, description="JMESPath over the response JSON selecting the result."
    )
    not_found: Literal["error", "null"] = Field(
        default="error", description="`null` makes a 404 return null (for find operations)."
    )
    timeout: Duration | None = Field(default=None, description="Overrides the connector's timeout.")


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
    operations: dict[Identifier, HttpOperationConfig] = Field(
        description="Operation name -> request."
    )


def resolve_secret(ref: str) -> str:
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise ConnectorError(
                f"secret env:{name} is not set", transient=False, error_class="config"
            )
        return value
    if scheme == "file":
        try:
            return Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConnectorError(
                f"secret file {name} cannot be read: {exc.strerror}",
                transient=False,
                error_class="config",
            ) from exc
    raise ConnectorError(
        f"unsupported secret reference {scheme}:…", transient=False, error_class="config"
    )


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
        raise ConnectorError(
            f"request path {text!r} contains a dot segment", transient=False, error_class="bad_path"
        )
    return text


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(parsed.timestamp() - time.time(), 0.0) if parsed else None


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
        response = await self.connector.send(self.method, path, query, headers, body, timeout)
        if response.status_code == 404 and self.not_found_null:
            return None
        if response.status_code >= 400:
            transient = response.status_code in (408, 429) or response.status_code >= 500
            raise ConnectorError(
                f"{self.method} {path} answered {response.status_code}: {response.text[:300]}",
                transient=transient,
                status=response.status_code,
                retry_after=_retry_after(response.headers.get("Retry-After")),
                error_class=f"http_{response.status_code}",
            )
        payload = orjson.loads(response.content) if response.content else None
        return self.result.evaluate(payload) if self.result is not None else payload


@dataclass
class HttpConnector:
    name: str
    base_url: str
    auth: HttpAuth | None
    headers: dict[str, str]
    timeout: float
    operations: dict[str, HttpOperation] = field(default_factory=dict)
    kind: str = "http"
    _clients: dict[int, httpx.AsyncClient] = field(default_factory=dict, repr=False)

    def operation(self, name: str) -> HttpOperation | None:
        return self.operations.get(name)

    def operation_names(self) -> list[str]:
        return sorted(self.operations)

    def _client(self) -> httpx.AsyncClient:
        # an httpx client belongs to one event loop; tests and CLI runs may use several
        loop = id(asyncio.get_running_loop())
        client = self._clients.get(loop)
        if client is None:
            base = (
                resolve_secret(self.base_url) if self.base_url.startswith("env:") else self.base_url
            )
            client = httpx.AsyncClient(base_url=base, headers=self.headers)
            self._clients[loop] = client
        return client

    def _auth_headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        if self.auth.type == "bearer" and self.auth.token:
            return {"Authorization": f"Bearer {resolve_secret(self.auth.token)}"}
        if self.auth.type == "basic":
            secret = resolve_secret(self.auth.password) if self.auth.password else ""
            raw = f"{self.auth.username or ''}:{secret}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self.auth.type == "api_key" and self.auth.token:
            return {self.auth.header: resolve_secret(self.auth.token)}
        return {}

    async def send(
        self,
        method: str,
        path: str,
        query: dict[str, Any],
        headers: dict[str, str],
        body: Any,
        timeout: float,
    ) -> httpx.Response:
        content = orjson.dumps(body) if body is not None else None
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            return await self._client().request(
                method,
                path,
                params=query,
                headers={**headers, **self._auth_headers()},
                content=content,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise ConnectorError(
                f"{method} {path} timed out after {timeout}s", transient=True, error_class="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise ConnectorError(
                f"{method} {path} failed: {exc}", transient=True, error_class="connection"
            ) from exc

    async def aclose(self) -> None:
        loop = id(asyncio.get_running_loop())
        client = self._clients.pop(loop, None)
        if client is not None:
            await client.aclose()


@connector_kind(
    HttpConnectorConfig,
    summary="Calls a JSON-over-HTTP API: named operations, auth, timeouts, idempotency keys.",
)
def create_http(config: HttpConnectorConfig, cc: ConnectorCompiler) -> HttpConnector:
    connector = HttpConnector(
        config.connector,
        config.base_url,
        config.auth,
        dict(config.headers),
        cc.duration(config.timeout) or 10.0,
    )
    for name, op in config.operations.items():
        path = ("operations", name)
        body_raw = (
            op.body
            if op.body is not None
            else ("${ input }" if op.method in ("POST", "PUT", "PATCH") else None)
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
        )
    return connector

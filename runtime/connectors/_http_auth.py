"""How an http connector authenticates: static credentials, or OAuth2 client credentials.

Static secrets are resolved on every request (so a rotated secret is picked up without a
reload). An OAuth2 access token is fetched from the token endpoint, cached, and fetched again
shortly before it expires; a 401 answer drops it so the next request fetches a fresh one.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from typing import Any, Literal

import anyio
import httpx
from pydantic import Field, model_validator

from runtime.connectors.secrets import (
    SecretRef,
    connector_error,
    register_secret,
    resolve_secret,
    resolve_setting,
)
from runtime.spec.common import Duration, SpecModel

_NEEDS = {
    "bearer": ("token",),
    "api_key": ("token",),
    "basic": ("username",),
    "oauth2": ("token_url", "client_id", "client_secret"),
}


class HttpAuth(SpecModel):
    """How requests authenticate: a static `bearer` token, HTTP `basic`, an `api_key` header, or
    `oauth2` client credentials (token endpoint, client id and secret, scope)."""

    type: Literal["bearer", "basic", "api_key", "oauth2"] = Field(
        description="`bearer` token, HTTP `basic`, an `api_key` header, or `oauth2` (client credentials grant)."
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
    token_url: str | None = Field(
        default=None,
        pattern=r"^(https?://\S+|env:\S+|/\S*)$",
        description="`oauth2`: the token endpoint; an absolute URL, a path under base_url, or `env:NAME`.",
        examples=["https://login.example.com/oauth2/token"],
    )
    client_id: str | None = Field(default=None, description="`oauth2`: the client id.")
    client_secret: SecretRef | None = Field(
        default=None, description="`oauth2`: the client secret, as `env:NAME` or `file:PATH`."
    )
    scope: str | None = Field(
        default=None, description="`oauth2`: the scope(s) to ask for, space-separated."
    )
    audience: str | None = Field(
        default=None, description="`oauth2`: an `audience` parameter, for providers that want one."
    )
    client_auth: Literal["basic", "body"] = Field(
        default="basic",
        description="`oauth2`: send the client credentials as HTTP basic auth or in the form body.",
    )
    refresh_before: Duration = Field(
        default="60s",
        description="`oauth2`: fetch a new token this long before the cached one expires "
        "(at most half its lifetime).",
    )

    @model_validator(mode="after")
    def _fields_of_type(self) -> HttpAuth:
        missing = [name for name in _NEEDS[self.type] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"auth type {self.type} needs {', '.join(missing)}")
        return self


class StaticAuth:
    """bearer, basic and api_key: headers built from secrets resolved per request."""

    refreshable = False

    def __init__(self, auth: HttpAuth) -> None:
        self.auth = auth

    async def headers(self, client: httpx.AsyncClient) -> tuple[dict[str, str], str | None]:
        auth = self.auth
        if auth.type == "bearer" and auth.token:
            return {"Authorization": f"Bearer {resolve_secret(auth.token)}"}, None
        if auth.type == "basic":
            secret = resolve_secret(auth.password) if auth.password else ""
            raw = f"{auth.username or ''}:{secret}".encode()
            encoded = base64.b64encode(raw).decode()
            register_secret(encoded)
            return {"Authorization": f"Basic {encoded}"}, None
        if auth.type == "api_key" and auth.token:
            return {auth.header: resolve_secret(auth.token)}, None
        return {}, None

    def invalidate(self, token: str | None) -> None:
        return None


class OAuth2ClientCredentials:
    """The client credentials grant (RFC 6749 §4.4) with a cached, early-refreshed token."""

    refreshable = True

    def __init__(
        self,
        auth: HttpAuth,
        connector: str,
        timeout: float,
        refresh_before: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.auth = auth
        self.connector = connector
        self.timeout = timeout
        self.refresh_before = refresh_before
        self.clock = clock
        self.fetched = 0
        self._token: str | None = None
        self._refresh_at: float | None = None
        self._locks: dict[int, anyio.Lock] = {}

    def _fresh(self) -> str | None:
        if self._token is None:
            return None
        if self._refresh_at is not None and self.clock() >= self._refresh_at:
            return None
        return self._token

    async def headers(self, client: httpx.AsyncClient) -> tuple[dict[str, str], str | None]:
        token = self._fresh()
        if token is None:
            lock = self._locks.setdefault(id(asyncio.get_running_loop()), anyio.Lock())
            async with lock:  # one fetch at a time; the others take its token
                token = self._fresh() or await self._fetch(client)
        return {"Authorization": f"Bearer {token}"}, token

    def invalidate(self, token: str | None) -> None:
        if token is not None and token == self._token:
            self._token = None

    async def _fetch(self, client: httpx.AsyncClient) -> str:
        auth = self.auth
        url = resolve_setting(auth.token_url or "")
        secret = resolve_secret(auth.client_secret or "")
        form = {"grant_type": "client_credentials"}
        if auth.scope:
            form["scope"] = auth.scope
        if auth.audience:
            form["audience"] = auth.audience
        basic: Any = None
        if auth.client_auth == "basic":
            basic = httpx.BasicAuth(auth.client_id or "", secret)
        else:
            form.update(client_id=auth.client_id or "", client_secret=secret)
        where = f"token endpoint of connector {self.connector}"
        try:
            response = await client.post(url, data=form, auth=basic, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise connector_error(
                f"{where} timed out after {self.timeout}s", transient=True, error_class="timeout"
            ) from exc
        except httpx.TransportError as exc:
            raise connector_error(
                f"{where} cannot be reached: {exc}", transient=True, error_class="connection"
            ) from exc
        if response.status_code != 200:
            transient = response.status_code in (408, 429) or response.status_code >= 500
            raise connector_error(
                f"{where} answered {response.status_code}: {response.text[:300]}",
                transient=transient,
                status=response.status_code,
                error_class="auth",
            )
        try:
            payload = response.json()
            token = str(payload["access_token"])
        except (ValueError, KeyError, TypeError) as exc:
            raise connector_error(
                f"{where} answered without an access_token", transient=False, error_class="auth"
            ) from exc
        register_secret(token)
        lifetime = payload.get("expires_in")
        now = self.clock()
        if isinstance(lifetime, (int, float)) and lifetime > 0:
            self._refresh_at = now + lifetime - min(self.refresh_before, lifetime / 2)
        else:
            self._refresh_at = None  # no expiry given: kept until a 401 says otherwise
        self._token = token
        self.fetched += 1
        return token


Authenticator = StaticAuth | OAuth2ClientCredentials


def authenticator(
    auth: HttpAuth | None,
    connector: str,
    timeout: float,
    duration: Callable[[str | None], float | None],
) -> Authenticator | None:
    """The authenticator an `auth:` block asks for (None without one)."""
    if auth is None:
        return None
    if auth.type == "oauth2":
        return OAuth2ClientCredentials(
            auth, connector, timeout, duration(auth.refresh_before) or 60.0
        )
    return StaticAuth(auth)

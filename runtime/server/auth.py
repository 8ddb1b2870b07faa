"""Who may do what: bearer tokens with roles (viewer < operator < admin) and ingress tokens.

Tokens come from `seamline.yaml` as `env:`/`file:` references, resolved when the server starts
and again on every reload. They are kept only as SHA-256 digests, so a lookup compares digests
(the same work for every guess) and no token sits in memory as text. With no token of either
kind configured the server is open — allowed only when it listens on a loopback address.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from runtime.connectors.secrets import resolve_secret
from runtime.errors import ConnectorError, SeamlineError
from runtime.server._problem import problem
from runtime.spec.server import ROLES
from runtime.spec.settings import WorkspaceSettings

Access = Literal["open", "viewer", "operator", "admin", "ingress", "hmac"]
"""What an endpoint needs: nothing, an API role, an ingress token, or a webhook signature."""
RANK = {role: rank for rank, role in enumerate(ROLES, start=1)}
Handler = Callable[[Request], Awaitable[Response]]


class AuthConfigError(SeamlineError):
    """The token settings cannot be used (a secret that does not resolve, an open public bind)."""


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Auth:
    api: dict[bytes, tuple[str, str]] = field(default_factory=dict)  # digest -> (role, name)
    ingress: frozenset[bytes] = frozenset()
    open: bool = False

    @classmethod
    def from_settings(cls, settings: WorkspaceSettings, host: str) -> Auth:
        """Resolve every token reference; refuse an open server on a non-loopback address."""
        api: dict[bytes, tuple[str, str]] = {}
        try:
            for index, entry in enumerate(settings.tokens):
                api[_digest(resolve_secret(entry.token))] = (
                    entry.role,
                    entry.name or f"tokens[{index}]",
                )
            ingress = frozenset(_digest(resolve_secret(ref)) for ref in settings.ingress_tokens)
        except ConnectorError as exc:
            raise AuthConfigError(f"seamline.yaml tokens: {exc}") from exc
        is_open = not api and not ingress
        if is_open and not is_loopback(host):
            raise AuthConfigError(
                f"refusing to listen on {host} without tokens: add `tokens:` (and "
                "`ingress_tokens:`) to seamline.yaml, or bind to 127.0.0.1"
            )
        return cls(api, ingress, is_open)

    def describe(self) -> str:
        if self.open:
            return "open (no tokens configured; loopback only)"
        return f"tokens: {len(self.api)} API, {len(self.ingress)} ingress"

    def check(self, request: Request, need: Access) -> Response | None:
        """None when the request may proceed; otherwise the 401 or 403 answer."""
        if need in ("open", "hmac") or self.open:
            return None
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return problem(
                401,
                "auth.missing_token",
                "this endpoint needs `Authorization: Bearer <token>`",
                headers={"WWW-Authenticate": 'Bearer realm="seamline"'},
            )
        digest = _digest(token.strip())
        if need == "ingress":
            if digest in self.ingress:
                return None
            detail = (
                "an API token cannot post events; use an ingress token"
                if digest in self.api
                else "unknown ingress token"
            )
            return _invalid(detail, 403 if digest in self.api else 401)
        found = self.api.get(digest)
        if found is None:
            detail = (
                "an ingress token can only post events"
                if digest in self.ingress
                else "unknown token"
            )
            return _invalid(detail, 403 if digest in self.ingress else 401)
        role, name = found
        if RANK[role] < RANK[need]:
            return problem(
                403,
                "auth.forbidden",
                f"this needs the {need} role; the token {name} has {role}",
                role=role,
                needs=need,
            )
        request.state.principal = name
        return None


def _invalid(detail: str, status: int) -> Response:
    if status == 401:
        return problem(
            401,
            "auth.invalid_token",
            detail,
            headers={"WWW-Authenticate": 'Bearer realm="seamline", error="invalid_token"'},
        )
    return problem(403, "auth.forbidden", detail)


def guard(auth: Callable[[], Auth], need: Access, handler: Handler) -> Handler:
    """`handler` behind the access check; `auth` is read per request (reloads replace it)."""
    if need in ("open", "hmac"):
        return handler

    async def guarded(request: Request) -> Response:
        refused = auth().check(request, need)
        return refused if refused is not None else await handler(request)

    guarded.__name__ = getattr(handler, "__name__", "endpoint")
    guarded.__doc__ = handler.__doc__
    return guarded


__all__ = ["RANK", "Access", "Auth", "AuthConfigError", "guard", "is_loopback"]

"""`POST /hooks/{source}`: webhooks signed with HMAC-SHA256, then the same ingest path as /events.

The sender signs `<t>.<raw body>` with the source's secret and sends
`X-Seamline-Signature: t=<unix seconds>,v1=<hex digest>` (several `v1=` are allowed while a
secret is rotated). A request is refused with 401 when the header is missing or malformed, when
no `v1` matches, when `t` is further than the source's `tolerance` from now, or when the same
signature was already accepted within that window (a replay).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from runtime.connectors.secrets import resolve_secret
from runtime.errors import ConnectorError
from runtime.server._problem import problem
from runtime.server._routes import Endpoint, path
from runtime.server.auth import AuthConfigError
from runtime.server.ingress import EVENT_BODIES, INGEST_RESPONSES, ingest, read_body
from runtime.spec.common import parse_duration
from runtime.spec.settings import WorkspaceSettings

if TYPE_CHECKING:
    from runtime.server.state import ServerState

SIGNATURE_HEADER = "X-Seamline-Signature"


@dataclass(frozen=True)
class HookKey:
    secret: bytes
    tolerance: float


class HookKeys(dict[str, HookKey]):
    @classmethod
    def from_settings(cls, settings: WorkspaceSettings) -> HookKeys:
        keys = cls()
        for source, hook in settings.hooks.items():
            try:
                secret = resolve_secret(hook.secret)
            except ConnectorError as exc:
                raise AuthConfigError(f"seamline.yaml hooks.{source}.secret: {exc}") from exc
            keys[source] = HookKey(secret.encode(), parse_duration(hook.tolerance))
        return keys


def sign(secret: str | bytes, body: bytes, timestamp: int | None = None) -> str:
    """The header value a sender puts on `body` (what the docs' example computes)."""
    key = secret.encode() if isinstance(secret, str) else secret
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(key, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


@dataclass(frozen=True)
class Verdict:
    ok: bool
    code: str = ""
    detail: str = ""
    signature: str = ""  # what the replay cache remembers
    expires: float = 0.0


def verify(key: HookKey, body: bytes, header: str | None, now: float | None = None) -> Verdict:
    if not header:
        return Verdict(False, "hook.missing_signature", f"the {SIGNATURE_HEADER} header is missing")
    stamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            stamp = int(value)
        elif name == "v1" and value:
            macs.append(value.lower())
    if stamp is None or not macs:
        return Verdict(
            False, "hook.malformed_signature", f"{SIGNATURE_HEADER} must be `t=<unix>,v1=<hex>`"
        )
    moment = time.time() if now is None else now
    if abs(moment - stamp) > key.tolerance:
        return Verdict(
            False,
            "hook.expired",
            f"the signature's timestamp is {abs(moment - stamp):.0f}s from now "
            f"(tolerance {key.tolerance:.0f}s)",
        )
    expected = hmac.new(key.secret, f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    for mac in macs:
        if hmac.compare_digest(expected, mac):
            return Verdict(True, signature=f"{stamp}:{mac}", expires=stamp + key.tolerance)
    return Verdict(False, "hook.invalid_signature", "the signature does not match the body")


class ReplayCache:
    """Signatures accepted within their tolerance window; bounded, oldest dropped first."""

    def __init__(self, limit: int = 100_000) -> None:
        self.limit = limit
        self._seen: OrderedDict[str, float] = OrderedDict()

    def reserve(self, signature: str, expires: float, now: float | None = None) -> bool:
        """False if `signature` was already used; otherwise remember it until `expires`."""
        moment = time.time() if now is None else now
        while self._seen and (
            len(self._seen) >= self.limit or next(iter(self._seen.values())) < moment
        ):
            self._seen.popitem(last=False)
        if signature in self._seen and self._seen[signature] >= moment:
            return False
        self._seen[signature] = expires
        return True

    def release(self, signature: str) -> None:
        self._seen.pop(signature, None)

    def __len__(self) -> int:
        return len(self._seen)


def endpoints(state: ServerState) -> list[Endpoint]:
    async def post_hook(request: Request) -> Response:
        source = request.path_params["source"]
        key = state.hook_keys.get(source)
        if key is None:
            return problem(
                404, "hook.unknown_source", f"no webhook source {source!r} is configured"
            )
        body = await read_body(request, state.settings.max_event_bytes)
        if isinstance(body, Response):
            return body
        verdict = verify(key, body, request.headers.get(SIGNATURE_HEADER))
        if verdict.ok and not state.replays.reserve(
            f"{source}:{verdict.signature}", verdict.expires
        ):
            verdict = Verdict(False, "hook.replayed", "this signature was already used")
        if not verdict.ok:
            state.metrics.events_rejected.inc(f"hooks:{source}", verdict.code)
            return problem(
                401,
                verdict.code,
                verdict.detail,
                headers={"WWW-Authenticate": f'HMAC header="{SIGNATURE_HEADER}"'},
            )
        answer = await ingest(state, request, body, f"hooks:{source}")
        if answer.status_code >= 500 or answer.status_code == 429:
            state.replays.release(f"{source}:{verdict.signature}")  # the sender may retry it
        return answer

    return [
        Endpoint(
            "POST",
            "/hooks/{source}",
            post_hook,
            "hmac",
            "Receive a signed webhook (CloudEvent, binary mode, or batch)",
            "ingress",
            params=(path("source", "The webhook source configured under `hooks:`."),),
            body=EVENT_BODIES,
            responses={**INGEST_RESPONSES, 401: "Signature missing, invalid, expired or replayed"},
            description="Verified with HMAC-SHA256 over `<t>.<body>`; then exactly like POST /events.",
        )
    ]


__all__ = ["SIGNATURE_HEADER", "HookKey", "HookKeys", "ReplayCache", "endpoints", "sign", "verify"]

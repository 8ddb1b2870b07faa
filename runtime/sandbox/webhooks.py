"""Outbound webhooks: CloudEvents 1.0 (structured JSON), signed with HMAC-SHA256, delivered
from a durable outbox with retries.

Signature header (Stripe's scheme): `X-Seamline-Signature: t=<unix seconds>,v1=<hex>` where the
hex is HMAC-SHA256(secret, "<t>.<raw body>"). A receiver recomputes it over the raw bytes it
received, compares in constant time, and rejects timestamps outside its tolerance (replays).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import time
import uuid
from typing import Any

import httpx

from runtime.sandbox._store import Store, now_iso

SIGNATURE_HEADER = "X-Seamline-Signature"
CONTRACT_URN = "urn:seamline:contract:{type}:v{version}"
log = logging.getLogger("seamline.sandbox.webhooks")


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The signature header value for `body` sent at `timestamp` (now by default)."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    mac = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={mac}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    tolerance: float = 300,
    now: float | None = None,
) -> bool:
    """True when `header` signs exactly `body` with `secret`, no older than `tolerance` seconds."""
    if not header:
        return False
    stamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            stamp = int(value)
        elif key == "v1":
            macs.append(value)
    if stamp is None or not macs:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False
    expected = sign(secret, body, stamp).split("v1=", 1)[1]
    return any(hmac.compare_digest(expected, mac) for mac in macs)


def cloud_event(
    source: str, event_type: str, subject: str, data: dict[str, Any], version: int = 1
) -> dict[str, Any]:
    """A structured-mode CloudEvent as the real systems' webhooks send it."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": source,
        "type": event_type,
        "subject": subject,
        "time": now_iso(),
        "datacontenttype": "application/json",
        "dataschema": CONTRACT_URN.format(type=event_type, version=version),
        "data": data,
    }


# answers that no retry can change (a malformed or invalid event): delivery ends as `rejected`
# at once; anything else (401 during a key rotation, 408, 409, 429, 5xx) is retried
REFUSED = frozenset({400, 404, 410, 413, 415, 422})


class WebhookDispatcher:
    """Delivers the outbox of one service, oldest first, to `url` (when one is set).

    Events are written to `_outbox` in the same transaction as the change they announce, so a
    change is never announced without having happened, nor lost when the receiver is down.
    Failed deliveries are retried with exponential backoff, then marked `failed`; an event the
    receiver refuses as such (400, 404, 410, 413, 415, 422) is marked `rejected` at once.
    """

    def __init__(
        self,
        store: Store,
        service: str,
        url: str | None,
        secret: str,
        *,
        max_attempts: int = 6,
        timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.service = service
        self.url = url
        self.secret = secret
        self.max_attempts = max_attempts
        self.timeout = timeout
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def record(self, event: dict[str, Any]) -> None:
        """Add an event to the outbox; call inside the transaction of the change."""
        self.store.execute(
            "INSERT INTO _outbox (event_id, type, subject, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (event["id"], event["type"], event.get("subject"), json.dumps(event), now_iso()),
        )

    def kick(self) -> None:
        """Wake the delivery loop (thread-safe)."""
        if self._loop is not None and self._wake is not None:
            self._loop.call_soon_threadsafe(self._wake.set)

    def pending(self) -> int:
        row = self.store.one("SELECT count(*) FROM _outbox WHERE status = 'pending'")
        return int(row[0]) if row else 0

    def events(
        self, event_type: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        sql, params = "SELECT * FROM _outbox WHERE 1 = 1", []
        if event_type:
            sql, params = sql + " AND type = ?", [*params, event_type]
        if status:
            sql, params = sql + " AND status = ?", [*params, status]
        rows = self.store.query(sql + " ORDER BY seq", params)
        return [
            {
                "seq": r["seq"],
                "event_id": r["event_id"],
                "type": r["type"],
                "subject": r["subject"],
                "status": r["status"],
                "attempts": r["attempts"],
                "last_error": r["last_error"],
                "delivered_at": r["delivered_at"],
                "event": json.loads(r["body"]),
            }
            for r in rows
        ]

    def redeliver(self, seq: int) -> bool:
        """Send an event again (same CloudEvent id: a duplicate delivery, as real systems do)."""
        changed = self.store.execute(
            "UPDATE _outbox SET status = 'pending', next_attempt_at = 0, attempts = 0 WHERE seq = ?",
            (seq,),
        )
        self.kick()
        return changed == 1

    async def run(self) -> None:
        """The delivery loop; runs in the service's event loop until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        client: httpx.AsyncClient | None = None  # made on first use (building one costs ~0.1 s)
        try:
            while True:
                if self.url and client is None:
                    client = httpx.AsyncClient(timeout=self.timeout)
                try:
                    delivered = await self._deliver_due(client) if client and self.url else 0
                except Exception:  # keep delivering whatever one bad row or URL did
                    log.exception("webhook delivery of %s failed", self.service)
                    delivered = 0
                if delivered:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=0.5)
        finally:
            if client is not None:
                await client.aclose()

    async def _deliver_due(self, client: httpx.AsyncClient) -> int:
        rows = self.store.query(
            "SELECT seq, body, attempts FROM _outbox WHERE status = 'pending' "
            "AND next_attempt_at <= ? ORDER BY seq LIMIT 20",
            (time.time(),),
        )
        for row in rows:
            body = row["body"].encode()
            error, final = None, False
            try:
                response = await client.post(
                    str(self.url),
                    content=body,
                    headers={
                        "Content-Type": "application/cloudevents+json",
                        SIGNATURE_HEADER: sign(self.secret, body),
                        "User-Agent": f"seamline-sandbox-{self.service}/1.0",
                        "X-Seamline-Delivery": f"{self.service}-{row['seq']}",
                    },
                )
                if response.status_code >= 300:
                    error = f"HTTP {response.status_code}: {response.text[:200]}"
                    final = response.status_code in REFUSED
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            attempts = row["attempts"] + 1
            if error is None:
                self.store.execute(
                    "UPDATE _outbox SET status = 'delivered', attempts = ?, delivered_at = ?, "
                    "last_error = NULL WHERE seq = ?",
                    (attempts, now_iso(), row["seq"]),
                )
            else:
                if final:
                    status = "rejected"
                else:
                    status = "failed" if attempts >= self.max_attempts else "pending"
                log.warning("webhook %s-%s: %s", self.service, row["seq"], error)
                self.store.execute(
                    "UPDATE _outbox SET status = ?, attempts = ?, last_error = ?, "
                    "next_attempt_at = ? WHERE seq = ?",
                    (
                        status,
                        attempts,
                        error,
                        time.time() + min(0.25 * 2**attempts, 30),
                        row["seq"],
                    ),
                )
        return len(rows)

"""The systems' APIs as their users use them, and a peek at the runtime's store.

`Api` retries what people retry (429, 5xx, timeouts) and sends an `Idempotency-Key` with every
write, so a retried click never creates a record twice. `StorePeek` reads the store's tables
read-only, for the progress bar and to know when the runtime is idle.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx

RETRIED = frozenset({429, 502, 503, 504})
UNFINISHED = ("pending", "running", "waiting")


class ApiError(Exception):
    pass


class Api:
    """One system's HTTP API with a bearer token."""

    def __init__(self, name: str, base_url: str, token: str, key_prefix: str) -> None:
        self.name = name
        self.client = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
        )
        self._keys = itertools.count(1)
        self._prefix = key_prefix
        self._lock = threading.Lock()
        self.retries = 0

    def _key(self) -> str:
        with self._lock:
            return f"{self._prefix}-{self.name}-{next(self._keys)}"

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        params: dict[str, Any] | None = None,
        ok: tuple[int, ...] = (200, 201, 202),
    ) -> httpx.Response:
        headers = {"Idempotency-Key": self._key()} if method != "GET" else {}
        for attempt in range(10):
            try:
                answer = self.client.request(
                    method, path, json=body, params=params, headers=headers
                )
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code not in RETRIED:
                if answer.status_code not in ok:
                    raise ApiError(
                        f"{self.name} {method} {path}: {answer.status_code} {answer.text[:300]}"
                    )
                return answer
            self.retries += 1
            time.sleep(min(0.05 * 2**attempt, 0.5))
        raise ApiError(f"{self.name} {method} {path}: still failing after 10 attempts")

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, params=params or None).json()

    def post(self, path: str, body: Any = None, ok: tuple[int, ...] = (200, 201, 202)) -> Any:
        return self.call("POST", path, body, ok=ok).json()

    def patch(self, path: str, body: Any) -> Any:
        return self.call("PATCH", path, body).json()

    def every(self, path: str, **params: Any) -> list[dict[str, Any]]:
        """All items of a list endpoint, whatever its pagination style."""
        items: list[dict[str, Any]] = []
        query: dict[str, Any] | None = {**params, "limit": 200, "per_page": 200}
        url: str | None = path
        while url:
            page = self.call("GET", url, params=query).json()
            items += page["items"]
            if page.get("next_cursor"):
                query = {**(query or {}), "cursor": page["next_cursor"]}
            elif (page.get("links") or {}).get("next"):
                url, query = page["links"]["next"], None  # the link carries the whole query
                continue
            elif page.get("has_more"):
                query = {**(query or {}), "offset": int(page["offset"]) + len(page["items"])}
            else:
                url = None
        return items

    def close(self) -> None:
        self.client.close()


class StorePeek:
    """Read-only looks at the runtime's SQLite store while the runtime writes it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _query(self, sql: str) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
        finally:
            conn.close()

    def runs(self) -> dict[str, int]:
        return dict(self._query("SELECT status, count(*) FROM runs GROUP BY status"))  # type: ignore[arg-type]

    def events_pending(self) -> int:
        rows = self._query("SELECT count(*) FROM events WHERE state = 'pending'")
        return int(rows[0][0]) if rows else 0

    def busy(self) -> int:
        """Events not routed yet plus runs not finished (pending, running, waiting)."""
        runs = self.runs()
        return self.events_pending() + sum(runs.get(s, 0) for s in UNFINISHED)

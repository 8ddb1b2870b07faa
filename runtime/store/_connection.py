"""The embedded store (connection and group commit): one SQLite file in WAL mode, fsync at every commit.

Accepted events share commits (group commit): concurrent `accept` calls that arrive while a
commit is being written join the next one, so many events cost one fsync. One process owns a
SQLite store; several `seamline serve` workers need the PostgreSQL backend.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from runtime.store._rows import (
    dumps,
    now_iso,
)
from runtime.store._schema import SCHEMA


@dataclass
class _Op:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: BaseException | None = None


class SqliteConnection:
    """One SQLite connection and its lock; writes of concurrent callers share commits."""

    def __init__(self, path: str | Path, *, group_window: float = 0.002) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # fsync the WAL at every commit
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.group_window = group_window
        self._ops: list[_Op] = []
        self._writing = False
        self.commits = 0  # for the group-commit benchmark and tests

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(self._locked, fn, *args)

    def _locked(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = fn(*args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self.commits += 1
            return result

    def _audit(
        self, run_id: str, before: str | None, after: str, detail: dict[str, Any] | None = None
    ) -> None:
        self._db.execute(
            "INSERT INTO audit(run_id, at, from_status, to_status, detail) VALUES (?,?,?,?,?)",
            (run_id, now_iso(), before, after, dumps(detail)),
        )

    def _status(self, run_id: str) -> str | None:
        row = self._db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()
        return row["status"] if row else None

    def _transition(
        self, run_id: str, after: str, detail: dict[str, Any] | None = None, **columns: Any
    ) -> None:
        before = self._status(run_id)
        sets = ", ".join(f"{name}=?" for name in ("status", "updated_at", *columns))
        self._db.execute(
            f"UPDATE runs SET {sets} WHERE id=?", (after, now_iso(), *columns.values(), run_id)
        )
        if before != after:
            self._audit(run_id, before, after, detail)

    async def _grouped(self, fn: Callable[..., Any], *args: Any, window: float = 0.0) -> Any:
        """Run `fn` in a transaction shared with the writes of concurrent callers (group commit):
        one fsync for all of them; each write has its own savepoint, so one failing write fails
        only its caller. Returns after the commit, like every store method."""
        op = _Op(fn, args)
        self._ops.append(op)
        if not self._writing:
            self._writing = True
            # shielded: the leader's commit is everyone's commit, so its caller going away
            # (a client disconnect, a cancelled task) must not strand the others
            with anyio.CancelScope(shield=True):
                try:
                    await anyio.sleep(window)  # let concurrent writers join this commit
                    while self._ops:
                        batch, self._ops = self._ops, []
                        await anyio.to_thread.run_sync(self._run_batch, batch)
                        for done in batch:
                            done.done.set()
                finally:
                    self._writing = False
        await op.done.wait()
        if op.error is not None:
            raise op.error
        return op.result

    def _run_batch(self, batch: list[_Op]) -> None:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                for op in batch:
                    op.error = exc
                return
            for op in batch:
                self._db.execute("SAVEPOINT op")
                try:
                    op.result = op.fn(*op.args)
                    self._db.execute("RELEASE op")
                except Exception as exc:  # noqa: BLE001 - handed to that caller
                    self._db.execute("ROLLBACK TO op")
                    self._db.execute("RELEASE op")
                    op.error = exc
            try:
                self._db.execute("COMMIT")
                self.commits += 1
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                for op in batch:
                    op.error = op.error or exc

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()

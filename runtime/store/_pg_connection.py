"""The shared store's connections and transactions: PostgreSQL through psycopg 3.

Every store call is one transaction on a connection of its own, run on a worker thread (psycopg's
blocking API under `anyio.to_thread`, as the SQLite store does), and committed before the call
returns. A few connections are kept open and reused; concurrent callers of one process get
separate connections, so they are as safe as callers in separate processes: the SQL takes the
row locks (FOR UPDATE, SKIP LOCKED) that make both safe.

The store location is a URL: libpq's `postgresql://user@host:port/dbname?…` (or `postgres://`)
plus one parameter of seamline's, `schema=NAME`, so several stores can share a database.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio.to_thread
import orjson
import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from runtime.store._pg_schema import SCHEMA, SCHEMA_LOCK_KEY, SCHEMA_VERSION
from runtime.store._rows import dumps, now_iso
from runtime.store.base import Accepted

Db = psycopg.Connection[dict[str, Any]]

# a deadlock victim (two transactions locking rows in different orders) is rolled back whole by
# the server, so running the call again is safe; transactions here are short, so a few will do
RETRIED_ERRORS = (errors.DeadlockDetected, errors.SerializationFailure)
ATTEMPTS = 5

INSERT_EVENT = (
    "INSERT INTO events(source, id, type, subject, body, received_at, state) "
    "VALUES (%s, %s, %s, %s, %s, %s, 'pending') ON CONFLICT (source, id) DO NOTHING RETURNING seq"
)


def connection_params(url: str) -> tuple[dict[str, Any], str | None]:
    """libpq's connection parameters for `url`, and the `schema` query parameter taken out of it
    (libpq refuses parameters it does not know)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for name, value in query if name == "schema"]
    rest = [(name, value) for name, value in query if name != "schema"]
    if schemas and not schemas[-1]:
        raise ValueError(f"empty `schema=` in the store URL {redact(url)}")
    params = conninfo_to_dict(urlunsplit(parts._replace(query=urlencode(rest))))
    params.setdefault("application_name", "seamline")
    params.setdefault("connect_timeout", "10")  # libpq's default is to wait forever
    return params, schemas[-1] if schemas else None


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class PgConnection:
    """A few reusable connections, one transaction per store call."""

    def __init__(self, url: str, *, max_connections: int = 4) -> None:
        self.url = redact(url)
        self._params, self.schema = connection_params(url)
        self._idle: list[Db] = []
        self._idle_lock = threading.Lock()
        # blocking worker threads, not an anyio primitive: the store is opened outside any event
        # loop and may be used (and closed) from several
        self._slots = threading.BoundedSemaphore(max_connections)
        self._closed = False
        # opened at once, like the SQLite file, so a wrong URL or an unreachable server fails
        # where the store is opened (at start) rather than at the first event
        db = self._connect()
        try:
            self._create_schema(db)
        except BaseException:
            db.close()
            raise
        self._idle.append(db)

    # -- connections --------------------------------------------------------------------------
    def _connect(self) -> Db:
        db = psycopg.connect(**self._params, autocommit=True, row_factory=dict_row)
        if self.schema is not None:
            # session-wide (autocommit), so every statement on this connection finds the tables
            db.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        return db

    def _create_schema(self, db: Db) -> None:
        if self._schema_is_current(db):
            return
        with db.transaction():
            # processes opening a new store together: one creates, the others then find it done
            db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_KEY,))
            if self.schema is not None:
                db.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
            db.execute(SCHEMA)
            db.execute(
                "INSERT INTO store_schema(version) VALUES (%s) ON CONFLICT DO NOTHING",
                (SCHEMA_VERSION,),
            )

    def _schema_is_current(self, db: Db) -> bool:
        row = db.execute("SELECT to_regclass('store_schema') IS NOT NULL AS made").fetchone()
        if row is None or not row["made"]:
            return False
        row = db.execute("SELECT MAX(version) AS version FROM store_schema").fetchone()
        return row is not None and (row["version"] or 0) >= SCHEMA_VERSION

    def _checkout(self) -> tuple[Db, bool]:
        """A connection, and whether it was reused (it may have been dropped by the server)."""
        with self._idle_lock:
            if self._closed:
                raise RuntimeError(f"the store {self.url} is closed")
            if self._idle:
                return self._idle.pop(), True
        return self._connect(), False

    def _checkin(self, db: Db) -> None:
        with self._idle_lock:
            if not self._closed and not db.closed and not db.broken:
                self._idle.append(db)
                return
        db.close()

    def _begin(self) -> Db:
        """A connection with a transaction open on it. A kept connection the server has closed
        since (a restart, an idle timeout) fails at BEGIN, before anything was done: replaced."""
        while True:
            db, reused = self._checkout()
            try:
                db.execute("BEGIN")
                return db
            except psycopg.OperationalError:
                db.close()
                if not reused:
                    raise

    # -- transactions -------------------------------------------------------------------------
    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(db, *args)` in a transaction, committed before this returns. Not cancellable once
        started (like the SQLite store): a cancelled caller's transaction still ends cleanly."""
        return await anyio.to_thread.run_sync(self._transaction, fn, args)

    def _transaction(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        with self._slots:
            for attempt in range(1, ATTEMPTS + 1):
                db = self._begin()
                try:
                    result = fn(db, *args)
                    db.execute("COMMIT")
                    return result
                except RETRIED_ERRORS:
                    self._rollback(db)
                    if attempt == ATTEMPTS:
                        raise
                    time.sleep(random.uniform(0.001, 0.01 * attempt))  # let the winner finish
                except BaseException:
                    self._rollback(db)
                    raise
                finally:
                    self._checkin(db)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _rollback(db: Db) -> None:
        if db.closed or db.broken:
            return
        try:
            db.execute("ROLLBACK")
        except psycopg.Error:
            db.close()  # in no state to be reused

    async def aclose(self) -> None:
        def close_all() -> None:
            with self._idle_lock:
                self._closed = True
                idle, self._idle = self._idle, []
            for db in idle:
                db.close()

        await anyio.to_thread.run_sync(close_all)

    # -- helpers shared by the store's halves (called inside a transaction) ---------------------
    def _insert_events(self, db: Db, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        if not events:
            return []
        now = now_iso()
        rows = [
            (
                str(event.get("source")),
                str(event.get("id")),
                str(event.get("type")),
                None if event.get("subject") is None else str(event["subject"]),
                orjson.dumps(event).decode(),
                now,
            )
            for event in events
        ]
        inserted: list[int | None] = []
        with db.cursor() as cursor:
            # one statement per event, in order (so seq is acceptance order and a duplicate inside
            # the batch finds its first copy), sent together in one round trip (pipeline mode)
            cursor.executemany(INSERT_EVENT, rows, returning=True)
            while True:
                row = cursor.fetchone()
                inserted.append(None if row is None else row["seq"])
                if not cursor.nextset():
                    break
        missing = [(row[0], row[1]) for row, seq in zip(rows, inserted, strict=True) if seq is None]
        known: dict[tuple[str, str], int] = {}
        if missing:
            found = db.execute(
                "SELECT source, id, seq FROM events "
                "WHERE (source, id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))",
                ([source for source, _ in missing], [ident for _, ident in missing]),
            ).fetchall()
            known = {(r["source"], r["id"]): r["seq"] for r in found}
        return [
            Accepted(seq, duplicate=False)
            if seq is not None
            else Accepted(known[(r[0], r[1])], True)
            for r, seq in zip(rows, inserted, strict=True)
        ]

    def _audit(
        self,
        db: Db,
        run_id: str,
        before: str | None,
        after: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        db.execute(
            "INSERT INTO audit(run_id, at, from_status, to_status, detail) VALUES (%s,%s,%s,%s,%s)",
            (run_id, now_iso(), before, after, dumps(detail)),
        )

    def _status(self, db: Db, run_id: str) -> str | None:
        """The run's status, its row locked until the commit: changes to one run (a worker's
        suspend, a router's delivery, a claim) take turns instead of working from stale reads."""
        row = db.execute("SELECT status FROM runs WHERE id=%s FOR UPDATE", (run_id,)).fetchone()
        return None if row is None else row["status"]

    def _transition(
        self, db: Db, run_id: str, after: str, detail: dict[str, Any] | None = None, **columns: Any
    ) -> None:
        before = self._status(db, run_id)
        sets = sql.SQL(", ").join(
            sql.SQL("{}=%s").format(sql.Identifier(name))
            for name in ("status", "updated_at", *columns)
        )
        db.execute(
            sql.SQL("UPDATE runs SET {} WHERE id=%s").format(sets),
            (after, now_iso(), *columns.values(), run_id),
        )
        if before != after:
            self._audit(db, run_id, before, after, detail)

"""The embedded store: one SQLite file in WAL mode, fsync at every commit.

Accepted events share commits (group commit): concurrent `accept` calls that arrive while a
commit is being written join the next one, so many events cost one fsync. One process owns a
SQLite store; several `seamline serve` workers need the PostgreSQL backend.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson

from runtime.store._schema import SCHEMA
from runtime.store.base import (
    DEAD_LETTERED,
    FINAL,
    PENDING,
    RUNNING,
    WAITING,
    Accepted,
    AuditRecord,
    JournalEntry,
    NewRun,
    OpenWait,
    Router,
    RunRecord,
    ScheduleState,
    StoredEvent,
)


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def _loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def _now_iso(now: float | None = None) -> str:
    moment = time.time() if now is None else now
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"
    )


def key_text(key: Any) -> str | None:
    """The run key as stored: JSON text, so 42 and "42" are different keys; null means none."""
    return None if key is None else orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()


@dataclass
class _Op:
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    done: anyio.Event = field(default_factory=anyio.Event)
    result: Any = None
    error: BaseException | None = None


class SqliteStore:
    """Store backend on SQLite. Calls run on a worker thread; one connection, one lock."""

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

    # -- plumbing --------------------------------------------------------------------------
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
            (run_id, _now_iso(), before, after, _dumps(detail)),
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
            f"UPDATE runs SET {sets} WHERE id=?", (after, _now_iso(), *columns.values(), run_id)
        )
        if before != after:
            self._audit(run_id, before, after, detail)

    # -- inbox -----------------------------------------------------------------------------
    def _insert_events(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        out = []
        now = _now_iso()
        for event in events:
            source, ident = str(event.get("source")), str(event.get("id"))
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO events(source, id, type, subject, body, received_at, state) "
                "VALUES (?,?,?,?,?,?, 'pending')",
                (
                    source,
                    ident,
                    str(event.get("type")),
                    event.get("subject"),
                    orjson.dumps(event),
                    now,
                ),
            )
            if cursor.rowcount:
                out.append(Accepted(int(cursor.lastrowid or 0), duplicate=False))
            else:
                row = self._db.execute(
                    "SELECT seq FROM events WHERE source=? AND id=?", (source, ident)
                ).fetchone()
                out.append(Accepted(int(row["seq"]), duplicate=True))
        return out

    async def accept(self, event: dict[str, Any]) -> Accepted:
        """Durably accept one event (group commit with concurrent callers)."""
        results = await self._grouped(self._insert_events, [event], window=self.group_window)
        return results[0]  # type: ignore[no-any-return]

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

    async def accept_many(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        return list(await self._call(self._insert_events, list(events)))

    def _route(self, router: Router, limit: int) -> int:
        rows = self._db.execute(
            "SELECT * FROM events WHERE state='pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        for row in rows:
            event = _stored_event(row)
            waits = [
                _open_wait(w)
                for w in self._db.execute(
                    "SELECT * FROM waits WHERE event_type=?", (event.type,)
                ).fetchall()
            ]
            decision = router(event, waits)
            created = 0
            for run in decision.runs:
                now = _now_iso()
                deadline = time.time() + run.sla_seconds if run.sla_seconds else None
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO runs(id, flow, flow_hash, flow_version, run_key, key_json, event_seq, "
                    "status, generation, created_at, updated_at, sla_deadline, variant) "
                    "VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?)",
                    (
                        run.run_id,
                        run.flow,
                        run.flow_hash,
                        run.flow_version,
                        key_text(run.key),
                        _dumps(run.key),
                        event.seq,
                        PENDING,
                        now,
                        now,
                        deadline,
                        run.variant,
                    ),
                )
                if cursor.rowcount:
                    created += 1
                    detail = {"event": event.seq, "key": run.key}
                    if run.variant:
                        detail["variant"] = run.variant
                    self._audit(run.run_id, None, PENDING, detail)
            for delivery in decision.deliveries:
                self._deliver(delivery.run_id, delivery.generation, delivery.label, event)
            self._db.execute(
                "UPDATE events SET state='routed', routed_at=?, runs_created=? WHERE seq=?",
                (_now_iso(), created, event.seq),
            )
        return len(rows)

    def _deliver(self, run_id: str, generation: int, label: str, event: StoredEvent) -> None:
        self._db.execute(
            "UPDATE journal SET status='succeeded', output=?, finished_at=?, wake_at=NULL "
            "WHERE run_id=? AND generation=? AND label=? AND status='waiting'",
            (orjson.dumps(event.body), _now_iso(), run_id, generation, label),
        )
        self._db.execute(
            "DELETE FROM waits WHERE run_id=? AND generation=? AND label=?",
            (run_id, generation, label),
        )
        if self._status(run_id) == WAITING:
            self._transition(run_id, PENDING, {"delivered": event.seq, "step": label}, wake_at=None)

    async def route_pending(self, router: Router, limit: int = 100) -> int:
        return int(await self._call(self._route, router, limit))

    async def event(self, seq: int) -> StoredEvent | None:
        row = await self._call(
            lambda: self._db.execute("SELECT * FROM events WHERE seq=?", (seq,)).fetchone()
        )
        return _stored_event(row) if row else None

    # -- flow versions -----------------------------------------------------------------------
    async def save_flow_version(
        self, flow_hash: str, flow: str, version: str, files: dict[str, str]
    ) -> None:
        await self._call(
            lambda: self._db.execute(
                "INSERT OR IGNORE INTO flow_versions(hash, flow, version, files, created_at) VALUES (?,?,?,?,?)",
                (flow_hash, flow, version, orjson.dumps(files), _now_iso()),
            )
        )

    async def flow_version_files(self, flow_hash: str) -> dict[str, str] | None:
        row = await self._call(
            lambda: self._db.execute(
                "SELECT files FROM flow_versions WHERE hash=?", (flow_hash,)
            ).fetchone()
        )
        return _loads(row["files"]) if row else None

    # -- runs --------------------------------------------------------------------------------
    def _claim(self, owner: str, now: float, limit: int, lease: float) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT id, status FROM runs WHERE status=? OR (status=? AND wake_at IS NOT NULL AND wake_at<=?) "
            # due timers and new runs share one queue, oldest first, so neither starves the other
            "ORDER BY COALESCE(wake_at, CAST(strftime('%s', substr(created_at, 1, 19)) AS REAL)), created_at "
            "LIMIT ?",
            (PENDING, WAITING, now, limit),
        ).fetchall()
        claimed = []
        for row in rows:
            self._transition(
                row["id"], RUNNING, {"owner": owner}, owner=owner, lease_until=now + lease
            )
            claimed.append(self._run(row["id"]))
        return [r for r in claimed if r is not None]

    async def claim(
        self, owner: str, now: float, limit: int = 1, lease_seconds: float = 60.0
    ) -> list[RunRecord]:
        return list(await self._call(self._claim, owner, now, limit, lease_seconds))

    def _recover(self, is_alive: Callable[[str], bool]) -> int:
        rows = self._db.execute(
            "SELECT id, owner, lease_until FROM runs WHERE status=?", (RUNNING,)
        ).fetchall()
        count = 0
        for row in rows:
            if not is_alive(row["owner"] or "") or (row["lease_until"] or 0) < time.time():
                self._transition(
                    row["id"],
                    PENDING,
                    {"recovered_from": row["owner"]},
                    owner=None,
                    lease_until=None,
                )
                count += 1
        return count

    async def recover(self, is_alive: Callable[[str], bool]) -> int:
        return int(await self._call(self._recover, is_alive))

    def _run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return _run_record(row) if row else None

    async def run(self, run_id: str) -> RunRecord | None:
        return await self._call(self._run, run_id)  # type: ignore[no-any-return]

    async def runs(
        self,
        *,
        flow: str | None = None,
        status: str | None = None,
        error_code: str | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]:
        where, args = [], []
        for column, value in (("flow", flow), ("status", status), ("error_code", error_code)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if key is not None:
            where.append("(run_key=? OR run_key=?)")
            args += [key, key_text(key)]
        sql = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        rows = await self._call(lambda: self._db.execute(sql, (*args, limit)).fetchall())
        return [_run_record(r) for r in rows]

    async def start(self, run_id: str, started_at: str) -> None:
        await self._grouped(
            lambda: self._db.execute(
                "UPDATE runs SET started_at=COALESCE(started_at, ?), updated_at=? WHERE id=?",
                (started_at, _now_iso(), run_id),
            )
        )

    def _finish(self, run_id: str, status: str, output: Any, error: dict[str, Any] | None) -> None:
        now = time.time()
        self._transition(
            run_id,
            status,
            {"error": error.get("code")} if error else None,
            output=_dumps(output),
            error=_dumps(error),
            error_code=(error or {}).get("code"),
            finished_at=_now_iso(now),
            finished_ts=now,
            owner=None,
            lease_until=None,
            wake_at=None,
        )
        if status in FINAL or status == DEAD_LETTERED:
            self._db.execute("DELETE FROM waits WHERE run_id=?", (run_id,))

    async def finish(
        self, run_id: str, status: str, *, output: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        await self._grouped(self._finish, run_id, status, output, error)

    def _suspend(self, run_id: str, wake_at: float | None, wait_label: str | None) -> None:
        if wait_label is not None:
            # the awaited event may have been delivered between the journal write and now
            row = self._db.execute(
                "SELECT j.status FROM journal j JOIN runs r ON r.id=j.run_id AND r.generation=j.generation "
                "WHERE j.run_id=? AND j.label=?",
                (run_id, wait_label),
            ).fetchone()
            if row is not None and row["status"] != "waiting":
                self._transition(
                    run_id,
                    PENDING,
                    {"delivered_before_suspend": wait_label},
                    wake_at=None,
                    owner=None,
                    lease_until=None,
                )
                return
        detail = {"wake_at": wake_at, **({"waiting_for": wait_label} if wait_label else {})}
        self._transition(run_id, WAITING, detail, wake_at=wake_at, owner=None, lease_until=None)

    async def suspend(
        self, run_id: str, wake_at: float | None, wait_label: str | None = None
    ) -> None:
        await self._grouped(self._suspend, run_id, wake_at, wait_label)

    def _replay(
        self, run_id: str, flow_hash: str | None, flow_version: str | None, from_start: bool
    ) -> RunRecord:
        run = self._run(run_id)
        if run is None:
            raise KeyError(run_id)
        if run.status != DEAD_LETTERED and run.status != "failed":
            raise ValueError(
                f"run {run_id} is {run.status}; only dead-lettered or failed runs can be replayed"
            )
        generation = run.generation + 1 if from_start else run.generation
        if not from_start:
            # keep what succeeded; the failed step, pending retries and compensations run again
            self._db.execute(
                "DELETE FROM journal WHERE run_id=? AND generation=? AND status NOT IN ('succeeded','skipped')",
                (run_id, generation),
            )
        columns: dict[str, Any] = {
            "generation": generation,
            "error": None,
            "error_code": None,
            "finished_at": None,
            "finished_ts": None,
            "replays": run.replays + 1,
        }
        if flow_hash:
            columns.update(flow_hash=flow_hash, flow_version=flow_version or run.flow_version)
        detail = {"from_start": from_start, "flow_hash": flow_hash or run.flow_hash}
        self._transition(run_id, PENDING, {"replay": detail}, **columns)
        replayed = self._run(run_id)
        assert replayed is not None
        return replayed

    async def replay(
        self,
        run_id: str,
        *,
        flow_hash: str | None = None,
        flow_version: str | None = None,
        from_start: bool = False,
    ) -> RunRecord:
        return await self._call(self._replay, run_id, flow_hash, flow_version, from_start)  # type: ignore[no-any-return]

    def _discard(self, run_id: str, reason: str) -> None:
        if self._status(run_id) != DEAD_LETTERED:
            raise ValueError(f"run {run_id} is not a dead letter")
        self._transition(run_id, "discarded", {"reason": reason})

    async def discard(self, run_id: str, reason: str) -> None:
        await self._call(self._discard, run_id, reason)

    async def next_wake(self) -> float | None:
        row = await self._call(
            lambda: self._db.execute(
                "SELECT MIN(wake_at) AS w FROM runs WHERE status=?", (WAITING,)
            ).fetchone()
        )
        return row["w"] if row else None

    async def sla_overdue(self, now: float) -> list[RunRecord]:
        rows = await self._call(
            lambda: self._db.execute(
                "SELECT * FROM runs WHERE sla_deadline IS NOT NULL AND sla_breached=0 AND "
                "((finished_ts IS NULL AND sla_deadline < ?) OR finished_ts > sla_deadline)",
                (now,),
            ).fetchall()
        )
        return [_run_record(r) for r in rows]

    def _mark_sla(self, run_id: str, event: dict[str, Any]) -> None:
        self._db.execute("UPDATE runs SET sla_breached=1 WHERE id=?", (run_id,))
        self._audit(
            run_id, self._status(run_id), self._status(run_id) or "", {"sla_breached": True}
        )
        self._insert_events([event])

    async def mark_sla_breached(self, run_id: str, event: dict[str, Any]) -> None:
        await self._call(self._mark_sla, run_id, event)

    # -- schedules ---------------------------------------------------------------------------
    async def schedules(self) -> dict[str, ScheduleState]:
        rows = await self._call(lambda: self._db.execute("SELECT * FROM schedules").fetchall())
        return {
            r["flow"]: ScheduleState(
                r["flow"], r["cron"], r["timezone"], r["next_fire"], r["last_fire"]
            )
            for r in rows
        }

    async def set_schedule(self, flow: str, cron: str, timezone: str, next_fire: float) -> None:
        await self._call(
            lambda: self._db.execute(
                "INSERT INTO schedules(flow, cron, timezone, next_fire) VALUES (?,?,?,?) ON CONFLICT(flow) DO UPDATE "
                "SET cron=excluded.cron, timezone=excluded.timezone, next_fire=excluded.next_fire",
                (flow, cron, timezone, next_fire),
            )
        )

    def _fire(
        self, flow: str, event: dict[str, Any], run: NewRun, fired_for: float, next_fire: float
    ) -> bool:
        accepted = self._insert_events([event])[0]
        created = False
        if not accepted.duplicate:  # the event id is the fire time: one fire per time, ever
            self._db.execute(
                "UPDATE events SET state='routed', routed_at=?, runs_created=1 WHERE seq=?",
                (_now_iso(), accepted.seq),
            )
            now = _now_iso()
            deadline = time.time() + run.sla_seconds if run.sla_seconds else None
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO runs(id, flow, flow_hash, flow_version, run_key, key_json, event_seq, status, "
                "generation, created_at, updated_at, sla_deadline, variant) VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?)",
                (
                    run.run_id,
                    run.flow,
                    run.flow_hash,
                    run.flow_version,
                    key_text(run.key),
                    _dumps(run.key),
                    accepted.seq,
                    PENDING,
                    now,
                    now,
                    deadline,
                    run.variant,
                ),
            )
            created = bool(cursor.rowcount)
            if created:
                self._audit(
                    run.run_id, None, PENDING, {"event": accepted.seq, "schedule": fired_for}
                )
        self._db.execute(
            "UPDATE schedules SET next_fire=?, last_fire=? WHERE flow=?",
            (next_fire, fired_for, flow),
        )
        return created

    async def fire_schedule(
        self, flow: str, event: dict[str, Any], run: NewRun, fired_for: float, next_fire: float
    ) -> bool:
        return bool(await self._call(self._fire, flow, event, run, fired_for, next_fire))

    # -- journal -----------------------------------------------------------------------------
    async def journal(self, run_id: str, generation: int | None = None) -> list[JournalEntry]:
        def read() -> list[sqlite3.Row]:
            if generation is None:
                return self._db.execute(
                    "SELECT * FROM journal WHERE run_id=? ORDER BY seq", (run_id,)
                ).fetchall()
            return self._db.execute(
                "SELECT * FROM journal WHERE run_id=? AND generation=? ORDER BY seq",
                (run_id, generation),
            ).fetchall()

        return [_journal_entry(r) for r in await self._call(read)]

    def _record(
        self, entry: JournalEntry, emitted: Sequence[dict[str, Any]], wait: OpenWait | None
    ) -> None:
        self._db.execute(
            "INSERT INTO journal(run_id, generation, label, kind, status, input, output, error, attempts, "
            "started_at, finished_at, duration_ms, wake_at, detail, seq) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
            "(SELECT COALESCE(MAX(seq), 0) + 1 FROM journal)) "
            "ON CONFLICT(run_id, generation, label) DO UPDATE SET kind=excluded.kind, status=excluded.status, "
            "input=excluded.input, output=excluded.output, error=excluded.error, attempts=excluded.attempts, "
            "started_at=excluded.started_at, finished_at=excluded.finished_at, duration_ms=excluded.duration_ms, "
            "wake_at=excluded.wake_at, detail=excluded.detail, seq=(SELECT COALESCE(MAX(seq), 0) + 1 FROM journal)",
            (
                entry.run_id,
                entry.generation,
                entry.label,
                entry.kind,
                entry.status,
                _dumps(entry.input),
                _dumps(entry.output),
                _dumps(entry.error),
                entry.attempts,
                entry.started_at,
                entry.finished_at,
                entry.duration_ms,
                entry.wake_at,
                _dumps(entry.detail),
            ),
        )
        if emitted:
            self._insert_events(emitted)  # the outbox: committed with the step that emitted them
        if wait is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO waits(run_id, generation, label, event_type, match, correlation, deadline) "
                "VALUES (?,?,?,?,?,?,?)",
                (
                    wait.run_id,
                    wait.generation,
                    wait.label,
                    wait.event_type,
                    wait.match,
                    _dumps(wait.correlation),
                    wait.deadline,
                ),
            )
        elif entry.status != "waiting":
            self._db.execute(
                "DELETE FROM waits WHERE run_id=? AND generation=? AND label=?",
                (entry.run_id, entry.generation, entry.label),
            )
        self._db.execute(
            "UPDATE runs SET lease_until=?, updated_at=? WHERE id=?",
            (time.time() + 60.0, _now_iso(), entry.run_id),
        )

    async def record(
        self,
        entry: JournalEntry,
        *,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None:
        await self._grouped(self._record, entry, list(emitted), wait)

    # -- audit and counts --------------------------------------------------------------------
    async def audit(self, run_id: str) -> list[AuditRecord]:
        rows = await self._call(
            lambda: self._db.execute(
                "SELECT * FROM audit WHERE run_id=? ORDER BY seq", (run_id,)
            ).fetchall()
        )
        return [
            AuditRecord(
                r["seq"],
                r["run_id"],
                r["at"],
                r["from_status"],
                r["to_status"],
                _loads(r["detail"]),
            )
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        def read() -> dict[str, int]:
            out = {
                f"runs.{r['status']}": r["n"]
                for r in self._db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
            }
            out["events"] = self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0]
            out["events.pending"] = self._db.execute(
                "SELECT COUNT(*) FROM events WHERE state='pending'"
            ).fetchone()[0]
            return out

        return dict(await self._call(read))

    async def aclose(self) -> None:
        with self._lock:
            self._db.close()


def _stored_event(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(
        row["seq"],
        row["source"],
        row["id"],
        row["type"],
        orjson.loads(row["body"]),
        row["received_at"],
    )


def _open_wait(row: sqlite3.Row) -> OpenWait:
    return OpenWait(
        row["run_id"],
        row["generation"],
        row["label"],
        row["event_type"],
        row["match"],
        _loads(row["correlation"]),
        row["deadline"],
    )


def _run_record(row: sqlite3.Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        flow=row["flow"],
        flow_hash=row["flow_hash"],
        flow_version=row["flow_version"],
        key=_loads(row["key_json"]),
        event_seq=row["event_seq"],
        status=row["status"],
        generation=row["generation"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wake_at=row["wake_at"],
        error=_loads(row["error"]),
        output=_loads(row["output"]),
        sla_deadline=row["sla_deadline"],
        sla_breached=bool(row["sla_breached"]),
        replays=row["replays"],
        variant=row["variant"],
    )


def _journal_entry(row: sqlite3.Row) -> JournalEntry:
    return JournalEntry(
        run_id=row["run_id"],
        generation=row["generation"],
        label=row["label"],
        kind=row["kind"],
        status=row["status"],
        input=_loads(row["input"]),
        output=_loads(row["output"]),
        error=_loads(row["error"]),
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_ms=row["duration_ms"],
        wake_at=row["wake_at"],
        detail=_loads(row["detail"]),
        seq=row["seq"],
    )


__all__ = ["RUNNING", "SqliteStore", "key_text"]

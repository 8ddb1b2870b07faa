"""The embedded store: one SQLite file in WAL mode, fsync at every commit.

Accepted events share commits (group commit): concurrent `accept` calls that arrive while a
commit is being written join the next one, so many events cost one fsync. One process owns a
SQLite store; several `seamline serve` workers need the PostgreSQL backend.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import orjson

from runtime.store._rows import (
    journal_entry,
    journal_params,
    key_text,
    loads,
    new_run_params,
    now_iso,
    open_wait,
    stored_event,
    wait_params,
)
from runtime.store._runs import RunsMixin
from runtime.store._sources import SourcesMixin
from runtime.store.base import (
    PENDING,
    RUNNING,
    WAITING,
    Accepted,
    AuditRecord,
    JournalEntry,
    NewRun,
    OpenWait,
    Router,
    ScheduleState,
    StoredEvent,
)

INSERT_RUN = (
    "INSERT OR IGNORE INTO runs(id, flow, flow_hash, flow_version, run_key, key_json, event_seq, "
    "status, generation, created_at, updated_at, sla_deadline, variant) "
    "VALUES (?,?,?,?,?,?,?,?,0,?,?,?,?)"
)


class SqliteStore(RunsMixin, SourcesMixin):
    """Store backend on SQLite. Calls run on a worker thread; one connection, one lock."""

    def _insert_events(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        out = []
        now = now_iso()
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

    async def accept_many(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        return list(await self._call(self._insert_events, list(events)))

    def _route(self, router: Router, limit: int) -> int:
        rows = self._db.execute(
            "SELECT * FROM events WHERE state='pending' ORDER BY seq LIMIT ?", (limit,)
        ).fetchall()
        for row in rows:
            event = stored_event(row)
            waits = [
                open_wait(w)
                for w in self._db.execute(
                    "SELECT * FROM waits WHERE event_type=?", (event.type,)
                ).fetchall()
            ]
            decision = router(event, waits)
            created = 0
            for run in decision.runs:
                cursor = self._db.execute(INSERT_RUN, new_run_params(run, event.seq, PENDING))
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
                (now_iso(), created, event.seq),
            )
        return len(rows)

    def _deliver(self, run_id: str, generation: int, label: str, event: StoredEvent) -> None:
        self._db.execute(
            "UPDATE journal SET status='succeeded', output=?, finished_at=?, wake_at=NULL "
            "WHERE run_id=? AND generation=? AND label=? AND status='waiting'",
            (orjson.dumps(event.body), now_iso(), run_id, generation, label),
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
        return stored_event(row) if row else None

    async def save_flow_version(
        self, flow_hash: str, flow: str, version: str, files: dict[str, str]
    ) -> None:
        await self._call(
            lambda: self._db.execute(
                "INSERT OR IGNORE INTO flow_versions(hash, flow, version, files, created_at) VALUES (?,?,?,?,?)",
                (flow_hash, flow, version, orjson.dumps(files), now_iso()),
            )
        )

    async def flow_version_files(self, flow_hash: str) -> dict[str, str] | None:
        row = await self._call(
            lambda: self._db.execute(
                "SELECT files FROM flow_versions WHERE hash=?", (flow_hash,)
            ).fetchone()
        )
        return loads(row["files"]) if row else None

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
                (now_iso(), accepted.seq),
            )
            cursor = self._db.execute(INSERT_RUN, new_run_params(run, accepted.seq, PENDING))
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

        return [journal_entry(r) for r in await self._call(read)]

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
            journal_params(entry),
        )
        if emitted:
            self._insert_events(emitted)  # the outbox: committed with the step that emitted them
        if wait is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO waits(run_id, generation, label, event_type, match, correlation, deadline) "
                "VALUES (?,?,?,?,?,?,?)",
                wait_params(wait),
            )
        elif entry.status != "waiting":
            self._db.execute(
                "DELETE FROM waits WHERE run_id=? AND generation=? AND label=?",
                (entry.run_id, entry.generation, entry.label),
            )
        self._db.execute(
            "UPDATE runs SET lease_until=?, updated_at=? WHERE id=?",
            (time.time() + 60.0, now_iso(), entry.run_id),
        )

    async def record(
        self,
        entry: JournalEntry,
        *,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None:
        await self._grouped(self._record, entry, list(emitted), wait)

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
                loads(r["detail"]),
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


__all__ = ["RUNNING", "SqliteStore", "key_text"]

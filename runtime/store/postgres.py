"""The shared store: PostgreSQL, for several `seamline serve` / `seamline worker` processes.

`store: postgresql://user@host:5432/dbname?schema=seamline` (also `postgres://`; any libpq
parameter in the query, `schema` is seamline's own: created if missing, default the connection's
search_path). Needs psycopg 3: `pip install 'seamline[postgres]'`.

Same semantics as the SQLite store, checked by the same suite (tests/store/). What differs is
what several processes need: runs are claimed and pending events routed with FOR UPDATE SKIP
LOCKED (two workers never take the same run or route the same event), transitions lock the
run's row, a source's commit locks the source's row. There is no group commit (that is an
optimisation of SQLite's single writer): every call is its own transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from runtime.store._pg_connection import Db
from runtime.store._pg_runs import PgRunsMixin
from runtime.store._pg_sources import PgSourcesMixin
from runtime.store._rows import (
    journal_entry,
    journal_params,
    loads,
    new_run_params,
    now_iso,
    open_wait,
    stored_event,
    wait_params,
)
from runtime.store.base import (
    PENDING,
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
    "INSERT INTO runs(id, flow, flow_hash, flow_version, run_key, key_json, event_seq, status, "
    "generation, created_at, updated_at, sla_deadline, variant) "
    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,0,%s,%s,%s,%s) ON CONFLICT DO NOTHING"
)

UPSERT_JOURNAL = (
    "INSERT INTO journal(run_id, generation, label, kind, status, input, output, error, attempts, "
    "started_at, finished_at, duration_ms, wake_at, detail, seq) "
    "VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s, nextval('journal_order')) "
    "ON CONFLICT (run_id, generation, label) DO UPDATE SET kind=excluded.kind, "
    "status=excluded.status, input=excluded.input, output=excluded.output, error=excluded.error, "
    "attempts=excluded.attempts, started_at=excluded.started_at, "
    "finished_at=excluded.finished_at, duration_ms=excluded.duration_ms, "
    "wake_at=excluded.wake_at, detail=excluded.detail, seq=excluded.seq"
)


class PostgresStore(PgRunsMixin, PgSourcesMixin):
    """Store backend on PostgreSQL. Calls run on worker threads, each on a connection of its own."""

    async def accept(self, event: dict[str, Any]) -> Accepted:
        [accepted] = await self._call(self._insert_events, [event])
        return accepted  # type: ignore[no-any-return]

    async def accept_many(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        return list(await self._call(self._insert_events, list(events)))

    def _insert_run(self, db: Db, run: NewRun, event_seq: int) -> bool:
        return bool(db.execute(INSERT_RUN, new_run_params(run, event_seq, PENDING)).rowcount)

    def _route(self, db: Db, router: Router, limit: int) -> int:
        # SKIP LOCKED: events another worker is routing right now are left to it, not routed twice
        rows = db.execute(
            "SELECT * FROM events WHERE state='pending' ORDER BY seq LIMIT %s FOR UPDATE SKIP LOCKED",
            (limit,),
        ).fetchall()
        for row in rows:
            event = stored_event(row)
            waits = [
                open_wait(w)
                for w in db.execute(
                    "SELECT * FROM waits WHERE event_type=%s ORDER BY run_id, generation, label",
                    (event.type,),
                ).fetchall()
            ]
            decision = router(event, waits)
            created = 0
            for run in decision.runs:
                # a run of the same flow and key started by another worker wins: nothing happens
                if self._insert_run(db, run, event.seq):
                    created += 1
                    detail = {"event": event.seq, "key": run.key}
                    if run.variant:
                        detail["variant"] = run.variant
                    self._audit(db, run.run_id, None, PENDING, detail)
            for delivery in decision.deliveries:
                self._deliver(db, delivery.run_id, delivery.generation, delivery.label, event)
            db.execute(
                "UPDATE events SET state='routed', routed_at=%s, runs_created=%s WHERE seq=%s",
                (now_iso(), created, event.seq),
            )
        return len(rows)

    def _deliver(
        self, db: Db, run_id: str, generation: int, label: str, event: StoredEvent
    ) -> None:
        status = self._status(db, run_id)  # the run's row first, as every transition takes it
        delivered = db.execute(
            "UPDATE journal SET status='succeeded', output=%s, finished_at=%s, wake_at=NULL "
            "WHERE run_id=%s AND generation=%s AND label=%s AND status='waiting'",
            (orjson.dumps(event.body).decode(), now_iso(), run_id, generation, label),
        )
        db.execute(
            "DELETE FROM waits WHERE run_id=%s AND generation=%s AND label=%s",
            (run_id, generation, label),
        )
        # only the delivery that closed the wait wakes the run: another worker's event for the
        # same wait, read before that commit, finds it closed and wakes nothing
        if delivered.rowcount and status == WAITING:
            self._transition(
                db, run_id, PENDING, {"delivered": event.seq, "step": label}, wake_at=None
            )

    async def route_pending(self, router: Router, limit: int = 100) -> int:
        return int(await self._call(self._route, router, limit))

    async def event(self, seq: int) -> StoredEvent | None:
        row = await self._call(
            lambda db: db.execute("SELECT * FROM events WHERE seq=%s", (seq,)).fetchone()
        )
        return stored_event(row) if row else None

    async def save_flow_version(
        self, flow_hash: str, flow: str, version: str, files: dict[str, str]
    ) -> None:
        await self._call(
            lambda db: db.execute(
                "INSERT INTO flow_versions(hash, flow, version, files, created_at) "
                "VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (flow_hash, flow, version, orjson.dumps(files).decode(), now_iso()),
            )
        )

    async def flow_version_files(self, flow_hash: str) -> dict[str, str] | None:
        row = await self._call(
            lambda db: db.execute(
                "SELECT files FROM flow_versions WHERE hash=%s", (flow_hash,)
            ).fetchone()
        )
        return loads(row["files"]) if row else None

    async def schedules(self) -> dict[str, ScheduleState]:
        rows = await self._call(lambda db: db.execute("SELECT * FROM schedules").fetchall())
        return {
            r["flow"]: ScheduleState(
                r["flow"], r["cron"], r["timezone"], r["next_fire"], r["last_fire"]
            )
            for r in rows
        }

    async def set_schedule(self, flow: str, cron: str, timezone: str, next_fire: float) -> None:
        await self._call(
            lambda db: db.execute(
                "INSERT INTO schedules(flow, cron, timezone, next_fire) VALUES (%s,%s,%s,%s) "
                "ON CONFLICT (flow) DO UPDATE "
                "SET cron=excluded.cron, timezone=excluded.timezone, next_fire=excluded.next_fire",
                (flow, cron, timezone, next_fire),
            )
        )

    def _fire(
        self,
        db: Db,
        flow: str,
        event: dict[str, Any],
        run: NewRun,
        fired_for: float,
        next_fire: float,
    ) -> bool:
        # the event id is the fire time: a second worker firing the same time waits for the
        # first one's commit on the inbox's unique key, then finds a duplicate and starts nothing
        [accepted] = self._insert_events(db, [event])
        created = False
        if not accepted.duplicate:
            db.execute(
                "UPDATE events SET state='routed', routed_at=%s, runs_created=1 WHERE seq=%s",
                (now_iso(), accepted.seq),
            )
            created = self._insert_run(db, run, accepted.seq)
            if created:
                detail = {"event": accepted.seq, "schedule": fired_for}
                self._audit(db, run.run_id, None, PENDING, detail)
        db.execute(
            "UPDATE schedules SET next_fire=%s, last_fire=%s WHERE flow=%s",
            (next_fire, fired_for, flow),
        )
        return created

    async def fire_schedule(
        self, flow: str, event: dict[str, Any], run: NewRun, fired_for: float, next_fire: float
    ) -> bool:
        return bool(await self._call(self._fire, flow, event, run, fired_for, next_fire))

    async def journal(self, run_id: str, generation: int | None = None) -> list[JournalEntry]:
        def read(db: Db) -> list[dict[str, Any]]:
            if generation is None:
                return db.execute(
                    "SELECT * FROM journal WHERE run_id=%s ORDER BY seq", (run_id,)
                ).fetchall()
            return db.execute(
                "SELECT * FROM journal WHERE run_id=%s AND generation=%s ORDER BY seq",
                (run_id, generation),
            ).fetchall()

        return [journal_entry(r) for r in await self._call(read)]

    def _record(
        self, db: Db, entry: JournalEntry, emitted: Sequence[dict[str, Any]], wait: OpenWait | None
    ) -> None:
        # the run's row first (extending the lease), as transitions and deliveries lock it first:
        # one order of locks, so a step's record and a delivery to the same run do not deadlock
        db.execute(
            "UPDATE runs SET lease_until=%s, updated_at=%s WHERE id=%s",
            (time.time() + 60.0, now_iso(), entry.run_id),
        )
        db.execute(UPSERT_JOURNAL, journal_params(entry))
        if emitted:  # the outbox: committed with the step that emitted them
            self._insert_events(db, emitted)
        if wait is not None:
            db.execute(
                "INSERT INTO waits(run_id, generation, label, event_type, match, correlation, "
                "deadline) VALUES (%s,%s,%s,%s,%s,%s,%s) ON CONFLICT (run_id, generation, label) "
                "DO UPDATE SET event_type=excluded.event_type, match=excluded.match, "
                "correlation=excluded.correlation, deadline=excluded.deadline",
                wait_params(wait),
            )
        elif entry.status != "waiting":
            db.execute(
                "DELETE FROM waits WHERE run_id=%s AND generation=%s AND label=%s",
                (entry.run_id, entry.generation, entry.label),
            )

    async def record(
        self,
        entry: JournalEntry,
        *,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None:
        await self._call(self._record, entry, list(emitted), wait)

    async def audit(self, run_id: str) -> list[AuditRecord]:
        rows = await self._call(
            lambda db: db.execute(
                "SELECT * FROM audit WHERE run_id=%s ORDER BY seq", (run_id,)
            ).fetchall()
        )
        return [
            AuditRecord(
                r["seq"], r["run_id"], r["at"], r["from_status"], r["to_status"], loads(r["detail"])
            )
            for r in rows
        ]

    async def counts(self) -> dict[str, int]:
        def read(db: Db) -> dict[str, int]:
            rows = db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").fetchall()
            out = {f"runs.{r['status']}": r["n"] for r in rows}
            row = db.execute(
                "SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE state='pending') AS pending "
                "FROM events"
            ).fetchone()
            assert row is not None
            out["events"], out["events.pending"] = row["n"], row["pending"]
            return out

        return dict(await self._call(read))


__all__ = ["PostgresStore"]

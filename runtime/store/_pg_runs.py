"""The run half of the PostgreSQL store: claims and leases, ends, waits, replays and SLA flags.

Same semantics as runtime/store/_runs.py. What differs is what makes it safe for several
processes: runnable runs are claimed with FOR UPDATE SKIP LOCKED (a run another worker is
claiming is passed over, not waited for, and never claimed twice), and every transition locks
the run's row first (`_status`), so a worker suspending a run and a router delivering the event
it waits for take turns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from runtime.store._pg_connection import Db, PgConnection
from runtime.store._rows import dumps, key_text, now_iso, run_record
from runtime.store.base import DEAD_LETTERED, FINAL, PENDING, RUNNING, WAITING, RunRecord


class PgRunsMixin(PgConnection):
    """Runs: claiming, leases, ends, waits, replays, SLA."""

    def _claim(self, db: Db, owner: str, now: float, limit: int, lease: float) -> list[RunRecord]:
        rows = db.execute(
            "SELECT id FROM runs "
            "WHERE status=%s OR (status=%s AND wake_at IS NOT NULL AND wake_at<=%s) "
            # due timers and new runs share one queue, oldest first, so neither starves the other
            "ORDER BY COALESCE(wake_at, EXTRACT(EPOCH FROM created_at::timestamptz)::float8), "
            "created_at LIMIT %s FOR UPDATE SKIP LOCKED",
            (PENDING, WAITING, now, limit),
        ).fetchall()
        ids = [row["id"] for row in rows]
        for run_id in ids:
            self._transition(
                db, run_id, RUNNING, {"owner": owner}, owner=owner, lease_until=now + lease
            )
        claimed = {
            row["id"]: run_record(row)
            for row in db.execute("SELECT * FROM runs WHERE id = ANY(%s)", (ids,)).fetchall()
        }
        return [claimed[run_id] for run_id in ids]

    async def claim(
        self, owner: str, now: float, limit: int = 1, lease_seconds: float = 60.0
    ) -> list[RunRecord]:
        return list(await self._call(self._claim, owner, now, limit, lease_seconds))

    def _recover(self, db: Db, is_alive: Callable[[str], bool]) -> int:
        # a run locked right now is being written by someone: alive at this moment, passed over
        rows = db.execute(
            "SELECT id, owner, lease_until FROM runs WHERE status=%s ORDER BY id "
            "FOR UPDATE SKIP LOCKED",
            (RUNNING,),
        ).fetchall()
        count = 0
        for row in rows:
            if not is_alive(row["owner"] or "") or (row["lease_until"] or 0) < time.time():
                self._transition(
                    db,
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

    def _run(self, db: Db, run_id: str, *, lock: bool = False) -> RunRecord | None:
        row = db.execute(
            "SELECT * FROM runs WHERE id=%s" + (" FOR UPDATE" if lock else ""), (run_id,)
        ).fetchone()
        return run_record(row) if row else None

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
                where.append(f"{column}=%s")
                args.append(value)
        if key is not None:
            where.append("(run_key=%s OR run_key=%s)")
            args += [key, key_text(key)]
        query = "SELECT * FROM runs" + (" WHERE " + " AND ".join(where) if where else "")
        query += " ORDER BY created_at DESC, id LIMIT %s"
        rows = await self._call(lambda db: db.execute(query, (*args, limit)).fetchall())
        return [run_record(r) for r in rows]

    async def start(self, run_id: str, started_at: str) -> None:
        await self._call(
            lambda db: db.execute(
                "UPDATE runs SET started_at=COALESCE(started_at, %s), updated_at=%s WHERE id=%s",
                (started_at, now_iso(), run_id),
            )
        )

    def _finish(
        self, db: Db, run_id: str, status: str, output: Any, error: dict[str, Any] | None
    ) -> None:
        now = time.time()
        self._transition(
            db,
            run_id,
            status,
            {"error": error.get("code")} if error else None,
            output=dumps(output),
            error=dumps(error),
            error_code=(error or {}).get("code"),
            finished_at=now_iso(now),
            finished_ts=now,
            owner=None,
            lease_until=None,
            wake_at=None,
        )
        if status in FINAL or status == DEAD_LETTERED:
            db.execute("DELETE FROM waits WHERE run_id=%s", (run_id,))

    async def finish(
        self, run_id: str, status: str, *, output: Any = None, error: dict[str, Any] | None = None
    ) -> None:
        await self._call(self._finish, run_id, status, output, error)

    def _suspend(self, db: Db, run_id: str, wake_at: float | None, wait_label: str | None) -> None:
        self._status(db, run_id)  # lock the run first: a delivery in progress finishes before
        if wait_label is not None:
            # the awaited event may have been delivered between the journal write and now
            row = db.execute(
                "SELECT j.status FROM journal j JOIN runs r "
                "ON r.id=j.run_id AND r.generation=j.generation WHERE j.run_id=%s AND j.label=%s",
                (run_id, wait_label),
            ).fetchone()
            if row is not None and row["status"] != "waiting":
                self._transition(
                    db,
                    run_id,
                    PENDING,
                    {"delivered_before_suspend": wait_label},
                    wake_at=None,
                    owner=None,
                    lease_until=None,
                )
                return
        detail = {"wake_at": wake_at, **({"waiting_for": wait_label} if wait_label else {})}
        self._transition(db, run_id, WAITING, detail, wake_at=wake_at, owner=None, lease_until=None)

    async def suspend(
        self, run_id: str, wake_at: float | None, wait_label: str | None = None
    ) -> None:
        await self._call(self._suspend, run_id, wake_at, wait_label)

    def _replay(
        self,
        db: Db,
        run_id: str,
        flow_hash: str | None,
        flow_version: str | None,
        from_start: bool,
    ) -> RunRecord:
        run = self._run(db, run_id, lock=True)
        if run is None:
            raise KeyError(run_id)
        if run.status != DEAD_LETTERED and run.status != "failed":
            raise ValueError(
                f"run {run_id} is {run.status}; only dead-lettered or failed runs can be replayed"
            )
        generation = run.generation + 1 if from_start else run.generation
        if not from_start:
            # keep what succeeded; the failed step, pending retries and compensations run again
            db.execute(
                "DELETE FROM journal WHERE run_id=%s AND generation=%s "
                "AND status NOT IN ('succeeded','skipped')",
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
        self._transition(db, run_id, PENDING, {"replay": detail}, **columns)
        replayed = self._run(db, run_id)
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

    def _discard(self, db: Db, run_id: str, reason: str) -> None:
        if self._status(db, run_id) != DEAD_LETTERED:
            raise ValueError(f"run {run_id} is not a dead letter")
        self._transition(db, run_id, "discarded", {"reason": reason})

    async def discard(self, run_id: str, reason: str) -> None:
        await self._call(self._discard, run_id, reason)

    async def next_wake(self) -> float | None:
        row = await self._call(
            lambda db: db.execute(
                "SELECT MIN(wake_at) AS w FROM runs WHERE status=%s", (WAITING,)
            ).fetchone()
        )
        return row["w"] if row else None

    async def sla_overdue(self, now: float) -> list[RunRecord]:
        rows = await self._call(
            lambda db: db.execute(
                "SELECT * FROM runs WHERE sla_deadline IS NOT NULL AND NOT sla_breached AND "
                "((finished_ts IS NULL AND sla_deadline < %s) OR finished_ts > sla_deadline) "
                "ORDER BY sla_deadline, id",
                (now,),
            ).fetchall()
        )
        return [run_record(r) for r in rows]

    def _mark_sla(self, db: Db, run_id: str, event: dict[str, Any]) -> None:
        status = self._status(db, run_id)
        flagged = db.execute(
            "UPDATE runs SET sla_breached=TRUE WHERE id=%s AND NOT sla_breached", (run_id,)
        )
        if flagged.rowcount:  # two workers that both found it overdue: the first one flags it
            self._audit(db, run_id, status, status or "", {"sla_breached": True})
            self._insert_events(db, [event])

    async def mark_sla_breached(self, run_id: str, event: dict[str, Any]) -> None:
        await self._call(self._mark_sla, run_id, event)

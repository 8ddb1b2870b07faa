"""Durable runs: execute a stored run against its journal, then record where it ended."""

from __future__ import annotations

import logging
import time
from typing import Any

from runtime.engine.context import Clock, RunState, iso
from runtime.engine.executor import drive
from runtime.engine.journal import StoreJournal, Suspend
from runtime.engine.plans import PlanProvider
from runtime.engine.result import RunResult
from runtime.errors import SeamlineError
from runtime.store.base import DEAD_LETTERED, FAILED, SUCCEEDED, RunRecord, Store

log = logging.getLogger("seamline.engine")


async def execute_run(
    store: Store, plans: PlanProvider, run: RunRecord, clock: Clock | None = None
) -> RunResult:
    """Run (or resume) one claimed run: journaled steps are skipped, the rest executes; the run
    ends succeeded, failed or dead-lettered, or is suspended on a durable timer or wait."""
    clock = clock or Clock()
    t0 = time.perf_counter()
    result = RunResult(
        run.id,
        run.flow,
        run.flow_version,
        run.flow_hash,
        "running",
        key=run.key,
        variant=run.variant,
    )
    try:
        plan, flow = await plans.flow(run.flow, run.flow_hash)
        stored = await store.event(run.event_seq)
        if stored is None:
            raise SeamlineError(f"event {run.event_seq} of run {run.id} is missing from the inbox")
    except SeamlineError as exc:
        result.status = DEAD_LETTERED
        result.error = {
            "flow": run.flow,
            "step": None,
            "code": "run.unavailable",
            "message": str(exc),
        }
        await store.finish(run.id, DEAD_LETTERED, error=result.error)
        return result
    result.started_at = run.started_at or iso(clock.now())
    await store.start(run.id, result.started_at)
    journal = StoreJournal(
        store, run.id, run.generation, await store.journal(run.id, run.generation)
    )
    state = RunState(plan, flow, result, clock, None, journal=journal)
    try:
        await drive(state, stored.body)
    except Suspend as suspended:
        result.status = "waiting"
        await store.suspend(
            run.id, suspended.wake_at, suspended.wait.label if suspended.wait else None
        )
        return result
    except Exception as exc:  # noqa: BLE001 - a bug must park this run, not kill the worker
        log.exception("run %s failed inside the runtime", run.id)
        result.status = DEAD_LETTERED
        result.error = {
            "flow": run.flow,
            "step": None,
            "code": "internal.error",
            "message": f"{type(exc).__name__}: {exc}",
        }
    status = {"succeeded": SUCCEEDED, "failed": FAILED}.get(result.status, DEAD_LETTERED)
    try:
        await store.finish(
            run.id,
            status,
            output=result.output if status == SUCCEEDED else None,
            error=result.error,
        )
    except (TypeError, ValueError, OverflowError) as exc:  # an output the store cannot hold
        result.status = DEAD_LETTERED
        result.error = {
            "flow": run.flow,
            "step": None,
            "code": "journal.unstorable",
            "message": f"the run's output cannot be stored: {exc}",
        }
        await store.finish(run.id, DEAD_LETTERED, error=result.error)
    result.duration_ms = (time.perf_counter() - t0) * 1000
    return result


def sla_breach_event(run: RunRecord, now: float, sla_seconds: float) -> dict[str, Any]:
    """The `ops.sla.breached` CloudEvent for a run that exceeded its flow's `sla`."""
    started = run.started_at or run.created_at
    return {
        "specversion": "1.0",
        "id": f"sla-{run.id}",
        "source": "/seamline/runtime",
        "type": "ops.sla.breached",
        "subject": str(run.key) if run.key is not None else run.id,
        "time": iso_now(now),
        "datacontenttype": "application/json",
        "data": {
            "run_id": run.id,
            "flow": run.flow,
            "started_at": started,
            "sla": _duration_text(sla_seconds),
            "elapsed_seconds": round(max(now - (run.sla_deadline or now) + sla_seconds, 0.0), 3),
            "subject": str(run.key) if run.key is not None else run.id,
        },
    }


def iso_now(now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))


def _duration_text(seconds: float) -> str:
    """5400 -> 1h30m, 0.05 -> 50ms: the form `sla:` is written in."""
    millis = int(round(seconds * 1000))
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        if millis >= size:
            parts.append(f"{millis // size}{unit}")
            millis %= size
    return "".join(parts) or "0s"

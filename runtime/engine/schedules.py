"""Cron triggers, durable: the next fire time lives in the store, each fire time fires once.

A fire is an event in the inbox whose id is the flow and the scheduled time, committed together
with its run, so two workers (or a restart) cannot fire the same time twice. Fire times missed
while no worker ran follow the flow's `misfire` policy: `run_once` runs once for the latest of
them, `skip` runs none (a fire less than a minute late is not a misfire).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter

from runtime.compiler.plan import FlowPlan, Plan
from runtime.engine.executor import event_document, select_variant
from runtime.store.base import NewRun, Store

MISFIRE_GRACE = 60.0
log = logging.getLogger("seamline.schedules")


def next_fire_after(cron: str, timezone: str, after: float) -> float:
    start = datetime.fromtimestamp(after, tz=ZoneInfo(timezone))
    return float(croniter(cron, start).get_next(datetime).timestamp())


def schedule_event(
    flow: FlowPlan, scheduled_for: float, fired_at: float, missed: int
) -> dict[str, Any]:
    when = _iso(scheduled_for)
    return {
        "specversion": "1.0",
        "id": f"{flow.name}@{when}",
        "source": f"/seamline/schedules/{flow.name}",
        "type": "seamline.schedule",
        "subject": flow.name,
        "time": _iso(fired_at),
        "datacontenttype": "application/json",
        "data": {
            "flow": flow.name,
            "scheduled_for": when,
            "fired_at": _iso(fired_at),
            "missed": missed,
            "timezone": flow.timezone,
        },
    }


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, tz=UTC).isoformat().replace("+00:00", "Z")


async def fire_due(store: Store, plan: Plan, now: float, new_run_id: Any) -> int:
    """Fire every schedule that is due; returns how many runs started."""
    states = await store.schedules()
    started = 0
    for flow in plan.flows.values():
        if not flow.schedule:
            continue
        try:
            started += await _fire_one(store, plan, flow, states.get(flow.name), now, new_run_id)
        except Exception:  # noqa: BLE001 - one bad schedule must not stop the others, or any run
            log.exception("schedule of %s could not fire", flow.name)
    return started


async def _fire_one(
    store: Store, plan: Plan, flow: FlowPlan, state: Any, now: float, new_run_id: Any
) -> int:
    """Fire this flow's schedule if due; returns 1 if a run started."""
    if state is None or state.cron != flow.schedule or state.timezone != flow.timezone:
        await store.set_schedule(
            flow.name,
            flow.schedule,
            flow.timezone,
            next_fire_after(flow.schedule, flow.timezone, now),
        )
        return 0
    if state.next_fire > now:
        return 0
    latest, missed = state.next_fire, 0
    while (following := next_fire_after(flow.schedule, flow.timezone, latest)) <= now:
        latest, missed = following, missed + 1
    upcoming = next_fire_after(flow.schedule, flow.timezone, now)
    if flow.misfire == "skip" and now - latest > MISFIRE_GRACE:
        await store.set_schedule(flow.name, flow.schedule, flow.timezone, upcoming)
        return 0
    event = schedule_event(flow, latest, now, missed)
    chosen = select_variant(plan, flow.name, event)
    key = (
        chosen.key.evaluate(event_document(event))
        if chosen.key is not None
        else event["data"]["scheduled_for"]
    )
    run = NewRun(
        new_run_id(),
        chosen.name,
        chosen.content_hash,
        chosen.version,
        key,
        chosen.sla_seconds,
        chosen.variant,
    )
    return 1 if await store.fire_schedule(flow.name, event, run, latest, upcoming) else 0


async def schedule_table(store: Store, plan: Plan, now: float) -> list[dict[str, Any]]:
    """Every scheduled flow with its next (and last) fire time, for `seamline schedules`."""
    states = await store.schedules()
    rows = []
    for flow in plan.flows.values():
        if not flow.schedule:
            continue
        state = states.get(flow.name)
        current = (
            state is not None and state.cron == flow.schedule and state.timezone == flow.timezone
        )
        next_fire = (
            state.next_fire
            if current and state
            else next_fire_after(flow.schedule, flow.timezone, now)
        )
        rows.append(
            {
                "flow": flow.name,
                "schedule": flow.schedule,
                "timezone": flow.timezone,
                "misfire": flow.misfire,
                "next_fire": _iso(next_fire),
                "last_fire": _iso(state.last_fire) if state and state.last_fire else None,
            }
        )
    return rows

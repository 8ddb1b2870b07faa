"""Replaying dead letters: one rule for the CLI and the ops API.

A replay resumes at the failed step (completed steps keep their results and idempotency keys)
on the pinned version, or on the current one with `latest`. A run that was compensated starts
over (from_start), since what it had done was undone; so does an explicit `from_start`.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.compiler.plan import FlowPlan, Plan
from runtime.store.base import RunRecord, Store


class ReplayRefused(Exception):  # noqa: N818 - an answer, not a failure of the runtime
    """Why a run cannot be replayed (unknown, not a dead letter, flow gone)."""


@dataclass(frozen=True)
class Replayed:
    run: RunRecord
    from_start: bool

    @property
    def how(self) -> str:
        return "from the start" if self.from_start else "from the failed step"


def latest_version(plan: Plan, run: RunRecord) -> FlowPlan | None:
    """The current version of what the run executes: its variant if it had one, else the flow."""
    if run.variant:
        variant = next((v for v in plan.variants.get(run.flow, ()) if v.name == run.variant), None)
        return variant.flow if variant else None
    return plan.flows.get(run.flow)


async def replay_dead_letter(
    store: Store, run_id: str, *, latest: Plan | None = None, from_start: bool = False
) -> Replayed:
    run = await store.run(run_id)
    if run is None:
        raise ReplayRefused("no such run")
    compensated = any(
        e.status in ("compensated", "compensation_failed")
        for e in await store.journal(run.id, run.generation)
    )
    target = None
    if latest is not None:
        target = latest_version(latest, run)
        if target is None:
            what = f"variant {run.variant} of {run.flow}" if run.variant else f"flow {run.flow}"
            raise ReplayRefused(f"{what} no longer exists")
    start = from_start or compensated
    try:
        replayed = await store.replay(
            run.id,
            flow_hash=target.content_hash if target else None,
            flow_version=target.version if target else None,
            from_start=start,
        )
    except (ValueError, KeyError) as exc:
        raise ReplayRefused(str(exc)) from exc
    return Replayed(replayed, start)

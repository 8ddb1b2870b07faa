"""Helpers shared by the step, engine and connector tests: compile, run, mock, look at a trace."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import anyio
import yaml

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.engine import Clock, RunResult, StepRecord, VirtualClock, run_flow
from runtime.engine.mocks import RunMocks, load_mocks
from tests.conftest import order_event


def compile_flows(workspace: Any, files: Mapping[str, Any]) -> Plan:
    """The plan of the mini workspace plus `files` (which must compile cleanly)."""
    return compile_workspace(workspace(files))


def make_mocks(plan: Plan, answers: Mapping[str, Any]) -> RunMocks:
    """Run mocks exactly as `seamline run --mocks FILE` builds them: step id or op -> answer."""
    file = Path(plan.root) / ".test-mocks.yaml"
    file.write_text(yaml.safe_dump({"mocks": dict(answers)}, sort_keys=False), encoding="utf-8")
    return load_mocks(plan, file, ".test-mocks.yaml")


def run(plan: Plan, flow: str, event: dict[str, Any] | None = None, *, mocks: Mapping[str, Any] | RunMocks | None = None,
        clock: Clock | None = None, **kwargs: Any) -> RunResult:
    """One run on a VirtualClock (unless a clock is given); `mocks` may be a plain mapping."""
    if mocks is not None and not isinstance(mocks, RunMocks):
        mocks = make_mocks(plan, mocks)
    clock = clock if clock is not None else VirtualClock()
    event = event if event is not None else order_event()
    return anyio.run(lambda: run_flow(plan, flow, event, mocks=mocks, clock=clock, **kwargs))


def steps_by_label(result: RunResult) -> dict[str, StepRecord]:
    """The trace as label -> record (labels are unique within one run)."""
    records = {r.label: r for r in result.trace}
    assert len(records) == len(result.trace), [r.label for r in result.trace]
    return records


def labels(result: RunResult) -> list[str]:
    return [r.label for r in result.trace]


def statuses(result: RunResult) -> dict[str, str]:
    return {r.label: r.status for r in result.trace}


def assert_valid_events(plan: Plan, result: RunResult) -> None:
    """Every emitted event is a valid CloudEvent whose data satisfies its contract version."""
    for event in result.emitted:
        check = plan.contracts.check_event(event)
        assert check.ok, check.describe()

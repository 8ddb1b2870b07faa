"""The reference workspace as the benchmarks use it: plan, mocks, example events, documents."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import anyio

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.contracts.validate import cloudevents_schema_path
from runtime.engine import RunResult, VirtualClock, run_flow
from runtime.engine.executor import route
from runtime.engine.mocks import RunMocks, load_mocks
from runtime.expressions.jmes import CompiledExpression

REPO = Path(__file__).resolve().parent.parent
FLOW = "opportunity_to_project"
MOCKS_FILE = REPO / "tests" / "mocks" / f"{FLOW}.yaml"
EXAMPLES = REPO / "contracts" / "crm.opportunity.closed_won" / "examples"


@dataclass
class Reference:
    plan: Plan
    mocks: RunMocks
    events: list[dict[str, Any]]  # the valid examples of the flow's contract

    def run(self, event: dict[str, Any]) -> RunResult:
        """One routed, validated, mocked run on a virtual clock, as `seamline run` does it."""
        return anyio.run(self.run_async, event)

    async def run_async(self, event: dict[str, Any]) -> RunResult:
        flows = route(self.plan, event)
        assert len(flows) == 1, flows
        self.mocks.calls.clear()  # each run starts the mocks' sequences afresh
        return await run_flow(self.plan, FLOW, event, mocks=self.mocks, clock=VirtualClock())


@cache
def reference() -> Reference:
    """The compiled reference workspace and the valid examples the base flow runs through
    (examples meant for a variant, or for a business rejection, are left out)."""
    plan = compile_workspace(REPO)
    files = sorted(EXAMPLES.glob("valid/*.json"))
    ref = Reference(plan, load_mocks(plan, MOCKS_FILE), [])
    for event in (json.loads(f.read_text(encoding="utf-8")) for f in files):
        result = ref.run(event)
        if result.succeeded and getattr(result, "variant", None) is None:
            ref.events.append(event)
    assert len(ref.events) >= 6, "the reference examples no longer run"
    return ref


def envelope_schema() -> dict[str, Any]:
    path = cloudevents_schema_path()
    if path is None:
        raise SystemExit("the CloudEvents schema (../shared/testsuites/cloudevents) is required")
    return json.loads(path.read_text(encoding="utf-8"))


def collect_expressions(obj: Any, seen: set[int] | None = None) -> list[CompiledExpression]:
    """Every CompiledExpression reachable from a plan object (slots, attributes, containers)."""
    seen = set() if seen is None else seen
    out: list[CompiledExpression] = []
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, CompiledExpression):
            out.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
        elif type(item).__module__.startswith("runtime."):
            names = list(getattr(item, "__dict__", {}))
            for klass in type(item).__mro__:
                slots = getattr(klass, "__slots__", ())
                names.extend([slots] if isinstance(slots, str) else slots)
            stack.extend(getattr(item, n) for n in names if hasattr(item, n))
    out.reverse()
    return out


def run_state(ref: Reference, event: dict[str, Any]) -> tuple[RunResult, dict[str, Any]]:
    """A real run of `event` and the run document it ended with (vars, step outputs, run),
    sharing objects as the engine does: a step's output is one object in the trace and in
    `steps.<id>.output`."""
    result = ref.run(event)
    assert result.succeeded, result.error
    run = {"id": result.run_id, "flow": result.flow, "version": result.version,
           "started_at": result.started_at, "key": result.key, "hash": result.content_hash}  # fmt: skip
    variables: dict[str, Any] = {}
    document = {"event": event, "data": event.get("data"), "vars": variables, "steps": {},
                "run": run}  # fmt: skip
    for name, value in ref.plan.flows[FLOW].vars:
        variables[name] = value.evaluate(document)
    for record in result.trace:
        if record.kind == "set" and isinstance(record.output, dict):
            variables.update(record.output)
    document["steps"] = {r.id: {"output": r.output, "status": r.status} for r in result.trace}
    return result, document


def run_documents(ref: Reference) -> list[dict[str, Any]]:
    """For each valid example and each call its run made: the run document with that call's
    `input` and a loop item (`line`, `milestone`, `index`), as the expressions saw them."""
    documents = []
    for event in ref.events:
        result, document = run_state(ref, event)
        data = event["data"]
        milestones = data.get("milestones") or [None]
        for i, call in enumerate(result.calls):
            documents.append(
                {
                    **document,
                    "input": call.input,
                    "line": data["lines"][i % len(data["lines"])],
                    "milestone": milestones[i % len(milestones)],
                    "index": i % 3,
                }
            )
    return copy.deepcopy(documents)

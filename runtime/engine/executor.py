"""Run a compiled flow on an event: route, validate, evaluate vars, run steps, compensate."""

from __future__ import annotations

import os
import time
from typing import Any

from runtime.compiler.plan import FlowPlan, Plan
from runtime.engine.context import Clock, RunState, StepRunner, iso
from runtime.engine.mocks import RunMocks
from runtime.engine.result import RunResult, StepRecord
from runtime.errors import ConnectorError, ExpressionError, StepError
from runtime.expressions.jmes import is_truthy


def route(plan: Plan, event: dict[str, Any]) -> list[FlowPlan]:
    """Every flow whose trigger matches the event (same type, truthy filter), each as the variant
    the event selects (the most specific matching one) or as the base flow."""
    matched = []
    document = event_document(event)
    for flow in plan.flows_for(str(event.get("type"))):
        if flow.filter is None or is_truthy(flow.filter.evaluate(document)):
            matched.append(select_variant(plan, flow.name, event, document))
    return matched


def select_variant(
    plan: Plan, flow_name: str, event: dict[str, Any], document: dict[str, Any] | None = None
) -> FlowPlan:
    """The flow plan an event runs: its most specific matching variant, else the base flow.
    `document`: the event's `event_document`, when the caller has one."""
    variants = plan.variants.get(flow_name, ())
    if not variants:
        return plan.flows[flow_name]
    document = event_document(event) if document is None else document
    for variant in variants:  # most specific first
        try:
            if is_truthy(variant.match.evaluate(document)):
                return variant.flow
        except ExpressionError:
            continue
    return plan.flows[flow_name]


def event_document(event: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "data": event.get("data"), "vars": {}, "steps": {}, "run": {}}


def new_run_id() -> str:
    """The first 20 hex digits of a random (version 4) UUID, without building the UUID."""
    bits = int.from_bytes(os.urandom(10))
    bits = (bits & ~(0xF << 28)) | (0x4 << 28)  # the version nibble, as uuid4 sets it
    bits = (bits & ~(0xC << 12)) | (0x8 << 12)  # the variant bits (RFC 4122)
    return f"{bits:020x}"


async def run_scope(
    state: RunState, event: dict[str, Any], prefix: str, run: dict[str, Any]
) -> Any:
    """Evaluate a flow's vars, run its steps and return its output (shared by runs and subflows)."""
    flow = state.flow
    document: dict[str, Any] = {
        "event": event,
        "data": event.get("data"),
        "vars": {},
        "steps": {},
        "run": run,
    }
    for name, value in flow.vars:
        try:
            document["vars"] = {**document["vars"], name: value.evaluate(document)}
        except ExpressionError as exc:
            label = f"{prefix}.vars.{name}" if prefix else f"vars.{name}"
            state.result.trace.append(
                StepRecord(label, f"vars.{name}", "vars", "failed", error={"message": str(exc)})
            )
            raise StepError(
                flow=flow.name, step=label, attempt=1, code="expression.failed", message=str(exc)
            ) from exc
    runner = StepRunner(state, document, prefix)
    last = await runner.run_steps(flow.steps)
    if flow.output is not None:
        return flow.output.evaluate(document)
    return last


async def run_flow(
    plan: Plan,
    flow_name: str,
    event: dict[str, Any],
    *,
    mocks: RunMocks | None = None,
    clock: Clock | None = None,
    run_id: str | None = None,
    validate: bool = True,
    variant: str | None = "auto",
) -> RunResult:
    """One in-process run. Never raises for a failing run: the result carries the failure.
    `variant`: "auto" picks the event's variant, None forces the base flow, a name forces it."""
    document = event_document(event)  # variants' matches and the key read the same one
    if variant == "auto":
        flow = select_variant(plan, flow_name, event, document)
    elif variant is None:
        flow = plan.flows[flow_name]
    else:
        flow = next(v.flow for v in plan.variants.get(flow_name, ()) if v.name == variant)
    clock = clock or Clock()
    result = RunResult(
        run_id or new_run_id(),
        flow.name,
        flow.version,
        flow.content_hash,
        "running",
        started_at=clock.stamp(),
        variant=flow.variant,
    )
    if validate:
        rejection = _rejection(plan, flow, event)
        if rejection is not None:
            result.status, result.error = "rejected", rejection
            return result
    state = RunState(plan, flow, result, clock, mocks)
    if flow.key is not None:
        result.key = flow.key.evaluate(document)
    elif flow.schedule and event.get("type") == "seamline.schedule":
        result.key = (event.get("data") or {}).get("scheduled_for")  # as a real fire keys it
    await drive(state, event)
    return result


def run_info(result: RunResult, flow: FlowPlan) -> dict[str, Any]:
    """The `run` object expressions see."""
    return {
        "id": result.run_id,
        "flow": flow.name,
        "version": flow.version,
        "started_at": result.started_at,
        "key": result.key,
        "hash": flow.content_hash,
        "variant": flow.variant,
    }


async def drive(state: RunState, event: dict[str, Any]) -> None:
    """Run the flow to its end (or until it suspends: journal.Suspend propagates), compensating
    on failure; the outcome is left in state.result (status, output, error)."""
    result, flow = state.result, state.flow
    t0 = time.perf_counter()
    try:
        result.output = await run_scope(state, event, "", run_info(result, flow))
        result.status = "succeeded"
    except (StepError, ExpressionError) as exc:
        result.error = (
            exc.to_dict()
            if isinstance(exc, StepError)
            else {"code": "expression.failed", "message": str(exc)}
        )
        undo_failed = await _compensate(state) if flow.compensate else False
        result.status = "dead_lettered" if flow.then == "dead_letter" or undo_failed else "failed"
    finally:
        result.duration_ms = (time.perf_counter() - t0) * 1000


def _rejection(plan: Plan, flow: FlowPlan, event: Any) -> dict[str, Any] | None:
    if flow.schedule and isinstance(event, dict) and event.get("type") == "seamline.schedule":
        return None  # the runtime's own fire event; it has no contract
    check = plan.contracts.check_event(event)
    if not check.ok:
        code = "contract.violation" if check.contract is not None else "envelope.invalid"
        contract = f"{check.contract.type} v{check.contract.version}" if check.contract else None
        return {
            "code": code,
            "contract": contract,
            "message": check.describe(),
            "violations": [{"path": p, "message": m} for p, m in check.violations],
        }
    if flow.event_type != event.get("type"):
        return {
            "code": "route.wrong_type",
            "message": f"flow {flow.name} is triggered by {flow.event_type!r}, not {event.get('type')!r}",
            "violations": [],
        }
    return None


async def _compensate(state: RunState) -> bool:
    """Run the registered undos in reverse order, each with its own retry policy and journaled
    like a step (so a resumed compensation skips what it already undid). True if one failed."""
    any_failed = False
    journal = state.journal
    while state.undos:
        node, document, label = state.undos[-1]
        undo = node.undo
        record = StepRecord(
            f"{label}.undo", undo.id, "undo", "running", started_at=iso(state.clock.now())
        )
        state.result.trace.append(record)
        done = journal.entry(record.label)
        if done is not None and done.status in ("compensated", "compensation_failed"):
            record.status, record.input, record.output, record.error = (
                done.status,
                done.input,
                done.output,
                done.error,
            )
            record.detail = "from journal"
            any_failed = any_failed or done.status == "compensation_failed"
            state.undos.pop()
            continue
        t0 = time.perf_counter()
        runner = StepRunner(state, document)
        runner._current = record
        try:
            payload = undo.payload.evaluate(document)
            record.input = payload
            record.output = await runner.call(
                _UndoCall(undo.id), undo.operation, payload, undo.retry
            )
            record.status = "compensated"
        except (StepError, ConnectorError, ExpressionError) as exc:
            record.status = "compensation_failed"
            record.error = {"message": str(exc)}
            any_failed = True
        record.duration_ms = (time.perf_counter() - t0) * 1000
        await runner._journal(_UndoCall(undo.id), record)
        state.undos.pop()
    return any_failed


class _UndoCall:
    kind = "undo"

    def __init__(self, step_id: str) -> None:
        self.id = step_id
        self.timeout = None

"""Run one prepared case on the virtual clock and check every expectation it states."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import anyio

from runtime.compiler.plan import FlowPlan, Plan
from runtime.connectors.mock import CompiledResponse, MockError
from runtime.engine import RunResult, VirtualClock, run_flow
from runtime.engine.executor import event_document
from runtime.engine.mocks import RunMocks
from runtime.errors import ExpressionError, YamlPath
from runtime.expressions.jmes import is_truthy
from runtime.testing._match import MISSING, matches, same_value
from runtime.testing._prepare import PreparedCase, Responses
from runtime.testing.case import CallExpectation, EventExpectation, StepExpectation


@dataclass(frozen=True)
class Failure:
    """An expectation the run did not meet, at its place in the test file."""

    path: YamlPath
    message: str
    expected: Any = MISSING
    actual: Any = MISSING
    mode: str = "equal"


class StrictMocks(RunMocks):
    """The case's answers. A call that none answers fails the case instead of reaching a real
    system (an operation of a connector of kind `mock` still answers from its file)."""

    def __init__(self, responses: Responses, plan: Plan) -> None:
        super().__init__(dict(responses))
        self.plan = plan
        self.unmocked: list[tuple[str, str]] = []

    def answer_for(self, step_id: str, operation_ref: str | None) -> CompiledResponse | None:
        found = super().answer_for(step_id, operation_ref)
        if found is not None or operation_ref is None:
            return found
        connector = self.plan.connectors.get(operation_ref.split(".", 1)[0])
        if connector is not None and getattr(connector, "kind", None) == "mock":
            return None
        self.unmocked.append((step_id, operation_ref))
        message = f"{operation_ref} is not mocked in this test case"
        return CompiledResponse(None, MockError(type="permanent", message=message))


def _variant(chosen: str) -> str | None:
    return None if chosen == "base" else chosen


@dataclass
class CaseRun:
    status: str
    result: RunResult | None = None
    unmocked: list[tuple[str, str]] = field(default_factory=list)


def execute(plan: Plan, flow: FlowPlan, case: PreparedCase, start: str, run_id: str) -> CaseRun:
    event = case.event or {}
    applies = event.get("type") == flow.event_type and flow.filter is not None
    if (
        applies
        and not case.spec.ignore_filter
        and not is_truthy(flow.filter.evaluate(event_document(event)))
    ):
        return CaseRun("not_started")
    mocks = StrictMocks(case.responses, plan)
    clock = VirtualClock(datetime.fromisoformat(case.spec.start or start))

    async def main() -> RunResult:
        return await run_flow(
            plan,
            flow.name,
            event,
            mocks=mocks,
            clock=clock,
            run_id=run_id,
            validate=case.spec.check_contract,
            variant=_variant(case.spec.variant),
        )

    result = anyio.run(main)
    return CaseRun(result.status, result, mocks.unmocked)


def verify(plan: Plan, case: PreparedCase, run: CaseRun) -> list[Failure]:
    """Every unmet expectation of the case (empty when it passes)."""
    expect = case.spec.expect
    base: YamlPath = ("cases", case.index, "expect")
    out: list[Failure] = []
    for step, operation in run.unmocked:
        out.append(
            Failure(
                ("cases", case.index, "mocks"),
                f"step {step} called {operation}, which no mock answers: flow tests never reach "
                f"real systems; add `{operation}: {{ output: … }}` to the case's or file's mocks",
            )
        )
    if run.status != expect.status:
        out.append(
            Failure(
                (*base, "status"),
                f"status {run.status}, expected {expect.status}" + _why(run.result),
                expect.status,
                run.status,
            )
        )
    result = run.result
    if result is None:
        return out
    given = expect.model_fields_set
    if expect.error is not None:
        out += _error(expect.error, result.error, (*base, "error"))
    if "key" in given and not same_value(expect.key, result.key):
        out.append(Failure((*base, "key"), "run key differs", expect.key, result.key))
    if "variant" in given and expect.variant != result.variant:
        out.append(
            Failure((*base, "variant"), "a different variant ran", expect.variant, result.variant)
        )
    if "output" in given and not matches(expect.output, result.output, expect.match):
        out.append(
            Failure(
                (*base, "output"),
                f"flow output does not match ({expect.match})",
                expect.output,
                result.output,
                expect.match,
            )
        )
    trace = [r for r in result.trace if r.kind != "undo"]
    for name, actual in (
        ("taken", [r.label for r in trace if r.status != "skipped"]),
        ("skipped", [r.label for r in trace if r.status == "skipped"]),
        (
            "compensated",
            [
                r.label[: -len(".undo")]
                for r in result.trace
                if r.kind == "undo" and r.status == "compensated"
            ],
        ),
    ):
        wanted = getattr(expect, name)
        if wanted is not None and wanted != actual:
            out.append(Failure((*base, name), f"{name} steps differ", wanted, actual))
    records = {r.label: r for r in result.trace}
    for label, step in expect.steps.items():
        out += _step(case, label, step, records.get(label), (*base, "steps", label), list(records))
    if expect.calls is not None:
        out += _listed(
            case,
            "calls",
            expect.calls,
            [asdict(c) for c in result.calls],
            base,
            lambda c: f"{c['step']} -> {c['operation']}",
        )
    if expect.emitted is not None:
        out += _listed(
            case,
            "emitted",
            expect.emitted,
            result.emitted,
            base,
            lambda e: f"{e.get('type')} subject={e.get('subject')}",
        )
    for index, event in enumerate(result.emitted):
        check = plan.contracts.check_event(event)
        if not check.ok:
            out.append(
                Failure(
                    (*base, "emitted"),
                    f"emitted event {index + 1} ({event.get('type')}) "
                    f"does not satisfy its contract: {check.describe()}",
                )
            )
    document = {**result.to_dict(), "steps": {r.label: asdict(r) for r in result.trace}}
    out += _asserts(case, (*base, "assert"), expect.assert_, document)
    return out


def _why(result: RunResult | None) -> str:
    if result is None or not result.error:
        return ""
    error = result.error
    where = f" at step {error['step']}" if error.get("step") else ""
    return f"\n  error{where} [{error.get('code')}]: {error.get('message')}"


def _error(expected: Any, actual: dict[str, Any] | None, path: YamlPath) -> list[Failure]:
    if actual is None:
        return [Failure(path, "the run has no error", expected.model_dump(exclude_none=True), None)]
    out = []
    for name in ("step", "code", "attempt", "transient"):
        want = getattr(expected, name)
        if want is not None and not same_value(want, actual.get(name)):
            out.append(Failure((*path, name), f"error {name} differs", want, actual.get(name)))
    if expected.message is not None and expected.message not in str(actual.get("message")):
        out.append(
            Failure(
                (*path, "message"),
                "error message does not contain the expected text",
                expected.message,
                actual.get("message"),
            )
        )
    return out


def _step(
    case: PreparedCase,
    label: str,
    expected: StepExpectation,
    record: Any,
    path: YamlPath,
    labels: list[str],
) -> list[Failure]:
    if record is None:
        return [Failure(path, f"no step labelled {label!r} is in the trace", label, labels)]
    out = []
    for name in ("status", "attempts", "detail"):
        want = getattr(expected, name)
        if want is not None and want != getattr(record, name):
            out.append(
                Failure((*path, name), f"step {label}: {name} differs", want, getattr(record, name))
            )
    out += _payloads(expected, asdict(record), ("input", "output"), path, f"step {label}")
    error = (record.error or {}).get("message")
    if expected.error is not None and expected.error not in str(error):
        out.append(
            Failure(
                (*path, "error"),
                f"step {label}: error does not contain the text",
                expected.error,
                error,
            )
        )
    return out + _asserts(case, (*path, "assert"), expected.assert_, asdict(record))


def _payloads(
    expected: Any, actual: dict[str, Any], names: tuple[str, ...], path: YamlPath, what: str
) -> list[Failure]:
    out = []
    for name in names:
        if name in expected.model_fields_set:
            want = getattr(expected, name)
            if not matches(want, actual.get(name), expected.match):
                out.append(
                    Failure(
                        (*path, name),
                        f"{what}: {name} does not match ({expected.match})",
                        want,
                        actual.get(name),
                        expected.match,
                    )
                )
    return out


def _listed(
    case: PreparedCase,
    group: str,
    expected: list[Any],
    actual: list[dict[str, Any]],
    base: YamlPath,
    describe: Any,
) -> list[Failure]:
    path = (*base, group)
    if len(expected) != len(actual):
        return [
            Failure(
                path,
                f"{len(actual)} {group}, expected {len(expected)}",
                [_summary(e) for e in expected],
                [describe(a) for a in actual],
            )
        ]
    out = []
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        where = (*path, index)
        what = f"{group}[{index}] ({describe(got)})"
        if isinstance(want, CallExpectation):
            scalars, payloads = (
                ("step", "operation", "attempts", "idempotency_key"),
                ("input", "output"),
            )
            if want.error is not None and want.error not in str(got.get("error")):
                out.append(
                    Failure(
                        (*where, "error"),
                        f"{what}: error does not contain the text",
                        want.error,
                        got.get("error"),
                    )
                )
        else:
            assert isinstance(want, EventExpectation)
            scalars, payloads = ("type", "subject", "dataschema"), ("data",)
        for name in scalars:
            value = getattr(want, name)
            if value is not None and value != got.get(name):
                out.append(Failure((*where, name), f"{what}: {name} differs", value, got.get(name)))
        out += _payloads(want, got, payloads, where, what)
        out += _asserts(case, (*where, "assert"), want.assert_, got)
    return out


def _summary(expected: Any) -> str:
    if isinstance(expected, CallExpectation):
        return f"{expected.step or '*'} -> {expected.operation or '*'}"
    return f"{expected.type or '*'} subject={expected.subject or '*'}"


def _asserts(
    case: PreparedCase, path: YamlPath, sources: list[str], document: Any
) -> list[Failure]:
    out = []
    for index, source in enumerate(sources):
        compiled = case.asserts.get((*path, index))
        if compiled is None:
            continue
        try:
            value = compiled.evaluate(document)
        except ExpressionError as exc:
            out.append(Failure((*path, index), f"assert `{source}` failed: {exc}"))
            continue
        if not is_truthy(value):
            out.append(Failure((*path, index), f"assert `{source}` is not truthy", True, value))
    return out

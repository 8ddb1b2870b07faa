"""Loading a flow test file and compiling its cases against the workspace Plan.

Every problem becomes a Diagnostic at its file:line:col: YAML and model errors, an unknown
flow, an event file that cannot be read, a mock that answers nothing, an `assert` that is not
JMESPath. File-level problems fail every case of the file; a case's own problems fail that case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.compiler.connectors import RootedCompiler
from runtime.compiler.plan import FlowPlan, Plan
from runtime.connectors.mock import CompiledResponse, compile_operation
from runtime.engine.mocks import load_mocks
from runtime.errors import Diagnostic, FlowError, YamlPath
from runtime.expressions.functions import jmespath_options
from runtime.expressions.jmes import CompiledExpression, ExpressionProblem, compile_expression
from runtime.loader.diagnostics import did_you_mean, pydantic_diagnostics
from runtime.loader.source import YamlDocument, YamlLoadError, parse_yaml
from runtime.testing._match import merge_patch
from runtime.testing.case import EventFile, FlowTestCase, FlowTestFile, InlineEvent

Responses = dict[str, tuple[CompiledResponse, ...]]


@dataclass
class TestFile:
    root: Path
    rel: str
    spec: FlowTestFile
    doc: YamlDocument

    def at(self, path: YamlPath) -> tuple[int, int]:
        pos = self.doc.source_map.value_at(path)
        return pos.line, pos.col

    def diagnostic(
        self, path: YamlPath, code: str, message: str, hint: str | None = None
    ) -> Diagnostic:
        return self.doc.source_map.diagnostic(path, code, message, hint)


@dataclass
class PreparedCase:
    index: int
    spec: FlowTestCase
    event: dict[str, Any] | None = None
    later: list[dict[str, Any]] = field(default_factory=list)
    responses: Responses = field(default_factory=dict)
    asserts: dict[YamlPath, CompiledExpression] = field(default_factory=dict)
    problems: list[Diagnostic] = field(default_factory=list)


def load_test_file(root: Path, path: Path) -> TestFile:
    """Parse and validate one test file; FlowError with every problem otherwise."""
    try:
        rel = path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = str(path)
    try:
        doc = parse_yaml(path.read_text(encoding="utf-8"), rel)
    except YamlLoadError as exc:
        raise FlowError(exc.diagnostics) from exc
    try:
        spec = FlowTestFile.model_validate(doc.data)
    except ValidationError as exc:
        raise FlowError(pydantic_diagnostics(exc, doc.data, doc.source_map, FlowTestFile)) from exc
    test = TestFile(root, rel, spec, doc)
    seen: dict[str, int] = {}
    problems = []
    for index, case in enumerate(spec.cases):
        if case.name in seen:
            problems.append(
                test.diagnostic(
                    ("cases", index, "name"),
                    "test.duplicate_case",
                    f"case name {case.name!r} is used twice (first in cases[{seen[case.name]}])",
                    "give every case its own name: it is the test's id",
                )
            )
        seen.setdefault(case.name, index)
    if problems:
        raise FlowError(problems)
    return test


def _operations(value: Any, depth: int = 0) -> set[str]:
    """`connector.operation` refs held anywhere in a compiled step (calls, undos, sources …)."""
    if depth > 3:
        return set()
    ref = getattr(value, "ref", None)
    if isinstance(ref, str) and hasattr(value, "invoke"):
        return {ref}
    if isinstance(value, tuple | list):
        return set().union(*(_operations(v, depth + 1) for v in value)) if value else set()
    if hasattr(value, "__dataclass_fields__") and depth < 3:
        return set().union(
            set(),
            *(
                _operations(getattr(value, f), depth + 1)
                for f in value.__dataclass_fields__
                if f != "children"
            ),
        )
    return set()


def mockable_keys(flow: FlowPlan) -> tuple[set[str], set[str]]:
    """(step ids, connector.operation refs) a mock of this flow may answer. A step that makes
    several calls (a `reconcile`'s sources) is also answerable per call, as `<step>.<source>`."""
    steps: set[str] = set()
    operations: set[str] = set()

    def walk(nodes: tuple[Any, ...]) -> None:
        for node in nodes:
            steps.add(node.id)
            operations.update(_operations(node))
            for source in getattr(node, "sources", ()) or ():
                steps.add(f"{node.id}.{getattr(source, 'name', '')}")
            if getattr(node, "report", None) is not None:
                steps.add(f"{node.id}.report")
            for _, children in node.children:
                walk(children)

    walk(flow.steps)
    return steps, operations


def wait_steps(flow: FlowPlan) -> dict[str, list[str]]:
    """Event type -> ids of the `wait_for` steps waiting for it, in flow order."""
    found: dict[str, list[str]] = {}

    def walk(nodes: tuple[Any, ...]) -> None:
        for node in nodes:
            if node.kind == "wait_for":
                found.setdefault(node.event_type, []).append(node.id)
            for _, children in node.children:
                walk(children)

    walk(flow.steps)
    return found


def prepare_file(plan: Plan, test: TestFile) -> tuple[FlowPlan | None, Responses, list[Diagnostic]]:
    """The flow under test and the answers shared by every case, or the file's problems."""
    spec = test.spec
    flow = plan.flows.get(spec.flow)
    if flow is None:
        close = did_you_mean(spec.flow, sorted(plan.flows))
        return (
            None,
            {},
            [
                test.diagnostic(
                    ("flow",),
                    "test.unknown_flow",
                    f"no flow named {spec.flow!r} in flows/",
                    close or f"flows: {', '.join(sorted(plan.flows))}",
                )
            ],
        )
    problems: list[Diagnostic] = []
    shared: Responses = {}
    if spec.mocks_file:
        file = test.root / spec.mocks_file
        if not file.is_file():
            problems.append(
                test.diagnostic(
                    ("mocks_file",),
                    "test.missing_file",
                    f"mocks file {spec.mocks_file} does not exist",
                    "paths are relative to the workspace root",
                )
            )
        else:
            try:
                shared.update(load_mocks(plan, file, spec.mocks_file).responses)
            except FlowError as exc:
                problems.extend(exc.diagnostics)
    shared.update(_compile_mocks(plan, flow, test, spec.mocks, ("mocks",), problems))
    return flow, shared, problems


def _compile_mocks(
    plan: Plan,
    flow: FlowPlan,
    test: TestFile,
    mocks: dict[str, Any],
    path: YamlPath,
    problems: list[Diagnostic],
) -> Responses:
    steps, operations = mockable_keys(flow)
    compiler = RootedCompiler(plan.value_compiler(test.doc.source_map))
    out: Responses = {}
    for key, config in mocks.items():
        if key not in steps and key not in operations:
            problems.append(
                test.doc.source_map.diagnostic(
                    (*path, key),
                    "test.unknown_mock",
                    f"mock {key!r} answers no step id or connector.operation of flow {flow.name}",
                    did_you_mean(key, sorted(steps | operations))
                    or "mock a step id or a call's connector.operation",
                    at_key=True,
                )
            )
            continue
        out[key] = compile_operation(config, compiler, (*path, key))
    problems.extend(compiler.values.diagnostics)
    compiler.values.diagnostics.clear()
    return out


def prepare_case(plan: Plan, flow: FlowPlan, test: TestFile, index: int) -> PreparedCase:
    case = test.spec.cases[index]
    prepared = PreparedCase(index, case)
    base = ("cases", index)
    known = [v.name for v in plan.variants.get(flow.name, ())]
    if case.variant not in ("auto", "base", *known):
        prepared.problems.append(
            test.diagnostic(
                (*base, "variant"),
                "test.unknown_variant",
                f"flow {flow.name} has no variant {case.variant!r}",
                f"use auto, base{''.join(', ' + k for k in known)}",
            )
        )
    prepared.event = _event(test, flow, case.event, (*base, "event"), f"{index}", prepared.problems)
    waits = wait_steps(flow)
    used: dict[str, int] = {}
    for position, source in enumerate(case.events):
        where = (*base, "events", position)
        event = _event(test, flow, source, where, f"{index}-{position + 1}", prepared.problems)
        if event is None:
            continue
        prepared.later.append(event)
        waiting = waits.get(str(event.get("type")), [])
        slot = used.get(str(event.get("type")), 0)
        if slot >= len(waiting):
            prepared.problems.append(
                test.diagnostic(
                    where,
                    "test.no_wait_for",
                    f"no (further) wait_for step of flow {flow.name} waits for "
                    f"{event.get('type')!r}",
                    "`events` answer the flow's wait_for steps in order; "
                    f"it waits for: {', '.join(sorted(waits)) or 'nothing'}",
                )
            )
            continue
        used[str(event.get("type"))] = slot + 1
        step = waiting[slot]
        prepared.responses[step] = (
            *prepared.responses.get(step, ()),
            CompiledResponse(None, None, event),
        )
    prepared.responses.update(
        _compile_mocks(plan, flow, test, case.mocks, (*base, "mocks"), prepared.problems)
    )
    options = jmespath_options(plan.functions)
    for path, source in _assert_sources(case, base):
        compiled = compile_expression(source, options)
        if isinstance(compiled, ExpressionProblem):
            line, col = test.doc.source_map.locate(path, source, compiled.offset)
            prepared.problems.append(
                Diagnostic(
                    test.rel, line, col, _yaml(path), compiled.code, compiled.message, compiled.hint
                )
            )
        else:
            prepared.asserts[path] = compiled
    return prepared


def _yaml(path: YamlPath) -> str:
    from runtime.errors import format_yaml_path

    return format_yaml_path(path)


def _assert_sources(case: FlowTestCase, base: YamlPath) -> list[tuple[YamlPath, str]]:
    expect = case.expect
    found = [((*base, "expect", "assert", i), s) for i, s in enumerate(expect.assert_)]
    for label, step in expect.steps.items():
        found += [
            ((*base, "expect", "steps", label, "assert", i), s) for i, s in enumerate(step.assert_)
        ]
    for group in ("calls", "emitted"):
        for k, item in enumerate(getattr(expect, group) or []):
            found += [
                ((*base, "expect", group, k, "assert", i), s) for i, s in enumerate(item.assert_)
            ]
    return found


def _event(
    test: TestFile,
    flow: FlowPlan,
    source: Any,
    path: YamlPath,
    suffix: str,
    problems: list[Diagnostic],
) -> dict[str, Any] | None:
    if isinstance(source, InlineEvent):
        given = {k: v for k, v in source.model_dump(by_alias=True).items() if v is not None}
        given["data"] = source.data
        if flow.event_type is None:  # a scheduled flow runs on the scheduler's event
            defaults = {"type": "seamline.schedule", "source": f"/seamline/schedules/{flow.name}"}
        else:
            defaults = {"type": flow.event_type, "source": "/seamline/tests"}
        return {
            "specversion": "1.0",
            "id": f"{Path(test.rel).stem}-{suffix}",
            **defaults,
            **given,
        }
    rel = source.file if isinstance(source, EventFile) else source
    where = (*path, "file") if isinstance(source, EventFile) else path
    try:
        event = json.loads((test.root / rel).read_text(encoding="utf-8"))
    except OSError:
        problems.append(
            test.diagnostic(
                where,
                "test.missing_file",
                f"event file {rel} does not exist",
                "paths are relative to the workspace root",
            )
        )
        return None
    except json.JSONDecodeError as exc:
        problems.append(
            test.diagnostic(
                where, "test.event_not_json", f"{rel}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}"
            )
        )
        return None
    if isinstance(source, EventFile) and source.patch is not None:
        event = merge_patch(event, source.patch)
    if not isinstance(event, dict):
        problems.append(
            test.diagnostic(where, "test.event_not_object", f"{rel} is not a JSON object")
        )
        return None
    return event

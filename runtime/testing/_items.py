"""The pytest nodes: flow cases, consumer checks, contract examples, schemas and compatibility."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.contracts.compat import CompatCheck, check_diagnostics
from runtime.contracts.registry import parse_json_path
from runtime.errors import Diagnostic, FlowError
from runtime.loader.source import SourceMap, YamlLoadError, parse_yaml
from runtime.testing._prepare import TestFile, load_test_file, prepare_case
from runtime.testing._render import render_diagnostics, render_failures
from runtime.testing.consumers import accepted_versions, check_consumer, check_optional_reads
from runtime.testing.runner import execute, verify


class SeamlineFailure(Exception):
    """A failure whose text is complete as it is (no Python traceback)."""


def _state(node: pytest.Node) -> Any:
    from runtime.testing.plugin import _session

    return _session(node.config)


class _Item(pytest.Item):
    line = 0

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SeamlineFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.line - 1 if self.line else None, self.name

    def plan_or_fail(self) -> Any:
        state = _state(self)
        if state.plan is None:
            raise SeamlineFailure(
                "the workspace has problems, so no flow can run:\n"
                + render_diagnostics(state.report.diagnostics)
            )
        return state.plan


# -- flow test files ---------------------------------------------------------------------
class FlowCasesFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        state = _state(self)
        try:
            test = load_test_file(state.root, self.path)
        except FlowError as exc:
            yield BrokenFileItem.from_parent(self, name="load", diagnostics=exc.diagnostics)
            return
        for index, case in enumerate(test.spec.cases):
            item = FlowCaseItem.from_parent(self, name=case.name, test=test, index=index)
            item.line = test.at(("cases", index))[0]
            yield item
        plan = state.plan
        flow = plan.flows.get(test.spec.flow) if plan is not None else None
        if flow is None:
            return
        for version in accepted_versions(plan, flow):
            name = f"reads[{version.type} v{version.version}]"
            yield ConsumerItem.from_parent(self, name=name, test=test, version=version.version)
        if test.spec.optional_reads:
            item = OptionalReadsItem.from_parent(self, name="optional_reads", test=test)
            item.line = test.at(("optional_reads",))[0]
            yield item


class BrokenFileItem(_Item):
    def __init__(self, *, diagnostics: list[Diagnostic], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.diagnostics = diagnostics

    def runtest(self) -> None:
        raise SeamlineFailure(render_diagnostics(self.diagnostics))


class FlowCaseItem(_Item):
    def __init__(self, *, test: TestFile, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test
        self.index = index

    def runtest(self) -> None:
        plan = self.plan_or_fail()
        state = _state(self)
        flow, shared, problems = state.prepared_file(plan, self.test)
        if problems:
            raise SeamlineFailure(render_diagnostics(problems))
        case = prepare_case(plan, flow, self.test, self.index)
        if case.problems:
            raise SeamlineFailure(render_diagnostics(case.problems))
        case.responses = {**shared, **case.responses}
        run = execute(plan, flow, case, self.test.spec.start, self.test.spec.run_id)
        state.record(plan, flow.name, run.result)
        failures = verify(plan, case, run)
        if failures:
            raise SeamlineFailure(render_failures(self.test, failures, run.result))

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.line - 1, f"{self.test.spec.flow}: {self.name}"


class ConsumerItem(_Item):
    """Every event field the flow reads is declared by one accepted contract version."""

    def __init__(self, *, test: TestFile, version: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test
        self.version = version

    def runtest(self) -> None:
        plan = self.plan_or_fail()
        flow = plan.flows[self.test.spec.flow]
        version = plan.contracts.get(flow.event_type).version(self.version)
        problems = check_consumer(plan, flow, self.test.spec.optional_reads, version)
        if problems:
            raise SeamlineFailure("\n".join(str(p) for p in problems))


class OptionalReadsItem(_Item):
    """Each `optional_reads` entry is still needed."""

    def __init__(self, *, test: TestFile, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        plan = self.plan_or_fail()
        flow = plan.flows[self.test.spec.flow]
        where = {}
        for text in self.test.spec.optional_reads:
            pos = self.test.doc.source_map.key_at(("optional_reads", text))
            where[text] = (self.test.rel, pos.line, pos.col)
        problems = check_optional_reads(plan, flow, where)
        if problems:
            raise SeamlineFailure("\n".join(str(p) for p in problems))


# -- contracts -----------------------------------------------------------------------------
def _rel(node: pytest.Node) -> str:
    return node.path.resolve().relative_to(_state(node).root).as_posix()


def _file_problems(node: pytest.Node) -> list[Diagnostic]:
    rel = _rel(node)
    return [d for d in _state(node).contracts[1] if d.file == rel]


class ExampleFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        valid = self.path.parent.name == "valid"
        yield ExampleItem.from_parent(self, name="valid" if valid else "invalid", valid=valid)


class ExampleItem(_Item):
    def __init__(self, *, valid: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.valid = valid

    def runtest(self) -> None:
        rel = _rel(self)
        text = self.path.read_text(encoding="utf-8")
        try:
            event = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SeamlineFailure(f"{rel}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
        outcome = _state(self).contracts[0].check_event(event)
        if self.valid and not outcome.ok:
            path = outcome.violations[0][0] if outcome.violations else "$"
            d = _json_map(text, rel).diagnostic(
                parse_json_path(path),
                "contract.example_invalid",
                f"valid example does not validate: {outcome.describe()}",
            )
            raise SeamlineFailure(str(d))
        if not self.valid and outcome.ok:
            raise SeamlineFailure(
                f"{rel}:1:1: invalid example validates against its contract "
                "(an example under examples/invalid must violate the schema) [contract.example_valid]"
            )


def _json_map(text: str, rel: str) -> SourceMap:
    try:
        return parse_yaml(text, rel).source_map
    except YamlLoadError:
        return SourceMap(rel)


class ContractMetaFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield LoadsItem.from_parent(self, name="loads")


class LoadsItem(_Item):
    """The file loads: a valid draft 2020-12 schema, or valid contract metadata."""

    def runtest(self) -> None:
        problems = _file_problems(self)
        if problems:
            raise SeamlineFailure(render_diagnostics(problems))


class SchemaVersionFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield LoadsItem.from_parent(self, name="loads")
        checks = _state(self).compat_checks()
        if isinstance(checks, str):
            yield BrokenFileItem.from_parent(
                self,
                name="against",
                diagnostics=[Diagnostic(_rel(self), 1, 1, "", "compat.revision", checks)],
            )
            return
        rel = _rel(self)
        versions = sorted(
            self.path.parent.glob("v*.schema.json"), key=lambda p: int(p.name[1:].split(".")[0])
        )
        latest = versions[-1].name == self.path.name if versions else False
        for check in checks:
            removed = check.direction == "removed" and check.contract == self.path.parent.name
            if check.newer.file == rel and not removed or removed and latest:
                name = f"{check.direction}[{check.older.label}]"
                yield CompatItem.from_parent(self, name=name, check=check)


class CompatItem(_Item):
    def __init__(self, *, check: CompatCheck, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check

    def runtest(self) -> None:
        if not self.check.ok:
            found = check_diagnostics(_state(self).root, [self.check])
            raise SeamlineFailure(self.check.summary() + "\n" + render_diagnostics(found, 50))

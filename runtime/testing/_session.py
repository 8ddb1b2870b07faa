"""What one pytest session knows about its workspace: the compiled Plan (built once), the
contracts, the compatibility checks, and the coverage of the flow cases that ran."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import WorkspaceReport, check_workspace
from runtime.contracts.compat import CompatCheck, RevisionError, check_registry
from runtime.contracts.registry import ContractRegistry, load_contracts
from runtime.engine import RunResult
from runtime.errors import Diagnostic
from runtime.testing._prepare import Responses, TestFile, prepare_file
from runtime.testing.coverage import CoverageRecorder

_VERSION_FILE = re.compile(r"^v[1-9][0-9]*\.schema\.json$")


class WorkspaceSession:
    def __init__(self, root: Path, config: pytest.Config) -> None:
        self.root = root
        self.config = config
        self.against: str | None = config.getoption("--seamline-against")
        self._report: WorkspaceReport | None = None
        self._contracts: tuple[ContractRegistry, list[Diagnostic]] | None = None
        self._checks: list[CompatCheck] | str | None = None
        self._files: dict[str, tuple[Any, Responses, list[Diagnostic]]] = {}
        self._recorder: CoverageRecorder | None = None
        self.cases_run = 0
        self.coverage_failed: str | None = None

    # -- the workspace -------------------------------------------------------------------
    @property
    def report(self) -> WorkspaceReport:
        if self._report is None:
            self._report = check_workspace(self.root)
        return self._report

    @property
    def plan(self) -> Plan | None:
        return self.report.plan

    @property
    def contracts(self) -> tuple[ContractRegistry, list[Diagnostic]]:
        if self._contracts is None:
            self._contracts = load_contracts(self.root)
        return self._contracts

    def compat_checks(self) -> list[CompatCheck] | str:
        """Every required compatibility check, or why they cannot be computed."""
        if self._checks is None:
            try:
                self._checks = check_registry(self.contracts[0], self.root, self.against)
            except RevisionError as exc:
                self._checks = f"--seamline-against {self.against}: {exc}"
        return self._checks

    def prepared_file(self, plan: Plan, test: TestFile) -> tuple[Any, Responses, list[Diagnostic]]:
        if test.rel not in self._files:
            self._files[test.rel] = prepare_file(plan, test)
        return self._files[test.rel]

    # -- collection ----------------------------------------------------------------------
    def collector_for(self, path: Path, parent: pytest.Collector) -> pytest.Collector | None:
        from runtime.testing import _items

        try:
            parts = path.resolve().relative_to(self.root).parts
        except ValueError:
            return None
        if len(parts) == 3 and parts[:2] == ("tests", "flows") and path.suffix == ".yaml":
            return _items.FlowCasesFile.from_parent(parent, path=path)
        if len(parts) < 3 or parts[0] != "contracts":
            return None
        if len(parts) == 3 and _VERSION_FILE.match(parts[2]):
            return _items.SchemaVersionFile.from_parent(parent, path=path)
        if len(parts) == 3 and parts[2] == "contract.yaml":
            return _items.ContractMetaFile.from_parent(parent, path=path)
        if (
            len(parts) == 5
            and parts[2] == "examples"
            and parts[3] in ("valid", "invalid")
            and path.suffix == ".json"
        ):
            return _items.ExampleFile.from_parent(parent, path=path)
        return None

    # -- coverage ------------------------------------------------------------------------
    def recorder(self, plan: Plan) -> CoverageRecorder:
        if self._recorder is None:
            self._recorder = CoverageRecorder(plan)
        return self._recorder

    def record(self, plan: Plan, flow: str, result: RunResult | None) -> None:
        self.cases_run += 1
        recorder = self.recorder(plan)
        recorder.add_case(flow, getattr(result, "variant", None) if result is not None else None)
        if result is not None:
            recorder.record(result)

    def finish(self, session: pytest.Session) -> None:
        threshold = self.config.getoption("--flow-cov-fail-under")
        report_file = self.config.getoption("--flow-cov-report")
        if threshold is None and report_file is None:
            return
        plan = self.plan
        recorder = self.recorder(plan) if plan is not None else None
        if report_file and recorder is not None:
            Path(report_file).write_text(recorder.dumps(), encoding="utf-8")
        if threshold is None:
            return
        percent = recorder.percent() if recorder is not None and self.cases_run else 0.0
        if percent < threshold:
            self.coverage_failed = (
                f"FAIL: flow coverage {percent:.1f} % is below --flow-cov-fail-under {threshold:g}"
            )
            if session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def summary(self, reporter: Any) -> None:
        if self.cases_run and self.plan is not None:
            reporter.write_sep("-", "seamline flow coverage (steps and switch arms)")
            for line in self.recorder(self.plan).lines():
                reporter.write_line(line)
        if self.coverage_failed:
            reporter.write_line(self.coverage_failed, red=True, bold=True)

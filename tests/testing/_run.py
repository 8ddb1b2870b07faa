"""Running pytest (with the seamline plugin, loaded from its entry point) on a temporary
workspace, in this process, and keeping every report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MINI_WORKSPACE, write_files

RESERVE_FLOW = """\
flow: reserve_order
version: 1.0.0
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: check
    switch:
      - if: data.currency == 'EUR'
        steps:
          - id: reserve_eur
            call: wms.reserve
            with: { sku: "${ data.lines[0].sku }" }
      - else:
          - id: reserve_other
            call: wms.reserve
            with: { sku: "${ data.lines[0].sku }", currency: "${ data.currency }" }
  - id: accepted
    emit: shop.order.accepted
    data: { order_id: "${ data.order_id }", count: "${ length(data.lines) }" }
output:
  reservation: "${ steps.reserve_eur.output.reservation || steps.reserve_other.output.reservation }"
"""

EURO_CASE = """\
  - name: euro order
    event: { data: { order_id: O1, currency: EUR, lines: [ { sku: A, qty: 2 } ] } }
    expect:
      status: succeeded
      output: { reservation: R-A }
"""


def shop(tmp: Path, files: dict[str, Any]) -> Path:
    root = tmp / "shop"
    write_files(root, {**MINI_WORKSPACE, "flows/reserve_order.yaml": RESERVE_FLOW, **files})
    return root


@dataclass
class Outcome:
    code: int
    reports: dict[str, Any] = field(default_factory=dict)
    collect_errors: list[Any] = field(default_factory=list)

    @property
    def failed(self) -> dict[str, str]:
        return {k: r.longreprtext for k, r in self.reports.items() if r.failed}

    @property
    def passed(self) -> set[str]:
        return {k for k, r in self.reports.items() if r.passed}


class _Recorder:
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or report.failed:
            self.outcome.reports[report.nodeid] = report

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.outcome.collect_errors.append(report)


def run_pytest(root: Path, *args: str, paths: tuple[str, ...] | None = None) -> Outcome:
    """`pytest ARGS PATHS` with rootdir `root` (PATHS default: the workspace itself)."""
    outcome = Outcome(0)
    targets = [str(root / p) for p in paths] if paths is not None else [str(root)]
    code = pytest.main(
        [
            "-p",
            "no:cacheprovider",
            "-p",
            "no:unraisableexception",
            "-q",
            "--rootdir",
            str(root),
            *args,
            *targets,
        ],
        plugins=[_Recorder(outcome)],
    )
    outcome.code = int(code)
    return outcome

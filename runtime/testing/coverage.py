"""Flow coverage: which steps and which `switch` arms the test cases exercised.

A step counts when it ran in some case (skipped by its `if` does not count; failing does).
Every arm of every switch counts, including the implicit "no arm matched" of a switch
without `else`. Steps of a subflow count for that flow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from runtime.compiler.plan import FlowPlan, Plan
from runtime.engine import RunResult


@dataclass
class FlowCoverage:
    flow: str
    file: str
    steps: dict[str, bool] = field(default_factory=dict)  # step id -> covered
    arms: dict[str, bool] = field(default_factory=dict)  # "switch_id: arm" -> covered
    cases: int = 0

    @property
    def total(self) -> int:
        return len(self.steps) + len(self.arms)

    @property
    def covered(self) -> int:
        return sum(self.steps.values()) + sum(self.arms.values())

    @property
    def missing(self) -> list[str]:
        return [f"step {s}" for s, ok in self.steps.items() if not ok] + [
            f"arm {a}" for a, ok in self.arms.items() if not ok
        ]


def _arm_names(node: Any) -> list[tuple[str, str]]:
    """(key as the trace reports it, readable name) of each arm of a switch node."""
    out = []
    for index, (condition, _) in enumerate(node.arms):
        if condition is None:
            out.append(("else", f"{node.id}[else]"))
        else:
            out.append((str(index), f"{node.id}[{index}] if {condition.source}"))
    if all(condition is not None for condition, _ in node.arms):
        out.append(("none", f"{node.id}[no arm matched]"))
    return out


class CoverageRecorder:
    """Collects runs of a session and reports coverage per flow of the workspace."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.flows: dict[str, FlowCoverage] = {}
        self._arm_keys: dict[str, dict[tuple[str, str], str]] = {}
        versions = [(f.name, f) for f in plan.flows.values()] + [
            (f"{name}[{v.name}]", v.flow)
            for name, variants in getattr(plan, "variants", {}).items()
            for v in variants
        ]
        for key, flow in versions:
            coverage = FlowCoverage(key, flow.file)
            keys: dict[tuple[str, str], str] = {}
            self._walk(flow, flow.steps, coverage, keys)
            self.flows[key] = coverage
            self._arm_keys[key] = keys

    def _walk(
        self,
        flow: FlowPlan,
        nodes: tuple[Any, ...],
        cov: FlowCoverage,
        keys: dict[tuple[str, str], str],
    ) -> None:
        for node in nodes:
            cov.steps[node.id] = False
            if node.kind == "switch":
                for key, name in _arm_names(node):
                    cov.arms[name] = False
                    keys[(node.id, key)] = name
            for _, children in node.children:
                self._walk(flow, children, cov, keys)

    def add_case(self, flow: str, variant: str | None = None) -> None:
        key = f"{flow}[{variant}]" if variant else flow
        if key in self.flows:
            self.flows[key].cases += 1

    def record(self, result: RunResult) -> None:
        variant = getattr(result, "variant", None)
        for record in result.trace:
            if record.kind in ("undo", "vars") or record.status == "skipped":
                continue
            flow = f"{result.flow}[{variant}]" if variant else result.flow
            if ">" in record.label:  # `step>subflow.inner`: a subflow's own step
                flow = record.label.rsplit(">", 1)[1].split(".", 1)[0]
            coverage = self.flows.get(flow)
            if coverage is None or record.id not in coverage.steps:
                continue
            coverage.steps[record.id] = True
            if record.kind == "switch" and record.detail:
                arm = record.detail.removeprefix("took arm ")
                key = "none" if record.detail == "no arm matched" else arm
                name = self._arm_keys[flow].get((record.id, key))
                if name is not None:
                    coverage.arms[name] = True

    # -- reporting -----------------------------------------------------------------------
    def totals(self) -> tuple[int, int]:
        return (
            sum(f.covered for f in self.flows.values()),
            sum(f.total for f in self.flows.values()),
        )

    def percent(self) -> float:
        covered, total = self.totals()
        return 100.0 if total == 0 else 100.0 * covered / total

    def lines(self) -> list[str]:
        width = max((len(n) for n in self.flows), default=4)
        out = []
        for name in sorted(self.flows):
            f = self.flows[name]
            steps = f"{sum(f.steps.values())}/{len(f.steps)}"
            arms = f"{sum(f.arms.values())}/{len(f.arms)}"
            pct = 100.0 if f.total == 0 else 100.0 * f.covered / f.total
            out.append(
                f"{name:<{width}}  cases {f.cases:>3}  steps {steps:>7}  switch arms {arms:>5}"
                f"  {pct:5.1f} %"
            )
            if f.missing:
                out.append(f"{'':<{width}}  not covered: {', '.join(f.missing)}")
        covered, total = self.totals()
        out.append(f"{'TOTAL':<{width}}  {covered}/{total} steps and arms  {self.percent():5.1f} %")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "percent": round(self.percent(), 2),
            "flows": {
                name: {"file": f.file, "cases": f.cases, "steps": f.steps, "switch_arms": f.arms}
                for name, f in sorted(self.flows.items())
            },
        }

    def dumps(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

"""Cost per expression: seamline's compiled JMESPath against the jmespath library's interpreter.

Both sides start from a parsed expression, so parsing is not measured. Library: the
`ParsedResult.search(document, options)` the runtime used before (a TreeInterpreter per call).
seamline: `CompiledExpression.evaluate(document)`, with its error wrapping, on generated code.
Both use the workspace's function table (`IntegrationFunctions`).

Sets: every compliance-suite case with a result (`../shared/testsuites/jmespath-compliance`),
and every expression of `opportunity_to_project` (the flow and its mocks) evaluated on the
documents real runs of the valid examples produced (each expression on every document where
it succeeds). For each expression the two sides alternate, each timed over enough calls to
last about a millisecond; a run covers the whole set. The headline ratio is total library time
over total seamline time for one pass over the set; the geometric mean and the slowest
expression's ratio are per expression.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from bench._timing import Row, Sample, Section, geometric_mean, per_call
from bench._workspace import FLOW, MOCKS_FILE, REPO, collect_expressions, reference, run_documents
from runtime.engine.mocks import load_mocks
from runtime.expressions.functions import IntegrationFunctions, jmespath_options
from runtime.expressions.jmes import CompiledExpression, compile_expression

SUITE = REPO.parent / "shared" / "testsuites" / "jmespath-compliance" / "tests"
TARGET = 5.0

Case = tuple[str, CompiledExpression, list[Any]]  # (label, expression, documents)


def suite_cases() -> list[Case]:
    options = jmespath_options(IntegrationFunctions())
    cases: list[Case] = []
    for file in sorted(Path(SUITE).glob("*.json")):
        if file.name == "benchmarks.json":
            continue
        for group in json.loads(file.read_text(encoding="utf-8")):
            for case in group["cases"]:
                if "result" not in case:
                    continue
                expr = compile_expression(case["expression"], options)
                assert isinstance(expr, CompiledExpression)
                cases.append((f"{file.stem}: {case['expression']}", expr, [group["given"]]))
    return cases


def flow_cases() -> list[Case]:
    ref = reference()
    flow = ref.plan.flows[FLOW]
    expressions = collect_expressions(flow) + collect_expressions(load_mocks(ref.plan, MOCKS_FILE))
    documents = run_documents(ref)
    cases: list[Case] = []
    for expr in {e.source: e for e in expressions}.values():
        usable = []
        for document in documents:
            try:
                expr._interpret(document)  # noqa: SLF001 - the library's path
            except Exception:  # noqa: BLE001, S112 - an expression meant for another scope
                continue
            usable.append(document)
        if usable:
            cases.append((expr.source, expr, usable[:: max(1, len(usable) // 6)][:6]))
    return cases


def _check(cases: list[Case]) -> None:
    for label, expr, documents in cases:
        assert expr.native, label
        for document in documents:
            assert expr.evaluate(document) == expr._interpret(document), label  # noqa: SLF001


def _calls_for(fn: Any) -> int:
    """How many calls make about a millisecond."""
    once = per_call(fn, 3)
    return max(3, min(2000, int(0.001 / max(once, 1e-7))))


def _measure(cases: list[Case], runs: int) -> tuple[Sample, Sample, list[float]]:
    plans = []
    for _, expr, documents in cases:

        def library(e: CompiledExpression = expr, ds: list[Any] = documents) -> None:
            for d in ds:
                e._interpret(d)  # noqa: SLF001

        def ours(e: CompiledExpression = expr, ds: list[Any] = documents) -> None:
            for d in ds:
                e.evaluate(d)

        plans.append((library, ours, _calls_for(library)))
    library_totals, our_totals = [], []
    per_expression: list[list[float]] = [[] for _ in plans]
    for _ in range(runs):
        lib_total = our_total = 0.0
        for i, (library, ours, number) in enumerate(plans):
            a = per_call(library, number)
            b = per_call(ours, number)
            lib_total += a
            our_total += b
            per_expression[i].append(a / b)
        library_totals.append(lib_total)
        our_totals.append(our_total)
    ratios = [sorted(r)[len(r) // 2] for r in per_expression]
    return Sample(tuple(library_totals)), Sample(tuple(our_totals)), ratios


def run(quick: bool = False) -> Section:
    warnings.filterwarnings("ignore", "deprecated string literal syntax")
    runs = 3 if quick else 5
    section = Section(
        "JMESPath: cost per expression, compiled vs the jmespath library",
        __doc__.split("\n\n", 1)[1].strip(),
    )
    for name, cases in (
        ("compliance suite", suite_cases()),
        (f"{FLOW} (flow and mocks)", flow_cases()),
    ):
        _check(cases)
        library, ours, ratios = _measure(cases, runs)
        evaluations = sum(len(docs) for _, _, docs in cases)
        ratio = library.median / ours.median
        section.rows.append(
            Row(
                f"{name}: {len(cases)} expressions, {evaluations} evaluations per pass",
                Sample(tuple(v / evaluations for v in ours.values)),
                "us",
                Sample(tuple(v / evaluations for v in library.values)),
                "jmespath library (per evaluation)",
                ratio,
                "x faster (total time)",
                f">= {TARGET:g}x",
                ratio >= TARGET,
                f"geometric mean {geometric_mean(ratios):.1f}x, median {sorted(ratios)[len(ratios) // 2]:.1f}x, "
                f"slowest expression {min(ratios):.1f}x",
            )
        )
        worst = sorted(zip(ratios, (c[0] for c in cases), strict=True))[:3]
        section.extra.append(
            f"{name}: least gain on " + "; ".join(f"`{label[:70]}` {r:.1f}x" for r, label in worst)
        )
    return section

"""Differential test: every expression of the reference workspace, compiled vs the library.

The expressions are collected from the compiled Plan (flows, connectors) and the mocks file of
the reference flow. The documents are the run documents of the contract examples (valid and
invalid), with step outputs, vars and call inputs taken from real runs of
`opportunity_to_project`, and then randomly mutated (seeded, so a failure is reproducible):
values swapped for nulls, booleans, 0/1, empty containers, numbers as strings, wrong types.
Results must be equal, and errors must have the same type and message.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from jmespath.parser import Parser

from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock, run_flow
from runtime.engine.mocks import load_mocks
from runtime.expressions._jmes_compiler import compile_ast
from runtime.expressions.jmes import CompiledExpression
from tests.conftest import REPO

SEEDS = (1, 2, 3, 4)
DOCUMENTS_PER_SEED = 40

ODD_VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 0.0, 1.0, 2.5, 10**20, "", "0", "1", "12.50", "x",
    "2026-01-31", "2026-01-31T09:30:00Z", "OLI-001", "EUR", "Closed Won", "milestone",
    [], {}, [0], [None], ["a", "b"], [1, 2, 3], [{"id": "X"}], {"id": None}, {"id": "CUS-1"},
)  # fmt: skip


def _collect(obj: Any, seen: set[int], out: list[CompiledExpression]) -> None:
    """Every CompiledExpression reachable from a plan object (slots, attributes, containers)."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, CompiledExpression):
        out.append(obj)
        return
    if isinstance(obj, dict):
        for value in obj.values():
            _collect(value, seen, out)
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for value in obj:
            _collect(value, seen, out)
        return
    if not type(obj).__module__.startswith("runtime."):
        return
    names: list[str] = list(getattr(obj, "__dict__", {}))
    for klass in type(obj).__mro__:
        slots = getattr(klass, "__slots__", ())
        names.extend([slots] if isinstance(slots, str) else slots)
    for name in names:
        if hasattr(obj, name):
            _collect(getattr(obj, name), seen, out)


def _run_documents(plan: Any, mocks_file: Path) -> list[dict[str, Any]]:
    """steps/vars/input of real runs of the reference flow (one per valid example)."""
    found = []
    folder = REPO / "contracts" / "crm.opportunity.closed_won" / "examples" / "valid"
    for file in sorted(folder.glob("*.json")):
        event = json.loads(file.read_text(encoding="utf-8"))
        mocks = load_mocks(plan, mocks_file)
        result = anyio.run(
            lambda e=event, m=mocks: run_flow(
                plan, "opportunity_to_project", e, mocks=m, clock=VirtualClock()
            )
        )
        assert result.succeeded, result.error
        steps = {r.id: {"output": r.output, "status": r.status} for r in result.trace}
        variables: dict[str, Any] = {}
        for record in result.trace:
            if record.kind == "set" and isinstance(record.output, dict):
                variables.update(record.output)
        inputs = [call.input for call in result.calls]
        run = {"id": result.run_id, "flow": result.flow, "key": result.key,
               "started_at": result.started_at, "version": result.version}  # fmt: skip
        found.append({"steps": steps, "vars": variables, "inputs": inputs, "run": run})
    return found


def _examples() -> list[dict[str, Any]]:
    files = sorted((REPO / "contracts").glob("*/examples/*/*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _paths(child, (*prefix, index))


def _mutate(document: dict[str, Any], rng: random.Random, count: int) -> None:
    for _ in range(count):
        paths = [p for p in _paths(document) if p]
        path = rng.choice(paths)
        parent = document
        for part in path[:-1]:
            parent = parent[part]
        choice = rng.random()
        if choice < 0.15 and isinstance(parent, dict):
            del parent[path[-1]]
        elif choice < 0.3:  # a value of the same shape from elsewhere in the document
            source = rng.choice(paths)
            value: Any = document
            for part in source:
                value = value[part]
            parent[path[-1]] = copy.deepcopy(value)
        else:
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))


def _documents(seed: int, runs: list[dict[str, Any]], examples: list[dict[str, Any]]) -> list[Any]:
    rng = random.Random(seed)
    documents: list[Any] = []
    for n in range(DOCUMENTS_PER_SEED):
        event = copy.deepcopy(rng.choice(examples))
        run = copy.deepcopy(rng.choice(runs))
        data = event.get("data")
        lines = data.get("lines") if isinstance(data, dict) else None
        milestones = data.get("milestones") if isinstance(data, dict) else None
        document = {
            "event": event,
            "data": data,
            "vars": run["vars"],
            "steps": run["steps"],
            "run": run["run"],
            "input": rng.choice(run["inputs"]),
            "line": rng.choice(lines) if lines else None,
            "milestone": rng.choice(milestones) if milestones else None,
            "index": rng.randrange(3),
            "items": lines,
        }
        if n % 4:  # a quarter of the documents stay as the runs left them
            _mutate(document, rng, rng.randrange(1, 12))
        documents.append(document)
    return documents


def _outcome(evaluate: Any, document: Any) -> tuple[str, ...]:
    try:
        value = evaluate(document)
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("error", type(exc).__name__, str(exc))
    return ("ok", json.dumps(value, sort_keys=True, default=lambda o: type(o).__name__))


@pytest.fixture(scope="module")
def corpus() -> tuple[list[CompiledExpression], list[dict[str, Any]], list[dict[str, Any]]]:
    plan = compile_workspace(REPO)
    mocks_file = REPO / "tests" / "mocks" / "opportunity_to_project.yaml"
    expressions: list[CompiledExpression] = []
    _collect(plan, set(), expressions)
    _collect(load_mocks(plan, mocks_file), set(), expressions)
    return expressions, _run_documents(plan, mocks_file), _examples()


def test_the_corpus_covers_the_reference_workspace(corpus: Any) -> None:
    expressions, runs, examples = corpus
    sources = {e.source for e in expressions}
    assert len(sources) > 100
    roots = {s.split(".")[0].split("(")[0].split("[")[0] for s in sources}
    assert {"data", "steps", "vars", "input", "line", "milestone", "run"} <= roots
    assert len(runs) >= 6 and len(examples) >= 20


@pytest.mark.parametrize("seed", SEEDS)
def test_compiled_and_library_agree_on_mutated_run_documents(corpus: Any, seed: int) -> None:
    expressions, runs, examples = corpus
    pairs = []
    for expr in {e.source: e for e in expressions}.values():
        parsed = Parser().parse(expr.source).parsed
        native = compile_ast(parsed, expr._options)  # noqa: SLF001
        assert native is not None, expr.source
        pairs.append((expr, native))
    differences = []
    errors = 0
    for document in _documents(seed, runs, examples):
        for expr, native in pairs:
            want = _outcome(expr._interpret, document)  # noqa: SLF001 - the library's path
            got = _outcome(native, document)
            errors += want[0] == "error"
            if got != want:
                differences.append((expr.source, got, want))
    assert not differences, differences[:5]
    assert errors, "the mutations never reached an error path"

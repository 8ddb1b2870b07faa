"""The golden corpus of schema changes (tests/fixtures/compat/*.json).

Each fixture holds an `old` and a `new` schema and the exact differences expected in each
direction (`backward`: new reads old; `forward`: old reads new). Every decidable difference is
backed by a `witness`: a value the writer accepts and the reader rejects, checked with the real
validators, so the corpus cannot claim a break that is not one. Every direction the corpus calls
compatible is spot-checked against all witnesses of the corpus (soundness).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from runtime.contracts.compat import compare
from runtime.contracts.validate import SchemaValidator
from tests.conftest import REPO

CORPUS = REPO / "tests" / "fixtures" / "compat"
FILES = sorted(CORPUS.glob("*.json"))
UNDECIDABLE_RULES = {"compat.undecidable", "compat.pattern", "compat.conditional"}


@cache
def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def writer_reader(case: dict[str, Any], direction: str) -> tuple[Any, Any]:
    return (case["old"], case["new"]) if direction == "backward" else (case["new"], case["old"])


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_corpus_case(path: Path, direction: str) -> None:
    case = load(path)
    found = [str(d) for d in compare(case["old"], case["new"], direction, ("v1", "v2"))]
    assert found == case["expected"][direction], case["about"]


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_witnesses_prove_each_decidable_break(path: Path) -> None:
    case = load(path)
    witnesses = case.get("witness", {})
    for direction in ("backward", "forward"):
        expected = case["expected"][direction]
        rules = {line.rsplit("[", 1)[1].rstrip("]") for line in expected}
        if direction in witnesses:
            writer, reader = writer_reader(case, direction)
            value = witnesses[direction]
            assert expected, f"{direction}: a witness for a direction expected to be compatible"
            assert SchemaValidator(writer).is_valid(value), f"{direction}: writer rejects witness"
            assert not SchemaValidator(reader).is_valid(value), f"{direction}: reader accepts it"
        elif expected and not rules <= UNDECIDABLE_RULES:
            pytest.fail(f"{direction}: decidable differences {sorted(rules)} need a witness")


def _pool() -> list[Any]:
    values: list[Any] = [None, True, False, 0, 1, -1, 1.5, "", "a", [], {}, [1, 1], {"id": "a"}]
    for path in FILES:
        values.extend(load(path).get("witness", {}).values())
    return values


@pytest.mark.parametrize("direction", ["backward", "forward"])
def test_compatible_verdicts_are_sound(direction: str) -> None:
    """Where the corpus says compatible, no value of the pool tells otherwise."""
    pool = _pool()
    wrong = []
    for path in FILES:
        case = load(path)
        if case["expected"][direction]:
            continue
        writer, reader = map(SchemaValidator, writer_reader(case, direction))
        for value in pool:
            if writer.is_valid(value) and not reader.is_valid(value):
                wrong.append(f"{path.stem}: {json.dumps(value)}")
    assert not wrong


def test_corpus_covers_the_issue_list() -> None:
    """Issue 6 names the kinds of change the corpus must cover; each has a fixture."""
    names = {p.stem for p in FILES}
    assert len(names) >= 40
    required = {
        "optional property added/removed, open and closed": {
            "optional_added_open",
            "optional_added_closed",
            "optional_removed_open",
            "optional_removed_closed",
        },
        "required added with and without default, removed": {
            "required_added",
            "required_added_with_default",
            "required_removed",
        },
        "required <-> optional": {"optional_to_required", "required_to_optional"},
        "enum extended or narrowed": {"enum_extended", "enum_narrowed"},
        "type widened or narrowed": {"type_widened", "type_narrowed"},
        "constraints tightened or loosened": {
            "min_length_tightened",
            "max_length_loosened",
            "minimum_tightened",
            "maximum_loosened",
        },
        "additionalProperties opened or closed": {
            "additional_properties_opened",
            "additional_properties_closed",
        },
        "nested objects": {"nested_required_added", "nested_property_type_widened"},
        "arrays": {"array_items_type_narrowed", "array_min_items_added"},
        "$ref": {"ref_target_loosened", "ref_renamed", "ref_recursive_narrowed"},
        "undecidable constructs fail with a reason": {
            "pattern_changed",
            "oneof_changed",
            "if_then_added",
            "not_added",
        },
    }
    missing = {kind: sorted(cases - names) for kind, cases in required.items() if cases - names}
    assert not missing


def test_both_directions_are_exercised() -> None:
    verdicts = {
        (bool(load(p)["expected"]["backward"]), bool(load(p)["expected"]["forward"])) for p in FILES
    }
    assert verdicts == {(False, False), (True, False), (False, True), (True, True)}

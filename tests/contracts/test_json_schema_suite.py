"""JSON-Schema-Test-Suite, draft 2020-12 (required tests), through seamline's SchemaValidator.

Both paths must give the suite's answer: the fast path (jsonschema-rs, `is_valid`) and the
reference path (python-jsonschema, `reference_is_valid`), and an invalid instance must come
with readable violations whose JSON paths start at `$`. Formats are annotations here, as the
specification's default (`assert_formats=False`); contracts assert them (test_validate.py).

`remotes/` is served as http://localhost:1234/<path> from the shared folder, never over the
network: a `referencing.Registry` for python-jsonschema and a `retriever` for jsonschema-rs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from runtime.contracts.validate import SchemaValidator
from tests.conftest import TESTSUITES, shared_suite

pytestmark = pytest.mark.conformance

SUITE = TESTSUITES / "json-schema-test-suite"
TESTS = SUITE / "tests" / "draft2020-12"
REMOTES = SUITE / "remotes"
REMOTE_BASE = "http://localhost:1234/"
MINIMUM_TESTS = 1250  # the suite @ 44401e0 holds 1,299 required draft 2020-12 tests

Key = tuple[str, str, str]  # (file stem, schema description, test description)

# Cases where python-jsonschema (the reference path, which writes the messages) disagrees with
# the suite while jsonschema-rs (the fast path that decides) is right. Exact: a fixed one fails
# the test below until it is removed here, so the set can only shrink.
_P_ESCAPE = (
    "python-jsonschema compiles `pattern` with Python's `re`, which has no \\p{...} Unicode "
    "property escapes (ECMA-262 does): the reference path raises re.error"
)
KNOWN_DIFFERENCES: dict[Key, str] = {
    ("vocabulary", "schema that uses custom metaschema with with no validation vocabulary",
     "no validation: invalid number, but it still validates"):
        "python-jsonschema ignores $vocabulary in a custom metaschema and still applies the "
        "validation vocabulary (upstream skips this test: 'Vocabulary support is still in-progress')",
    ("pattern", "pattern with Unicode property escape requires unicode mode", "ASCII letters match"): _P_ESCAPE,
    ("pattern", "pattern with Unicode property escape requires unicode mode", "Non-ASCII letters match"): _P_ESCAPE,
    ("pattern", "pattern with Unicode property escape requires unicode mode", "Digits do not match"): _P_ESCAPE,
    ("patternProperties", "patternProperties with Unicode property escape",
     "Unicode letter property name matches"): _P_ESCAPE,
    ("patternProperties", "patternProperties with Unicode property escape",
     "Non-letter property name does not match pattern"): _P_ESCAPE,
}


@dataclass(frozen=True)
class Outcome:
    key: Key
    valid: bool
    fast: bool | str  # the answer, or the exception text
    reference: bool | str
    violations: list[tuple[str, str]] | str | None  # for invalid instances

    @property
    def agrees(self) -> bool:
        return self.fast == self.valid and self.reference == self.valid


def _remote_path(uri: str) -> Path:
    if not uri.startswith(REMOTE_BASE):
        raise LookupError(f"no network in the conformance suite: {uri}")
    path = (REMOTES / uri[len(REMOTE_BASE):].split("#")[0]).resolve()
    if REMOTES.resolve() not in path.parents or not path.is_file():
        raise LookupError(f"no remote {uri}")
    return path


RETRIEVED: set[str] = set()


def retriever(uri: str) -> Any:
    """jsonschema-rs: reads http://localhost:1234/<path> from the remotes folder."""
    RETRIEVED.add(uri)
    return json.loads(_remote_path(uri).read_text(encoding="utf-8"))


@cache
def registry() -> Registry:
    """python-jsonschema: every remote pre-registered under its localhost URI."""
    resources = [
        (REMOTE_BASE + file.relative_to(REMOTES).as_posix(),
         Resource.from_contents(json.loads(file.read_text(encoding="utf-8")), default_specification=DRAFT202012))
        for file in sorted(REMOTES.rglob("*.json"))
    ]
    return Registry().with_resources(resources)


def _attempt(call: Any, *args: Any) -> Any:
    try:
        return call(*args)
    except Exception as exc:  # recorded as a disagreement, never hidden
        return f"{type(exc).__name__}: {exc}"


@cache
def run_file(stem: str) -> tuple[Outcome, ...]:
    outcomes: list[Outcome] = []
    for group in json.loads((TESTS / f"{stem}.json").read_text(encoding="utf-8")):
        validator = SchemaValidator(group["schema"], assert_formats=False, registry=registry(), retriever=retriever)
        for test in group["tests"]:
            data, valid = test["data"], test["valid"]
            outcomes.append(Outcome(
                (stem, group["description"], test["description"]),
                valid,
                _attempt(validator.is_valid, data),
                _attempt(validator.reference_is_valid, data),
                None if valid else _attempt(validator.violations, data),
            ))
    return tuple(outcomes)


FILES = sorted(p.stem for p in TESTS.glob("*.json")) if TESTS.is_dir() else []


def all_outcomes() -> Iterator[Outcome]:
    for stem in FILES:
        yield from run_file(stem)


@pytest.mark.parametrize("stem", FILES or [pytest.param("missing", id="suite-missing")])
def test_draft2020_12(stem: str) -> None:
    shared_suite("json-schema-test-suite", "tests", "draft2020-12")
    wrong: list[str] = []
    for outcome in run_file(stem):
        if outcome.key in KNOWN_DIFFERENCES:
            # the fast path decides in production: it must still be right
            if outcome.fast != outcome.valid:
                wrong.append(f"{outcome.key}: fast path {outcome.fast!r}, expected {outcome.valid}")
            continue
        if not outcome.agrees:
            wrong.append(f"{outcome.key}: expected {outcome.valid}, fast {outcome.fast!r}, "
                         f"reference {outcome.reference!r}")
        elif not outcome.valid:
            violations = outcome.violations
            if not isinstance(violations, list) or not violations:
                wrong.append(f"{outcome.key}: invalid but violations() gave {violations!r}")
            elif not all(path.startswith("$") and message for path, message in violations):
                wrong.append(f"{outcome.key}: violations without a $ path or message: {violations!r}")
    assert not wrong, "\n".join(wrong)


def test_every_required_test_ran() -> None:
    shared_suite("json-schema-test-suite", "tests", "draft2020-12")
    outcomes = list(all_outcomes())
    assert len(outcomes) >= MINIMUM_TESTS
    assert {o.valid for o in outcomes} == {True, False}
    assert "optional" not in FILES and not any("format-assertion" in o.key[0] for o in outcomes)


def test_known_differences_are_exact() -> None:
    """Only the listed cases disagree, and each listed case still disagrees."""
    shared_suite("json-schema-test-suite", "tests", "draft2020-12")
    disagreeing = {o.key for o in all_outcomes() if not o.agrees}
    assert disagreeing == set(KNOWN_DIFFERENCES)
    # each one is a reference-path (python-jsonschema) problem, never the fast path's
    for outcome in all_outcomes():
        if outcome.key in KNOWN_DIFFERENCES:
            assert outcome.fast == outcome.valid
            assert outcome.reference != outcome.valid


def test_remotes_are_served_from_the_shared_folder() -> None:
    """$refs to http://localhost:1234/ were resolved by the retriever (no network), and the
    retriever refuses anything else."""
    shared_suite("json-schema-test-suite", "remotes")
    for stem in ("refRemote", "dynamicRef", "vocabulary"):
        if stem in FILES:
            run_file(stem)
    assert REMOTE_BASE + "draft2020-12/integer.json" in RETRIEVED
    assert all(uri.startswith(REMOTE_BASE) for uri in RETRIEVED)
    with pytest.raises(LookupError):
        retriever("https://example.com/schema.json")
    with pytest.raises(LookupError):
        retriever(REMOTE_BASE + "../tests/draft2020-12/ref.json")
    assert registry().get_or_retrieve(REMOTE_BASE + "draft2020-12/subSchemas.json").value.contents


def test_a_remote_ref_validates_through_both_paths() -> None:
    shared_suite("json-schema-test-suite", "remotes")
    validator = SchemaValidator({"$ref": REMOTE_BASE + "draft2020-12/integer.json"},
                                assert_formats=False, registry=registry(), retriever=retriever)
    assert validator.is_valid(1) and validator.reference_is_valid(1)
    assert not validator.is_valid("a") and not validator.reference_is_valid("a")
    assert validator.violations("a")[0][0] == "$"

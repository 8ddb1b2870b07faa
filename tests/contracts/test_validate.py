"""SchemaValidator: formats asserted for contracts, readable ordered violations, check(), check_schema."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match, relevance

from runtime.contracts.validate import SchemaValidator, check_schema
from runtime.errors import ContractViolation

DRAFT = "https://json-schema.org/draft/2020-12/schema"

FORMATS = [
    # (format, valid instance, invalid instance)
    ("date", "2026-01-31", "2026-13-01"),
    ("date", "2024-02-29", "2026-02-30"),
    ("date", "2026-01-31", "31.01.2026"),
    ("date", "2026-01-31", "2026-01-31T09:30:00Z"),
    ("date-time", "2026-01-31T09:30:00Z", "2026-01-31 25:00"),
    ("date-time", "2026-01-31T09:30:00+01:00", "2026-01-31"),
    ("date-time", "2026-01-31T09:30:00.250-05:00", "2026-01-31T09:30:00"),
    ("email", "jane.whitfield@meridian-consulting.example", "jane.whitfield"),
]


@pytest.mark.parametrize(("fmt", "good", "bad"), FORMATS)
def test_contract_formats_are_asserted_in_both_paths(fmt: str, good: str, bad: str) -> None:
    validator = SchemaValidator({"$schema": DRAFT, "type": "string", "format": fmt}, name="c")
    assert validator.is_valid(good) and validator.reference_is_valid(good)
    assert not validator.is_valid(bad), f"fast path accepts {bad!r} as {fmt}"
    assert not validator.reference_is_valid(bad), f"reference path accepts {bad!r} as {fmt}"
    assert validator.violations(bad) == [("$", f"{bad!r} is not a {fmt!r}")]
    assert validator.violations(good) == []


@pytest.mark.parametrize(("fmt", "good", "bad"), FORMATS[:1] + FORMATS[4:5] + FORMATS[7:])
def test_formats_are_annotations_when_not_asserted(fmt: str, good: str, bad: str) -> None:
    validator = SchemaValidator({"type": "string", "format": fmt}, assert_formats=False)
    assert validator.is_valid(bad) and validator.reference_is_valid(bad)
    assert validator.violations(bad) == []


def test_formats_inside_nested_contract_data() -> None:
    schema = {
        "$schema": DRAFT,
        "type": "object",
        "properties": {"lines": {"type": "array", "items": {
            "type": "object", "properties": {"on": {"type": "string", "format": "date"}}}}},
    }
    validator = SchemaValidator(schema)
    bad = {"lines": [{"on": "2026-01-01"}, {"on": "2026-02-31"}]}
    assert not validator.is_valid(bad) and not validator.reference_is_valid(bad)
    assert validator.violations(bad) == [("$.lines[1].on", "'2026-02-31' is not a 'date'")]


ORDER = {
    "$schema": DRAFT,
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "a": {"type": "object", "properties": {"b": {"type": "integer"}}},
        "n": {"type": "integer"},
        "o": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    },
}
MANY_ERRORS = {"a": {"b": "x"}, "n": "y", "o": []}


def test_violations_put_best_match_first() -> None:
    validator = SchemaValidator(ORDER)
    errors = list(Draft202012Validator(ORDER).iter_errors(MANY_ERRORS))
    best = best_match(errors)
    violations = validator.violations(MANY_ERRORS)
    assert violations[0] == (best.json_path, best.message) == ("$", "'id' is a required property")
    assert sorted(violations) == sorted((e.json_path, e.message) for e in errors)
    assert len(violations) == 5


def test_best_match_descends_into_the_closest_any_of_branch() -> None:
    schema = {"anyOf": [
        {"type": "object", "required": ["kind", "amount"], "properties": {"amount": {"type": "number"}}},
        {"type": "string"},
    ]}
    violations = SchemaValidator(schema).violations({"kind": "x", "amount": "12"})
    assert violations[0] == ("$.amount", "'12' is not of type 'number'")


def test_violations_after_the_first_are_most_relevant_first() -> None:
    errors = list(Draft202012Validator(ORDER).iter_errors(MANY_ERRORS))
    expected = [(e.json_path, e.message) for e in sorted(errors, key=relevance, reverse=True)]
    violations = SchemaValidator(ORDER).violations(MANY_ERRORS)
    assert violations[1] == ("$", "'name' is a required property")
    assert violations == expected


def test_violations_limit() -> None:
    validator = SchemaValidator({"type": "array", "items": {"type": "integer"}})
    assert len(validator.violations(["a"] * 30)) == 20
    assert len(validator.violations(["a"] * 30, limit=3)) == 3
    assert validator.violations([1, 2]) == []


def test_check_passes_valid_data() -> None:
    assert SchemaValidator(ORDER, name="shop.order v1").check({"id": 1, "name": "x"}) is None


def test_check_raises_contract_violation_with_name_and_paths() -> None:
    validator = SchemaValidator(ORDER, name="shop.order v1")
    with pytest.raises(ContractViolation) as raised:
        validator.check(MANY_ERRORS)
    violation = raised.value
    assert violation.contract == "shop.order v1"
    assert violation.errors == validator.violations(MANY_ERRORS)
    assert {path for path, _ in violation.errors} == {"$", "$.a.b", "$.n", "$.o"}
    assert str(violation) == "shop.order v1: $: 'id' is a required property (+4 more)"


def test_check_reports_a_format_violation() -> None:
    validator = SchemaValidator({"type": "object", "properties": {"d": {"format": "date"}}}, name="dated v2")
    with pytest.raises(ContractViolation, match=r"^dated v2: \$\.d: '2026-1-1' is not a 'date'$"):
        validator.check({"d": "2026-1-1"})


def test_false_schema_rejects_everything() -> None:
    validator = SchemaValidator(False, name="never")
    assert not validator.is_valid({}) and not validator.reference_is_valid({})
    with pytest.raises(ContractViolation) as raised:
        validator.check({})
    assert raised.value.errors[0][0] == "$"


def test_check_with_unicode_property_pattern_raises_a_contract_violation() -> None:
    validator = SchemaValidator({"type": "string", "pattern": "^\\p{L}+$"}, name="names v1")
    assert validator.is_valid("Zoë")
    with pytest.raises(ContractViolation):
        validator.check("123")


def test_check_schema_accepts_a_valid_schema() -> None:
    assert check_schema(ORDER) == []
    assert check_schema(True) == []


@pytest.mark.parametrize(("schema", "path", "message"), [
    ({"type": "strin"}, "$.type", "'strin' is not valid under any of the given schemas"),
    ({"minimum": "3"}, "$.minimum", "'3' is not of type 'number'"),
    ({"properties": {"a": {"type": 1}}}, "$.properties.a.type", "1 is not valid under any of the given schemas"),
    ({"required": "id"}, "$.required", "'id' is not of type 'array'"),
    ({"items": [{"type": "string"}]}, "$.items", "[{'type': 'string'}] is not of type 'object', 'boolean'"),
    ([], "$", "[] is not of type 'object', 'boolean'"),
])
def test_check_schema_reports_metaschema_problems(schema: Any, path: str, message: str) -> None:
    assert (path, message) in check_schema(schema)

"""The CloudEvents 1.0 envelope: the shared official schema plus the rules it cannot say."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.contracts.validate import (
    CLOUDEVENTS_SCHEMA_ENV,
    check_envelope,
    cloudevents_schema_path,
    envelope_validator,
)
from tests.conftest import REPO, TESTSUITES, order_event, shared_suite

EXAMPLES = sorted(REPO.glob("contracts/**/examples/**/*.json"))


@pytest.fixture
def official_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Run from the repository, with no override: the shared official schema is used."""
    path = shared_suite("cloudevents", "cloudevents.json")
    monkeypatch.delenv(CLOUDEVENTS_SCHEMA_ENV, raising=False)
    monkeypatch.chdir(REPO)
    envelope_validator.cache_clear()
    yield path
    envelope_validator.cache_clear()


def event(**changes: Any) -> dict[str, Any]:
    """A valid event; a change to `...` removes the attribute."""
    out = order_event()
    for name, value in changes.items():
        if value is ...:
            out.pop(name, None)
        else:
            out[name] = value
    return out


def test_schema_path_is_the_shared_cloudevents_schema(official_schema: Path) -> None:
    assert cloudevents_schema_path() == official_schema
    assert cloudevents_schema_path().resolve() == (TESTSUITES / "cloudevents" / "cloudevents.json").resolve()
    validator = envelope_validator()
    assert validator.schema == json.loads(official_schema.read_text(encoding="utf-8"))
    assert validator.name == "CloudEvents 1.0 envelope"


def test_schema_path_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    custom = tmp_path / "ce.json"
    monkeypatch.setenv(CLOUDEVENTS_SCHEMA_ENV, str(custom))
    assert cloudevents_schema_path() == custom


def test_a_valid_event_has_no_problems(official_schema: Path) -> None:
    assert check_envelope(event()) == []


@pytest.mark.parametrize("attribute", ["id", "source", "type", "specversion"])
def test_missing_required_attribute(official_schema: Path, attribute: str) -> None:
    problems = check_envelope(event(**{attribute: ...}))
    assert ("$", f"{attribute!r} is a required property") in problems
    assert all(path.startswith("$") for path, _ in problems)


def test_every_missing_attribute_is_reported_at_once(official_schema: Path) -> None:
    problems = check_envelope({"data": {}})
    for attribute in ("id", "source", "type", "specversion"):
        assert ("$", f"{attribute!r} is a required property") in problems


@pytest.mark.parametrize("attribute", ["id", "source", "type", "subject"])
def test_empty_strings_are_refused(official_schema: Path, attribute: str) -> None:
    assert check_envelope(event(**{attribute: ""})) == [(f"$.{attribute}", "'' should be non-empty")]


@pytest.mark.parametrize("attribute", ["id", "source", "type"])
def test_attributes_must_be_strings(official_schema: Path, attribute: str) -> None:
    assert check_envelope(event(**{attribute: 5})) == [(f"$.{attribute}", "5 is not of type 'string'")]


@pytest.mark.parametrize("version", ["0.3", "1", "1.0.0", "2.0"])
def test_wrong_specversion(official_schema: Path, version: str) -> None:
    assert check_envelope(event(specversion=version)) == [("$.specversion", "must be '1.0'")]


def test_numeric_specversion(official_schema: Path) -> None:
    problems = check_envelope(event(specversion=1.0))
    assert ("$.specversion", "1.0 is not of type 'string'") in problems
    assert ("$.specversion", "must be '1.0'") in problems


@pytest.mark.parametrize("extension", [{"tenant": "acme"}, {"traceparent": "00-abc-def-01"}, {"priority": 5},
                                       {"partitionkey": "O1", "sequence": "42"}])
def test_extension_attributes_are_allowed(official_schema: Path, extension: dict[str, Any]) -> None:
    assert check_envelope(event(**extension)) == []


def test_optional_attributes_are_allowed(official_schema: Path) -> None:
    full = event(time="2026-01-31T09:30:00Z", datacontenttype="application/json",
                 dataschema="urn:seamline:contract:shop.order.placed:v1")
    assert check_envelope(full) == []
    assert check_envelope(event(data=...)) == []


@pytest.mark.parametrize("value", [[1], "event", None, 42])
def test_non_object_envelope(official_schema: Path, value: Any) -> None:
    problems = check_envelope(value)
    assert problems and problems[0][0] == "$"
    assert "is not of type 'object'" in problems[0][1]


def test_repository_has_contract_examples() -> None:
    assert len(EXAMPLES) >= 10
    assert any("/examples/valid/" in p.as_posix() for p in EXAMPLES)
    assert any("/examples/invalid/" in p.as_posix() for p in EXAMPLES)


@pytest.mark.parametrize("file", EXAMPLES, ids=[p.relative_to(REPO / "contracts").as_posix() for p in EXAMPLES])
def test_every_contract_example_has_a_valid_envelope(official_schema: Path, file: Path) -> None:
    example = json.loads(file.read_text(encoding="utf-8"))
    assert check_envelope(example) == []
    assert example["type"] == file.relative_to(REPO / "contracts").parts[0]

"""JSON-Schema-Test-Suite `optional/format/` for the formats contracts use: date, date-time, email.

Contracts assert formats, so these run through SchemaValidator with `assert_formats=True`.
The fast path (jsonschema-rs) decides validity in production and must give the suite's answer
everywhere. The reference path (python-jsonschema, which writes the messages) must agree except
for the cases listed below, each with its reason; the list is exact, so a fixed one fails the
test until it is removed. Where the reference path wrongly accepts, `check()` still rejects
(the fast path decides) and reports the violation at `$`.
"""

from __future__ import annotations

import json
from functools import cache

import pytest

from runtime.contracts.validate import SchemaValidator
from runtime.errors import ContractViolation
from tests.conftest import TESTSUITES, shared_suite

pytestmark = pytest.mark.conformance

FORMATS = TESTSUITES / "json-schema-test-suite" / "tests" / "draft2020-12" / "optional" / "format"
USED = ("date", "date-time", "email")
Key = tuple[str, str]  # (format, test description)

_LEAP = (
    "python-jsonschema checks date-time with rfc3339-validator, which rejects a leap second "
    "(:60) that RFC 3339 allows"
)
_NEWLINE = (
    "rfc3339-validator matches with a `$` anchor, which also matches before a trailing newline"
)
_EMAIL = (
    "python-jsonschema's `email` check only asks for an `@`; jsonschema-rs checks RFC 5321 "
    "addresses (local part, domain, address literals)"
)
KNOWN_DIFFERENCES: dict[Key, str] = {
    ("date-time", "a valid date-time with a leap second, UTC"): _LEAP,
    ("date-time", "a valid date-time with a leap second, with minus offset"): _LEAP,
    ("date-time", "a trailing newline is invalid"): _NEWLINE,
    ("email", "dot before local part is not valid"): _EMAIL,
    ("email", "dot after local part is not valid"): _EMAIL,
    ("email", "two subsequent dots inside local part are not valid"): _EMAIL,
    ("email", "an invalid domain"): _EMAIL,
    ("email", "an invalid IPv4-address-literal"): _EMAIL,
    ("email", "two email addresses is not valid"): _EMAIL,
    ("email", 'full "From" header is invalid'): _EMAIL,
    ("email", "local part is required"): _EMAIL,
    ("email", "domain is required"): _EMAIL,
    ("email", "unquoted space in local part is invalid"): _EMAIL,
}


@cache
def outcomes(fmt: str) -> tuple[tuple[Key, object, bool, bool, bool], ...]:
    """(key, data, expected, fast, reference) for every test of one format file."""
    out = []
    for group in json.loads((FORMATS / f"{fmt}.json").read_text(encoding="utf-8")):
        validator = SchemaValidator(group["schema"], assert_formats=True)
        for test in group["tests"]:
            data = test["data"]
            out.append(
                (
                    (fmt, test["description"]),
                    data,
                    test["valid"],
                    validator.is_valid(data),
                    validator.reference_is_valid(data),
                )
            )
    return tuple(out)


@pytest.mark.parametrize("fmt", USED)
def test_format(fmt: str) -> None:
    shared_suite("json-schema-test-suite", "tests", "draft2020-12", "optional", "format")
    wrong = []
    for key, data, valid, fast, reference in outcomes(fmt):
        if fast != valid:
            wrong.append(f"{key}: fast path says {fast}, the suite {valid}")
        elif reference != valid and key not in KNOWN_DIFFERENCES:
            wrong.append(f"{key}: reference path says {reference}, the suite {valid}")
        if not valid:
            with pytest.raises(ContractViolation) as caught:
                SchemaValidator({"format": fmt}, name="f").check(data)
            assert caught.value.errors and caught.value.errors[0][0] == "$"
    assert not wrong, "\n".join(wrong)


def test_known_differences_are_exact() -> None:
    shared_suite("json-schema-test-suite", "tests", "draft2020-12", "optional", "format")
    disagreeing = {key for fmt in USED for key, _, valid, _, ref in outcomes(fmt) if ref != valid}
    assert disagreeing == set(KNOWN_DIFFERENCES)


def test_the_contracts_use_these_formats_and_no_others() -> None:
    """If a contract starts using another format, its suite file belongs in USED."""
    from tests.conftest import REPO

    used = set()
    for path in (REPO / "contracts").glob("*/v*.schema.json"):
        text = path.read_text(encoding="utf-8")
        used |= {part.split('"')[0] for part in text.split('"format": "')[1:]}
    assert used <= set(USED)
    assert sum(len(outcomes(f)) for f in USED) > 100

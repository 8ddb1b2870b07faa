"""The integration function registry: documented examples, doc coverage, edge cases, Jinja."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jmespath
import pytest
from jinja2 import StrictUndefined, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jmespath import exceptions as jp
from jmespath.functions import Functions

from runtime.expressions.functions import (
    EXAMPLE_LOOKUPS,
    FUNCTION_DOCS,
    JINJA_FILTER_NAMES,
    FunctionArgumentError,
    FunctionError,
    IntegrationFunctions,
    LookupMissingError,
    UnknownLookupTableError,
    jinja_helpers,
    jmespath_options,
    render_functions_markdown,
)

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = IntegrationFunctions(lookups=EXAMPLE_LOOKUPS)
OPTIONS = jmespath_options(FUNCTIONS)
EXAMPLES = [
    pytest.param(ex.expression, ex.given, ex.result, id=f"{doc.name}[{i}]")
    for doc in FUNCTION_DOCS
    for i, ex in enumerate(doc.examples)
]


def search(expression: str, given: Any = None) -> Any:
    return jmespath.search(expression, given, options=OPTIONS)


# -- (1) every documented example holds ------------------------------------------------------


@pytest.mark.parametrize(("expression", "given", "result"), EXAMPLES)
def test_documented_example(expression: str, given: Any, result: Any) -> None:
    actual = search(expression, given)
    # JSON text comparison also pins number types (1 vs 1.0) and key order.
    assert json.dumps(actual) == json.dumps(result)


# -- (2) registry and docs agree ---------------------------------------------------------------


def test_every_function_is_documented_and_every_doc_is_a_function() -> None:
    methods = {n[6:] for n in dir(IntegrationFunctions) if n.startswith("_func_")}
    custom = methods - {n[6:] for n in dir(Functions) if n.startswith("_func_")}
    documented = [doc.name for doc in FUNCTION_DOCS]
    assert len(documented) == len(set(documented)), "a function is documented twice"
    assert custom == set(documented)
    # every method is registered (has a @signature), so jmespath checks arity and types
    assert custom <= set(IntegrationFunctions.FUNCTION_TABLE)


def test_no_jmespath_builtin_is_shadowed() -> None:
    for name, spec in Functions.FUNCTION_TABLE.items():
        assert IntegrationFunctions.FUNCTION_TABLE[name]["function"] is spec["function"], name


@pytest.mark.parametrize("doc", FUNCTION_DOCS, ids=lambda d: d.name)
def test_doc_is_complete_and_matches_the_signature(doc: Any) -> None:
    assert len(doc.examples) >= 2
    assert doc.category in {"lookup", "dates", "money", "strings", "collections"}
    assert doc.summary.strip() and doc.signature.startswith(f"{doc.name}(")
    params = doc.signature[len(doc.name) + 1 : doc.signature.rindex(")")].split(", ")
    spec = IntegrationFunctions.FUNCTION_TABLE[doc.name]["signature"]
    assert len(params) == len(spec)
    for text, param in zip(params, spec, strict=True):
        assert text.split(":")[0].endswith("?") == bool(param.get("optional")), text
        assert text.startswith("...") == bool(param.get("variadic")), text


# -- (3) edge cases ------------------------------------------------------------------------------


def test_lookup_compares_keys_as_strings_and_copies_rows() -> None:
    functions = IntegrationFunctions({"codes": {7: "seven", "DE01": {"tags": ["a"]}}})
    options = jmespath_options(functions)
    assert jmespath.search("lookup('codes', '7')", None, options=options) == "seven"
    assert jmespath.search("lookup('codes', `7.0`)", None, options=options) == "seven"
    row = jmespath.search("lookup('codes', 'DE01')", None, options=options)
    row["tags"].append("mutated")
    assert jmespath.search("lookup('codes', 'DE01').tags", None, options=options) == ["a"]


def test_lookup_missing_key_message() -> None:
    with pytest.raises(LookupMissingError) as info:
        search("lookup('legal_entities', 'XX01')")
    assert str(info.value) == (
        "lookup table 'legal_entities' has no key 'XX01' (hint: add the key to "
        'flows/lookups/legal_entities.yaml (or .csv), declare a default under "*", or pass one: '
        "lookup('legal_entities', key, `null`))"
    )
    assert (info.value.table, info.value.key, info.value.available) == ("legal_entities", "XX01", 2)
    assert isinstance(info.value, FunctionError) and isinstance(info.value, ValueError)


def test_lookup_null_key_without_default_is_missing() -> None:
    with pytest.raises(LookupMissingError, match="has no key 'null'"):
        search("lookup('cost_centers', nothing)", {})
    assert search("lookup('cost_centers', nothing, 'n/a')", {}) == "n/a"


def test_lookup_default_even_when_false_or_null() -> None:
    assert search("lookup('cost_centers', '1', `false`)") is False
    assert search("lookup('cost_centers', '1', `null`)") is None


def test_lookup_unknown_table_lists_known_tables() -> None:
    with pytest.raises(UnknownLookupTableError) as info:
        search("lookup('entities', 'DE01')")
    assert str(info.value) == (
        "unknown lookup table 'entities' (known tables: cost_centers, legal_entities; "
        "a table is a file flows/lookups/<name>.yaml)"
    )
    with pytest.raises(UnknownLookupTableError, match="known tables: none"):
        jmespath.search("lookup('x', 'y')", None, options=jmespath_options(IntegrationFunctions()))


def test_lookup_rejects_object_keys() -> None:
    with pytest.raises(FunctionArgumentError, match=r"^lookup\(\): the key must be"):
        search("lookup('cost_centers', @)", {"a": 1})


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("lookup('t')", "Expected 2 to 3 arguments for function lookup(), received 1"),
        (
            "lookup('t', 'k', 'd', 'x')",
            "Expected 2 to 3 arguments for function lookup(), received 4",
        ),
        ("round_money(`1`)", "Expected 2 arguments for function round_money(), received 1"),
        ("coalesce('a')", "Expected at least 2 arguments for function coalesce(), received 1"),
        ("pad_left('a')", "Expected 2 to 3 arguments for function pad_left(), received 1"),
    ],
)
def test_arity_errors_are_jmespath_arity_errors(expression: str, message: str) -> None:
    with pytest.raises(jp.ArityError) as info:
        search(expression)
    assert str(info.value) == message


@pytest.mark.parametrize(
    "expression",
    [
        "round_money(`true`, 'EUR')",
        "upper(`42`)",
        "to_date(`20260131`)",
        "allocate(`100`, 'three', 'EUR')",
        "pick(@, `[1]`)",
        "index_by(`[1, 2]`, 'id')",
        "lookup(`1`, 'k')",
        "pad_left('a', `3`, `0`)",
    ],
)
def test_type_errors_are_jmespath_type_errors(expression: str) -> None:
    with pytest.raises(jp.JMESPathTypeError):
        search(expression, {})


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("allocate(`100`, `3`, 'EUR')", [33.34, 33.33, 33.33]),
        ("allocate(`0.05`, `3`, 'EUR')", [0.02, 0.02, 0.01]),
        ("allocate(`100`, `[1, 0, 2]`, 'EUR')", [33.33, 0, 66.67]),
        ("allocate('1000.005', `[1, 1]`, 'EUR')", [500.01, 500]),
        ("allocate(`7`, `7`, 'JPY')", [1, 1, 1, 1, 1, 1, 1]),
        ("allocate(`1`, `3`, 'KWD')", [0.334, 0.333, 0.333]),
    ],
)
def test_allocate_splits_exactly(expression: str, expected: list[Any]) -> None:
    parts = search(expression)
    assert json.dumps(parts) == json.dumps(expected)


@pytest.mark.parametrize("total", ["0.01", "99.99", "1234567.89", "-10", "0"])
@pytest.mark.parametrize("parts", ["`7`", "`[3, 1, 1, 0.5]`", "`[0.1, 0.2, 0.3]`"])
def test_allocate_sum_is_exact(total: str, parts: str) -> None:
    from decimal import Decimal

    shares = search(f"allocate('{total}', {parts}, 'EUR')")
    assert sum(Decimal(str(s)) for s in shares) == Decimal(total)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("allocate(`1`, `0`, 'EUR')", "parts must be a whole number from 1 to 10000, not 0"),
        ("allocate(`1`, `1.5`, 'EUR')", "parts must be a whole number from 1 to 10000"),
        ("allocate(`1`, `[]`, 'EUR')", "weights must have 1 to 10000 entries"),
        ("allocate(`1`, `[0, 0]`, 'EUR')", "weights must be zero or positive and at least one"),
        ("allocate(`1`, `[1, -1]`, 'EUR')", "weights must be zero or positive"),
        ("allocate(`1`, `[\"x\"]`, 'EUR')", "cannot read weight 'x' as a number"),
    ],
)
def test_allocate_rejects_bad_parts(expression: str, message: str) -> None:
    with pytest.raises(FunctionArgumentError, match=r"^allocate\(\): " + re.escape(message)):
        search(expression)


def test_money_rounding_by_currency() -> None:
    assert search("round_money(`1234.5`, 'JPY')") == 1235
    assert type(search("round_money(`1234.5`, 'JPY')")) is int
    assert search("round_money(`0.5`, 'KRW')") == 1
    assert search("round_money(`-2.5`, 'JPY')") == -3
    assert search("round_money(`1.0005`, 'BHD')") == 1.001
    assert search("round_money(`2.675`, 'EUR')") == 2.68  # the float 2.675 is below 2.675
    assert search("round_money(' 10.10 ', 'EUR')") == 10.1
    assert type(search("round_money(`10.001`, 'EUR')")) is int
    assert search("sum_money(`[0.1, 0.2]`, 'EUR')") == 0.3
    assert search("to_minor_units(`0.29`, 'EUR')") == 29  # not 28 (0.29 * 100 == 28.999...)
    assert search("percent_of(`0.5`, `50`, 'EUR')") == 0.25


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("round_money(`1`, 'EURO')", "round_money(): currency 'EURO' is not an ISO 4217 code"),
        ("round_money(`1`, 'eur')", "round_money(): currency 'eur' is not an ISO 4217 code"),
        ("round_money('1,5', 'EUR')", "round_money(): cannot read amount '1,5' as a number"),
        ("round_money('NaN', 'EUR')", "round_money(): cannot read amount 'NaN' as a number"),
        ("sum_money(`[1, null]`, 'EUR')", "sum_money(): amount must be a number or a numeric"),
        ("from_minor_units(`1.5`, 'EUR')", "from_minor_units(): minor units must be a whole"),
        ("round_money('1e40', 'EUR')", "round_money(): amount 1E+40 is too large"),
    ],
)
def test_money_argument_errors(expression: str, message: str) -> None:
    with pytest.raises(FunctionArgumentError) as info:
        search(expression)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("value", "duration", "expected"),
    [
        ("2026-01-31", "P1M", "2026-02-28"),
        ("2028-01-31", "P1M", "2028-02-29"),
        ("2026-03-31", "-P1M", "2026-02-28"),
        ("2026-02-28", "P1M", "2026-03-28"),
        ("2024-02-29", "P1Y", "2025-02-28"),
        ("2026-01-31T12:00:00Z", "P1M", "2026-02-28T12:00:00Z"),
        ("2026-03-01", "-1d", "2026-02-28"),
        ("2026-03-01T00:00:00Z", "-1h30m", "2026-02-28T22:30:00Z"),
        ("2026-03-01T00:00:00+02:00", "-P1D", "2026-02-28T00:00:00+02:00"),
        ("2026-03-01T00:00:00", "45s", "2026-03-01T00:00:45"),
        ("2026-03-01T00:00:00Z", "1.5h", "2026-03-01T01:30:00Z"),
        ("2026-03-01T00:00:00Z", "250ms", "2026-03-01T00:00:00.250000Z"),
        ("2026-03-01", "2w", "2026-03-15"),
        ("2026-03-01", "24h", "2026-03-02"),
        ("2026-03-01", "PT0S", "2026-03-01"),
    ],
)
def test_add_duration(value: str, duration: str, expected: str) -> None:
    assert search(f"add_duration('{value}', '{duration}')") == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "add_duration('2026-01-01', '3x')",
            "add_duration(): cannot read duration '3x' (expected e.g. 30d, 1h30m, P1M)",
        ),
        (
            "add_duration('2026-01-01', 'P')",
            "add_duration(): cannot read duration 'P' (expected e.g. 30d, 1h30m, P1M)",
        ),
        (
            "add_duration('2026-01-01', 'PT')",
            "add_duration(): cannot read duration 'PT' (expected e.g. 30d, 1h30m, P1M)",
        ),
        (
            "add_duration('2026-01-01', '--1d')",
            "add_duration(): cannot read duration '--1d' (expected e.g. 30d, 1h30m, P1M)",
        ),
        (
            "add_duration('2026-01-01', '1h')",
            "add_duration(): cannot add hours, minutes or seconds to the date '2026-01-01' "
            "(use to_datetime() first)",
        ),
        ("add_duration('9999-12-31', '1d')", "add_duration(): the result is outside years 1-9999"),
        (
            "add_duration('31.01.2026', '1d')",
            "add_duration(): cannot read date '31.01.2026' (expected e.g. 2026-01-31 or "
            "2026-01-31T09:30:00Z)",
        ),
        (
            "duration_seconds('P1M')",
            "duration_seconds(): 'P1M' has months or years, which have no fixed length in seconds",
        ),
        (
            "date_diff('2026-01-01', '2026-02-01', 'years')",
            "date_diff(): unknown unit 'years' (expected seconds, minutes, hours, days, weeks, "
            "months)",
        ),
        (
            "start_of('2026-01-01', 'decade')",
            "start_of(): unknown unit 'decade' (expected day, week, month, quarter, year)",
        ),
        (
            "to_datetime('2026-01-01T00:00:00Z', 'Mars/Olympus')",
            "to_datetime(): unknown time zone 'Mars/Olympus' (expected an IANA name such as "
            "Europe/Berlin)",
        ),
    ],
)
def test_date_argument_errors(expression: str, message: str) -> None:
    with pytest.raises(FunctionArgumentError) as info:
        search(expression)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2026-01-31", "2026-02-28", 1),
        ("2026-01-31", "2026-02-27", 0),
        ("2026-01-15", "2026-04-14", 2),
        ("2026-01-15", "2026-04-15", 3),
        ("2026-04-15", "2026-01-15", -3),
        ("2026-04-15", "2026-01-16", -2),
        ("2025-12-31T23:00:00Z", "2026-01-31T22:59:59Z", 0),
        ("2025-02-28", "2026-02-28", 12),
    ],
)
def test_date_diff_months_counts_whole_calendar_months(start: str, end: str, expected: int) -> None:
    assert search(f"date_diff('{start}', '{end}', 'months')") == expected


def test_date_diff_units_and_mixed_forms() -> None:
    assert search("date_diff('2026-01-01', '2026-01-15', 'weeks')") == 2
    assert search("date_diff('2026-01-15', '2026-01-01', 'weeks')") == -2
    assert search("date_diff('2026-01-01T00:00:00Z', '2026-01-01T01:00:59Z', 'minutes')") == 60
    assert search("date_diff('2026-01-01T00:00:00+01:00', '2026-01-01T00:00:00Z', 'hours')") == 1
    # a date against a date-time with an offset: the date is midnight UTC
    assert search("date_diff('2026-01-01', '2026-01-01T06:00:00+01:00', 'hours')") == 5
    # round trip with add_duration, even across month ends
    for n in range(1, 25):
        end = search(f"add_duration('2026-01-31', 'P{n}M')")
        assert search(f"date_diff('2026-01-31', '{end}', 'months')") == n


def test_timezones() -> None:
    assert search("to_datetime('2026-01-15T09:00:00', 'Europe/Berlin')") == "2026-01-15T08:00:00Z"
    assert search("to_datetime('2026-07-15T09:00:00', 'Europe/Berlin')") == "2026-07-15T07:00:00Z"
    # an explicit offset wins over the tz argument
    assert search("to_datetime('2026-07-15T09:00:00-04:00', 'Europe/Berlin')") == (
        "2026-07-15T13:00:00Z"
    )
    assert search("to_datetime('2026-07-15T09:00:00.999Z')") == "2026-07-15T09:00:00Z"
    assert search("to_datetime('2026-07-15T09:00:00')") == "2026-07-15T09:00:00Z"
    # ambiguous local time (clocks go back): the earlier occurrence
    assert search("to_datetime('2026-10-25T02:30:00', 'Europe/Berlin')") == "2026-10-25T00:30:00Z"
    assert search("to_date('2026-01-01T01:00:00+02:00')") == "2026-01-01"
    assert search("to_date(to_datetime('2026-01-01T01:00:00+02:00'))") == "2025-12-31"


def test_start_of_and_end_of_month() -> None:
    assert search("start_of('2026-01-04', 'week')") == "2025-12-29"  # Sunday -> Monday before
    assert search("start_of('2026-01-05', 'week')") == "2026-01-05"  # Monday stays
    assert search("start_of('2026-11-17T15:45:00+01:00', 'day')") == "2026-11-17T00:00:00+01:00"
    assert search("start_of('2026-11-17', 'year')") == "2026-01-01"
    assert search("start_of('2026-12-31', 'quarter')") == "2026-10-01"
    assert search("end_of_month('2026-12-05')") == "2026-12-31"
    assert search("end_of_month('2100-02-01')") == "2100-02-28"


def test_regex_functions() -> None:
    assert search("regex_match('ACME-2026-001', '^ACME-\\d{4}-\\d{3}$')") is True
    assert search("regex_match('xACME-2026-001', '^ACME')") is False
    assert search("regex_match('Invoice 17', 'invoice')") is False
    assert search("regex_match('Invoice 17', '(?i)invoice')") is True
    assert search("regex_replace('a1b22c333', '\\d+', '#')") == "a#b#c#"
    assert (
        search(
            "regex_replace('2026-01-31', '(?P<y>\\d+)-(?P<m>\\d+)-(?P<d>\\d+)', "
            "'\\g<d>.\\g<m>.\\g<y>')"
        )
        == "31.01.2026"
    )
    assert search(r"regex_replace('it\'s', '\'', '')") == "its"
    with pytest.raises(FunctionArgumentError, match=r"^regex_match\(\): invalid regular exp"):
        search("regex_match('a', '(')")
    with pytest.raises(FunctionArgumentError, match=r"^regex_replace\(\): invalid replacement"):
        search("regex_replace('ab', '(a)', '\\2')")


def test_string_edge_cases() -> None:
    assert search("substring('abc', `5`)") == ""
    assert search("substring('abc', `-10`, `2`)") == "ab"
    assert search("pad_left(`7`, `3`, '0')") == "007"
    assert search("pad_left(`7.5`, `5`, '0')") == "007.5"
    assert search("coalesce(`null`, '', `0`)") == 0
    assert search("coalesce(`null`, '', `false`)") is False
    assert search("default(`false`, 'x')") is False
    assert search("uuid5('ns', `42`)") == search("uuid5('ns', '42')")
    assert search("uuid5('ns', 'a')") != search("uuid5('other', 'a')")
    assert search("hash('')") == "e3b0c44298fc1c14"
    assert search("title('  mixed   CASE ')") == "  Mixed   Case "
    assert search("slugify('---')") == ""
    assert search("split('a', ',')") == ["a"]
    for expression, message in [
        ("pad_left('a', `3`, '00')", "pad_left(): the pad character must be 1 character, not '00'"),
        ("pad_right('a', `-1`)", "pad_right(): width must be a whole number from 0 to 10000"),
        ("substring('abc', `0`, `-1`)", "substring(): length must not be negative"),
        ("substring('abc', `0.5`)", "substring(): start and length must be whole numbers"),
        ("split('a,b', '')", "split(): the separator must not be empty"),
        ("replace('a', '', 'b')", "replace(): the text to replace must not be empty"),
    ]:
        with pytest.raises(FunctionArgumentError) as info:
            search(expression)
        assert str(info.value).startswith(message), expression


def test_collection_edge_cases() -> None:
    assert search("unique(@)", [1, 1.0, True, "1", None, None, [1], [1.0]]) == [
        1,
        True,
        "1",
        None,
        [1],
    ]
    items = [{"id": 1, "v": "a"}, {"id": "1", "v": "b"}, {"v": "no id"}, {"id": None}]
    assert search("index_by(@, 'id')", items) == {"1": {"id": "1", "v": "b"}}
    assert search("group_by(@, 'id')", items) == {"1": items[:2]}
    assert search("group_by(`[]`, 'id')") == {}
    with pytest.raises(FunctionArgumentError, match=r"^group_by\(\): 'id' must be a string"):
        search("group_by(@, 'id')", [{"id": {"nested": 1}}])


# -- Jinja ----------------------------------------------------------------------------------------


@pytest.fixture
def jinja_env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    globals_, filters = jinja_helpers(FUNCTIONS)
    env.globals.update(globals_)
    env.filters.update(filters)
    return env


@pytest.mark.parametrize(
    ("template", "context", "expected"),
    [
        (
            "{{ lookup('legal_entities', entity).name }}",
            {"entity": "DE01"},
            "Seamline Consulting GmbH",
        ),
        ("{{ lookup('cost_centers', 42) }}", {}, "Data & Analytics"),
        ("{{ amount | round_money('EUR') }}", {"amount": 2.345}, "2.35"),
        ("{{ round_money(amount, 'JPY') }}", {"amount": "1234.5"}, "1235"),
        (
            "{{ lines | map(attribute='amount') | list | sum_money('EUR') }}",
            {"lines": [{"amount": 0.1}, {"amount": 0.2}]},
            "0.3",
        ),
        ("{{ 100 | allocate(3, 'EUR') | join('/') }}", {}, "33.34/33.33/33.33"),
        ("{{ d | add_duration('P1M') }}", {"d": "2026-01-31"}, "2026-02-28"),
        ("{{ d | format_date('%d.%m.%Y') }}", {"d": "2026-01-31"}, "31.01.2026"),
        ("{{ '42' | pad_left(6, '0') }}", {}, "000042"),
        ("{{ default(x, 'n/a') }}", {"x": None}, "n/a"),
        ("{{ coalesce(a, b, 'n/a') }}", {"a": "", "b": None}, "n/a"),
        ("{{ name | upper }}", {"name": "acme"}, "ACME"),  # Jinja's own filter
        ("{{ upper(name) }}", {"name": "acme"}, "ACME"),
        ("{{ ('a', 'b', 'a') | list | unique | join }}", {}, "ab"),  # Jinja's own filter
        ("{{ unique(['a', 'b', 'a']) | join }}", {}, "ab"),
        ("{% if 'DE123' | regex_match('^DE') %}yes{% endif %}", {}, "yes"),
        (
            "{{ group_by(people, 'team') | list | join(',') }}",
            {"people": [{"team": "A"}, {"team": "B"}]},
            "A,B",
        ),
    ],
)
def test_jinja_globals_and_filters(
    jinja_env: ImmutableSandboxedEnvironment, template: str, context: dict[str, Any], expected: str
) -> None:
    assert jinja_env.from_string(template).render(**context) == expected


def test_jinja_helpers_cover_every_function(jinja_env: ImmutableSandboxedEnvironment) -> None:
    globals_, filters = jinja_helpers(FUNCTIONS)
    assert set(globals_) == {doc.name for doc in FUNCTION_DOCS}
    assert set(filters) == JINJA_FILTER_NAMES
    assert {"lookup", "coalesce", "uuid5", "upper", "default", "unique"}.isdisjoint(filters)
    assert globals_["round_money"].__name__ == "round_money"


def test_jinja_errors(jinja_env: ImmutableSandboxedEnvironment) -> None:
    with pytest.raises(UndefinedError):
        jinja_env.from_string("{{ round_money(missing, 'EUR') }}").render()
    with pytest.raises(LookupMissingError):
        jinja_env.from_string("{{ lookup('legal_entities', 'XX01') }}").render()
    with pytest.raises(jp.ArityError):
        jinja_env.from_string("{{ 1 | round_money }}").render()
    with pytest.raises(jp.JMESPathTypeError):
        jinja_env.from_string("{{ true | round_money('EUR') }}").render()
    with pytest.raises(FunctionArgumentError, match="currency 'EURO'"):
        jinja_env.from_string("{{ 1 | round_money('EURO') }}").render()


def test_jinja_autoescaped_markup_is_plain_text() -> None:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
    globals_, filters = jinja_helpers(FUNCTIONS)
    env.globals.update(globals_)
    env.filters.update(filters)
    assert env.from_string("{{ ('a&b' | e) | slugify }}").render() == "a-amp-b"
    assert env.from_string("{{ x | slugify }}").render(x="<b>R&D</b>") == "b-r-d-b"


# -- (4) the generated documentation is current -------------------------------------------------


def test_docs_functions_md_is_generated() -> None:
    docs = REPO / "docs" / "functions.md"
    hint = (
        "docs/functions.md is out of date; regenerate it with: "
        'python -c "from runtime.expressions.functions import render_functions_markdown as r; '
        "open('docs/functions.md','w').write(r())\""
    )
    assert docs.exists(), hint
    assert docs.read_text(encoding="utf-8") == render_functions_markdown(), hint


def test_docs_mention_every_function_and_determinism() -> None:
    text = render_functions_markdown()
    for doc in FUNCTION_DOCS:
        assert f"\n### {doc.name}\n" in text
        assert f"[{doc.name}](#{doc.name})" in text
    assert "use `run.started_at` for the current time" in text


def test_uuid5_text_is_the_text_of_uuid5() -> None:
    import random
    import uuid

    from runtime.expressions.functions import uuid5_text

    rng = random.Random(5)
    names = ["", "a", "seamline:run:step", "Zürich 漢字 😀", "x" * 300]
    names += [
        "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(rng.randint(0, 30))) for _ in range(200)
    ]
    for name in names:
        for namespace in (
            uuid.NAMESPACE_URL,
            uuid.NAMESPACE_DNS,
            uuid.UUID(int=rng.getrandbits(128)),
        ):
            assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name))

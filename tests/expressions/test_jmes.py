"""JMESPath compiled once: syntax errors with offsets, references, function calls, truthiness."""

from __future__ import annotations

from typing import Any

import pytest
from jmespath import exceptions as jp

from runtime.errors import ExpressionError
from runtime.expressions.functions import EXAMPLE_LOOKUPS, IntegrationFunctions, jmespath_options
from runtime.expressions.jmes import (
    CompiledExpression,
    ExpressionProblem,
    compile_expression,
    function_calls,
    is_truthy,
    parse_expression,
    references,
    search,
)

OPTIONS = jmespath_options(IntegrationFunctions(lookups=EXAMPLE_LOOKUPS))


def compiled(source: str) -> CompiledExpression:
    result = compile_expression(source, OPTIONS)
    assert isinstance(result, CompiledExpression), result
    return result


def problem(source: str) -> ExpressionProblem:
    result = compile_expression(source, OPTIONS)
    assert isinstance(result, ExpressionProblem), f"{source!r} compiled"
    return result


# -- syntax errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "offset", "message"),
    [
        # the offset points at the offending token (0-based)
        ("data.a &", 7, "near '&'"),
        ("data..b", 5, "near '.'"),
        ("data.#x", 5, "unexpected character '#'"),
        ("a.b.c ^", 6, "unexpected character '^'"),
        ("foo.'bar'", 4, "near 'bar'"),
        ('steps["x"]', 6, "near 'x'"),
        ("[1, 2", 2, "near ','"),
        ("foo[?a == 'x' && ]", 17, "near ']'"),
        ("@@", 1, "near '@'"),
        ("data.a == 'Won", 10, "unexpected character"),
        ("data.a == `{", 10, "unexpected character"),
        # an expression that ends too early points at its end
        ("data.", 5, "Expecting"),
        ("data.a ==", 9, "ends too early"),
        ("data[?a == 'x'", 14, "ends too early"),
        ("{a: b", 5, "ends too early"),
        ("data.a | ", 9, "ends too early"),
    ],
)
def test_syntax_error_offsets(source: str, offset: int, message: str) -> None:
    found = problem(source)
    assert found.code == "expr.syntax"
    assert found.offset == offset
    assert message in found.message
    assert found.message.startswith("JMESPath syntax error")
    assert found.hint


@pytest.mark.parametrize("source", ["", "   ", "\n\t"])
def test_empty_expression(source: str) -> None:
    found = problem(source)
    assert (found.code, found.offset) == ("expr.empty", 0)
    assert found.hint and "data.id" in found.hint


def test_syntax_hints_name_the_likely_mistake() -> None:
    assert "single quotes" in problem("data.stage == 'Closed Won").hint
    assert 'steps."my-step"' in problem('steps["my-step"].output').hint
    assert "`10`" in problem("data.").hint


def test_parse_expression_returns_the_parsed_result() -> None:
    parsed = parse_expression("data.a")
    assert not isinstance(parsed, ExpressionProblem)
    assert parsed.search({"data": {"a": 1}}) == 1


# -- evaluation --------------------------------------------------------------------------------


def test_evaluate_with_custom_functions() -> None:
    expr = compiled("lookup('legal_entities', data.entity).currency")
    assert expr.evaluate({"data": {"entity": "DE01"}}) == "EUR"
    assert expr.source == "lookup('legal_entities', data.entity).currency"
    assert repr(expr) == "CompiledExpression(\"lookup('legal_entities', data.entity).currency\")"


def test_evaluate_wraps_jmespath_errors() -> None:
    expr = compiled("length(data.n)")
    with pytest.raises(ExpressionError, match=r"expression `length\(data.n\)` failed") as raised:
        expr.evaluate({"data": {"n": 5}})
    assert isinstance(raised.value.__cause__, jp.JMESPathTypeError)
    assert raised.value.source == "length(data.n)"


def test_evaluate_wraps_function_errors() -> None:
    with pytest.raises(ExpressionError, match="no key 'XX01'") as raised:
        compiled("lookup('legal_entities', 'XX01')").evaluate({})
    assert isinstance(raised.value.__cause__, LookupError | ValueError)


def test_search_convenience() -> None:
    assert search("a.b", {"a": {"b": [1]}}) == [1]
    assert search("upper(a)", {"a": "x"}, OPTIONS) == "X"


# -- references --------------------------------------------------------------------------------


def refs(source: str) -> list[tuple[str, str | None, int]]:
    return [(r.root, r.step, r.offset) for r in references(compiled(source))]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("data.a", [("data", None, 0)]),
        ("data", [("data", None, 0)]),
        ("steps.find.output.id", [("steps", "find", 0)]),
        ("steps.find.output[0].x", [("steps", "find", 0)]),
        ('steps."my-step".output', [("steps", "my-step", 0)]),
        ("steps", [("steps", None, 0)]),
        ("(steps.a.output).b", [("steps", "a", 1)]),
        ("length(steps.x.output.rows[*].id)", [("steps", "x", 7)]),
        ("lookup('t', data.k)", [("data", None, 12)]),
        ("sort_by(data.lines, &qty)", [("data", None, 8)]),
        ("data.a || event.id", [("data", None, 0), ("event", None, 10)]),
        ("!run.replay", [("run", None, 1)]),
        ("vars.x[0]", [("vars", None, 0)]),
    ],
)
def test_references_of_rooted_paths(
    source: str, expected: list[tuple[str, str | None, int]]
) -> None:
    assert refs(source) == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # names inside projections and filters are relative to each element, not roots
        ("data.lines[*].sku", [("data", None, 0)]),
        ("data.lines[].{s: sku, q: qty}", [("data", None, 0)]),
        ("data.lines[?qty > `1`].sku", [("data", None, 0)]),
        ("data.lines[?vars.min < qty]", [("data", None, 0)]),
        ("data.lines[*].steps.foo", [("data", None, 0)]),
        ("data.*.x", [("data", None, 0)]),
        ("data.list[0].steps.z", [("data", None, 0)]),
        ("sort_by(data.lines, &steps.x)", [("data", None, 8)]),
        # the right side of a pipe reads the left side's result
        ("data.a | b.c", [("data", None, 0)]),
        ("steps.a.output | steps.b", [("steps", "a", 0)]),
        # multi-select lists and hashes read every branch from the root
        ("{x: data.a, y: steps.s1.output}", [("data", None, 4), ("steps", "s1", 15)]),
        ("[data.a, vars.b]", [("data", None, 1), ("vars", None, 9)]),
        # the current node and literals read nothing by name
        ("@.data.x", []),
        ('`{"a": 1}`.a', []),
        ("'text'", []),
    ],
)
def test_references_ignore_relative_names(
    source: str, expected: list[tuple[str, str | None, int]]
) -> None:
    assert refs(source) == expected


def test_reference_paths() -> None:
    found = {
        r.root: r.path for r in references(compiled("{a: steps.s.output.id, b: data.lines[0].sku}"))
    }
    assert found == {"steps": ("steps", "s", "output", "id"), "data": ("data", "lines")}


# -- function calls ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("data.a", []),
        ("lookup('t', data.k)", [("lookup", 2, 0)]),
        ("lookup('t', data.k, `null`)", [("lookup", 3, 0)]),
        ("upper(trim(data.x))", [("upper", 1, 0), ("trim", 1, 6)]),
        ("data.lines[?contains(sku, 'A')].qty | sum(@)", [("sum", 1, 38), ("contains", 2, 12)]),
        (
            "{n: length(data.l), s: not_null(data.a, data.b, 'x')}",
            [("length", 1, 4), ("not_null", 3, 23)],
        ),
        ("sort_by(data.lines, &to_number(qty))", [("sort_by", 2, 0), ("to_number", 1, 21)]),
        ("nosuch(data.a)", [("nosuch", 1, 0)]),
    ],
)
def test_function_calls(source: str, expected: list[tuple[str, int, int]]) -> None:
    assert sorted(function_calls(compiled(source))) == sorted(expected)


def test_unknown_function_fails_only_at_run_time() -> None:
    expr = compiled("nosuch(data.a)")
    with pytest.raises(ExpressionError) as raised:
        expr.evaluate({"data": {"a": 1}})
    assert isinstance(raised.value.__cause__, jp.UnknownFunctionError)


# -- truthiness --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (None, False),
        (False, False),
        ("", False),
        ([], False),
        ({}, False),
        (True, True),
        (0, True),
        (0.0, True),
        (-1, True),
        ("0", True),
        ("false", True),
        (" ", True),
        ([None], True),
        ([0], True),
        ({"a": None}, True),
    ],
)
def test_is_truthy(value: Any, truthy: bool) -> None:
    assert is_truthy(value) is truthy


@pytest.mark.parametrize("value", [None, False, "", [], {}, True, 0, "x", [0], {"a": 1}])
def test_is_truthy_matches_jmespath(value: Any) -> None:
    """The same answer a JMESPath filter gives."""
    kept = compiled("items[?v].v").evaluate({"items": [{"v": value}]})
    assert is_truthy(value) is (kept != [])


def test_function_call_offsets_of_a_repeated_function() -> None:
    source = "upper(data.a) || upper(data.b)"
    assert sorted(at for _, _, at in function_calls(compiled(source))) == [0, 17]

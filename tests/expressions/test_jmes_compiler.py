"""Compiled JMESPath (`runtime.expressions._jmes_compiler`) agrees with the jmespath library.

The compliance suite runs twice through `compile_expression`: once on generated code
(`native=True`) and once on the library's interpreter (`native=False`, the fallback). In both,
every result must equal the suite's and the library's, and every error must be the library's
exception type with the library's message. Further tests pin the details the suite does not
reach: other option sets, exprefs, nesting deeper than Python's block limit, unknown node types,
function tables with their own argument checks, and the error wrapping.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import jmespath
import pytest
from jmespath import exceptions as jp
from jmespath.functions import Functions, signature
from jmespath.parser import Parser

from runtime.errors import ExpressionError
from runtime.expressions import jmes
from runtime.expressions._jmes_compiler import compile_ast, interpreted
from runtime.expressions.functions import EXAMPLE_LOOKUPS, IntegrationFunctions, jmespath_options
from runtime.expressions.jmes import CompiledExpression, ExpressionProblem, compile_expression
from tests.conftest import shared_suite
from tests.expressions.test_jmespath_compliance import CASES, RUNTIME_ERRORS

OPTIONS = jmespath_options(IntegrationFunctions(lookups=EXAMPLE_LOOKUPS))

pytestmark = pytest.mark.filterwarnings(
    "ignore:deprecated string literal syntax:PendingDeprecationWarning"
)


def outcome(evaluate: Any, given: Any) -> tuple[str, ...]:
    """('ok', canonical JSON) or ('error', exception type, message) of one evaluation."""
    try:
        return ("ok", json.dumps(evaluate(given), sort_keys=True))
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return ("error", type(exc).__name__, str(exc))


def library(expression: str, options: jmespath.Options = OPTIONS) -> Any:
    return lambda given: jmespath.search(expression, given, options=options)


@pytest.mark.conformance
@pytest.mark.parametrize("native", [True, False], ids=["compiled", "interpreted"])
@pytest.mark.parametrize(
    ("given", "case"),
    [pytest.param(given, case, id=name) for name, given, case in CASES]
    or [pytest.param(None, None, id="suite-missing")],
)
def test_compliance_case_on_both_paths(
    given: Any, case: dict[str, Any] | None, native: bool
) -> None:
    shared_suite("jmespath-compliance", "tests")
    assert case is not None
    expression = case["expression"]
    compiled = compile_expression(expression, OPTIONS, native=native)
    if case.get("error") == "syntax":
        assert isinstance(compiled, ExpressionProblem)
        return
    assert isinstance(compiled, CompiledExpression), compiled
    assert compiled.native is native

    expected = outcome(library(expression), given)
    if "result" in case:
        assert expected == ("ok", json.dumps(case["result"], sort_keys=True))
        assert outcome(compiled.evaluate, given) == expected
        return

    with pytest.raises(ExpressionError) as raised:
        compiled.evaluate(given)
    cause = raised.value.__cause__
    assert isinstance(cause, RUNTIME_ERRORS[case["error"]]), repr(cause)
    assert ("error", type(cause).__name__, str(cause)) == expected
    assert raised.value.source == expression


@pytest.mark.conformance
@pytest.mark.parametrize(
    "options",
    [jmespath.Options(), jmespath.Options(dict_cls=collections.OrderedDict)],
    ids=["builtin-functions", "ordered-dict"],
)
def test_every_suite_expression_agrees_under_other_options(options: jmespath.Options) -> None:
    """Without our functions (unknown-function paths differ) and with a custom dict class."""
    shared_suite("jmespath-compliance", "tests")
    checked = 0
    for _, given, case in CASES:
        if case.get("error") == "syntax":
            continue
        parsed = Parser().parse(case["expression"])
        evaluate = compile_ast(parsed.parsed, options)
        assert evaluate is not None, case["expression"]
        got = outcome(evaluate, given)
        assert got == outcome(library(case["expression"], options), given), case["expression"]
        if got[0] == "ok":  # the same container types too (JSON text hides OrderedDict)
            want = library(case["expression"], options)(given)
            assert type(evaluate(given)) is type(want), case["expression"]
        checked += 1
    assert checked > 700


# -- details the suite does not reach ------------------------------------------------------


def native(source: str, options: jmespath.Options = OPTIONS) -> Any:
    evaluate = compile_ast(Parser().parse(source).parsed, options)
    assert evaluate is not None
    return evaluate


PEOPLE = {
    "people": [
        {"name": "b", "age": 30, "tags": ["x"]},
        {"name": "a", "age": 25, "tags": []},
        {"name": "c", "age": 35},
    ],
    "n": 0,
    "t": True,
    "f": False,
    "one": 1,
    "zero_f": 0.0,
    "s": "",
    "obj": {"a": 1, "b": None, "c": [1, [2, 3]]},
}


@pytest.mark.parametrize(
    "source",
    [
        "sort_by(people, &age)[].name",
        "max_by(people, &age).name",
        "min_by(people, &name).age",
        "map(&tags, people)",
        "map(&length(@), ['a', 'bb'])",
        "sort_by(people, &tags)",  # a type error raised inside the expref's key function
        "people[?age > `26`].name | sort(@)",
        "people[?tags].name",
        "people[?!tags].name",
        "people[*].tags[]",
        "obj.*",
        "obj.c[]",
        "obj.c[][]",
        "obj.c[-1][0]",
        "obj.c[::-1]",
        "obj.c[5:-9:1]",
        "n == f",
        "one == t",
        "zero_f == f",
        "n != f",
        "t == `true`",
        "one == `1`",
        "!n",
        "!zero_f",
        "!s",
        "n || 'x'",
        "s || 'x'",
        "s && 'x'",
        "t && 'x'",
        "people[0].name < 'b'",
        "people[0].name < `1`",
        "obj.a < obj.b",
        "`null`.a",
        "'text'.a",
        "obj.{a: a, b: b}",
        "obj.b.{a: a}",
        "obj.b.[a]",
        "[n, one] | [?@ > `0`]",
        "length(@)",
        'merge(obj, `{"z": 1}`)',
        "not_null(obj.b, n, one)",
        "to_string(obj)",
        "lookup('legal_entities', 'DE01').currency",
        "lookup('cost_centers', `42`)",
        "lookup('cost_centers', `7`)",
        "lookup('cost_centers')",
        "lookup('cost_centers', `7`, `null`, 'x')",
        "round_money(`2.345`, 'EUR')",
        "round_money('x', 'EUR')",
        "round_money(`[1]`, 'EUR')",
        "sum_money(people[].age, 'EUR')",
        "coalesce(obj.b, `null`, 'z')",
        "join(', ', people[].name)",
        "join(', ', people[].age)",
        "avg(people[].age)",
        "sum(`[]`)",
        "max(people[].name)",
        "max([n, 'a'])",
        "sort([`1`, 'a'])",
        "frobnicate(n)",
        "frobnicate(people[?bad(@)])",
        "abs(`-1`, `2`)",
        "not_null()",
        "&name",
    ],
)
def test_details_agree_with_the_library(source: str) -> None:
    got = outcome(native(source), PEOPLE)
    want = outcome(library(source), PEOPLE)
    if source == "&name":  # an expref as the result: both give an object of type _Expression
        assert got[0] == want[0] == "ok" or got[1] == want[1]
        return
    assert got == want


def test_an_expref_is_what_jmespath_functions_expect() -> None:
    value = native("&age")(PEOPLE)
    assert type(value).__name__ == "_Expression"
    assert isinstance(value, jmespath.visitor._Expression)  # noqa: SLF001
    assert value.visit(value.expression, {"age": 3}) == 3
    # another node through the same object goes to the library's interpreter
    assert value.visit({"type": "field", "value": "name", "children": []}, {"name": "n"}) == "n"
    assert value.interpreter.visit(value.expression, {"age": 4}) == 4


def test_nesting_deeper_than_pythons_block_limit_still_compiles() -> None:
    letters = "abcdefghijklmnopqrstuvwxyz"
    source = ".".join(f"{c}[*]" for c in letters)
    document: Any = {"z": ["leaf"]}
    for c in reversed(letters[:-1]):
        document = {c: [document]}
    assert outcome(native(source), document) == outcome(library(source), document)
    deep_or = " || ".join(f"x{i}" for i in range(200)) + " || 'end'"
    assert native(deep_or)({}) == "end"
    deep_filter = "a" + "[?b]" * 30
    assert outcome(native(deep_filter), {"a": []}) == outcome(library(deep_filter), {"a": []})


def test_an_unknown_node_type_is_left_to_the_library() -> None:
    tree = {
        "type": "subexpression",
        "children": [
            {"type": "field", "value": "a", "children": []},
            {"type": "frobnicate", "children": []},
        ],
    }
    evaluate = compile_ast(tree, OPTIONS)
    assert evaluate is not None
    with pytest.raises(NotImplementedError) as compiled_error:
        evaluate({"a": 1})
    with pytest.raises(NotImplementedError) as library_error:
        interpreted(tree, OPTIONS)({"a": 1})
    assert str(compiled_error.value) == str(library_error.value) == "frobnicate"


@pytest.mark.parametrize(
    "tree",
    [
        {
            "type": "comparator",
            "value": "like",
            "children": [{"type": "current", "children": []}, {"type": "current", "children": []}],
        },
        {"type": "index", "value": "0", "children": []},
        {"type": "slice", "children": [None, None, None, None]},
    ],
    ids=["unknown-comparator", "index-not-int", "slice-arity"],
)
def test_odd_nodes_are_left_to_the_library(tree: dict[str, Any]) -> None:
    evaluate = compile_ast(tree, OPTIONS)
    assert evaluate is not None
    assert outcome(evaluate, ["a"]) == outcome(interpreted(tree, OPTIONS), ["a"])


class _TracingFunctions(Functions):
    """A function table with its own call_function: the compiled code must go through it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def call_function(self, function_name: str, resolved_args: list[Any]) -> Any:
        self.calls.append(function_name)
        return super().call_function(function_name, resolved_args)

    @signature({"types": ["string"]})
    def _func_shout(self, text: str) -> str:
        return text.upper()


class _LenientFunctions(Functions):
    """Its own argument checks: the compiled code must call them, not assume jmespath's."""

    def _validate_arguments(self, args: Any, signature: Any, function_name: str) -> None:
        return None

    @signature({"types": ["number"]})
    def _func_double(self, value: Any) -> Any:
        return value * 2


def test_a_custom_call_function_is_called_for_every_call() -> None:
    functions = _TracingFunctions()
    options = jmespath.Options(custom_functions=functions)
    assert native("shout(a) || length(b)", options)({"a": "x", "b": "yy"}) == "X"
    assert native("[shout(a), length(b)]", options)({"a": "x", "b": "yy"}) == ["X", 2]
    assert functions.calls == ["shout", "shout", "length"]
    got = outcome(native("shout(`1`)", options), {})
    assert got == outcome(library("shout(`1`)", options), {})


def test_custom_argument_checks_are_honoured() -> None:
    options = jmespath.Options(custom_functions=_LenientFunctions())
    assert native("double('ab')", options)({}) == "abab"
    assert native("double('ab')", options)({}) == jmespath.search("double('ab')", {}, options)


def test_optional_parameters_follow_integration_functions() -> None:
    for source in (
        "pad_left('7', `3`)",
        "pad_left('7', `3`, '0')",
        "pad_left('7')",
        "pad_left('7', `3`, '0', 'x')",
        "pad_left(`7`, `3`, `0`)",
    ):
        assert outcome(native(source), {}) == outcome(library(source), {}), source


def test_generated_code_is_shared_by_expressions_with_the_same_text() -> None:
    options = jmespath_options(IntegrationFunctions())
    first = compile_expression("data.a", options)
    second = compile_expression("data.a", options)
    assert isinstance(first, CompiledExpression) and isinstance(second, CompiledExpression)
    assert first.evaluate({"data": {"a": 1}}) == second.evaluate({"data": {"a": 1}}) == 1
    assert first._evaluate is second._evaluate  # noqa: SLF001


def test_errors_are_wrapped_with_the_library_exception_as_cause() -> None:
    for native_path in (True, False):
        expr = compile_expression("length(data)", OPTIONS, native=native_path)
        assert isinstance(expr, CompiledExpression)
        with pytest.raises(ExpressionError) as raised:
            expr.evaluate({"data": 1})
        assert isinstance(raised.value.__cause__, jp.JMESPathTypeError)
        assert str(raised.value).startswith(
            "expression `length(data)` failed: In function length()"
        )
        assert raised.value.source == "length(data)"
        expr = compile_expression("data[::0]", OPTIONS, native=native_path)
        assert isinstance(expr, CompiledExpression)
        with pytest.raises(ExpressionError) as raised:
            expr.evaluate({"data": [1]})
        assert type(raised.value.__cause__) is ValueError


def test_the_environment_switch_selects_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jmes, "NATIVE", False)
    expr = compile_expression("a", OPTIONS)
    assert isinstance(expr, CompiledExpression) and expr.native is False
    assert expr.evaluate({"a": 2}) == 2
    monkeypatch.setattr(jmes, "NATIVE", True)
    expr = compile_expression("a", OPTIONS)
    assert isinstance(expr, CompiledExpression) and expr.native is True


def test_the_ast_stays_available_for_load_time_checks() -> None:
    expr = compile_expression("steps.find.output.id || lookup('t', data.k)", OPTIONS)
    assert isinstance(expr, CompiledExpression)
    assert [r.root for r in jmes.references(expr)] == ["steps", "data"]
    assert [name for name, _, _ in jmes.function_calls(expr)] == ["lookup"]
    assert expr.source == "steps.find.output.id || lookup('t', data.k)"


def test_a_compiled_expression_copies_and_pickles_and_frees_its_code() -> None:
    import copy
    import gc
    import pickle

    options = jmespath_options(IntegrationFunctions())
    expr = compile_expression("sort_by(a, &b)[].b", options)
    assert isinstance(expr, CompiledExpression)
    assert expr.evaluate({"a": [{"b": 2}, {"b": 1}]}) == [1, 2]
    for clone in (copy.deepcopy(expr), pickle.loads(pickle.dumps(expr))):
        assert clone.evaluate({"a": [{"b": 3}, {"b": 0}]}) == [0, 3]
        assert clone.native
    assert options in jmes._generated  # noqa: SLF001
    del expr, clone
    gc.collect()
    assert options in jmes._generated  # noqa: SLF001 - the options still live
    entries = len(jmes._generated)  # noqa: SLF001
    del options
    gc.collect()
    assert len(jmes._generated) < entries  # noqa: SLF001 - a dropped workspace frees its code


def test_the_template_function_caller_agrees_with_call_function() -> None:
    """Jinja templates call functions through `function_caller`: same results, same errors."""
    import itertools

    from runtime.expressions._jmes_calls import function_caller

    functions = IntegrationFunctions(lookups=EXAMPLE_LOOKUPS)
    samples = [None, True, 0, 1, 2.5, -3, "", "EUR", "2026-01-31", "30d", "DE01", [], [1, 2],
               ["a", "b"], [1, "a"], {}, {"a": 1}]  # fmt: skip
    compared = 0
    for name in sorted(functions.FUNCTION_TABLE):
        caller = function_caller(functions, name)
        for argc in range(4):
            for args in itertools.islice(itertools.product(samples, repeat=argc), 0, None, 7):
                want = outcome(lambda _, a=list(args), n=name: functions.call_function(n, a), None)
                got = outcome(lambda _, a=list(args), c=caller: c(a), None)
                assert got == want, (name, args)
                compared += 1
    assert compared > 5000


def test_reference_offsets_are_found_as_the_regex_found_them() -> None:
    """`_occurrences` replaced a regex per name; it finds the same starts (seeded, 50,000 texts)."""
    import random
    import re

    from runtime.expressions.jmes import _occurrences

    def regex(source: str, names: list[str]) -> list[int]:
        pattern = r"\s*\.\s*".join(re.escape(n) for n in names)
        return [m.start() for m in re.finditer(r"(?<![\w.])" + pattern, source)]

    rng = random.Random(8)
    pieces = ["a", "b", "ab", ".", " ", "\t", "_", "x1", "é", "(", "|", "'", "steps", "", "\n", "٣"]
    names = ["a", "b", "ab", "steps", "x1", " a", "", "a b", "é", ".a"]
    for _ in range(50_000):
        source = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        chosen = [rng.choice(names) for _ in range(rng.randint(1, 2))]
        assert _occurrences(source, chosen) == regex(source, chosen), (source, chosen)

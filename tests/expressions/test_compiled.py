"""Values compiled once: `${ }` splitting, JSON types, interpolation, static folding, and event
data that is never evaluated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.compiler._values import ValueCompiler, check_roots
from runtime.errors import ExpressionError
from runtime.expressions.compiled import (
    CompiledValue,
    ExpressionValue,
    InterpolatedString,
    InterpolationSyntaxError,
    ListValue,
    Literal,
    MappingValue,
    TemplateValue,
    freeze,
    is_template,
    split_interpolations,
)
from runtime.expressions.functions import (
    EXAMPLE_LOOKUPS,
    IntegrationFunctions,
    jinja_helpers,
    jmespath_options,
)
from runtime.expressions.jinja import TemplateEngine
from runtime.expressions.jmes import CompiledExpression, compile_expression
from runtime.loader.source import SourceMap

FUNCTIONS = IntegrationFunctions(lookups=EXAMPLE_LOOKUPS)
OPTIONS = jmespath_options(FUNCTIONS)
CHECK = check_roots(["data", "event", "vars", "steps", "run"])


@pytest.fixture
def values(tmp_path: Path) -> ValueCompiler:
    globals_, filters = jinja_helpers(FUNCTIONS)
    return ValueCompiler(
        source_map=SourceMap("flows/test.yaml"),
        options=OPTIONS,
        templates=TemplateEngine(tmp_path, globals_, filters),
        function_names=frozenset(FUNCTIONS.FUNCTION_TABLE),
    )


def compile_value(values: ValueCompiler, raw: Any) -> CompiledValue:
    compiled = values.value(raw, ("with", "x"), CHECK)
    assert values.diagnostics == [], [str(d) for d in values.diagnostics]
    return compiled


def expression(source: str) -> CompiledExpression:
    compiled = compile_expression(source, OPTIONS)
    assert isinstance(compiled, CompiledExpression), compiled
    return compiled


# -- split_interpolations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("no expression", ["no expression"]),
        ("${data.x}", [(2, "data.x")]),
        ("${ data.x }", [(3, "data.x")]),
        ("id-${ data.id }-x", ["id-", (6, "data.id"), "-x"]),
        ("a ${ data.x } b ${ data.y }", ["a ", (5, "data.x"), " b ", (19, "data.y")]),
        ("${ data.a }${ data.b }", [(3, "data.a"), (14, "data.b")]),
        # braces of multi-select hashes are balanced
        ("${ {a: data.x, b: {c: data.y}} }", [(3, "{a: data.x, b: {c: data.y}}")]),
        (
            "a ${ data.x } b ${ {k: data.y} } c",
            ["a ", (5, "data.x"), " b ", (19, "{k: data.y}"), " c"],
        ),
        # braces and quotes inside backtick JSON literals and strings do not count
        ('${ `{"a": "}"}` }', [(3, '`{"a": "}"}`')]),
        ('${ `"}"` }', [(3, '`"}"`')]),
        ('${ `{"a": {"b": "{"}}` }', [(3, '`{"a": {"b": "{"}}`')]),
        ('${ `"it\\`s"` }', [(3, '`"it\\`s"`')]),
        ("${ 'a}b' }", [(3, "'a}b'")]),
        ("${ 'a\\'}' }", [(3, "'a\\'}'")]),
        ('${ data."}" }', [(3, 'data."}"')]),
        # a lone `$` or `{` is text
        ("price: $5 ${ data.p }", ["price: $5 ", (13, "data.p")]),
        ("$ {x}", ["$ {x}"]),
        ("{x} $", ["{x} $"]),
        ("${ data.x }}", [(3, "data.x"), "}"]),
        ("${}", [(2, "")]),
    ],
)
def test_split_interpolations(text: str, parts: list[Any]) -> None:
    assert split_interpolations(text) == parts


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("${ data.x", 0),
        ("id-${ data.x", 3),
        ("${ data.x } and ${ {a: data.y }", 16),
        ("${ 'unclosed }", 0),
        ('${ `{"a": 1}', 0),
    ],
)
def test_unclosed_interpolation(text: str, offset: int) -> None:
    with pytest.raises(InterpolationSyntaxError) as raised:
        split_interpolations(text)
    assert raised.value.offset == offset
    assert "never closed" in str(raised.value)


def test_unclosed_interpolation_is_a_diagnostic(values: ValueCompiler) -> None:
    compiled = values.value("id-${ data.x", ("with", "x"), CHECK)
    assert isinstance(compiled, Literal)
    assert [d.code for d in values.diagnostics] == ["expr.unclosed"]


@pytest.mark.parametrize(
    ("text", "template"),
    [
        ("{{ data.x }}", True),
        ("{% if x %}y{% endif %}", True),
        ("${ data.x }", False),
        ("{ a: 1 }", False),
        ("plain", False),
    ],
)
def test_is_template(text: str, template: bool) -> None:
    assert is_template(text) is template


# -- whole-string expressions keep their JSON type ---------------------------------------------

DOC: dict[str, Any] = {
    "data": {
        "n": 3,
        "f": 0.25,
        "l": [1, "a"],
        "o": {"a": 1, "b": [True]},
        "z": None,
        "s": "text",
        "t": True,
        "e": "",
    },
}


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        ("${ data.n }", 3),
        ("${ data.f }", 0.25),
        ("${ data.l }", [1, "a"]),
        ("${ data.o }", {"a": 1, "b": [True]}),
        ("${ data.z }", None),
        ("${ data.missing }", None),
        ("${ data.t }", True),
        ("${ data.s }", "text"),
        ('${ `[1, {"a": null}]` }', [1, {"a": None}]),
        ("${ {n: data.n, l: data.l} }", {"n": 3, "l": [1, "a"]}),
        ("${data.n}", 3),
    ],
)
def test_whole_string_expression_keeps_its_json_type(
    values: ValueCompiler, raw: str, result: Any
) -> None:
    compiled = compile_value(values, raw)
    assert isinstance(compiled, ExpressionValue)
    assert not compiled.is_static
    value = compiled.evaluate(DOC)
    assert value == result and type(value) is type(result)


# -- interpolation renders text ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        ("n=${ data.n }", "n=3"),
        ("f=${ data.f }", "f=0.25"),
        ("l=${ data.l }", 'l=[1,"a"]'),
        ("o=${ data.o }", 'o={"a":1,"b":[true]}'),
        ("z=${ data.z }.", "z=."),
        ("t=${ data.t }", "t=true"),
        ("s=${ data.s }", "s=text"),
        ("e=${ data.e }", "e="),
        ("${ data.n }${ data.s }", "3text"),
        (" ${ data.n } ", " 3 "),
        ("INV-${ data.n }-${ data.z }", "INV-3-"),
    ],
)
def test_interpolation_renders_json_and_null_as_empty(
    values: ValueCompiler, raw: str, result: str
) -> None:
    compiled = compile_value(values, raw)
    assert isinstance(compiled, InterpolatedString)
    assert compiled.evaluate(DOC) == result


# -- static values fold into literals ----------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        "plain text",
        "",
        42,
        None,
        True,
        {"a": "lit", "b": [1, "x", {"c": None}]},
        ["x", {"y": 2}],
        {},
        [],
        "$5 and {braces}",
    ],
)
def test_static_values_are_literals(values: ValueCompiler, raw: Any) -> None:
    compiled = compile_value(values, raw)
    assert isinstance(compiled, Literal) and compiled.is_static
    assert compiled.evaluate({}) == raw


def test_dynamic_mapping_stays_a_mapping(values: ValueCompiler) -> None:
    compiled = compile_value(values, {"a": "${ data.n }", "b": 1, "c": ["x", "${ data.s }"]})
    assert isinstance(compiled, MappingValue) and not compiled.is_static
    items = dict(compiled.items)
    assert isinstance(items["b"], Literal) and isinstance(items["c"], ListValue)
    assert compiled.evaluate(DOC) == {"a": 3, "b": 1, "c": ["x", "text"]}


def test_freeze() -> None:
    raw = {"a": 1, "b": "x"}
    static = MappingValue((("a", Literal(1)), ("b", Literal("x"))))
    frozen = freeze(static, raw)
    assert isinstance(frozen, Literal) and frozen.value == raw
    listed = freeze(ListValue((Literal(1), Literal(2))), [1, 2])
    assert isinstance(listed, Literal) and listed.value == [1, 2]
    dynamic = MappingValue((("a", ExpressionValue(expression("data.n"))),))
    assert freeze(dynamic, {"a": "${ data.n }"}) is dynamic
    nested = ListValue((Literal(1), dynamic))
    assert freeze(nested, [1, {"a": "${ data.n }"}]) is nested
    assert freeze(Literal(3), 3).value == 3


# -- a mapping evaluates as one generated function ---------------------------------------------

TREE = {
    "n": "${ data.n }",
    "fixed": {"k": [1, 2]},
    "nested": {"s": "${ data.s }", "sum": "${ sum(data.list) }", "lit": 2},
    "text": "id-${ data.n }-${ data.missing }-${ data.list }",
    "list": ["x", "${ data.s }"],
    "tpl": "{{ data.s | upper }}",
    "or": "${ data.missing || data.s }",
}


def _by_parts(value: CompiledValue, document: dict[str, Any]) -> Any:
    """What the tree evaluates to part by part, without the generated function."""
    if isinstance(value, MappingValue):
        return {key: _by_parts(item, document) for key, item in value.items}
    return value.evaluate(document)


def _outcome(evaluate: Any, document: Any) -> tuple[str, Any]:
    try:
        return ("ok", evaluate(document))
    except Exception as exc:  # noqa: BLE001 - the type and message are compared
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize(
    "document",
    [
        DOC,
        {"data": {"n": 1, "s": "a", "list": [1.5, 2]}},
        {"data": {"n": None, "s": None, "list": "not a list"}},  # sum() of a string: a type error
        {"data": {"n": 1, "s": "a", "list": []}, "steps": {}},
        {"data": None},
    ],
)
def test_a_generated_mapping_agrees_with_its_parts(
    values: ValueCompiler, document: dict[str, Any]
) -> None:
    compiled = compile_value(values, TREE)
    assert isinstance(compiled, MappingValue)
    want = _outcome(lambda d: _by_parts(compiled, d), document)
    got = _outcome(compiled.evaluate, document)
    assert got == want
    assert compiled.evaluate.__self__._run.__name__.startswith("_tree")  # type: ignore[attr-defined]


def test_a_failing_field_names_its_own_expression(values: ValueCompiler) -> None:
    compiled = compile_value(
        values, {"a": "${ data.n }", "b": {"c": "${ to_number(data.s) || abs(data.s) }"}}
    )
    with pytest.raises(ExpressionError) as raised:
        compiled.evaluate({"data": {"n": 1, "s": "text"}})
    assert str(raised.value).startswith(
        "expression `to_number(data.s) || abs(data.s)` failed: "
    ), raised.value
    assert raised.value.source == "to_number(data.s) || abs(data.s)"
    assert raised.value.__cause__ is not None
    text = compile_value(values, {"a": "x-${ length(data.n) }"})
    with pytest.raises(ExpressionError, match=r"^expression `length\(data.n\)` failed: "):
        text.evaluate({"data": {"n": 5}})


def test_a_failing_template_inside_a_mapping_raises_its_own_error(values: ValueCompiler) -> None:
    compiled = compile_value(values, {"a": "${ data.n }", "b": "{{ data.nope.deeper }}"})
    with pytest.raises(ExpressionError, match="template"):
        compiled.evaluate({"data": {"n": 1}})


def test_mappings_on_the_library_interpreter_evaluate_part_by_part(tmp_path: Path) -> None:
    from runtime.expressions import jmes

    saved, jmes.NATIVE = jmes.NATIVE, False
    try:
        globals_, filters = jinja_helpers(FUNCTIONS)
        values = ValueCompiler(
            source_map=SourceMap("flows/test.yaml"),
            options=OPTIONS,
            templates=TemplateEngine(tmp_path, globals_, filters),
            function_names=frozenset(FUNCTIONS.FUNCTION_TABLE),
        )
        compiled = compile_value(values, TREE)
    finally:
        jmes.NATIVE = saved
    assert isinstance(compiled, MappingValue)
    assert _outcome(compiled.evaluate, DOC) == _outcome(lambda d: _by_parts(compiled, d), DOC)
    with pytest.raises(ExpressionError, match=r"^expression `sum\(data.list\)` failed: "):
        compiled.evaluate({"data": {"list": "x"}})


def test_a_generated_mapping_survives_copy_and_pickle(values: ValueCompiler) -> None:
    import copy
    import pickle

    compiled = compile_value(values, {"a": "${ data.n }", "b": {"c": "${ data.s }"}})
    assert compiled.evaluate(DOC) == {"a": 3, "b": {"c": "text"}}
    for clone in (copy.deepcopy(compiled), pickle.loads(pickle.dumps(compiled))):
        assert clone.evaluate(DOC) == {"a": 3, "b": {"c": "text"}}


def test_template_value_renders(values: ValueCompiler) -> None:
    compiled = compile_value(values, "Hello {{ data.s | upper }}")
    assert isinstance(compiled, TemplateValue)
    assert compiled.evaluate(DOC) == "Hello TEXT"


# -- event data is data, never code ------------------------------------------------------------

HOSTILE = "{{ 7*7 }} ${ data.x }"
HOSTILE_DOC = {"data": {"text": HOSTILE, "x": 5, "more": ["${ data.x }", {"k": "{{ 1 + 1 }}"}]}}


def test_expression_result_from_event_data_is_never_evaluated() -> None:
    assert expression("data.text").evaluate(HOSTILE_DOC) == HOSTILE


@pytest.mark.parametrize(
    ("raw", "result"),
    [
        ("${ data.text }", HOSTILE),
        ("said: ${ data.text }", f"said: {HOSTILE}"),
        ("${ data.more }", ["${ data.x }", {"k": "{{ 1 + 1 }}"}]),
        ("${ {t: data.text} }", {"t": HOSTILE}),
        ({"copy": "${ data.text }"}, {"copy": HOSTILE}),
        ("{{ data.text }}", HOSTILE),
    ],
)
def test_values_from_event_data_are_never_evaluated(
    values: ValueCompiler, raw: Any, result: Any
) -> None:
    compiled = compile_value(values, raw)
    assert compiled.evaluate(HOSTILE_DOC) == result


def test_event_data_is_not_evaluated_twice_through_a_literal_looking_value(
    values: ValueCompiler,
) -> None:
    """Even when an evaluated result looks exactly like a whole `${ }` expression."""
    doc = {"data": {"text": "${ data.secret }", "secret": "s3cr3t"}}
    assert compile_value(values, "${ data.text }").evaluate(doc) == "${ data.secret }"
    assert compile_value(values, "{{ data.text }}").evaluate(doc) == "${ data.secret }"

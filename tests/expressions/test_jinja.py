"""Jinja templates: an immutable sandbox, strict undefined names, JSON file templates, references."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jinja2 import UndefinedError
from jinja2.sandbox import SecurityError

from runtime.errors import ExpressionError
from runtime.expressions.functions import (
    EXAMPLE_LOOKUPS,
    JINJA_FILTER_NAMES,
    IntegrationFunctions,
    jinja_helpers,
)
from runtime.expressions.jinja import CompiledTemplate, TemplateEngine, TemplateProblem
from tests.conftest import write_files

DOC: dict[str, Any] = {
    "data": {
        "name": 'Harbor "Logistics"',
        "entity": "DE01",
        "amount": 1.005,
        "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}],
    },
    "steps": {"find": {"output": {"id": "C-1"}}},
}


@pytest.fixture
def engine(tmp_path: Path) -> TemplateEngine:
    write_files(
        tmp_path,
        {
            "flows/templates/customer.json.j2": """
            {
              "name": {{ data.name | tojson }},
              "currency": {{ lookup('legal_entities', data.entity).currency | tojson }},
              "customer": {{ steps.find.output.id | tojson }},
              "skus": [{% for line in data.lines %}{{ line.sku | tojson }}{% if not loop.last %}, {% endif %}{% endfor %}],
              "total_qty": {{ data.lines | sum(attribute='qty') }}
            }
        """,
            "flows/templates/unquoted.json.j2": """
            {
              "id": "x",
              "name": {{ data.name }}
            }
        """,
            "flows/templates/note.txt.j2": "Dear {{ data.name }},\n",
            "flows/templates/broken.j2": "{% if data.name %}\n{{ data.name }\n{% endif %}\n",
            "flows/templates/includes.j2": "{% include 'templates/broken.j2' %}\n",
        },
    )
    globals_, filters = jinja_helpers(IntegrationFunctions(lookups=EXAMPLE_LOOKUPS))
    return TemplateEngine(tmp_path, globals_, filters)


def inline(engine: TemplateEngine, text: str) -> CompiledTemplate:
    compiled = engine.compile_inline(text, "with.note")
    assert isinstance(compiled, CompiledTemplate), compiled
    return compiled


# -- the sandbox -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ data.__class__ }}",
        "{{ data.name.__class__.__base__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lookup.__globals__ }}",
        "{{ data.lines.append(1) }}",
        "{{ data.update({'a': 1}) }}",
        "{{ data.lines.pop() }}",
    ],
)
def test_sandbox_refuses_unsafe_access(engine: TemplateEngine, text: str) -> None:
    template = inline(engine, text)
    with pytest.raises(ExpressionError, match="refused by the sandbox") as raised:
        template.render(DOC)
    assert isinstance(raised.value.__cause__, SecurityError)
    assert "with.note" in str(raised.value)


def test_sandbox_leaves_the_document_unchanged(engine: TemplateEngine) -> None:
    doc = {"data": {"lines": [1]}}
    with pytest.raises(ExpressionError):
        inline(engine, "{{ data.lines.append(2) }}").render(doc)
    assert doc == {"data": {"lines": [1]}}


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("{{ nope }}", "'nope' is undefined"),
        ("{{ data.missing }}", "no attribute 'missing'"),
        ("{{ data.missing | upper }}", "no attribute 'missing'"),
        ("{% if data.missing %}x{% endif %}", "no attribute 'missing'"),
        ("{% for x in nope %}{% endfor %}", "'nope' is undefined"),
    ],
)
def test_undefined_names_raise(engine: TemplateEngine, text: str, name: str) -> None:
    with pytest.raises(ExpressionError, match="failed") as raised:
        inline(engine, text).render(DOC)
    assert name in str(raised.value)
    assert isinstance(raised.value.__cause__, UndefinedError)


def test_defined_tests_and_defaults_still_work(engine: TemplateEngine) -> None:
    assert inline(engine, "{{ data.missing | default('n/a') }}").render(DOC) == "n/a"
    assert inline(engine, "{{ 'yes' if data.missing is defined else 'no' }}").render(DOC) == "no"


def test_inline_template_renders_text(engine: TemplateEngine) -> None:
    text = inline(engine, "{{ data.name }} ordered {{ data.lines | length }} lines").render(DOC)
    assert text == 'Harbor "Logistics" ordered 2 lines'
    # autoescape is off: the text is data, not HTML
    assert inline(engine, "{{ '<a & b>' }}").render({}) == "<a & b>"


def test_inline_syntax_error(engine: TemplateEngine) -> None:
    found = engine.compile_inline("line one\n{{ data.name }\n", "with.note")
    assert isinstance(found, TemplateProblem)
    assert (found.line, found.code, found.file) == (2, "template.syntax", None)
    assert found.message.startswith("Jinja syntax error")
    assert found.hint


# -- file templates ----------------------------------------------------------------------------


def test_json_file_template_renders_json(engine: TemplateEngine) -> None:
    template = engine.compile_file("templates/customer.json.j2")
    assert isinstance(template, CompiledTemplate)
    assert template.source_name == "flows/templates/customer.json.j2"
    assert template.render(DOC) == {
        "name": 'Harbor "Logistics"',
        "currency": "EUR",
        "customer": "C-1",
        "skus": ["A", "B"],
        "total_qty": 3,
    }


def test_json_file_template_reports_invalid_json_with_line_and_col(engine: TemplateEngine) -> None:
    template = engine.compile_file("templates/unquoted.json.j2")
    with pytest.raises(ExpressionError) as raised:
        template.render(DOC)
    message = str(raised.value)
    assert "flows/templates/unquoted.json.j2 did not render valid JSON at line 3 col 11" in message
    assert "tojson" in message


def test_text_file_template_renders_text(engine: TemplateEngine) -> None:
    template = engine.compile_file("templates/note.txt.j2")
    assert template.render(DOC) == 'Dear Harbor "Logistics",\n'


def test_file_template_syntax_error_names_the_file(engine: TemplateEngine) -> None:
    found = engine.compile_file("templates/broken.j2")
    assert isinstance(found, TemplateProblem)
    assert (found.file, found.line, found.code) == (
        "flows/templates/broken.j2",
        2,
        "template.syntax",
    )


def test_syntax_error_in_an_included_template_is_found_at_compile_time(
    engine: TemplateEngine,
) -> None:
    found = engine.compile_file("templates/includes.j2")
    assert isinstance(found, TemplateProblem)
    assert (found.file, found.line, found.code) == (
        "flows/templates/broken.j2",
        2,
        "template.syntax",
    )


def test_missing_file_template(engine: TemplateEngine) -> None:
    found = engine.compile_file("templates/nope.json.j2")
    assert isinstance(found, TemplateProblem)
    assert found.code == "template.missing"
    assert "flows/templates/nope.json.j2" in found.message
    assert "flows/" in found.hint


def test_source_of(engine: TemplateEngine) -> None:
    assert engine.source_of("templates/note.txt.j2") == "Dear {{ data.name }},\n"


# -- references --------------------------------------------------------------------------------


def references(engine: TemplateEngine, text: str) -> list[tuple[str, str | None, int]]:
    return [(r.root, r.step, r.line) for r in engine.references(text)]


def test_references_find_steps_and_roots(engine: TemplateEngine) -> None:
    found = references(
        engine,
        "{{ steps.find.output.id }}\n{{ steps['create-it'].output }}\n{{ data.x }} {{ vars.y }}",
    )
    assert ("steps", "find", 1) in found
    assert ("steps", "create-it", 2) in found
    assert ("data", None, 3) in found and ("vars", None, 3) in found
    assert {root for root, _, _ in found} == {"steps", "data", "vars"}


def test_references_report_undeclared_names(engine: TemplateEngine) -> None:
    found = references(engine, "{{ dta.name }}\n{{ stpes.a.output }}")
    assert ("dta", None, 1) in found and ("stpes", None, 2) in found
    assert not any(step for _, step, _ in found)  # only `steps.<id>` carries a step id


def test_references_skip_variables_set_inside_the_template(engine: TemplateEngine) -> None:
    text = (
        "{% for line in steps.load.output %}{{ line.id }}{{ loop.index }}{% endfor %}\n"
        "{% set total = data.lines | length %}{{ total }}\n"
        "{% for k, v in data.items() %}{{ k }}={{ v }}{% endfor %}\n"
        "{% set ns = namespace(n=0) %}{{ ns.n }}\n"
    )
    found = references(engine, text)
    assert {root for root, _, _ in found} == {"steps", "data"}
    assert ("steps", "load", 1) in found


def test_references_skip_functions_and_jinja_globals(engine: TemplateEngine) -> None:
    found = references(
        engine,
        "{{ lookup('legal_entities', data.entity) }}{{ range(3) | list }}{{ uuid5('a', 'b') }}",
    )
    assert {root for root, _, _ in found} == {"data"}


def test_a_variable_named_steps_is_not_a_step_reference(engine: TemplateEngine) -> None:
    assert references(engine, "{% set steps = {'x': 1} %}{{ steps.x }}") == []


def test_references_skip_macros_defined_in_the_template(engine: TemplateEngine) -> None:
    found = references(
        engine, "{% macro money(v) %}{{ v }} EUR{% endmacro %}{{ money(data.amount) }}"
    )
    assert {root for root, _, _ in found} == {"data"}


# -- integration functions in templates --------------------------------------------------------


def test_functions_are_globals(engine: TemplateEngine) -> None:
    assert (
        inline(engine, "{{ lookup('legal_entities', data.entity).currency }}").render(DOC) == "EUR"
    )
    assert inline(engine, "{{ round_money(data.amount, 'EUR') }}").render(DOC) == "1.01"
    assert (
        inline(engine, "{{ coalesce(data.missing_is_error | default(none), 'x') }}").render(DOC)
        == "x"
    )


def test_value_first_functions_are_filters(engine: TemplateEngine) -> None:
    assert inline(engine, "{{ data.amount | round_money('EUR') }}").render(DOC) == "1.01"
    assert (
        inline(engine, "{{ 'Harbor Logistics Inc.' | slugify }}").render(DOC)
        == "harbor-logistics-inc"
    )
    assert "round_money" in JINJA_FILTER_NAMES and "slugify" in JINJA_FILTER_NAMES


def test_jinja_builtin_filters_are_not_replaced(engine: TemplateEngine) -> None:
    # `upper`, `trim`, `replace`, `title` stay Jinja's own filters
    assert inline(engine, "{{ ' a b ' | trim | upper | replace('A', 'x') }}").render(DOC) == "x B"
    assert not {"upper", "lower", "trim", "replace", "title"} & JINJA_FILTER_NAMES


def test_function_errors_become_expression_errors(engine: TemplateEngine) -> None:
    with pytest.raises(ExpressionError, match="failed") as raised:
        inline(engine, "{{ lookup('legal_entities', 'XX01') }}").render(DOC)
    assert "XX01" in str(raised.value)

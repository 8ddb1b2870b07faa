"""The template fast paths (jinja.py) render exactly what stock Jinja renders.

`TemplateEngine` uses a sandbox with shortcuts (dict keys, read-only dict methods, loop
counters), a `tojson` without a per-call encoder, flattened globals, cached parses, and the
compiled function checks for template functions. Every template of the reference workspace is
rendered through it and through a stock `ImmutableSandboxedEnvironment` with Jinja's own
`tojson`, on the run documents of the reference flow; the outputs must be identical, and so must
the sandbox's refusals.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from jinja2 import StrictUndefined
from jinja2.filters import do_tojson
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock, run_flow
from runtime.engine.mocks import load_mocks
from runtime.expressions.functions import IntegrationFunctions, jinja_helpers
from runtime.expressions.jinja import TemplateEngine
from tests.conftest import REPO

TEXTS = [
    "{{ data.a }} {{ data.get('b') }} {{ data.get('zz', 'd') }} {{ data | tojson }}",
    "{{ data.keys() | list | tojson }} {{ data.items() | list | tojson }} {{ data.values() | list }}",
    "{% for x in data.list %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}"
    "{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.depth }}"
    "{{ loop.depth0 }}{{ loop.cycle('a', 'b') }}{{ loop.previtem }}{% endfor %}",
    "{{ data.text | tojson }} {{ data.text | tojson(2) }} {{ (data.text | tojson) ~ '<&>' }}",
    "{{ data.nested.deep.value }} {{ data['a'] }} {{ data.items }} {{ data.update }}",
    "{{ coalesce(data.missing, data.a) }} {{ round_money(data.n, 'EUR') }} {{ data.n | round_money('JPY') }}",
    # the generated code's shortcuts (one piece per output node, tojson as text, inline dict
    # reads) inside macros, buffers, blocks and escaping
    "{% macro m(x) %}[{{ x | tojson }}]{{ x.a }}{% endmacro %}{{ m(data) }}{{ m(data.nested) }}",
    "{% set t %}{{ data.a }}-{{ data.b | tojson }}{% endset %}{{ t }}|{{ t | length }}",
    "{% filter upper %}{{ data.b }} {{ data.text | tojson }}{% endfilter %}{{ data.b }}",
    "{% autoescape true %}{{ data.text }} {{ data.text | tojson }}{% endautoescape %}{{ data.text }}",
    "{{ 'x' if data.missing is defined }}{{ data.a if data.a }}{{ data.b ~ data.a }}",
    "{% for k, v in data.nested.items() %}{{ k }}={{ v | tojson }}{{ ',' if not loop.last }}{% endfor %}",
    "{{ data.nested['deep'].value[1] }}{{ data.nested.missing is defined }}{{ data.nested.deep.value | tojson }}",
    "{% if data.a %}{{ data.a }}{% else %}no{% endif %}{{ data.list | join(',') }}{{ data.list.1 }}",
    "{% set ns = namespace(n=0) %}{% for x in data.list %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}",
    "{{ data.nested.deep.missing }}",
    "{{ data.text | tojson | length }} {{ (data.a | tojson) + '<' }} {{ [data.a, data.b] | tojson }}",
    "{% for x in data.list recursive %}{{ x | tojson }}{% endfor %}{% raw %}{{ x }}{% endraw %}",
    "{{ data }}{{ data.nested }}",
]
DATA = {"a": 1, "b": "x", "list": ["p", "q", "r"], "text": "<b>'it's' & \"so\"</b>",
        "nested": {"deep": {"value": [1, 2.5, None, True]}}, "n": 2.345, "items": "shadowed"}  # fmt: skip


def _stock(functions: IntegrationFunctions) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False,
                                        keep_trailing_newline=True)  # fmt: skip
    globals_, filters = jinja_helpers(functions)
    env.globals.update(globals_)
    env.filters.update(filters)
    assert env.filters["tojson"] is do_tojson
    return env


def _outcome(render: Any) -> tuple[str, str]:
    try:
        return ("ok", render())
    except Exception as exc:  # noqa: BLE001 - the type is what we compare
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("text", TEXTS)
def test_inline_templates_render_as_stock_jinja(text: str, tmp_path: Any) -> None:
    functions = IntegrationFunctions()
    engine = TemplateEngine(tmp_path, *jinja_helpers(functions))
    compiled = engine.compile_inline(text, "t")
    assert not hasattr(compiled, "code"), compiled
    stock = _stock(functions).from_string(text)
    document = {"data": DATA}
    template = compiled.template  # the Jinja template, without seamline's wrapping
    assert _outcome(lambda: template.render(document)) == _outcome(lambda: stock.render(document))
    again = engine.compile_inline(text, "u")  # the second compile reuses the template
    assert again.template is compiled.template


def test_the_sandbox_still_refuses_what_it_refused(tmp_path: Any) -> None:
    engine = TemplateEngine(tmp_path)
    for text in ("{{ data.update({'a': 2}) }}", "{{ data.__class__ }}", "{{ data.pop('a') }}",
                 "{{ data.get.__self__ }}", "{{ data.items.__self__.clear() }}"):  # fmt: skip
        compiled = engine.compile_inline(text, "t")
        stock = ImmutableSandboxedEnvironment(undefined=StrictUndefined).from_string(text)
        ours = _outcome(lambda c=compiled: c.template.render({"data": {"a": 1}}))
        theirs = _outcome(lambda s=stock: s.render({"data": {"a": 1}}))
        assert ours == theirs
        assert ours[0] in (SecurityError.__name__, "UndefinedError"), ours


def test_reference_templates_render_as_stock_jinja() -> None:
    plan = compile_workspace(REPO)
    functions = plan.functions
    stock = _stock(functions)
    mocks_file = REPO / "tests" / "mocks" / "opportunity_to_project.yaml"
    folder = REPO / "contracts" / "crm.opportunity.closed_won" / "examples" / "valid"
    assert plan.templates is not None
    compared = 0
    for file in sorted(folder.glob("*.json")):
        event = json.loads(file.read_text(encoding="utf-8"))
        result = anyio.run(
            lambda e=event: run_flow(plan, "opportunity_to_project", e,
                                     mocks=load_mocks(plan, mocks_file), clock=VirtualClock())
        )  # fmt: skip
        steps = {r.id: {"output": r.output, "status": r.status} for r in result.trace}
        variables: dict[str, Any] = {}
        for record in result.trace:
            if record.kind == "set" and isinstance(record.output, dict):
                variables.update(record.output)
        document = {"event": event, "data": event["data"], "steps": steps, "run": {},
                    "vars": {**variables, "entity": functions.call_function(
                        "lookup", ["legal_entities", event["data"]["legal_entity"], None])}}  # fmt: skip
        for template in sorted((REPO / "flows" / "templates").glob("*.j2")):
            relative = f"templates/{template.name}"
            ours = plan.templates.compile_file(relative)
            theirs = stock.from_string(template.read_text(encoding="utf-8"))
            got = _outcome(lambda o=ours, d=document: o.template.render(d))
            want = _outcome(lambda t=theirs, d=document: t.render(d))
            assert got == want, relative  # the same text, or the same error
            compared += got[0] == "ok"
    assert compared >= 6


def test_an_inline_template_is_checked_at_load_and_compiled_at_first_render(tmp_path: Any) -> None:
    """Unknown filters are load errors even though bytecode is only made on first use."""
    engine = TemplateEngine(tmp_path)
    problem = engine.compile_inline("{{ data.a | no_such_filter }}", "t")
    assert getattr(problem, "code", None) == "template.unknown_filter", problem
    compiled = engine.compile_inline("{{ data.a }}!", "t")
    assert type(compiled._template).__name__ == "_PendingTemplate"  # noqa: SLF001
    assert compiled.render({"data": {"a": 1}}) == "1!"
    assert type(compiled._template).__name__ != "_PendingTemplate"  # noqa: SLF001

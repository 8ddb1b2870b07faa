"""Consumer checks: the event fields a flow reads, and whether each accepted version has them."""

from __future__ import annotations

from pathlib import Path

import jmespath
from jinja2 import Environment

from runtime.compiler.workspace import compile_workspace
from runtime.testing._reads import jinja_reads, jmespath_reads
from runtime.testing.consumers import (
    check_consumer,
    check_optional_reads,
    field_problem,
    flow_reads,
)
from tests.conftest import ORDER_PLACED, REPO, write_files


def reads(expression: str, bindings: dict[str, tuple[str, ...]] | None = None) -> list[str]:
    found, _ = jmespath_reads(jmespath.compile(expression).parsed, bindings or {})
    return [".".join(p) for p in found if p[0] == "data"]


def test_paths_through_jmespath() -> None:
    assert reads("data.account.tax_id") == ["data", "data.account", "data.account.tax_id"]
    assert "data.lines.*.amount" in reads("sum(data.lines[].amount)")
    assert {"data.entries.*.billable", "data.entries.*.hours"} <= set(
        reads("sum(data.entries[?billable].hours)")
    )
    assert "data.lines.*.sku" in reads("data.lines[0].sku")
    assert "data.x" in reads("data.x || `1`") and reads("vars.x") == []
    assert reads("line.role", {"line": ("data", "lines", "*")}) == [
        "data.lines.*",
        "data.lines.*.role",
    ]
    _, value = jmespath_reads(jmespath.compile("data.entries[?billable]").parsed, {})
    assert value == ("data", "entries")


def test_paths_through_jinja() -> None:
    env = Environment()
    text = (
        "{% for m in data.milestones %}{{ m.name }}{% endfor %}"
        "{{ data.get('purchase_order') }}{{ data.lines | map(attribute='amount') | sum }}"
        "{% set a = data.account if data.account is defined else data %}{{ a.name }}"
    )
    found = {".".join(p) for p, _ in jinja_reads(env.parse(text), {})}
    assert {"data.milestones.*.name", "data.purchase_order", "data.lines.*.amount"} <= found
    assert "data.account" not in found  # read only behind `is defined`


def test_field_lookup_follows_refs_items_and_branches() -> None:
    assert field_problem(ORDER_PLACED, ("lines", "*", "qty")) is None
    assert field_problem(ORDER_PLACED, ("lines", "*", "price")) == (
        "$.data.lines[*].price is not declared (the object is closed: it never holds it)"
    )
    branches = {"anyOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]}
    assert field_problem(branches, ("b",)) is None
    assert (
        field_problem({"$defs": {"x": {"properties": {"y": {}}}}, "$ref": "#/$defs/x"}, ("y",))
        is None
    )


def test_the_reference_flows_read_only_declared_fields_or_listed_optional_ones() -> None:
    plan = compile_workspace(REPO)
    flow = plan.flows["opportunity_to_project"]
    texts = {r.text for r in flow_reads(plan, flow)}
    assert {
        "data.account.tax_id",
        "data.lines[*].amount",
        "data.milestones[*].due_date",
        "data.purchase_order",
    } <= texts
    v1 = plan.contracts.get("crm.opportunity.closed_won").version(1)
    problems = check_consumer(plan, flow, {}, v1)
    assert [p.message.split(",")[0] for p in problems] == [
        "flow opportunity_to_project reads data.payment_terms",
        "flow opportunity_to_project reads data.purchase_order",
    ]
    assert "(declared in v2" in problems[0].message
    allowed = {"data.payment_terms": "v2 only", "data.purchase_order": "v2 only"}
    assert check_consumer(plan, flow, allowed, v1) == []


def test_a_typo_and_an_unneeded_allowance_are_reported(workspace) -> None:  # type: ignore[no-untyped-def]
    root: Path = workspace(
        {
            "flows/take.yaml": """
            flow: take
            version: 1.0.0
            on: { event: shop.order.placed }
            steps:
              - id: each
                for_each: data.lines
                as: line
                steps:
                  - id: reserve
                    call: wms.reserve
                    with: { sku: "${ line.skuu }", order: "${ data.order_id }" }
        """,
        }
    )
    write_files(root, {})
    plan = compile_workspace(root)
    flow = plan.flows["take"]
    version = plan.contracts.get("shop.order.placed").version(1)
    problems = check_consumer(plan, flow, {}, version)
    assert [str(p) for p in problems] == [
        "flows/take.yaml:11:26: flow take reads data.lines[*].skuu, but shop.order.placed v1 does "
        "not declare it: $.data.lines[*].skuu is not declared (the object is closed: it never "
        "holds it) (no version declares it: a typo, or a field the contract must add (or, when "
        "the flow handles its absence, list it under optional_reads)) [consumer.missing_field]"
    ]
    unneeded = check_optional_reads(
        plan, flow, {"data.order_id": ("t.yaml", 3, 3), "data.nothing": ("t.yaml", 4, 3)}
    )
    assert [str(p) for p in unneeded] == [
        "t.yaml:3:3: optional_reads entry data.order_id is not needed: every accepted version "
        "declares data.order_id [consumer.unneeded_optional_read]",
        "t.yaml:4:3: optional_reads entry data.nothing is not needed: flow take does not read "
        "data.nothing [consumer.unneeded_optional_read]",
    ]

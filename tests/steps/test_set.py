"""`set:` — typed values; the mapping is the step's output and is merged into `vars`."""

from __future__ import annotations

from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label

FLOW = """
flow: orders
on: { event: shop.order.placed }
vars:
  channel: web
  currency: "${ data.currency }"
steps:
  - id: totals
    set:
      units: "${ sum(data.lines[].qty) }"
      skus: "${ data.lines[].sku }"
      first: "${ data.lines[0] }"
      label: "{{ data.order_id }}/{{ data.currency }}"
      text: "order ${ data.order_id } has ${ length(data.lines) } lines"
      literal_int: 5
      literal_float: 2.5
      flag: true
      nothing: null
      nested: { currency: "${ data.currency }", fixed: [1, "two"] }
      currency: USD
  - id: report
    set:
      units_again: "${ vars.units }"
      label_again: "${ steps.totals.output.label }"
      channel: "${ vars.channel }"
      currency: "${ vars.currency }"
"""


def test_set_output_keeps_json_types(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FLOW})
    result = run(plan, "orders")

    assert result.status == "succeeded", result.error
    totals = steps_by_label(result)["totals"]
    assert totals.kind == "set"
    assert totals.output == {
        "units": 3,
        "skus": ["A", "B"],
        "first": {"sku": "A", "qty": 2},
        "label": "O1/EUR",
        "text": "order O1 has 2 lines",
        "literal_int": 5,
        "literal_float": 2.5,
        "flag": True,
        "nothing": None,
        "nested": {"currency": "EUR", "fixed": [1, "two"]},
        "currency": "USD",
    }
    assert type(totals.output["units"]) is int
    assert type(totals.output["flag"]) is bool


def test_set_values_become_vars_for_later_steps_and_override_earlier_vars(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FLOW})
    result = run(plan, "orders")

    assert result.output == {
        "units_again": 3,
        "label_again": "O1/EUR",
        "channel": "web",  # a var the set step did not touch is kept
        "currency": "USD",  # the set step replaced the flow-level var
    }


def test_set_inside_a_skipped_step_changes_nothing(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        vars: { tier: basic }
        steps:
          - id: upgrade
            if: data.currency == 'USD'
            set: { tier: premium }
          - id: out
            set: { tier_now: "${ vars.tier }" }
    """})

    assert run(plan, "orders").output == {"tier_now": "basic"}
    assert run(plan, "orders", order_event(currency="USD")).output == {"tier_now": "premium"}

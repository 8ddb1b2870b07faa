"""`switch:` — the first arm whose condition holds runs; `else` otherwise; none -> null."""

from __future__ import annotations

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.errors import FlowError
from tests.conftest import order_event
from tests.steps import compile_flows, labels, run, steps_by_label

FLOW = """
flow: orders
on: { event: shop.order.placed }
steps:
  - id: by_currency
    switch:
      - if: data.currency == 'EUR'
        steps:
          - id: eur_reserve
            call: wms.reserve
            with: { sku: EUR }
          - id: eur_note
            set: { arm: eur, reservation: "${ steps.eur_reserve.output.reservation }" }
      - if: data.currency == 'USD' || data.currency == 'EUR'
        steps:
          - id: usd_note
            set: { arm: usd }
      - else:
          - id: other_note
            set: { arm: other }
  - id: after
    set:
      switch_output: "${ steps.by_currency.output }"
      eur: "${ steps.eur_note.output }"
      usd: "${ steps.usd_note.output }"
      other: "${ steps.other_note.output }"
"""


@pytest.mark.parametrize(
    ("currency", "detail", "arm_output", "ran"),
    [
        ("EUR", "took arm 0", {"arm": "eur", "reservation": "R-EUR"}, ["eur_reserve", "eur_note"]),
        ("USD", "took arm 1", {"arm": "usd"}, ["usd_note"]),
        ("GBP", "took arm else", {"arm": "other"}, ["other_note"]),
    ],
)
def test_each_arm(workspace, currency: str, detail: str, arm_output: dict, ran: list[str]) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FLOW})
    result = run(plan, "orders", order_event(currency=currency))

    assert result.status == "succeeded", result.error
    switch = steps_by_label(result)["by_currency"]
    assert switch.kind == "switch"
    assert switch.detail == detail
    assert switch.output == arm_output  # the arm's last step output
    assert labels(result) == ["by_currency", *ran, "after"]  # the other arms did not run
    expected_after = {"switch_output": arm_output, "eur": None, "usd": None, "other": None}
    expected_after[arm_output["arm"]] = arm_output
    assert result.output == expected_after
    # the first matching arm wins: EUR matches arm 1 too, but only arm 0 ran
    assert len(result.calls) == (1 if currency == "EUR" else 0)


def test_no_arm_matched_gives_null_and_the_run_goes_on(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - id: by_currency
            switch:
              - if: data.currency == 'USD'
                steps: [ { id: usd, set: { x: 1 } } ]
          - id: after
            set: { seen: "${ steps.by_currency.output }" }
    """})
    result = run(plan, "orders", order_event(currency="EUR"))

    assert result.status == "succeeded"
    switch = steps_by_label(result)["by_currency"]
    assert switch.status == "succeeded"
    assert switch.output is None
    assert switch.detail == "no arm matched"
    assert labels(result) == ["by_currency", "after"]
    assert result.output == {"seen": None}


def test_nested_arm_steps_are_one_level_deeper_in_the_trace(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FLOW})
    records = steps_by_label(run(plan, "orders"))
    assert (records["by_currency"].depth, records["eur_reserve"].depth, records["after"].depth) == (0, 1, 0)


def test_else_must_be_the_last_arm(workspace) -> None:
    root = workspace({"flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - id: pick
            switch:
              - else: [ { id: a, set: { x: 1 } } ]
              - if: data.currency == 'USD'
                steps: [ { id: b, set: { x: 2 } } ]
    """})
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    assert [d.code for d in caught.value.diagnostics] == ["switch.else_not_last"]

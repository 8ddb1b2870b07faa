"""`subflow:` — run another flow as one step: it sees `with` as `data`; its output is the step's."""

from __future__ import annotations

from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label

CHILD = """
flow: reserve_lines
on: { schedule: "0 0 1 1 *" }
vars:
  count: "${ length(data.lines) }"
steps:
  - id: each
    for_each: data.lines
    as: line
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ line.sku }", order: "${ data.order }" }
    output: "${ steps.reserve.output.reservation }"
  - id: seen
    set: { data: "${ data }", run_id: "${ run.id }", flow: "${ run.flow }" }
output:
  reservations: "${ steps.each.output }"
  count: "${ vars.count }"
"""

PARENT = """
flow: orders
on: { event: shop.order.placed }
steps:
  - id: stock
    subflow: reserve_lines
    with: { order: "${ data.order_id }", lines: "${ data.lines }" }
  - id: after
    set: { got: "${ steps.stock.output }" }
"""


def test_output_is_the_child_flows_output(workspace) -> None:
    plan = compile_flows(workspace, {"flows/reserve_lines.yaml": CHILD, "flows/orders.yaml": PARENT})
    result = run(plan, "orders", order_event("O3"))

    assert result.status == "succeeded", result.error
    expected = {"reservations": ["R-A", "R-B"], "count": 2}
    record = steps_by_label(result)["stock"]
    assert (record.kind, record.status, record.output) == ("subflow", "succeeded", expected)
    assert result.output == {"got": expected}


def test_child_sees_with_as_data_and_shares_the_run(workspace) -> None:
    plan = compile_flows(workspace, {"flows/reserve_lines.yaml": CHILD, "flows/orders.yaml": PARENT})
    result = run(plan, "orders", order_event("O3"))

    seen = next(r for r in result.trace if r.id == "seen")
    assert seen.output == {
        "data": {"order": "O3", "lines": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]},
        "run_id": result.run_id,  # one run: the child has no run of its own
        "flow": "orders",
    }


def test_child_calls_are_recorded_with_distinct_keys(workspace) -> None:
    plan = compile_flows(workspace, {"flows/reserve_lines.yaml": CHILD, "flows/orders.yaml": PARENT})
    result = run(plan, "orders", order_event("O3"))

    assert [(c.operation, c.input) for c in result.calls] == [
        ("wms.reserve", {"sku": "A", "order": "O3"}),
        ("wms.reserve", {"sku": "B", "order": "O3"}),
    ]
    keys = [c.idempotency_key for c in result.calls]
    assert len(set(keys)) == 2
    assert all(k.startswith(f"{result.run_id}:") for k in keys)
    assert keys == [f"{result.run_id}:stock>reserve_lines.each[{i}].reserve" for i in range(2)]
    child_steps = [r for r in result.trace if r.label.startswith("stock>")]
    assert all(r.depth >= 1 for r in child_steps)


def test_without_output_the_child_returns_its_last_step(workspace) -> None:
    child = """
        flow: price
        on: { schedule: "0 0 1 1 *" }
        steps:
          - id: rate
            set: { vat: "${ lookup('rates', data.currency).vat }", currency: "${ data.currency }" }
    """
    plan = compile_flows(workspace, {"flows/price.yaml": child, "flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - id: pricing
            subflow: price
            with: { currency: "${ data.currency }" }
    """})
    assert run(plan, "orders", order_event(currency="USD")).output == {"vat": 0.0, "currency": "USD"}


def test_a_failing_child_fails_the_step_with_the_childs_error(workspace) -> None:
    child = """
        flow: dispatch
        on: { schedule: "0 0 1 1 *" }
        steps:
          - id: ship
            call: wms.ship
    """
    plan = compile_flows(workspace, {"flows/dispatch.yaml": child, "flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - id: send
            subflow: dispatch
          - id: after
            set: { never: true }
    """})
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "connector.permanent"
    assert result.error["step"] == "send>dispatch.ship"
    records = steps_by_label(result)
    assert records["send"].status == "failed"
    assert records["send>dispatch.ship"].status == "failed"
    assert "after" not in records

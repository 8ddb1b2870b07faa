"""`parallel:` — branches run concurrently; output maps branch -> last output; a failure cancels."""

from __future__ import annotations

import time

from runtime.engine import Clock
from tests.steps import compile_flows, run, steps_by_label

FLOW = """
flow: orders
on: { event: shop.order.placed }
steps:
  - id: provision
    parallel:
      stock:
        - id: reserve_a
          call: wms.reserve
          with: { sku: "${ data.lines[0].sku }" }
        - id: reserve_b
          call: wms.reserve
          with: { sku: "${ data.lines[1].sku }" }
      pricing:
        - id: price
          set: { vat: "${ lookup('rates', data.currency).vat }" }
  - id: summary
    set:
      first: "${ steps.reserve_a.output.reservation }"
      second: "${ steps.reserve_b.output.reservation }"
      vat: "${ steps.price.output.vat }"
      all: "${ steps.provision.output }"
"""


def test_both_branches_run_and_the_output_maps_branch_to_last_output(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FLOW})
    result = run(plan, "orders")

    assert result.status == "succeeded", result.error
    records = steps_by_label(result)
    assert {label: r.status for label, r in records.items()} == {
        "provision": "succeeded", "reserve_a": "succeeded", "reserve_b": "succeeded", "price": "succeeded",
        "summary": "succeeded",
    }
    expected = {"stock": {"reservation": "R-B"}, "pricing": {"vat": 0.2}}
    assert records["provision"].output == expected
    assert list(records["provision"].output) == ["stock", "pricing"]  # branch order as written
    assert result.output == {"first": "R-A", "second": "R-B", "vat": 0.2, "all": expected}
    assert sorted(c.idempotency_key for c in result.calls) == [f"{result.run_id}:reserve_a", f"{result.run_id}:reserve_b"]


def test_branches_really_run_at_the_same_time(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - id: both
            parallel:
              left: [ { id: wait_left, delay: 300ms } ]
              right: [ { id: wait_right, delay: 300ms } ]
    """})
    started = time.perf_counter()
    result = run(plan, "orders", clock=Clock())

    assert result.status == "succeeded"
    assert time.perf_counter() - started < 0.55  # two 300 ms waits overlapped


FAILING = """
flow: orders
on: { event: shop.order.placed }
steps:
  - id: provision
    parallel:
      shipping:
        - id: ship
          call: wms.ship
          retry: { attempts: 1 }
      stock:
        - id: pause
          delay: 2s
        - id: reserve
          call: wms.reserve
          with: { sku: A }
  - id: after
    set: { never: true }
"""


def test_a_failing_branch_cancels_the_others_and_fails_the_step(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FAILING})
    started = time.perf_counter()
    result = run(plan, "orders", clock=Clock())

    assert time.perf_counter() - started < 1.5  # the 2 s branch was cancelled, not awaited
    assert result.status == "dead_lettered"
    records = steps_by_label(result)
    assert records["provision"].status == "failed"
    assert records["ship"].status == "failed"
    assert records["ship"].error["code"] == "connector.permanent"
    assert "reserve" not in records and "after" not in records
    assert [c.operation for c in result.calls] == ["wms.ship"]


def test_a_failing_branch_keeps_its_error_code_and_step(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FAILING})
    result = run(plan, "orders")

    assert result.error["code"] == "connector.permanent"
    assert result.error["step"] == "ship"
    assert result.error["message"] == "no carrier"


def test_no_step_is_left_running_after_a_branch_fails(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": FAILING})
    result = run(plan, "orders", clock=Clock())

    assert [r.label for r in result.trace if r.status == "running"] == []

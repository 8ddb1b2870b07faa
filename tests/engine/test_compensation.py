"""Compensation: `undo` calls run in reverse order of the steps that succeeded."""

from __future__ import annotations

from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label

COMPENSATE = "on_error: { compensate: true }\n"


def flow(steps: str, on_error: str = COMPENSATE) -> dict[str, str]:
    return {"flows/orders.yaml": f"flow: orders\non: {{ event: shop.order.placed }}\nsteps:\n{steps}{on_error}"}


STEPS = """
  - id: reserve_first
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
    undo: { call: wms.release, with: { reservation: "${ steps.reserve_first.output.reservation }", why: first } }
  - id: reserve_skipped
    if: data.currency == 'USD'
    call: wms.reserve
    with: { sku: skipped }
    undo: { call: wms.release, with: { why: skipped } }
  - id: no_undo
    call: wms.reserve
    with: { sku: plain }
  - id: reserve_second
    call: wms.reserve
    with: { sku: "${ data.lines[1].sku }" }
    undo: { call: wms.release, with: { reservation: "${ steps.reserve_second.output.reservation }", why: second } }
  - id: ship
    call: wms.ship
    undo: { call: wms.release, with: { why: failed_step } }
"""


def releases(result) -> list:
    return [c.input for c in result.calls if c.operation == "wms.release"]


def test_undos_run_in_reverse_order_of_success_only(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS))
    result = run(plan, "orders", order_event(currency="EUR"))

    assert result.status == "dead_lettered"
    assert result.error["step"] == "ship"  # the run's error stays the original failure
    # the skipped step and the failed step registered no undo; the undo sees the step's output
    assert releases(result) == [{"reservation": "R-B", "why": "second"}, {"reservation": "R-A", "why": "first"}]
    undo_records = [r for r in result.trace if r.kind == "undo"]
    assert [(r.label, r.status) for r in undo_records] == [("reserve_second.undo", "compensated"),
                                                          ("reserve_first.undo", "compensated")]
    assert undo_records[0].input == {"reservation": "R-B", "why": "second"}
    assert undo_records[0].output == {"released": True}
    keys = [c.idempotency_key for c in result.calls if c.operation == "wms.release"]
    assert keys == [f"{result.run_id}:reserve_second.undo", f"{result.run_id}:reserve_first.undo"]


def test_steps_made_after_a_condition_was_true_are_compensated_too(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS))
    result = run(plan, "orders", order_event(currency="USD"))

    assert [r["why"] for r in releases(result)] == ["second", "skipped", "first"]


def test_a_successful_run_compensates_nothing(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS.split("  - id: ship")[0]))
    result = run(plan, "orders")

    assert result.status == "succeeded"
    assert releases(result) == []
    assert not any(r.kind == "undo" for r in result.trace)


def test_compensate_false_runs_no_undo(workspace) -> None:
    for on_error in ("", "on_error: { compensate: false }\n"):
        plan = compile_flows(workspace, flow(STEPS, on_error))
        result = run(plan, "orders")
        assert result.status == "dead_lettered"
        assert releases(result) == []
        assert not any(r.kind == "undo" for r in result.trace)


def test_undo_inside_for_each_uses_that_iterations_values(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: data.lines
    as: line
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ line.sku }" }
        undo: { call: wms.release, with: { reservation: "${ steps.reserve.output.reservation }", sku: "${ line.sku }", at: "${ index }" } }
  - id: ship
    call: wms.ship
"""))
    result = run(plan, "orders", order_event(lines=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": 1}, {"sku": "C", "qty": 1}]))

    assert releases(result) == [
        {"reservation": "R-C", "sku": "C", "at": 2},
        {"reservation": "R-B", "sku": "B", "at": 1},
        {"reservation": "R-A", "sku": "A", "at": 0},
    ]
    assert [r.label for r in result.trace if r.kind == "undo"] == [f"each[{i}].reserve.undo" for i in (2, 1, 0)]


def test_a_failing_undo_is_recorded_and_the_others_still_run(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: first
    call: wms.reserve
    with: { sku: A }
    undo: { call: wms.release, with: { sku: A } }
  - id: second
    call: wms.reserve
    with: { sku: B }
    undo: { call: wms.ship, with: { sku: B } }
  - id: boom
    fail: out of stock
    code: stock.none
"""))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "stock.none"
    records = steps_by_label(result)
    assert records["second.undo"].status == "compensation_failed"
    assert "no carrier" in records["second.undo"].error["message"]
    assert records["first.undo"].status == "compensated"
    assert releases(result) == [{"sku": "A"}]


def test_undo_retries_transient_errors_with_its_own_policy(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: first
    call: wms.reserve
    with: { sku: A }
    undo: { call: wms.flaky, retry: { attempts: 2, delay: 1s } }
  - id: boom
    fail: stop
"""))
    result = run(plan, "orders")

    undo = steps_by_label(result)["first.undo"]
    assert (undo.status, undo.attempts, undo.output) == ("compensated", 2, {"ok": True})


def test_then_fail_with_compensation(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS, "on_error: { compensate: true, then: fail }\n"))
    result = run(plan, "orders")

    assert result.status == "failed"
    assert len(releases(result)) == 2


def test_calls_made_by_a_subflow_are_compensated_when_the_parent_fails(workspace) -> None:
    plan = compile_flows(workspace, {
        "flows/hold.yaml": """
            flow: hold
            on: { schedule: "0 0 1 1 *" }
            steps:
              - id: hold_stock
                call: wms.reserve
                with: { sku: "${ data.sku }" }
                undo: { call: wms.release, with: { reservation: "${ steps.hold_stock.output.reservation }" } }
        """,
        **flow("""
  - id: hold_it
    subflow: hold
    with: { sku: "${ data.lines[0].sku }" }
  - id: ship
    call: wms.ship
"""),
    })
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert releases(result) == [{"reservation": "R-A"}]

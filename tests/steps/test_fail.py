"""`fail:` — end the run with a business error; `on_error` decides what happens next."""

from __future__ import annotations

from tests.conftest import order_event
from tests.steps import compile_flows, labels, run, steps_by_label


def flow(steps: str, on_error: str = "") -> dict[str, str]:
    return {"flows/orders.yaml": f"flow: orders\non: {{ event: shop.order.placed }}\nsteps:\n{steps}{on_error}"}


REJECT = """
  - id: reject_gbp
    if: data.currency == 'GBP'
    fail: "order {{ data.order_id }} in {{ data.currency }} has {{ data.lines | length }} lines; GBP is not sold"
    code: validation.currency
  - id: after
    set: { ok: true }
"""


def test_fail_renders_its_message_and_uses_its_code(workspace) -> None:
    plan = compile_flows(workspace, flow(REJECT))
    result = run(plan, "orders", order_event("O9", currency="GBP"))

    assert result.status == "dead_lettered"
    assert result.error == {
        "flow": "orders", "step": "reject_gbp", "attempt": 1, "code": "validation.currency",
        "message": "order O9 in GBP has 2 lines; GBP is not sold", "transient": False,
    }
    record = steps_by_label(result)["reject_gbp"]
    assert (record.kind, record.status) == ("fail", "failed")
    assert record.error["code"] == "validation.currency"
    assert labels(result) == ["reject_gbp"]


def test_fail_skipped_by_its_condition_lets_the_run_go_on(workspace) -> None:
    plan = compile_flows(workspace, flow(REJECT))
    result = run(plan, "orders", order_event(currency="EUR"))

    assert result.status == "succeeded"
    assert steps_by_label(result)["reject_gbp"].status == "skipped"
    assert result.output == {"ok": True}


def test_default_code_and_an_expression_message(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: stop
    fail: "${ data.order_id }"
"""))
    result = run(plan, "orders", order_event("O5"))

    assert result.error["code"] == "flow.failed"
    assert result.error["message"] == "O5"


def test_then_fail_ends_the_run_as_failed(workspace) -> None:
    plan = compile_flows(workspace, flow(REJECT, "on_error: { then: fail }\n"))
    result = run(plan, "orders", order_event(currency="GBP"))

    assert result.status == "failed"
    assert result.error["code"] == "validation.currency"


def test_fail_after_a_call_compensates_when_asked(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: A }
    undo: { call: wms.release, with: { reservation: "${ steps.reserve.output.reservation }" } }
  - id: stop
    fail: no stock
    code: stock.none
""", "on_error: { compensate: true, then: dead_letter }\n"))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "stock.none"
    assert [(c.operation, c.input) for c in result.calls] == [("wms.reserve", {"sku": "A"}),
                                                              ("wms.release", {"reservation": "R-A"})]
    assert steps_by_label(result)["reserve.undo"].status == "compensated"

"""`call:` — input from `with` (values or a file template), output, call records, failures."""

from __future__ import annotations

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.errors import FlowError
from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label


def flow(steps: str, extra: str = "") -> dict[str, str]:
    return {"flows/orders.yaml": f"flow: orders\non: {{ event: shop.order.placed }}\n{extra}steps:\n{steps}"}


def test_call_sends_typed_input_and_returns_the_operation_output(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }", qty: "${ data.lines[0].qty }", note: "order ${ data.order_id }" }
"""))
    result = run(plan, "orders", order_event("O7"))

    assert result.status == "succeeded", result.error
    assert result.output == {"reservation": "R-A"}
    record = steps_by_label(result)["reserve"]
    assert (record.kind, record.status, record.attempts) == ("call", "succeeded", 1)
    assert record.input == {"sku": "A", "qty": 2, "note": "order O7"}  # qty keeps its JSON type
    assert record.output == {"reservation": "R-A"}
    [call] = result.calls
    assert call.step == "reserve"
    assert call.operation == "wms.reserve"
    assert call.input == {"sku": "A", "qty": 2, "note": "order O7"}
    assert call.output == {"reservation": "R-A"}
    assert call.idempotency_key == f"{result.run_id}:reserve"
    assert call.attempts == 1
    assert call.mocked is False


def test_call_input_from_a_json_template_file(workspace) -> None:
    plan = compile_flows(workspace, {
        **flow("""
  - id: reserve
    call: wms.reserve
    with: { template: templates/reservation.json.j2 }
"""),
        "flows/templates/reservation.json.j2": """
            {
              "sku": {{ data.lines[0].sku | tojson }},
              "qty": {{ data.lines | map(attribute='qty') | sum }},
              "skus": {{ data.lines | map(attribute='sku') | list | tojson }},
              "currency": {{ data.currency | tojson }}
            }
        """,
    })
    result = run(plan, "orders", order_event(lines=[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 5}], currency="GBP"))

    assert result.status == "succeeded", result.error
    expected = {"sku": "A", "qty": 7, "skus": ["A", "B"], "currency": "GBP"}
    assert result.calls[0].input == expected  # a *.json.j2 template renders JSON data, not text
    assert result.output == {"reservation": "R-A"}


def test_later_steps_read_the_call_output(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[1].sku }" }
  - id: remember
    set: { reservation: "${ steps.reserve.output.reservation }", text: "got {{ steps.reserve.output.reservation }}" }
"""))
    result = run(plan, "orders")

    assert result.output == {"reservation": "R-B", "text": "got R-B"}


def test_call_without_with_sends_null(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: release
    call: wms.release
"""))
    result = run(plan, "orders")

    assert result.status == "succeeded"
    assert result.calls[0].input is None
    assert result.output == {"released": True}


def test_permanent_error_fails_the_step_and_stops_the_run(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: A }
  - id: ship
    call: wms.ship
    with: { order: "${ data.order_id }" }
  - id: after
    set: { never: true }
"""))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error == {"flow": "orders", "step": "ship", "attempt": 1, "code": "connector.permanent",
                            "message": "no carrier", "transient": False}
    records = steps_by_label(result)
    assert records["reserve"].status == "succeeded"
    assert records["ship"].status == "failed"
    assert records["ship"].input == {"order": "O1"}
    assert records["ship"].error["code"] == "connector.permanent"
    assert "after" not in records
    assert [c.operation for c in result.calls] == ["wms.reserve", "wms.ship"]
    assert result.calls[1].error == "no carrier"


def test_unknown_operation_is_a_load_error(workspace) -> None:
    root = workspace(flow("""
  - id: reserve
    call: wms.reserv
"""))
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    [problem] = caught.value.diagnostics
    assert problem.code == "ref.unknown_operation"
    assert "reserve" in (problem.hint or "")

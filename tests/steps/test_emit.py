"""`emit:` — CloudEvents envelopes, contract validation before anything leaves, versions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock
from runtime.errors import FlowError
from tests.conftest import ORDER_ACCEPTED, order_event
from tests.steps import assert_valid_events, compile_flows, run, steps_by_label

FLOW = """
flow: accept_order
on: { event: shop.order.placed }
steps:
  - id: accepted
    emit: shop.order.accepted
    subject: "${ data.order_id }"
    data:
      order_id: "${ data.order_id }"
      count: "${ length(data.lines) }"
      note: "{{ data.currency }} order"
"""

START = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def test_envelope_fields(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": FLOW})
    result = run(plan, "accept_order", order_event("O42"), clock=VirtualClock(START), run_id="run-1")

    assert result.status == "succeeded", result.error
    [event] = result.emitted
    assert event == {
        "specversion": "1.0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "seamline:run-1:accepted")),
        "source": "/seamline/flows/accept_order",
        "type": "shop.order.accepted",
        "subject": "O42",
        "time": "2025-03-01T09:30:00Z",
        "datacontenttype": "application/json",
        "dataschema": "urn:seamline:contract:shop.order.accepted:v1",
        "data": {"order_id": "O42", "count": 2, "note": "EUR order"},
    }
    assert_valid_events(plan, result)
    record = steps_by_label(result)["accepted"]
    assert (record.kind, record.status, record.output) == ("emit", "succeeded", event)


def test_event_id_is_deterministic_per_run_and_step(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": FLOW})
    first = run(plan, "accept_order", run_id="run-a").emitted[0]["id"]
    again = run(plan, "accept_order", run_id="run-a").emitted[0]["id"]
    other = run(plan, "accept_order", run_id="run-b").emitted[0]["id"]

    assert first == again  # a replayed run emits the same id, so consumers can drop the duplicate
    assert first != other


def test_subject_is_left_out_when_not_given(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": """
        flow: accept_order
        on: { event: shop.order.placed }
        steps:
          - id: accepted
            emit: shop.order.accepted
            data: { order_id: "${ data.order_id }", count: 0 }
    """})
    [event] = run(plan, "accept_order").emitted
    assert "subject" not in event
    assert event["data"] == {"order_id": "O1", "count": 0}
    assert_valid_events(plan, run(plan, "accept_order"))


def test_a_number_subject_is_sent_as_text(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": """
        flow: accept_order
        on: { event: shop.order.placed }
        steps:
          - id: accepted
            emit: shop.order.accepted
            subject: "${ data.lines[0].qty }"
            data: { order_id: "${ data.order_id }", count: 1 }
    """})
    assert run(plan, "accept_order").emitted[0]["subject"] == "2"


def test_dataschema_is_the_contract_id_when_it_declares_one(workspace) -> None:
    schema_id = "https://schemas.example.com/shop.order.accepted/v1.schema.json"
    plan = compile_flows(workspace, {
        "flows/accept_order.yaml": FLOW,
        "contracts/shop.order.accepted/v1.schema.json": {**ORDER_ACCEPTED, "$id": schema_id},
    })
    result = run(plan, "accept_order")

    assert result.emitted[0]["dataschema"] == schema_id
    assert_valid_events(plan, result)


def test_an_emitted_event_is_accepted_by_the_workspace_whatever_its_contract_id(workspace) -> None:
    plan = compile_flows(workspace, {
        "flows/accept_order.yaml": FLOW,
        "contracts/shop.order.accepted/v1.schema.json": {**ORDER_ACCEPTED, "$id": "urn:example:order-accepted"},
    })
    result = run(plan, "accept_order")

    assert result.emitted[0]["dataschema"] == "urn:example:order-accepted"
    assert_valid_events(plan, result)


def test_data_violating_the_contract_at_run_time_fails_and_emits_nothing(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": """
        flow: accept_order
        on: { event: shop.order.placed }
        steps:
          - id: accepted
            emit: shop.order.accepted
            data: { order_id: "${ data.order_id }", count: "${ data.currency }" }
          - id: after
            set: { never: true }
    """})
    result = run(plan, "accept_order")

    assert result.status == "dead_lettered"
    assert result.emitted == []
    assert result.error["code"] == "contract.violation"
    assert result.error["step"] == "accepted"
    assert "$.count" in result.error["message"]
    assert "'EUR' is not of type 'integer'" in result.error["message"]
    assert steps_by_label(result)["accepted"].status == "failed"
    assert "after" not in steps_by_label(result)


V2 = {**ORDER_ACCEPTED, "$id": "https://schemas.example.com/shop.order.accepted/v2.schema.json", "properties": {**ORDER_ACCEPTED["properties"], "channel": {"type": "string"}}}


def test_version_selects_an_older_contract_version(workspace) -> None:
    plan = compile_flows(workspace, {
        "contracts/shop.order.accepted/v2.schema.json": V2,
        "flows/accept_order.yaml": """
            flow: accept_order
            on: { event: shop.order.placed }
            steps:
              - id: as_v1
                emit: shop.order.accepted
                version: 1
                data: { order_id: "${ data.order_id }", count: 1 }
              - id: as_latest
                emit: shop.order.accepted
                data: { order_id: "${ data.order_id }", count: 1, channel: web }
        """,
    })
    result = run(plan, "accept_order")

    assert result.status == "succeeded", result.error
    assert [e["dataschema"] for e in result.emitted] == ["urn:seamline:contract:shop.order.accepted:v1",
                                                         V2["$id"]]
    assert_valid_events(plan, result)


def test_data_is_checked_against_the_selected_version_at_load(workspace) -> None:
    root = workspace({
        "contracts/shop.order.accepted/v2.schema.json": V2,
        "flows/accept_order.yaml": """
            flow: accept_order
            on: { event: shop.order.placed }
            steps:
              - id: as_v1
                emit: shop.order.accepted
                version: 1
                data: { order_id: "${ data.order_id }", count: 1, channel: web }
        """,
    })
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    [problem] = caught.value.diagnostics
    assert problem.code == "emit.unknown_property"
    assert "v1" in problem.message


def test_unknown_version_is_a_load_error(workspace) -> None:
    root = workspace({"flows/accept_order.yaml": FLOW.replace("emit: shop.order.accepted", "emit: shop.order.accepted\n    version: 3")})
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    assert [d.code for d in caught.value.diagnostics] == ["ref.missing_contract_version"]


def test_emit_time_follows_the_run_clock(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": """
        flow: accept_order
        on: { event: shop.order.placed }
        steps:
          - id: pause
            delay: 1h
          - id: accepted
            emit: shop.order.accepted
            data: { order_id: "${ data.order_id }", count: 1 }
    """})
    [event] = run(plan, "accept_order", clock=VirtualClock(START)).emitted
    assert event["time"] == (START + timedelta(hours=1)).isoformat().replace("+00:00", "Z")


def test_each_iteration_emits_its_own_event(workspace) -> None:
    plan = compile_flows(workspace, {"flows/accept_order.yaml": """
        flow: accept_order
        on: { event: shop.order.placed }
        steps:
          - id: each
            for_each: data.lines
            as: line
            steps:
              - id: accepted
                emit: shop.order.accepted
                subject: "${ line.sku }"
                data: { order_id: "${ data.order_id }", count: "${ line.qty }" }
    """})
    result = run(plan, "accept_order", run_id="run-loop")

    assert [e["subject"] for e in result.emitted] == ["A", "B"]
    assert [e["data"]["count"] for e in result.emitted] == [2, 1]
    assert [e["id"] for e in result.emitted] == [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"seamline:run-loop:each[{i}].accepted")) for i in range(2)
    ]
    assert_valid_events(plan, result)

"""The executor: vars, key, run.*, output, conditions, step timeouts, rejections, failure states."""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest

from tests.conftest import order_event
from tests.steps import compile_flows, labels, run, steps_by_label


def flow(steps: str, head: str = "", tail: str = "") -> dict[str, str]:
    return {"flows/orders.yaml": f"flow: orders\nversion: 2.1.0\non: {{ event: shop.order.placed }}\n{head}steps:\n{steps}{tail}"}


def test_vars_are_evaluated_in_order_and_later_vars_see_earlier_ones(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: out
    set: { vars: "${ vars }" }
""", head="""vars:
  currency: "${ data.currency }"
  vat: "${ lookup('rates', vars.currency).vat }"
  label: "{{ vars.currency }}-{{ data.order_id }}"
  lines: "${ length(data.lines) }"
  fixed: 7
"""))
    result = run(plan, "orders", order_event("O2", currency="USD"))

    assert result.status == "succeeded", result.error
    assert result.output == {"vars": {"currency": "USD", "vat": 0.0, "label": "USD-O2", "lines": 2, "fixed": 7}}


def test_key_and_run_are_visible_to_expressions(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: out
    set:
      id: "${ run.id }"
      flow: "${ run.flow }"
      version: "${ run.version }"
      key: "${ run.key }"
      started_at: "${ run.started_at }"
      hash: "${ run.hash }"
      event_id: "${ event.id }"
""", head="key: \"join('/', [data.currency, data.order_id])\"\n"))
    result = run(plan, "orders", order_event("O4"), run_id="r-123")

    assert result.key == "EUR/O4"
    assert result.run_id == "r-123"
    assert result.output == {"id": "r-123", "flow": "orders", "version": "2.1.0", "key": "EUR/O4",
                             "started_at": result.started_at, "hash": result.content_hash, "event_id": "evt-O4"}
    assert (result.flow, result.version) == ("orders", "2.1.0")
    assert len(result.content_hash) == 64


def test_flow_output_or_else_the_last_step_output(workspace) -> None:
    plan = compile_flows(workspace, {
        **flow("""
  - id: a
    set: { x: 1 }
  - id: b
    set: { y: 2 }
""", tail="output: { first: \"${ steps.a.output.x }\", order: \"${ data.order_id }\" }\n"),
        "flows/plain.yaml": "flow: plain\non: { event: shop.order.placed }\nsteps:\n  - { id: a, set: { x: 1 } }\n  - { id: b, set: { y: 2 } }\n",
    })
    assert run(plan, "orders").output == {"first": 1, "order": "O1"}
    assert run(plan, "plain").output == {"y": 2}


def test_if_false_skips_the_step_with_null_output(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    if: data.currency == 'USD'
    call: wms.reserve
    with: { sku: A }
  - id: next
    if: "steps.reserve.output == `null`"
    set: { reserved: "${ steps.reserve.output }" }
"""))
    result = run(plan, "orders", order_event(currency="EUR"))

    assert result.status == "succeeded"
    records = steps_by_label(result)
    assert (records["reserve"].status, records["reserve"].output) == ("skipped", None)
    assert records["next"].status == "succeeded"
    assert result.output == {"reserved": None}
    assert result.calls == []

    taken = run(plan, "orders", order_event(currency="USD"))
    assert statuses_of(taken) == {"reserve": "succeeded", "next": "skipped"}
    assert taken.output is None  # the last step was skipped


def statuses_of(result: Any) -> dict[str, str]:
    return {r.label: r.status for r in result.trace}


def test_trace_records_timing_and_order(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: a
    set: { x: 1 }
  - id: b
    call: wms.reserve
    with: { sku: "${ vars.sku }" }
""", head="vars: { sku: Z }\n"))
    result = run(plan, "orders")

    assert labels(result) == ["a", "b"]
    for record in result.trace:
        assert record.started_at.endswith("Z")
        assert record.duration_ms >= 0
        assert record.depth == 0
    assert result.duration_ms > 0
    assert result.started_at.endswith("Z")


# -- step timeout ------------------------------------------------------------------------


def test_step_timeout_fails_a_slow_step(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: A }
    timeout: 100ms
    retry: { attempts: 1 }
"""))
    operation = plan.connectors["wms"].operations["reserve"]

    async def slow(request: Any) -> Any:  # a custom Operation that hangs
        await anyio.sleep(5)
        return {"late": True}

    operation.invoke = slow
    started = time.perf_counter()
    result = run(plan, "orders")

    assert time.perf_counter() - started < 2
    assert result.status == "dead_lettered"
    assert result.error["code"] == "step.timeout"
    assert result.error["step"] == "reserve"
    assert result.error["transient"] is True
    assert steps_by_label(result)["reserve"].status == "failed"


def test_step_timeout_does_not_touch_a_fast_step(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: reserve
    call: wms.reserve
    with: { sku: A }
    timeout: 5s
"""))
    assert run(plan, "orders").output == {"reservation": "R-A"}


# -- rejected events ----------------------------------------------------------------------


PLAIN = """
  - id: reserve
    call: wms.reserve
    with: { sku: A }
"""


def test_envelope_problem_rejects_the_event(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN))
    event = order_event()
    del event["source"]
    result = run(plan, "orders", event)

    assert result.status == "rejected"
    assert result.error["code"] == "envelope.invalid"
    assert "source" in result.error["message"]
    assert result.calls == [] and result.trace == []


def test_wrong_specversion_rejects_the_event(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN))
    result = run(plan, "orders", order_event(specversion="0.3"))

    assert result.status == "rejected"
    assert result.error["code"] == "envelope.invalid"
    assert {"path": "$.specversion", "message": "must be '1.0'"} in result.error["violations"]
    assert result.calls == []


def test_contract_violation_rejects_the_event_with_a_data_path(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN))
    result = run(plan, "orders", order_event(lines=[{"sku": "A", "qty": 0}]))

    assert result.status == "rejected"
    assert result.error["code"] == "contract.violation"
    assert result.error["contract"] == "shop.order.placed v1"
    assert result.error["violations"][0]["path"] == "$.data.lines[0].qty"
    assert "minimum" in result.error["violations"][0]["message"] or "less than" in result.error["violations"][0]["message"]
    assert result.calls == [] and result.trace == [] and result.emitted == []


def test_event_of_another_type_is_rejected_by_the_flow(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN))
    event = {"specversion": "1.0", "id": "a1", "source": "/wms", "type": "shop.order.accepted",
             "data": {"order_id": "O1", "count": 1}}
    result = run(plan, "orders", event)

    assert result.status == "rejected"
    assert result.error["code"] == "route.wrong_type"
    assert "shop.order.placed" in result.error["message"] and "shop.order.accepted" in result.error["message"]
    assert result.calls == []


def test_validate_false_skips_the_checks(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN))
    event = order_event(lines=[{"sku": "A", "qty": 0}])
    result = run(plan, "orders", event, validate=False)
    assert result.status == "succeeded"


# -- failures during the run -----------------------------------------------------------------


def test_expression_failure_dead_letters_the_run(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: ok
    set: { x: 1 }
  - id: broken
    set: { n: "${ length(data.no_such_field) }" }
  - id: after
    call: wms.reserve
"""))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "expression.failed"
    assert result.error["step"] == "broken"
    assert "length(data.no_such_field)" in result.error["message"]
    assert statuses_of(result) == {"ok": "succeeded", "broken": "failed"}
    assert result.calls == []


def test_a_failing_var_dead_letters_the_run_before_any_step(workspace) -> None:
    plan = compile_flows(workspace, flow(PLAIN, head="vars:\n  rate: \"${ lookup('rates', 'CHF') }\"\n"))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "expression.failed"
    assert result.error["step"] == "vars.rate"
    assert result.calls == []
    assert [(r.label, r.status) for r in result.trace] == [("vars.rate", "failed")]


def test_a_failing_condition_dead_letters_the_run(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: maybe
    if: "length(data.nothing) > `0`"
    set: { x: 1 }
"""))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["step"]) == ("expression.failed", "maybe")


def test_a_failing_output_expression_dead_letters_the_run(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: a, set: { x: 1 } }\n", tail="output: \"${ length(data.nope) }\"\n"))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "expression.failed"


@pytest.mark.parametrize(("then", "status"), [("dead_letter", "dead_lettered"), ("fail", "failed")])
def test_then_decides_the_final_state(workspace, then: str, status: str) -> None:
    plan = compile_flows(workspace, flow("  - { id: ship, call: wms.ship }\n", tail=f"on_error: {{ then: {then} }}\n"))
    result = run(plan, "orders")

    assert result.status == status
    assert result.error["code"] == "connector.permanent"
    assert result.output is None

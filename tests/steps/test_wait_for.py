"""`wait_for:` — a correlated event or a timeout; in-process runs answer it from mocks."""

from __future__ import annotations

import time

from runtime.engine import Clock, VirtualClock
from tests.conftest import order_event
from tests.steps import compile_flows, labels, run, steps_by_label


def flow(on_timeout: str = "fail", timeout: str = "2d") -> dict[str, str]:
    return {"flows/orders.yaml": f"""
flow: orders
on: {{ event: shop.order.placed }}
steps:
  - id: wait_accept
    wait_for: shop.order.accepted
    match: data.order_id
    equals: "${{ data.order_id }}"
    timeout: {timeout}
    on_timeout: {on_timeout}
  - id: after
    set: {{ accepted: "${{ steps.wait_accept.output }}" }}
"""}


def accepted(order_id: str) -> dict:
    return {"specversion": "1.0", "id": f"acc-{order_id}", "source": "/wms", "type": "shop.order.accepted",
            "data": {"order_id": order_id, "count": 2}}


def test_a_correlating_event_is_the_output(workspace) -> None:
    plan = compile_flows(workspace, flow())
    result = run(plan, "orders", order_event("O8"), mocks={"wait_accept": {"event": accepted("O8")}})

    assert result.status == "succeeded", result.error
    record = steps_by_label(result)["wait_accept"]
    assert (record.kind, record.status, record.output) == ("wait_for", "succeeded", accepted("O8"))
    assert result.output == {"accepted": accepted("O8")}


def test_an_event_that_does_not_correlate_fails_the_step(workspace) -> None:
    plan = compile_flows(workspace, flow())
    result = run(plan, "orders", order_event("O8"), mocks={"wait_accept": {"event": accepted("O9")}})

    assert result.status == "dead_lettered"
    assert result.error["step"] == "wait_accept"
    assert "does not correlate" in result.error["message"]
    assert "'O9'" in result.error["message"] and "'O8'" in result.error["message"]
    assert labels(result) == ["wait_accept"]


def test_timeout_with_on_timeout_fail(workspace) -> None:
    plan = compile_flows(workspace, flow("fail"))
    clock = VirtualClock()
    result = run(plan, "orders", mocks={"wait_accept": {"timeout": True}}, clock=clock)

    assert result.status == "dead_lettered"
    assert result.error["code"] == "wait.timeout"
    assert result.error["step"] == "wait_accept"
    assert "shop.order.accepted" in result.error["message"]
    assert clock.slept == [2 * 86400.0]  # the whole timeout passed on the run's clock


def test_timeout_with_on_timeout_continue(workspace) -> None:
    plan = compile_flows(workspace, flow("continue"))
    result = run(plan, "orders", mocks={"wait_accept": {"timeout": True}})

    assert result.status == "succeeded", result.error
    assert steps_by_label(result)["wait_accept"].output is None
    assert result.output == {"accepted": None}


def test_without_a_mock_the_error_names_seamline_serve(workspace) -> None:
    plan = compile_flows(workspace, flow())
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert "seamline serve" in result.error["message"]
    assert "wait_accept" in result.error["message"]  # and says how to mock it


def test_on_timeout_continue_on_a_real_clock(workspace) -> None:
    plan = compile_flows(workspace, flow("continue", timeout="100ms"))
    started = time.perf_counter()
    result = run(plan, "orders", mocks={"wait_accept": {"timeout": True}}, clock=Clock())

    assert time.perf_counter() - started < 1
    assert result.status == "succeeded", result.error
    assert result.output == {"accepted": None}

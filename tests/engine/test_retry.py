"""Retries: transient errors retried with backoff and jitter on the run's clock; permanent ones not."""

from __future__ import annotations

import random
from typing import Any

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock
from runtime.errors import ConnectorError, FlowError
from tests.steps import compile_flows, run, steps_by_label

BUSY = {"error": {"type": "transient", "message": "busy"}}
OK = {"output": {"ok": True}}


def flow(retry: str | None = None, op: str = "wms.reserve") -> dict[str, str]:
    line = f"    retry: {retry}\n" if retry else ""
    return {"flows/orders.yaml": f"""flow: orders
on: {{ event: shop.order.placed }}
steps:
  - id: reserve
    call: {op}
    with: {{ sku: "${{ data.lines[0].sku }}" }}
{line}"""}


def busy_then_ok(failures: int) -> dict[str, Any]:
    return {"reserve": {"sequence": [BUSY] * failures + [OK]}}


@pytest.fixture
def no_jitter_spread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jitter always at its upper bound, so delays are exact."""
    monkeypatch.setattr(random.Random, "uniform", lambda self, a, b: b)


def test_transient_error_is_retried_until_it_succeeds(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 4, delay: 1s }"))
    clock = VirtualClock()
    result = run(plan, "orders", mocks=busy_then_ok(2), clock=clock)

    assert result.status == "succeeded", result.error
    assert result.output == {"ok": True}
    assert steps_by_label(result)["reserve"].attempts == 3
    [call] = result.calls  # one call record; every attempt carried the same idempotency key
    assert call.attempts == 3
    assert call.idempotency_key == f"{result.run_id}:reserve"
    assert len(clock.slept) == 2


def test_flaky_connector_operation_recovers(workspace) -> None:
    plan = compile_flows(workspace, flow(op="wms.flaky"))
    result = run(plan, "orders")
    assert (result.status, result.output, result.calls[0].attempts) == ("succeeded", {"ok": True}, 2)


def test_transient_error_gives_up_after_attempts(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 4, delay: 1s }"))
    clock = VirtualClock()
    result = run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)

    assert result.status == "dead_lettered"
    assert result.error == {"flow": "orders", "step": "reserve", "attempt": 4, "code": "connector.transient",
                            "message": "busy", "transient": True}
    assert steps_by_label(result)["reserve"].attempts == 4
    assert len(clock.slept) == 3  # no wait after the last attempt


def test_permanent_error_is_not_retried(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 5 }", op="wms.ship"))
    clock = VirtualClock()
    result = run(plan, "orders", clock=clock)

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["attempt"], result.error["transient"]) == ("connector.permanent", 1, False)
    assert result.calls[0].attempts == 1
    assert clock.slept == []


def test_exponential_delays_stay_within_the_jitter_band_and_are_capped(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 7, backoff: exponential, delay: 1s, max_delay: 6s, jitter: 0.25 }"))
    for _ in range(5):  # jitter is random: look at several runs
        clock = VirtualClock()
        run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
        bases = [1, 2, 4, 6, 6, 6]
        assert len(clock.slept) == len(bases)
        for slept, base in zip(clock.slept, bases, strict=True):
            assert base * 0.75 <= slept <= base * 1.25, (slept, base)


def test_exponential_delays_double(workspace, no_jitter_spread: None) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 5, backoff: exponential, delay: 2s, max_delay: 1h, jitter: 0.1 }"))
    clock = VirtualClock()
    run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
    assert clock.slept == pytest.approx([2.2, 4.4, 8.8, 17.6])


def test_jitter_spreads_the_delays(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 20, backoff: constant, delay: 10s, jitter: 0.5 }"))
    clock = VirtualClock()
    run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
    assert len(set(clock.slept)) > 1
    assert all(5 <= s <= 15 for s in clock.slept)


def test_no_delay_exceeds_max_delay(workspace, no_jitter_spread: None) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 6, backoff: exponential, delay: 1s, max_delay: 4s, jitter: 0.2 }"))
    clock = VirtualClock()
    run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
    assert max(clock.slept) <= 4.0


@pytest.mark.parametrize(("backoff", "expected"), [("linear", [2, 4, 6, 8]), ("constant", [2, 2, 2, 2])])
def test_linear_and_constant_backoff(workspace, backoff: str, expected: list[float]) -> None:
    plan = compile_flows(workspace, flow(f"{{ attempts: 5, backoff: {backoff}, delay: 2s, max_delay: 1m, jitter: 0 }}"))
    clock = VirtualClock()
    run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
    assert clock.slept == expected


def test_linear_backoff_is_capped(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 6, backoff: linear, delay: 2s, max_delay: 5s, jitter: 0 }"))
    clock = VirtualClock()
    run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)
    assert clock.slept == [2, 4, 5, 5, 5]


def _raise_then_answer(plan: Any, retry_after: float) -> None:
    operation = plan.connectors["wms"].operations["reserve"]
    calls: list[int] = []

    async def invoke(request: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectorError("rate limited", transient=True, status=429, retry_after=retry_after, error_class="http_429")
        return {"ok": True}

    operation.invoke = invoke


def test_retry_after_raises_the_delay(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 3, delay: 1s, jitter: 0 }"))
    _raise_then_answer(plan, retry_after=30)
    clock = VirtualClock()
    result = run(plan, "orders", clock=clock)

    assert result.status == "succeeded"
    assert clock.slept == [30]


def test_retry_after_never_shortens_the_delay(workspace) -> None:
    plan = compile_flows(workspace, flow("{ attempts: 3, delay: 10s, jitter: 0 }"))
    _raise_then_answer(plan, retry_after=1)
    clock = VirtualClock()
    run(plan, "orders", clock=clock)
    assert clock.slept == [10]


SETTINGS = """
retry_policies:
  patient: { attempts: 5, backoff: constant, delay: 3s, jitter: 0 }
default_retry: { attempts: 2, backoff: constant, delay: 7s, jitter: 0 }
"""


def test_named_policy_from_settings(workspace) -> None:
    plan = compile_flows(workspace, {**flow("patient"), "seamline.yaml": SETTINGS})
    clock = VirtualClock()
    result = run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)

    assert result.calls[0].attempts == 5
    assert clock.slept == [3, 3, 3, 3]


def test_default_retry_from_settings(workspace) -> None:
    plan = compile_flows(workspace, {**flow(), "seamline.yaml": SETTINGS})
    clock = VirtualClock()
    result = run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)

    assert result.calls[0].attempts == 2
    assert clock.slept == [7]


def test_built_in_default_is_three_attempts(workspace) -> None:
    plan = compile_flows(workspace, flow())
    clock = VirtualClock()
    result = run(plan, "orders", mocks={"reserve": BUSY}, clock=clock)

    assert result.calls[0].attempts == 3
    assert len(clock.slept) == 2
    assert 0.8 <= clock.slept[0] <= 1.2 and 1.6 <= clock.slept[1] <= 2.4


def test_unknown_named_policy_is_a_load_error(workspace) -> None:
    root = workspace({**flow("patinet"), "seamline.yaml": SETTINGS})
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    [problem] = caught.value.diagnostics
    assert problem.code == "ref.unknown_retry_policy"
    assert "patient" in (problem.hint or "")


def test_max_delay_below_delay_is_a_load_error(workspace) -> None:
    root = workspace(flow("{ delay: 10s, max_delay: 1s }"))
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    assert any("max_delay" in d.message for d in caught.value.diagnostics)

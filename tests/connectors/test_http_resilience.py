"""Rate limit, circuit breaker, 429, traceparent and pooling of `kind: http`, over real sockets."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from runtime.connectors._resilience import CircuitBreaker, TokenBucket
from runtime.connectors._trace import trace_id_for, traceparent
from runtime.engine import Clock
from runtime.errors import ConnectorError
from tests.connectors._api_server import ApiState, api_server
from tests.connectors._calls import call_all
from tests.connectors._server import LiveServer
from tests.steps import compile_flows, run

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = api_server()
    yield live
    live.stop()


def api(server: LiveServer) -> ApiState:
    assert isinstance(server.state, ApiState)
    return server.state


def plan_for(workspace: Any, url: str, extra: str = "") -> Any:
    return compile_flows(workspace, {"connectors/api.yaml": f"""
connector: api
kind: http
base_url: {url}
{extra}
operations:
  tick: {{ path: /tick }}
  health: {{ path: "/health/${{ input.name }}" }}
"""})


# -- rate limit ------------------------------------------------------------------------------------


def test_rate_limit_paces_requests(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, "rate_limit: { rate: 10, burst: 2 }")
    started = time.monotonic()
    results = call_all(plan, [("api.tick", {})] * 12, run_id="paced")
    elapsed = time.monotonic() - started

    assert results == [{"ok": True}] * 12
    # 2 go at once (burst), the other 10 wait 0.1 s each: at least 1 s in all
    assert elapsed >= 0.95, elapsed
    arrivals = [r.at for r in api(server).requests if r.headers.get("x-correlation-id") == "paced"]
    assert arrivals[-1] - arrivals[0] >= 0.8  # as the server saw them
    assert elapsed < 5


def test_token_bucket_reserves_without_a_server() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=4, burst=2, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, 0.25, 0.5]
    now[0] = 10.0  # a quiet spell refills up to the burst, not beyond
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.25]


def test_a_rate_limited_flow_waits_without_failing(workspace, server: LiveServer) -> None:
    plan = compile_flows(workspace, {
        "connectors/api.yaml": f"connector: api\nkind: http\nbase_url: {server.url}\n"
                               "rate_limit: { rate: 20 }\noperations: { tick: { path: /tick } }\n",
        "flows/ticks.yaml": "flow: ticks\non: { event: shop.order.placed }\nsteps:\n"
                            "  - id: each\n    for_each: \"[`1`,`2`,`3`,`4`,`5`,`6`]\"\n    concurrency: 6\n"
                            "    steps: [ { id: t, call: api.tick } ]\n",
    })
    started = time.monotonic()
    result = run(plan, "ticks", clock=Clock())
    assert result.status == "succeeded", result.error
    assert time.monotonic() - started >= 0.24  # 6 requests at 20/s with a burst of 1: 5 waits of 50 ms


# -- circuit breaker ----------------------------------------------------------------------------------


def test_circuit_opens_fails_fast_and_a_probe_closes_it(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, "circuit_breaker: { failures: 3, open_for: 30s }")
    now = [500.0]
    plan.connectors["api"].breaker.clock = lambda: now[0]
    state = api(server)
    state.down.add("crm")

    first = call_all(plan, [("api.health", {"name": "crm"})] * 5)
    assert [e.error_class for e in first] == ["http_503"] * 3 + ["circuit_open"] * 2
    assert len(state.api("/health/crm")) == 3  # the last two never left the process
    fast = first[3]
    assert isinstance(fast, ConnectorError) and fast.transient
    assert fast.retry_after == 30.0
    assert "open after 3 consecutive failures; failing fast for 30.0s more" in str(fast)
    now[0] += 29
    assert call_all(plan, [("api.health", {"name": "crm"})])[0].retry_after == 1.0

    now[0] += 1
    state.down.discard("crm")
    second = call_all(plan, [("api.health", {"name": "crm"})] * 3)
    assert second == [{"ok": True}] * 3  # the probe succeeded and closed the circuit
    assert len(state.api("/health/crm")) == 6


def test_a_failed_probe_opens_the_circuit_again(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, "circuit_breaker: { failures: 2, open_for: 1m }")
    now = [0.0]
    plan.connectors["api"].breaker.clock = lambda: now[0]
    state = api(server)
    state.down.add("psa")

    assert [e.error_class for e in call_all(plan, [("api.health", {"name": "psa"})] * 3)] == [
        "http_503", "http_503", "circuit_open"]
    now[0] += 60
    probe, again = call_all(plan, [("api.health", {"name": "psa"})] * 2)
    assert (probe.error_class, again.error_class) == ("http_503", "circuit_open")  # one probe, reopened
    assert len(state.api("/health/psa")) == 3
    state.down.discard("psa")


def test_client_errors_do_not_open_the_circuit(workspace, server: LiveServer) -> None:
    plan = compile_flows(workspace, {"connectors/api.yaml": f"""
connector: api
kind: http
base_url: {server.url}
circuit_breaker: {{ failures: 2 }}
operations: {{ missing: {{ path: /no/such/route }} }}
"""})
    results = call_all(plan, [("api.missing", {})] * 4)
    assert [e.error_class for e in results] == ["http_404"] * 4


def test_half_open_admits_one_probe_at_a_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker("erp", failures=1, open_for=10, clock=lambda: now[0])
    breaker.before()
    breaker.record(ok=False)
    now[0] = 11.0
    breaker.before()  # the probe
    with pytest.raises(ConnectorError) as caught:
        breaker.before()
    assert caught.value.error_class == "circuit_open" and "probe call is in flight" in str(caught.value)
    breaker.release()  # the probe was cancelled: another may go
    breaker.before()
    breaker.record(ok=True)
    assert breaker.state == "closed"


def test_circuit_open_in_a_run_is_a_transient_step_error(workspace, server: LiveServer) -> None:
    api(server).down.add("erp")
    plan = compile_flows(workspace, {
        "connectors/api.yaml": f"connector: api\nkind: http\nbase_url: {server.url}\n"
                               "circuit_breaker: { failures: 2, open_for: 1m }\n"
                               "operations: { health: { path: /health/erp } }\n",
        "flows/h.yaml": "flow: h\non: { event: shop.order.placed }\nsteps:\n"
                        "  - { id: check, call: api.health, retry: { attempts: 4, delay: 10ms } }\n",
    })
    result = run(plan, "h")
    api(server).down.discard("erp")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.circuit_open", True, 4)
    assert len(api(server).api("/health/erp")) == 2


# -- 429 ---------------------------------------------------------------------------------------------------


def test_429_is_transient_with_retry_after(workspace) -> None:
    from tests.connectors._server import LiveServer as Plain

    live = Plain(token="t").start()
    try:
        plan = compile_flows(workspace, {"connectors/api.yaml": f"""
connector: api
kind: http
base_url: {live.url}
circuit_breaker: {{ failures: 1 }}
operations: {{ limited: {{ path: "/limited/${{ input.name }}" }} }}
"""})
        first, second = call_all(plan, [("api.limited", {"name": "r429"})] * 2)
    finally:
        live.stop()
    assert (first.error_class, first.transient, first.status, first.retry_after) == ("http_429", True, 429, 1.0)
    assert second == {"ok": True}  # a 429 is the system pacing us, not failing: the circuit stays closed


# -- traceparent, correlation id, pooling ------------------------------------------------------------------


def test_traceparent_is_one_trace_per_run_and_one_span_per_request(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    call_all(plan, [("api.tick", {})] * 3, run_id="trace-a")
    call_all(plan, [("api.tick", {})] * 2, run_id="trace-a")  # e.g. the run resumed on another worker
    call_all(plan, [("api.tick", {})], run_id="trace-b")

    def sent(run_id: str) -> list[Any]:
        return [r.headers for r in api(server).requests if r.headers.get("x-correlation-id") == run_id]

    a, b = sent("trace-a"), sent("trace-b")
    parsed = [TRACEPARENT.match(h["traceparent"]) for h in a + b]
    assert all(parsed), [h["traceparent"] for h in a + b]
    traces_a = {m.group(1) for m in parsed[: len(a)] if m}
    assert traces_a == {trace_id_for("trace-a")}
    assert {m.group(1) for m in parsed[len(a):] if m} == {trace_id_for("trace-b")} != traces_a
    assert len({m.group(2) for m in parsed if m}) == len(parsed)  # a new span id every request
    assert {h["x-correlation-id"] for h in a} == {"trace-a"}


def test_trace_ids_are_derived_from_the_run_id_only() -> None:
    assert trace_id_for("run-1") == trace_id_for("run-1") != trace_id_for("run-2")
    one, two = traceparent("run-1"), traceparent("run-1")
    assert one[:36] == two[:36] and one != two
    assert TRACEPARENT.match(traceparent("run-1", "00f067aa0ba902b7"))


def test_connections_are_pooled_and_reused(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, "pool: { max_connections: 4, max_keepalive: 2, keepalive_expiry: 30s }")
    call_all(plan, [("api.tick", {})] * 5, run_id="pooled")
    ports = {r.client_port for r in api(server).requests if r.headers.get("x-correlation-id") == "pooled"}
    assert len(ports) == 1  # five sequential requests over one kept-alive connection

    assert plan.connectors["api"].limits == httpx.Limits(max_connections=4, max_keepalive_connections=2,
                                                         keepalive_expiry=30.0)

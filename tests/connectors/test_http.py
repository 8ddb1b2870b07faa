"""`kind: http` against a real HTTP service (tests/connectors/_server.py) on 127.0.0.1."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.engine import VirtualClock
from tests.conftest import order_event
from tests.connectors._server import LiveServer, free_port
from tests.steps import compile_flows, run, steps_by_label

TOKEN = "tok-3f9a-very-secret"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = LiveServer(token=TOKEN).start()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN", TOKEN)


def connector(base_url: str) -> str:
    return f"""
connector: erp
kind: http
base_url: {base_url}
auth: {{ type: bearer, token: env:TEST_TOKEN }}
headers: {{ X-Client: seamline-tests }}
timeout: 5s
operations:
  find_customer:
    path: /customers
    query: {{ tax_id: "${{ input.tax_id }}", region: "${{ input.region }}" }}
    result: "[0]"
  create_customer:
    method: POST
    path: /customers
  create_customer_named:
    method: POST
    path: /customers
    body: {{ tax_id: "${{ input.tax }}", name: "{{{{ input.first }}}} {{{{ input.last }}}}" }}
    result: id
  get_customer:
    path: "/customers/${{ input.id }}"
    not_found: "null"
  get_customer_strict:
    path: "/customers/${{ input.id }}"
  flaky:
    method: POST
    path: "/flaky/${{ input.name }}"
    query: {{ fails: "${{ input.fails }}" }}
  limited:
    path: "/limited/${{ input.name }}"
  invalid:
    method: POST
    path: /invalid
  slow:
    path: /slow
    query: {{ seconds: "${{ input.seconds }}" }}
    timeout: 200ms
  secure:
    path: /secure
  echo:
    path: "/echo/${{ input.value }}"
"""


def flow(steps: str) -> str:
    return f"flow: crm_sync\non: {{ event: shop.order.placed }}\nsteps:\n{steps}"


def plan_for(workspace: Any, base_url: str, steps: str) -> Any:
    return compile_flows(workspace, {"connectors/erp.yaml": connector(base_url), "flows/crm_sync.yaml": flow(steps)})


def one_call(op: str, with_: str = "{}", retry: str = "{ attempts: 1 }") -> str:
    return f"""
  - id: {op}
    call: erp.{op}
    with: {with_}
    retry: {retry}
"""


# -- requests and results ---------------------------------------------------------------------


def test_create_then_find_and_get_a_customer(workspace, server: LiveServer) -> None:
    tax = f"DE{time.monotonic_ns()}"
    plan = plan_for(workspace, server.url, f"""
  - id: find_before
    call: erp.find_customer
    with: {{ tax_id: "{tax}" }}
  - id: create
    if: "steps.find_before.output == `null`"
    call: erp.create_customer
    with: {{ tax_id: "{tax}", name: "${{ data.order_id }}" }}
  - id: find_after
    call: erp.find_customer
    with: {{ tax_id: "{tax}" }}
  - id: get
    call: erp.get_customer
    with: {{ id: "${{ steps.create.output.id }}" }}
""")
    result = run(plan, "crm_sync")

    assert result.status == "succeeded", result.error
    records = steps_by_label(result)
    assert records["find_before"].output is None  # `result: [0]` of an empty list
    created = records["create"].output
    assert created["tax_id"] == tax and created["name"] == "O1"
    assert records["find_after"].output == created
    assert records["get"].output == created

    sent = server.state.for_run(result.run_id)
    assert [(r.method, r.path) for r in sent] == [("GET", "/customers"), ("POST", "/customers"),
                                                  ("GET", "/customers"), ("GET", f"/customers/{created['id']}")]
    assert sent[0].query == {"tax_id": tax}  # the null `region` was left out
    assert sent[1].body == {"tax_id": tax, "name": "O1"}  # POST sends the whole input by default
    assert sent[1].headers["content-type"] == "application/json"
    assert sent[0].headers["x-client"] == "seamline-tests"


def test_body_mapping_and_result_selection(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("create_customer_named", '{ tax: X1, first: Ada, last: Lovelace }'))
    result = run(plan, "crm_sync")

    assert result.status == "succeeded", result.error
    [request] = server.state.for_run(result.run_id)
    assert request.body == {"tax_id": "X1", "name": "Ada Lovelace"}
    assert isinstance(result.output, str) and result.output.startswith("C")  # `result: id`


def test_not_found_null_and_not_found_error(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("get_customer", "{ id: C-unknown }")
                    + one_call("get_customer_strict", "{ id: C-unknown }"))
    result = run(plan, "crm_sync")

    records = steps_by_label(result)
    assert (records["get_customer"].status, records["get_customer"].output) == ("succeeded", None)
    assert result.status == "dead_lettered"
    assert result.error["code"] == "connector.http_404"
    assert result.error["transient"] is False
    assert result.error["step"] == "get_customer_strict"


def test_idempotency_key_and_correlation_id_headers(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("find_customer", "{ tax_id: nobody }") + one_call("secure"))
    result = run(plan, "crm_sync")

    sent = server.state.for_run(result.run_id)
    assert [r.headers["idempotency-key"] for r in sent] == [f"{result.run_id}:find_customer", f"{result.run_id}:secure"]
    assert [c.idempotency_key for c in result.calls] == [r.headers["idempotency-key"] for r in sent]
    assert {r.headers["x-correlation-id"] for r in sent} == {result.run_id}


def test_a_repeated_run_does_not_create_a_second_record(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("create_customer", "{ tax_id: DUP1, name: Once }"))
    before = server.state.created
    first = run(plan, "crm_sync", run_id="replayed-run")
    again = run(plan, "crm_sync", run_id="replayed-run")  # e.g. a resumed run retrying the step

    assert first.output == again.output
    assert server.state.created == before + 1
    assert len(server.state.for_run("replayed-run")) == 2


# -- failures and retries -------------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds(workspace, server: LiveServer) -> None:
    name = f"f{time.monotonic_ns()}"
    plan = plan_for(workspace, server.url, one_call("flaky", f"{{ name: {name}, fails: 2 }}", "{ attempts: 3, delay: 1s }"))
    clock = VirtualClock()
    result = run(plan, "crm_sync", clock=clock)

    assert result.status == "succeeded", result.error
    assert result.output == {"ok": True, "calls": 3}
    assert steps_by_label(result)["flaky"].attempts == 3
    assert result.calls[0].attempts == 3
    assert len(clock.slept) == 2
    sent = server.state.for_run(result.run_id)
    assert len(sent) == 3
    assert {r.headers["idempotency-key"] for r in sent} == {f"{result.run_id}:flaky"}  # same key on every attempt


def test_5xx_gives_up_after_attempts(workspace, server: LiveServer) -> None:
    name = f"f{time.monotonic_ns()}"
    plan = plan_for(workspace, server.url, one_call("flaky", f"{{ name: {name}, fails: 9 }}", "{ attempts: 2 }"))
    result = run(plan, "crm_sync")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.http_503", True, 2)
    assert "503" in result.error["message"]


def test_429_waits_at_least_retry_after(workspace, server: LiveServer) -> None:
    name = f"l{time.monotonic_ns()}"
    plan = plan_for(workspace, server.url, one_call("limited", f"{{ name: {name} }}", "{ attempts: 2, delay: 100ms }"))
    clock = VirtualClock()
    result = run(plan, "crm_sync", clock=clock)

    assert result.status == "succeeded", result.error
    assert len(clock.slept) == 1 and clock.slept[0] >= 1.0
    assert result.calls[0].attempts == 2


def test_400_is_permanent_and_not_retried(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("invalid", "{ tax_id: '??' }", "{ attempts: 5 }"))
    clock = VirtualClock()
    result = run(plan, "crm_sync", clock=clock)

    assert result.status == "dead_lettered"
    assert result.error["code"] == "connector.http_400"
    assert result.error["transient"] is False
    assert "tax_id is malformed" in result.error["message"]
    assert result.calls[0].attempts == 1
    assert clock.slept == []
    assert len(server.state.for_run(result.run_id)) == 1


def test_timeout_is_transient(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("slow", "{ seconds: 1 }", "{ attempts: 2 }"))
    started = time.perf_counter()
    result = run(plan, "crm_sync")

    assert time.perf_counter() - started < 1.5  # 2 x 200 ms, not 2 x 1 s
    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.timeout", True, 2)


def test_connection_refused_is_a_transient_connection_error(workspace) -> None:
    plan = plan_for(workspace, f"http://127.0.0.1:{free_port()}", one_call("secure", retry="{ attempts: 2 }"))
    result = run(plan, "crm_sync")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.connection", True, 2)


# -- auth and secrets ---------------------------------------------------------------------------------


def test_bearer_token_is_sent(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("secure"))
    result = run(plan, "crm_sync")

    assert result.status == "succeeded", result.error
    assert result.output == {"ok": True}
    [request] = server.state.for_run(result.run_id)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_wrong_token_is_a_permanent_401(workspace, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_TOKEN", "not-the-token")
    plan = plan_for(workspace, server.url, one_call("secure", retry="{ attempts: 3 }"))
    result = run(plan, "crm_sync")

    assert (result.error["code"], result.error["transient"]) == ("connector.http_401", False)
    assert "not-the-token" not in json.dumps(result.to_dict(), default=str)


def test_missing_secret_is_a_permanent_config_error_naming_the_variable(workspace, server: LiveServer,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_TOKEN")
    plan = plan_for(workspace, server.url, one_call("secure", retry="{ attempts: 3 }"))
    result = run(plan, "crm_sync")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.config", False, 1)
    assert "TEST_TOKEN" in result.error["message"]
    assert server.state.for_run(result.run_id) == []  # nothing went out without credentials


def test_errors_never_contain_the_secret(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("invalid"))
    failed_400 = run(plan, "crm_sync")
    refused = run(plan_for(workspace, f"http://127.0.0.1:{free_port()}", one_call("secure")), "crm_sync")
    timed_out = run(plan_for(workspace, server.url, one_call("slow", "{ seconds: 1 }")), "crm_sync")

    for result in (failed_400, refused, timed_out):
        assert result.status == "dead_lettered"
        assert TOKEN not in json.dumps(result.to_dict(), default=str)


# -- paths -----------------------------------------------------------------------------------------------


def test_path_interpolation(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("echo", '{ value: "${ data.order_id }" }'))
    result = run(plan, "crm_sync", order_event("O77"))
    assert result.output["raw_path"] == "/echo/O77"


def test_path_values_are_percent_encoded(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, one_call("echo", '{ value: "a/../b c?x=1#f" }'))
    result = run(plan, "crm_sync")

    assert result.status == "succeeded", result.error
    assert result.output["raw_path"] == "/echo/a%2F..%2Fb%20c%3Fx%3D1%23f"


@pytest.mark.parametrize(("auth", "header", "value"), [
    ("{ type: basic, username: svc, password: env:TEST_TOKEN }", "authorization",
     "Basic " + base64.b64encode(f"svc:{TOKEN}".encode()).decode()),
    ("{ type: api_key, token: env:TEST_TOKEN, header: X-Api-Key }", "x-api-key", TOKEN),
])
def test_basic_and_api_key_auth(workspace, server: LiveServer, auth: str, header: str, value: str) -> None:
    plan = compile_flows(workspace, {
        "connectors/erp.yaml": connector(server.url).replace("auth: { type: bearer, token: env:TEST_TOKEN }", f"auth: {auth}"),
        "flows/crm_sync.yaml": flow(one_call("echo", "{ value: x }")),
    })
    result = run(plan, "crm_sync")

    assert result.status == "succeeded", result.error
    [request] = server.state.for_run(result.run_id)
    assert request.headers[header] == value
    assert "authorization" not in request.headers or header == "authorization"

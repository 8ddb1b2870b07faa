"""`auth: { type: oauth2 }` against a real token endpoint: issue, cache, early refresh, 401 refresh."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.compiler.workspace import check_workspace
from runtime.errors import ConnectorError
from tests.connectors._api_server import CLIENT_ID, CLIENT_SECRET, ApiState, api_server
from tests.connectors._calls import call, call_all
from tests.connectors._server import LiveServer
from tests.steps import compile_flows, run


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    server = api_server()
    yield server
    server.stop()


@pytest.fixture
def server(live: LiveServer) -> LiveServer:
    """The module's server with a fresh token store and request log for each test."""
    api = state(live)
    with api.lock:
        api.requests.clear()
        api.issued.clear()
        api.tokens.clear()
        api.token_lifetime = 3600.0
    return live


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_CLIENT_SECRET", CLIENT_SECRET)


def state(server: LiveServer) -> ApiState:
    assert isinstance(server.state, ApiState)
    return server.state


def connector(url: str, **auth: Any) -> str:
    fields = {"type": "oauth2", "token_url": f"{url}/oauth/token", "client_id": CLIENT_ID,
              "client_secret": "env:TEST_CLIENT_SECRET", "scope": "customers.read customers.write", **auth}
    return f"""
connector: api
kind: http
base_url: {url}
auth: {json.dumps(fields)}
operations:
  me: {{ path: /api/me }}
  always401: {{ path: /api/always401 }}
"""


def plan_for(workspace: Any, url: str, **auth: Any) -> Any:
    return compile_flows(workspace, {"connectors/api.yaml": connector(url, **auth)})


def test_token_is_issued_once_and_cached(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    results = call_all(plan, [("api.me", {})] * 3)

    assert results == [{"ok": True}] * 3
    api = state(server)
    assert len(api.issued) == 1
    assert api.issued[0]["scope"] == "customers.read customers.write"
    [token_request] = api.api("/oauth/token")
    assert token_request.headers["authorization"].startswith("Basic ")  # client_secret_basic
    assert token_request.body is None or "client_secret" not in str(token_request.body)
    assert [r.headers["authorization"] for r in api.api("/api/me")] == [f"Bearer {api.issued[0]['token']}"] * 3


def test_client_credentials_in_the_body(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url, client_auth="body", audience="erp")
    assert call(plan, "api.me") == {"ok": True}
    [token_request] = state(server).api("/oauth/token")
    assert "authorization" not in token_request.headers
    assert state(server).issued[0]["audience"] == "erp"


def test_token_is_refreshed_before_it_expires(workspace, server: LiveServer) -> None:
    state(server).token_lifetime = 100  # refresh_before is 60s, capped at half the lifetime: at 50s
    plan = plan_for(workspace, server.url)
    now = [1000.0]
    plan.connectors["api"].auth.clock = lambda: now[0]

    assert call(plan, "api.me") == {"ok": True}
    now[0] += 49
    assert call(plan, "api.me") == {"ok": True}  # cached
    now[0] += 2
    assert call(plan, "api.me") == {"ok": True}  # still valid on the server, but refreshed early

    api = state(server)
    first, second = (f"Bearer {i['token']}" for i in api.issued)
    assert [r.headers["authorization"] for r in api.api("/api/me")] == [first, first, second]


def test_an_expired_token_is_replaced_after_the_401(workspace, server: LiveServer) -> None:
    state(server).token_lifetime = 0.2
    plan = plan_for(workspace, server.url)
    plan.connectors["api"].auth.clock = lambda: 0.0  # the client never thinks it is time to refresh

    assert call(plan, "api.me") == {"ok": True}
    time.sleep(0.3)  # the server lets the token expire
    assert call(plan, "api.me") == {"ok": True}
    api = state(server)
    first, second = (f"Bearer {i['token']}" for i in api.issued)
    assert [r.headers["authorization"] for r in api.api("/api/me")] == [first, first, second]


def test_a_401_refreshes_the_token_once_and_retries(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.me") == {"ok": True}
    state(server).revoke_all()  # e.g. the provider rotated its keys

    assert call(plan, "api.me") == {"ok": True}
    api = state(server)
    first, second = (f"Bearer {i['token']}" for i in api.issued)
    assert [r.headers["authorization"] for r in api.api("/api/me")] == [first, first, second]


def test_a_401_after_the_refresh_is_a_permanent_error(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    with pytest.raises(ConnectorError) as caught:
        call(plan, "api.always401")

    assert (caught.value.error_class, caught.value.transient, caught.value.status) == ("http_401", False, 401)
    assert len(state(server).api("/api/always401")) == 2  # the request and exactly one retry
    assert len(state(server).issued) == 2


def test_wrong_client_secret_is_a_permanent_auth_error_without_the_secret(
    workspace, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_CLIENT_SECRET", "wrong-secret-value")
    plan = plan_for(workspace, server.url)
    result = run(compile_flows(workspace, {
        "connectors/api.yaml": connector(server.url),
        "flows/sync.yaml": "flow: sync\non: { event: shop.order.placed }\nsteps:\n  - { id: me, call: api.me, retry: { attempts: 3 } }\n",
    }), "sync")

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.auth", False, 1)
    assert "401" in result.error["message"]
    assert "wrong-secret-value" not in json.dumps(result.to_dict(), default=str)
    assert state(server).api("/api/me") == []  # nothing went out without a token
    del plan


def test_oauth2_needs_its_fields(workspace) -> None:
    root = workspace({"connectors/api.yaml": "connector: api\nkind: http\nbase_url: http://127.0.0.1:1\n"
                                             "auth: { type: oauth2, client_id: x }\noperations: { me: { path: /me } }\n"})
    report = check_workspace(root)
    assert [str(d) for d in report.diagnostics] == [
        "connectors/api.yaml:4:7: auth: auth type oauth2 needs token_url, client_secret [spec.value_error]"
    ]

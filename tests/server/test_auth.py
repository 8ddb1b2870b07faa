"""Tokens and roles: every endpoint of the route table against every kind of caller."""

from __future__ import annotations

import re

import pytest

from runtime.compiler.plan import Plan
from runtime.server import route_table
from runtime.server.auth import RANK, Auth, AuthConfigError
from runtime.spec.settings import WorkspaceSettings
from tests.server.conftest import ADMIN, INGRESS, OPERATOR, VIEWER, MakeClient, bearer, state_of

CALLERS = {
    "none": None,
    "unknown": "not-a-token-at-all",
    "viewer": VIEWER,
    "operator": OPERATOR,
    "admin": ADMIN,
    "ingress": INGRESS,
}


def _allowed(need: str, caller: str) -> bool:
    if need == "open":
        return True
    if need == "ingress":
        return caller == "ingress"
    return caller in RANK and RANK[caller] >= RANK[need]


def test_every_endpoint_against_every_caller(make_client: MakeClient, secured_plan: Plan) -> None:
    client = make_client(secured_plan, concurrency=0)
    table = [e for e in route_table(state_of(client)) if e.access != "hmac"]
    assert {e.access for e in table} == {"open", "viewer", "operator", "admin", "ingress"}
    checked = 0
    for endpoint in table:
        url = re.sub(r"\{[^}]+\}", "x1", endpoint.path)
        for caller, token in CALLERS.items():
            headers = bearer(token) if token else {}
            answer = client.request(endpoint.method, url, headers=headers, json={})
            where = f"{endpoint.method} {endpoint.path} as {caller}: {answer.status_code} {answer.text[:200]}"
            if _allowed(endpoint.access, caller):
                assert answer.status_code not in (401, 403), where
            elif token is None or caller == "unknown":
                assert answer.status_code == 401, where
                assert answer.headers["www-authenticate"].startswith("Bearer")
                assert answer.json()["code"] in ("auth.missing_token", "auth.invalid_token")
            else:
                assert answer.status_code == 403, where
                assert answer.json()["code"] == "auth.forbidden"
            checked += 1
    assert checked == len(table) * len(CALLERS)


def test_a_role_shortfall_names_both_roles(make_client: MakeClient, secured_plan: Plan) -> None:
    client = make_client(secured_plan, concurrency=0)
    answer = client.post(
        "/api/dead-letters/x/discard", headers=bearer(VIEWER), json={"reason": "r"}
    )
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this needs the operator role; the token grafana has viewer"


def test_health_is_open_even_when_tokens_are_configured(
    make_client: MakeClient, secured_plan: Plan
) -> None:
    client = make_client(secured_plan)
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert client.get("/metrics").status_code == 401
    assert client.get("/api/status").status_code == 401


def test_without_tokens_a_loopback_server_is_open(make_client: MakeClient, open_plan: Plan) -> None:
    client = make_client(open_plan)
    assert client.get("/api/status").status_code == 200
    assert client.post("/api/reload").status_code == 200
    assert "open" in client.get("/api/status").json()["server"]["auth"]


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3", "::"])
def test_without_tokens_a_public_bind_is_refused(host: str) -> None:
    with pytest.raises(AuthConfigError, match="without tokens"):
        Auth.from_settings(WorkspaceSettings(), host)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_addresses(host: str) -> None:
    assert Auth.from_settings(WorkspaceSettings(), host).open


def test_a_token_reference_that_does_not_resolve_names_the_variable() -> None:
    settings = WorkspaceSettings.model_validate(
        {"tokens": [{"token": "env:SEAMLINE_TEST_NOT_SET", "role": "admin"}]}
    )
    with pytest.raises(AuthConfigError, match="env:SEAMLINE_TEST_NOT_SET is not set"):
        Auth.from_settings(settings, "0.0.0.0")


def test_tokens_are_kept_only_as_digests(secured_plan: Plan) -> None:
    auth = Auth.from_settings(secured_plan.settings, "0.0.0.0")
    assert not auth.open and len(auth.api) == 3 and len(auth.ingress) == 1
    kept = repr(auth)
    assert all(token not in kept for token in (VIEWER, OPERATOR, ADMIN, INGRESS))


def test_a_literal_token_is_rejected_by_the_settings_schema() -> None:
    with pytest.raises(ValueError, match="pattern"):
        WorkspaceSettings.model_validate({"tokens": [{"token": "s3cr3t", "role": "viewer"}]})

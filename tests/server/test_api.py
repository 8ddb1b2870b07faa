"""The ops API: flows, runs, dead letters (replay, discard), contracts, status, metrics, OpenAPI."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from runtime.compiler.plan import Plan
from tests.server.conftest import (
    ADMIN,
    OPERATOR,
    VIEWER,
    MakeClient,
    bearer,
    order,
    state_of,
    wait_for_runs,
)


@pytest.fixture
def client(make_client: MakeClient, open_plan: Plan):  # type: ignore[no-untyped-def]
    return make_client(open_plan)


def test_flows_with_their_versions(client, open_plan: Plan) -> None:  # type: ignore[no-untyped-def]
    flows = client.get("/api/flows").json()
    assert flows["workspace_hash"] == open_plan.workspace_hash
    by_name = {f["name"]: f for f in flows["flows"]}
    assert sorted(by_name) == ["book", "ship"]
    book = by_name["book"]
    assert book["event"] == "shop.order.placed" and book["file"] == "flows/book.yaml"
    assert book["versions"] == [
        {
            "hash": book["hash"],
            "version": "1.0.0",
            "first_served": book["versions"][0]["first_served"],
            "current": True,
        }
    ]
    detail = client.get("/api/flows/book").json()
    assert [s["id"] for s in detail["steps"]] == ["reserve", "mark"]
    assert client.get("/api/flows/nope").status_code == 404


def test_runs_with_filters_and_a_run_with_its_steps(client) -> None:  # type: ignore[no-untyped-def]
    for n in (1, 2, 3):
        assert client.post("/events", json=order(f"O{n}")).status_code == 202
    runs = wait_for_runs(client, 3, flow="book")
    assert {r["key"] for r in runs} == {"O1", "O2", "O3"}
    only = client.get("/api/runs", params={"key": "O2"}).json()["runs"]
    assert [r["key"] for r in only] == ["O2"]
    assert len(client.get("/api/runs", params={"limit": 2}).json()["runs"]) == 2
    assert client.get("/api/runs", params={"status": "nope"}).status_code == 400
    assert client.get("/api/runs", params={"limit": "0"}).status_code == 400
    run_id = only[0]["id"]
    detail = client.get(f"/api/runs/{run_id}").json()
    assert detail["run"]["output"] == {"marker": "v1", "reservation": "R-A"}
    assert [(s["label"], s["status"]) for s in detail["steps"]] == [
        ("reserve", "succeeded"),
        ("mark", "succeeded"),
    ]
    assert [a["to_status"] for a in detail["audit"]] == ["pending", "running", "succeeded"]
    steps = client.get(f"/api/runs/{run_id}/steps").json()["steps"]
    assert steps[0]["input"] == {"sku": "A"}
    assert client.get("/api/runs/nope").status_code == 404


def test_dead_letters_replay_and_discard(make_client: MakeClient, secured_plan: Plan) -> None:
    client = make_client(secured_plan)
    viewer, operator = bearer(VIEWER), bearer(OPERATOR)
    ingress = bearer("ingress-token-0123")
    assert client.post("/events", json=order("O999"), headers=ingress).status_code == 202
    [dead] = wait_for_runs(client, 1, status="dead_lettered")
    assert dead["flow"] == "ship" and dead["error"]["code"] == "connector.permanent"
    listed = client.get("/api/dead-letters", headers=viewer).json()["runs"]
    assert [r["id"] for r in listed] == [dead["id"]]
    assert (
        client.get("/api/dead-letters", params={"error": "other"}, headers=viewer).json()["runs"]
        == []
    )
    shown = client.get(f"/api/dead-letters/{dead['id']}", headers=viewer).json()
    assert shown["failed_step"]["label"] == "ship"

    replayed = client.post(f"/api/dead-letters/{dead['id']}/replay", headers=operator, json={})
    assert replayed.status_code == 202
    assert replayed.json()["replaying"] == "from the failed step"
    assert replayed.json()["run"]["status"] == "pending"
    [again] = wait_for_runs(client, 1, status="dead_lettered")
    assert again["replays"] == 1

    latest = client.post(
        f"/api/dead-letters/{dead['id']}/replay",
        headers=operator,
        json={"latest": True, "from_start": True},
    )
    assert latest.json()["replaying"] == "from the start"
    wait_for_runs(client, 1, status="dead_lettered")
    assert (
        client.post(
            f"/api/dead-letters/{dead['id']}/discard", headers=operator, json={}
        ).status_code
        == 400
    )
    assert (
        client.post(
            f"/api/dead-letters/{dead['id']}/discard", headers=operator, content=b"[1]"
        ).status_code
        == 400
    )
    discarded = client.post(
        f"/api/dead-letters/{dead['id']}/discard",
        headers=operator,
        json={"reason": "merged by hand"},
    )
    assert discarded.status_code == 200 and discarded.json()["run"]["status"] == "discarded"
    audit = client.get(f"/api/runs/{dead['id']}", headers=viewer).json()["audit"]
    assert audit[-1]["detail"] == {"reason": "merged by hand (by ops)"}
    conflict = client.post(f"/api/dead-letters/{dead['id']}/replay", headers=operator, json={})
    assert (
        conflict.status_code == 409
        and "only dead-lettered or failed runs" in conflict.json()["detail"]
    )
    again_discard = client.post(
        f"/api/dead-letters/{dead['id']}/discard", headers=operator, json={"reason": "x"}
    )
    assert again_discard.status_code == 409
    assert (
        client.post("/api/dead-letters/nope/replay", headers=operator, json={}).status_code == 404
    )


def test_contracts(client) -> None:  # type: ignore[no-untyped-def]
    contracts = client.get("/api/contracts").json()["contracts"]
    assert [c["type"] for c in contracts] == ["shop.order.accepted", "shop.order.placed"]
    assert contracts[1]["versions"][0]["file"] == "contracts/shop.order.placed/v1.schema.json"
    detail = client.get("/api/contracts/shop.order.placed").json()
    assert detail["compatibility"] == "BACKWARD_TRANSITIVE"
    assert detail["versions"][0]["schema"]["required"] == ["order_id", "currency", "lines"]
    assert client.get("/api/contracts/nope").status_code == 404


def test_status_and_reload(client, open_plan: Plan) -> None:  # type: ignore[no-untyped-def]
    status = client.get("/api/status").json()
    assert status["workspace"]["hash"] == open_plan.workspace_hash
    assert status["workspace"]["flows"] == 2 and status["errors"] == []
    assert status["last_reload"]["trigger"] == "startup"
    assert status["server"]["ready"] is True and status["workers"]["concurrency"] == 4
    reloaded = client.post("/api/reload").json()
    assert reloaded["ok"] is True and reloaded["trigger"] == "api"
    assert reloaded["old_hash"] == reloaded["new_hash"] == open_plan.workspace_hash
    history = client.get("/api/status", params={"history": 5}).json()["reloads"]
    assert [r["trigger"] for r in history] == ["api", "startup"]


def test_health_and_readiness(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    state = state_of(client)

    async def broken() -> dict[str, int]:
        raise OSError("disk gone")

    original = state.store.counts
    state.store.counts = broken  # type: ignore[method-assign]
    try:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert answer.json()["problems"] == ["store unreachable: OSError: disk gone"]
    finally:
        state.store.counts = original  # type: ignore[method-assign]


def test_metrics_in_prometheus_text_format(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/events", json=order("O1"))
    client.post("/events", json=order("O2", data={"currency": "YEN"}))
    client.post("/events", json=order("O999"))
    wait_for_runs(client, 1, status="dead_lettered")
    wait_for_runs(client, 2)
    answer = client.get("/metrics")
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = answer.text
    for line in (
        'seamline_events_accepted_total{ingress="events"} 2',
        'seamline_events_rejected_total{ingress="events",code="contract.violation"} 1',
        'seamline_runs_finished_total{flow="book",status="succeeded"} 2',
        'seamline_runs_finished_total{flow="ship",status="dead_lettered"} 1',
        'seamline_dead_letters_total{flow="ship",code="connector.permanent"} 1',
        'seamline_runs{status="succeeded"} 2',
        'seamline_step_duration_seconds_count{flow="book",kind="call",status="succeeded"} 2',
        'seamline_step_duration_seconds_bucket{flow="book",kind="set",status="succeeded",le="+Inf"} 2',
        "# TYPE seamline_step_duration_seconds histogram",
        "seamline_backlog 0",
    ):
        assert line in text, line
    for sample in (line for line in text.splitlines() if line and not line.startswith("#")):
        assert re.fullmatch(r"[a-z_]+(\{[^}]*\})? [0-9.e+-]+|[a-z_]+(\{[^}]*\})? \+Inf", sample), (
            sample
        )


def test_the_openapi_document_is_valid_and_complete(client) -> None:  # type: ignore[no-untyped-def]
    document = client.get("/api/openapi.json").json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    paths = document["paths"]
    for path_, method in (
        ("/events", "post"),
        ("/hooks/{source}", "post"),
        ("/api/runs", "get"),
        ("/api/dead-letters/{run_id}/replay", "post"),
        ("/api/status", "get"),
        ("/healthz", "get"),
        ("/metrics", "get"),
    ):
        assert method in paths[path_], path_
    assert paths["/healthz"]["get"]["security"] == []
    assert paths["/api/dead-letters/{run_id}/replay"]["post"]["x-seamline-role"] == "operator"
    assert paths["/events"]["post"]["security"] == [{"ingressToken": []}]
    ids = [op["operationId"] for ops in paths.values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_unknown_paths_and_methods_answer_problem_documents(client) -> None:  # type: ignore[no-untyped-def]
    missing = client.get("/api/nothing")
    assert missing.status_code == 404 and missing.json()["code"] == "api.not_found"
    wrong = client.delete("/api/runs")
    assert wrong.status_code == 405 and wrong.json()["code"] == "api.method_not_allowed"


def test_admin_can_reload_with_a_token(make_client: MakeClient, secured_plan: Plan) -> None:
    client = make_client(secured_plan, concurrency=0)
    assert client.post("/api/reload", headers=bearer(ADMIN)).json()["ok"] is True

"""POST /events: structured, binary and batched CloudEvents; 202 after the commit; 400/413/415/422/429/503."""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
import pytest

from runtime.compiler.plan import Plan
from runtime.server._cloudevents import BATCH, STRUCTURED
from tests.server.conftest import MakeClient, order, state_of, wait_for_runs


def test_structured_event_is_accepted_after_the_commit_with_run_references(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    answer = client.post("/events", json=order("O1"), headers={"content-type": STRUCTURED})
    assert answer.status_code == 202
    body = answer.json()
    assert body["seq"] == 1 and body["duplicate"] is False
    assert answer.headers["location"] == "/api/events/1"
    book = open_plan.flows["book"]
    assert body["runs"] == [
        {
            "flow": "book",
            "version": "1.0.0",
            "hash": book.content_hash,
            "variant": None,
            "key": "O1",
        }
    ]
    # durable before the answer: the event is in the store's inbox
    stored = client.get("/api/events/1").json()
    assert stored["body"]["id"] == "evt-O1" and stored["type"] == "shop.order.placed"
    runs = wait_for_runs(client, 1, flow="book")
    assert runs[0]["key"] == "O1" and runs[0]["output"] == {"marker": "v1", "reservation": "R-A"}


def test_the_preview_applies_the_flow_filter(make_client: MakeClient, open_plan: Plan) -> None:
    client = make_client(open_plan, concurrency=0)
    answer = client.post("/events", json=order("O2", data={"currency": "GBP"}))
    assert answer.status_code == 202 and answer.json()["runs"] == []
    shipped = client.post("/events", json=order("O999"))
    assert [r["flow"] for r in shipped.json()["runs"]] == ["book", "ship"]


def test_a_duplicate_is_acknowledged_and_starts_nothing(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    first = client.post("/events", json=order("O1")).json()
    again = client.post("/events", json=order("O1"))
    assert again.status_code == 202
    assert again.json()["duplicate"] is True and again.json()["seq"] == first["seq"]
    state = state_of(client)
    assert state.metrics.events_duplicate.value("events") == 1
    assert state.metrics.events_accepted.value("events") == 2
    assert len(wait_for_runs(client, 1)) == 1


def test_an_envelope_problem_is_400_with_its_json_path(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    event = order("O1")
    del event["source"]
    answer = client.post("/events", json=event)
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["code"] == "envelope.invalid" and problem["status"] == 400
    assert any(
        "source" in v["message"] or v["path"].endswith("source") for v in problem["violations"]
    )
    assert state_of(client).metrics.events_rejected.value("events", "envelope.invalid") == 1


def test_a_contract_violation_is_422_naming_the_contract_and_the_path(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    answer = client.post("/events", json=order("O1", data={"lines": [{"sku": "A", "qty": 0}]}))
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "contract.violation"
    assert problem["contract"] == "shop.order.placed v1"
    assert problem["violations"][0]["path"] == "$.data.lines[0].qty"
    assert "$.data.lines[0].qty" in problem["detail"]


def test_an_id_the_inbox_cannot_index_is_400(make_client: MakeClient, open_plan: Plan) -> None:
    """A NUL character, or more than 1,024 characters, in source/id/type/subject: refused up
    front on every store backend (PostgreSQL cannot store a NUL, nor index a very long key)."""
    client = make_client(open_plan)
    for ident, message in (
        ("a\x00b", "'id' contains a NUL character"),
        ("x" * 1025, "'id' is 1,025 characters long (at most 1,024)"),
    ):
        answer = client.post("/events", json=order("O1", id=ident))
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "envelope.invalid"
        assert answer.json()["violations"] == [{"path": "$.id", "message": message}]


def test_an_event_type_without_a_contract_is_422(make_client: MakeClient, open_plan: Plan) -> None:
    client = make_client(open_plan)
    answer = client.post("/events", json=order("O1", type="shop.order.lost"))
    assert answer.status_code == 422 and answer.json()["code"] == "contract.unknown"
    assert "shop.order.lost" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        (b"{not json", "application/json", 400, "envelope.not_json"),
        (b"[]", "application/json", 400, "envelope.not_object"),
        (b"{}", BATCH, 400, "envelope.not_batch"),
        (b"<event/>", "application/xml", 415, "envelope.media_type"),
    ],
)
def test_bodies_that_carry_no_events(
    make_client: MakeClient,
    open_plan: Plan,
    content: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    client = make_client(open_plan)
    answer = client.post("/events", content=content, headers={"content-type": content_type})
    assert (answer.status_code, answer.json()["code"]) == (status, code)


def test_binary_mode_takes_attributes_from_ce_headers(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "bin-1",
        "ce-source": "/shop%2Fweb",  # percent-encoded, as the HTTP binding says
        "ce-type": "shop.order.placed",
        "ce-subject": "O7",
        "content-type": "application/json; charset=utf-8",
    }
    data = {"order_id": "O7", "currency": "USD", "lines": [{"sku": "Z", "qty": 1}]}
    answer = client.post("/events", content=json.dumps(data), headers=headers)
    assert answer.status_code == 202, answer.text
    stored = client.get(f"/api/events/{answer.json()['seq']}").json()["body"]
    assert stored["source"] == "/shop/web" and stored["subject"] == "O7"
    assert stored["data"] == data and stored["datacontenttype"].startswith("application/json")
    runs = wait_for_runs(client, 1)
    assert runs[0]["output"]["reservation"] == "R-Z"


def test_binary_mode_data_is_checked_against_the_contract(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "b2",
        "ce-source": "/shop",
        "ce-type": "shop.order.placed",
    }
    answer = client.post(
        "/events",
        content=b'{"order_id": "X"}',
        headers={**headers, "content-type": "application/json"},
    )
    assert answer.status_code == 422 and answer.json()["code"] == "contract.violation"


def test_a_batch_answers_every_event_and_commits_the_good_ones(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    bad_envelope = order("O3")
    del bad_envelope["id"]
    batch = [
        order("O1"),
        order("O2", data={"currency": "YEN"}),
        bad_envelope,
        order("O4"),
        order("O1"),  # a duplicate of the first
    ]
    answer = client.post("/events", content=orjson.dumps(batch), headers={"content-type": BATCH})
    assert answer.status_code == 207
    body = answer.json()
    assert (body["accepted"], body["rejected"]) == (3, 2)
    results = body["results"]
    assert [r.get("status") for r in results] == ["accepted", 422, 400, "accepted", "accepted"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert results[1]["violations"][0]["path"] == "$.data.currency"
    assert results[4]["duplicate"] is True and results[4]["seq"] == results[0]["seq"]
    assert {r["key"] for r in wait_for_runs(client, 2)} == {"O1", "O4"}


def test_a_batch_of_good_events_is_202_and_of_bad_ones_is_4xx(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan, concurrency=0)
    good = client.post(
        "/events",
        content=orjson.dumps([order("O21"), order("O22")]),
        headers={"content-type": BATCH},
    )
    assert good.status_code == 202 and good.json()["accepted"] == 2
    bad = client.post(
        "/events",
        content=orjson.dumps([order("O31", type="nope.nope")]),
        headers={"content-type": BATCH},
    )
    assert bad.status_code == 422 and bad.json()["accepted"] == 0
    empty = client.post("/events", content=b"[]", headers={"content-type": BATCH})
    assert empty.status_code == 202 and empty.json()["results"] == []


def test_a_body_over_the_limit_is_413_by_content_length(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    limit = open_plan.settings.max_event_bytes
    event = order("O71", data={"note": "x" * limit})
    answer = client.post("/events", json=event)
    assert answer.status_code == 413
    assert answer.json()["code"] == "ingress.too_large" and answer.json()["limit"] == limit


def test_a_streamed_body_is_cut_off_at_the_limit(make_client: MakeClient, open_plan: Plan) -> None:
    client = make_client(open_plan)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
        for _ in range(64):
            sent.append(1)
            yield b" " * 65536

    answer = client.post("/events", content=chunks(), headers={"content-type": "application/json"})
    assert answer.status_code == 413
    assert state_of(client).metrics.events_rejected.value("events", "ingress.too_large") == 1


def test_backpressure_is_429_with_retry_after(make_client: MakeClient, open_plan: Plan) -> None:
    client = make_client(open_plan, concurrency=0, backlog_ttl=0.0)  # nothing drains the inbox
    state = state_of(client)
    object.__setattr__(
        state.plans.current, "settings", open_plan.settings.model_copy(update={"max_backlog": 3})
    )
    try:
        for n in range(4):
            assert client.post("/events", json=order(f"O5{n}")).status_code == 202
        answer = client.post("/events", json=order("O59"))
        assert answer.status_code == 429
        assert answer.headers["retry-after"] == "2"
        assert answer.json()["code"] == "ingress.backlog" and answer.json()["backlog"] == 4
        status = client.get("/api/status").json()
        assert status["backlog"] == 4 and status["max_backlog"] == 3
    finally:
        object.__setattr__(state.plans.current, "settings", open_plan.settings)


def test_a_draining_server_refuses_events_with_503(
    make_client: MakeClient, open_plan: Plan
) -> None:
    client = make_client(open_plan)
    state = state_of(client)
    state.draining = True
    answer = client.post("/events", json=order("O61"))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200
    state.draining = False

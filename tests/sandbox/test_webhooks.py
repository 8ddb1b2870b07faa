"""Signed CloudEvents webhooks: verifiable signatures, valid contracts, and a business day driven
entirely by what the systems announce (the way `seamline demo` plays it)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from runtime.sandbox import SIGNATURE_HEADER, Sandbox, sign, verify
from tests.sandbox._support import SECRET, Runner, WebhookReceiver, client, example, wait_until

BODY = b'{"specversion":"1.0","type":"erp.invoice.posted","data":{"total":34560}}'


def test_signature_scheme() -> None:
    header = sign("s3cret", BODY, timestamp=1_800_000_000)
    assert header.startswith("t=1800000000,v1=") and len(header.split("v1=")[1]) == 64
    assert verify("s3cret", BODY, header, now=1_800_000_010)
    assert not verify("s3cret", BODY.replace(b"34560", b"3456"), header, now=1_800_000_010)
    assert not verify("other", BODY, header, now=1_800_000_010)
    assert not verify("s3cret", BODY, header, now=1_800_000_400)  # older than the tolerance
    assert not verify("s3cret", BODY, None) and not verify("s3cret", BODY, "v1=abc")
    rotated = f"{header},v1={'0' * 64}"  # a second signature (key rotation) does not hurt
    assert verify("s3cret", BODY, rotated, now=1_800_000_010)


def test_deliveries_are_signed_cloudevents(
    sandbox: Sandbox, receiver: WebhookReceiver, flows: Runner
) -> None:
    account = (
        client(sandbox, "crm")
        .post(
            "/accounts",
            json={
                "name": "Dunmore Freight Ltd",
                "tax_id": "GB812003004",
                "country": "GB",
                "legal_entity": "UK01",
                "currency": "GBP",
                "owner_email": "tom.ashworth@meridian-consulting.example",
                "billing_address": {
                    "line1": "9 Dock St",
                    "city": "Hull",
                    "postal_code": "HU1 1TB",
                    "country": "GB",
                },
            },
        )
        .json()
    )
    delivery = receiver.wait_for("crm.account.upserted", account["id"])
    assert delivery.headers["content-type"] == "application/cloudevents+json"
    assert delivery.headers["user-agent"] == "seamline-sandbox-crm/1.0"
    signature = delivery.headers[SIGNATURE_HEADER.lower()]
    assert verify(SECRET, delivery.body, signature)
    assert not verify(SECRET, delivery.body + b" ", signature)  # tampered body
    assert not verify("sandbox-webhook-secret", delivery.body, signature)  # the default secret
    event = delivery.event
    assert (event["specversion"], event["source"]) == ("1.0", "/crm/salesforce")
    assert event["dataschema"] == "urn:seamline:contract:crm.account.upserted:v1"
    check = flows.plan.contracts.check_event(event)
    assert check.ok, check.describe()
    outbox = (
        client(sandbox, "crm").get("/_admin/events", params={"type": "crm.account.upserted"}).json()
    )
    mine = [e for e in outbox["items"] if e["subject"] == account["id"]]
    assert mine[0]["status"] == "delivered" and mine[0]["event_id"] == event["id"]
    # a redelivery sends the same CloudEvent again (same id: consumers de-duplicate)
    client(sandbox, "crm").post(f"/_admin/events/{mine[0]['seq']}/redeliver")
    wait_until(lambda: len(receiver.all("crm.account.upserted", account["id"])) == 2)
    assert {d.event["id"] for d in receiver.all("crm.account.upserted", account["id"])} == {
        event["id"]
    }


def test_undeliverable_webhooks_are_kept_and_retried(
    sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    sandbox.set_webhook("http://127.0.0.1:9/nobody-listens")
    try:
        note_parent = (
            client(sandbox, "crm").post("/accounts", json={"name": "Eskdale Mills"}).json()
        )
        subject = note_parent["id"]

        def attempted() -> Any:
            events = sandbox.crm.webhooks.events("crm.account.upserted")
            return [e for e in events if e["subject"] == subject and e["attempts"] >= 1]

        (entry,) = wait_until(attempted)
        assert entry["status"] == "pending" and "ConnectError" in entry["last_error"]
    finally:
        sandbox.set_webhook(receiver.url)
    sandbox.crm.webhooks.redeliver(entry["seq"])  # no need to wait for the backoff
    receiver.wait_for("crm.account.upserted", subject)
    assert sandbox.wait_delivered(timeout=5)


def _valid(flows: Runner, event: dict[str, Any]) -> dict[str, Any]:
    check = flows.plan.contracts.check_event(event)
    assert check.ok, check.describe()
    return event


def _run(flows: Runner, flow: str, event: dict[str, Any]) -> Any:
    result = flows.run(flow, event)
    assert result.status == "succeeded", (flow, result.error)
    return result.output


def test_a_day_driven_by_webhooks(
    sandbox: Sandbox, receiver: WebhookReceiver, flows: Runner
) -> None:
    """Sales wins a deal, delivery books time, Finance posts and collects — each system
    announces its change, and the announced event runs the flow that reacts to it."""
    crm, psa, erp = client(sandbox, "crm"), client(sandbox, "psa"), client(sandbox, "erp")
    template = example("crm.opportunity.closed_won/examples/valid/time_and_materials_de.json")[
        "data"
    ]
    snapshot = template["account"]
    account = crm.post(
        "/accounts",
        json={
            **{k: v for k, v in snapshot.items() if k != "account_id"},
            "tax_id": "DE901234567",
            "legal_entity": "DE01",
            "currency": "EUR",
            "owner_email": template["owner_email"],
        },
    ).json()
    upserted = _valid(flows, receiver.wait_for("crm.account.upserted", account["id"]).event)
    assert _run(flows, "account_sync", upserted)["action"] == "created"

    opportunity = crm.post(
        "/opportunities",
        json={
            **{
                k: v
                for k, v in template.items()
                if k not in ("opportunity_id", "account", "stage", "close_date")
            },
            "account_id": account["id"],
            "stage": "Negotiation",
            "purchase_order": "PO-DE-5531",
        },
    ).json()
    assert (
        crm.post(
            f"/opportunities/{opportunity['id']}/close-won", json={"close_date": "2026-11-02"}
        ).status_code
        == 200
    )
    won = _valid(flows, receiver.wait_for("crm.opportunity.closed_won", opportunity["id"]).event)
    assert won["dataschema"].endswith(":v2")  # it carries a purchase order
    provisioned = _run(flows, "opportunity_to_project", won)
    project_id = provisioned["project_id"]

    change = crm.post(
        "/change-orders",
        json={
            "opportunity_id": opportunity["id"],
            "reason": "Add a second test bench",
            "amount_delta": 9550,
            "hours_delta": 100,
            "lines": [
                {
                    "line_id": "OLI-004",
                    "change_type": "added",
                    "description": "Second HIL bench",
                    "role": "Test Engineer",
                    "hours": 100,
                    "rate": 95.5,
                    "amount": 9550,
                }
            ],
        },
    ).json()
    assert change["project_id"] == project_id  # the CRM knows the project from the write-back
    crm.post(
        f"/change-orders/{change['id']}/approve", json={"approved_by": "f.brandt@kessler.example"}
    )
    approved = _valid(flows, receiver.wait_for("crm.change_order.approved", change["id"]).event)
    assert _run(flows, "change_order", approved)["task_ids"][0].startswith("TSK-")

    tasks = psa.get(f"/projects/{project_id}/tasks").json()["items"]
    timesheet = psa.post(
        "/timesheets",
        json={
            "project_id": project_id,
            "employee_id": "EMP-30077",
            "employee_name": "Lena Vogt",
            "role": "Embedded Software Engineer",
            "week_start": "2026-11-09",
            "entries": [
                {"date": "2026-11-09", "task_id": tasks[0]["id"], "hours": 8, "billable": True},
                {"date": "2026-11-10", "task_id": tasks[1]["id"], "hours": 7.5, "billable": True},
            ],
        },
    ).json()
    psa.post(
        f"/timesheets/{timesheet['id']}/approve",
        json={"approved_by": "markus.becker@meridian-consulting.example"},
    )
    approved_time = _valid(
        flows, receiver.wait_for("psa.timesheet.approved", timesheet["id"]).event
    )
    invoice_id = _run(flows, "time_to_invoice", approved_time)["invoice_id"]

    erp.post(f"/invoices/{invoice_id}/post")
    posted = _valid(flows, receiver.wait_for("erp.invoice.posted", invoice_id).event)
    assert posted["data"]["total"] == 2305.63  # 15.5 h x EUR 125 + 19 % VAT
    assert _run(flows, "invoice_status", posted)["billed_to_date"] == 1937.5
    payment = erp.post(
        f"/invoices/{invoice_id}/payments",
        json={
            "amount": 2305.63,
            "currency": "EUR",
            "received_on": "2026-12-20",
            "method": "sepa",
            "reference": f"RE {invoice_id}",
        },
    ).json()
    paid = _valid(flows, receiver.wait_for("erp.payment.received", payment["id"]).event)
    assert _run(flows, "payment_received", paid) == {
        "crm_account_id": account["id"],
        "invoice_amount_due": 0,
    }
    status = crm.get(f"/accounts/{account['id']}").json()["integration"]
    assert (status["receivables_status"], status["open_balance"]) == ("invoice_paid", 0)
    assert crm.get(f"/opportunities/{opportunity['id']}").json()["amount"] == 217040 + 9550


@pytest.mark.parametrize("action", ["close-won", "approve"])
def test_actions_are_not_repeated(sandbox: Sandbox, action: str) -> None:
    crm = client(sandbox, "crm")
    account = crm.post("/accounts", json={"name": "Fenwick Ltd"}).json()
    opportunity = crm.post("/opportunities", json={"name": "F", "account_id": account["id"]}).json()
    assert crm.post(f"/opportunities/{opportunity['id']}/close-won").status_code == 200
    if action == "close-won":
        answer = crm.post(f"/opportunities/{opportunity['id']}/close-won")
    else:
        change = crm.post(
            "/change-orders",
            json={
                "opportunity_id": opportunity["id"],
                "reason": "r",
                "amount_delta": 1,
                "hours_delta": 0,
                "lines": [{"line_id": "OLI-001"}],
            },
        ).json()
        crm.post(f"/change-orders/{change['id']}/approve", json={"approved_by": "a@b.example"})
        answer = crm.post(
            f"/change-orders/{change['id']}/approve", json={"approved_by": "a@b.example"}
        )
    assert answer.status_code == 409


def test_an_event_the_receiver_refuses_is_not_retried(
    sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    """A 422 (say, a contract violation) cannot change on a retry: delivery ends as `rejected`;
    a 503 is retried."""
    answers = iter([503, 422])  # then 422 for good

    async def refuse(request: Any) -> JSONResponse:
        return JSONResponse({"code": "contract.violation"}, status_code=next(answers, 422))

    sock = socket.socket()  # a receiver that refuses, on a free port
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hooks/crm", refuse, methods=["POST"])]),
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    sandbox.set_webhook(f"http://127.0.0.1:{sock.getsockname()[1]}/hooks/crm", None, "crm")
    try:
        account = client(sandbox, "crm").post("/accounts", json={"name": "Refused Ltd"}).json()

        def settled() -> Any:
            events = sandbox.crm.webhooks.events("crm.account.upserted")
            return [e for e in events if e["subject"] == account["id"] and e["status"] != "pending"]

        (entry,) = wait_until(settled, timeout=10)
        assert (entry["status"], entry["attempts"]) == ("rejected", 2)  # 503 retried, 422 final
        assert entry["last_error"].startswith("HTTP 422")
    finally:
        sandbox.set_webhook(receiver.url, None, "crm")
        server.should_exit = True
        thread.join(timeout=5)
        sock.close()

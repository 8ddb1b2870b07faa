"""Every operation of connectors/crm.yaml, psa.yaml and erp.yaml, called through seamline's http
connector against the simulated systems — including the answers a careless caller gets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from runtime.sandbox import Sandbox
from tests.sandbox._support import CallFailed, Runner, WebhookReceiver, client, connector_operations

ADDRESS = {"line1": "1 Quayside", "city": "Newcastle", "postal_code": "NE1 3DE", "country": "GB"}


class Tracked:
    """Calls operations of one connector and remembers which ones were called."""

    def __init__(self, flows: Runner, connector: str) -> None:
        self.flows = flows
        self.connector = connector
        self.called: set[str] = set()

    def __call__(self, operation: str, payload: dict[str, Any]) -> Any:
        self.called.add(operation)
        return self.flows.call(f"{self.connector}.{operation}", payload)

    def fails(self, operation: str, payload: dict[str, Any], status: int) -> dict[str, Any]:
        self.called.add(operation)
        with pytest.raises(CallFailed) as failed:
            self.flows.call(f"{self.connector}.{operation}", payload)
        error = failed.value.error
        assert error["code"] == f"connector.http_{status}", error
        assert error["transient"] is (status in (408, 429) or status >= 500)
        return error

    def assert_all_called(self) -> None:
        assert self.called == set(connector_operations()[self.connector])


def test_every_crm_operation(flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver) -> None:
    crm, api = Tracked(flows, "crm"), client(sandbox, "crm")
    account = api.post(
        "/accounts",
        json={
            "name": "Aurora Analytics Ltd",
            "tax_id": "GB555444333",
            "country": "GB",
            "legal_entity": "UK01",
            "currency": "GBP",
            "billing_address": ADDRESS,
            "owner_email": "amy.shaw@meridian-consulting.example",
        },
    ).json()
    assert re.fullmatch(r"ACC-2\d{4}", account["id"])  # UK01 accounts are ACC-2xxxx
    assert crm("get_account", {"id": account["id"]})["name"] == "Aurora Analytics Ltd"
    assert crm("get_account", {"id": "ACC-99999"}) is None  # not_found: "null"
    assert (
        crm("update_account", {"id": account["id"], "industry": "Analytics"})["industry"]
        == "Analytics"
    )
    upserted = receiver.wait_for("crm.account.upserted", account["id"], lambda d: "industry" in d)
    assert flows.plan.contracts.check_event(upserted.event).ok
    crm.fails("update_account", {"id": account["id"], "favourite_colour": "teal"}, 422)
    status = crm(
        "update_account_status",
        {"id": account["id"], "erp_customer_id": "CUS-200777", "erp_sync_status": "synced"},
    )
    assert status["erp_customer_id"] == "CUS-200777"
    assert (
        crm("find_account_by_erp_customer", {"erp_customer_id": "CUS-200777"})["id"]
        == account["id"]
    )
    assert crm("find_account_by_erp_customer", {"erp_customer_id": "CUS-000000"}) is None
    assert crm("find_account_by_tax_id", {"tax_id": account["tax_id"]})["id"] == account["id"]
    assert crm("find_account_by_tax_id", {"tax_id": "GB000000000"}) is None
    opportunity = api.post(
        "/opportunities",
        json={
            "name": "Aurora - Forecasting Pilot",
            "account_id": account["id"],
            "stage": "Proposal",
            "legal_entity": "UK01",
            "currency": "GBP",
            "amount": 48000,
            "billing_model": "fixed_fee",
        },
    ).json()
    assert crm("get_opportunity", {"id": opportunity["id"]})["stage"] == "Proposal"
    assert crm("get_opportunity", {"id": "OPP-000001"}) is None
    updated = crm("update_opportunity", {"id": opportunity["id"], "delivery_status": "Scheduled"})
    assert updated["delivery_status"] == "Scheduled"
    note = crm(
        "add_note",
        {
            "parent_type": "opportunity",
            "parent_id": opportunity["id"],
            "title": "Kick-off",
            "body": "Kick-off booked for Monday.",
        },
    )
    assert re.fullmatch(r"NOTE-\d{7}", note["id"])
    error = crm.fails(
        "add_note",
        {"parent_type": "opportunity", "parent_id": "OPP-000001", "title": "t", "body": "b"},
        422,
    )
    assert "parent_not_found" in error["message"]
    every = crm("list_accounts", {})  # every page (reconciliation)
    assert len(every) == sandbox.counts()["crm"]["accounts"] and account["id"] in {
        a["id"] for a in every
    }
    assert [
        o["id"]
        for o in crm("list_opportunities", {"account_id": account["id"], "stage": "Proposal"})
    ] == [opportunity["id"]]
    assert crm("list_opportunities", {"account_id": account["id"], "stage": "Closed Won"}) == []
    crm.assert_all_called()
    # cursor pagination
    api.post("/accounts", json={"name": "Borealis Ltd", "legal_entity": "UK01"})
    first = api.get("/accounts", params={"limit": 1}).json()
    assert len(first["items"]) == 1 and first["next_cursor"]
    second = api.get("/accounts", params={"limit": 1, "cursor": first["next_cursor"]}).json()
    assert second["items"][0]["id"] != first["items"][0]["id"]


def test_every_psa_operation(flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver) -> None:
    psa = Tracked(flows, "psa")
    project = psa(
        "create_project",
        {
            "name": "Aurora - Forecasting Pilot",
            "opportunity_id": "OPP-900001",
            "crm_account_id": "ACC-20901",
            "customer_id": "CUS-200901",
            "legal_entity": "UK01",
            "currency": "GBP",
            "billing_model": "milestone",
            "practice": "Data & AI",
            "start_date": "2026-12-01",
            "end_date": "2027-03-31",
            "budget": {"amount": 48000, "hours": 300},
            "status": "planned",
        },
    )
    pid = project["id"]
    assert re.fullmatch(r"PRJ-\d{6}", pid) and project["status"] == "planned"
    assert psa("get_project", {"id": pid})["budget"] == {"amount": 48000, "hours": 300}
    assert psa("get_project", {"id": "PRJ-000001"}) is None
    assert psa("find_project_by_opportunity", {"opportunity_id": "OPP-900001"})["id"] == pid
    task = psa(
        "create_task",
        {
            "project_id": pid,
            "external_ref": "OLI-001",
            "name": "Model build",
            "role": "Data Engineer",
            "planned_hours": 200,
            "rate": 120,
            "budget": 24000,
        },
    )
    assert re.fullmatch(r"TSK-\d{6}", task["id"])
    psa.fails("create_task", {"project_id": pid, "external_ref": "OLI-001", "name": "again"}, 409)
    assert (
        psa("update_task", {"project_id": pid, "external_ref": "OLI-001", "planned_hours": 220})[
            "planned_hours"
        ]
        == 220
    )
    psa.fails(
        "update_task", {"project_id": pid, "external_ref": "OLI-404", "planned_hours": 1}, 404
    )
    milestone = psa(
        "create_milestone",
        {
            "project_id": pid,
            "external_ref": "MS-001",
            "name": "Model accepted",
            "due_date": "2027-01-29",
            "amount": 24000,
            "currency": "GBP",
        },
    )
    assert re.fullmatch(r"MST-\d{6}", milestone["id"])
    psa.fails(
        "create_milestone",
        {"project_id": pid, "name": "x", "due_date": "2027-01-29", "amount": 1, "currency": "EUR"},
        422,
    )  # not the project's
    hours = {
        "project_id": pid,
        "timesheet_id": "TS-0090001",
        "employee_id": "EMP-20901",
        "role": "Data Engineer",
        "week_start": "2026-12-07",
        "currency": "GBP",
        "rate": 120,
        "entries": [{"date": "2026-12-07", "task_id": task["id"], "hours": 8, "amount": 960}],
        "billable_hours": 8,
        "amount": 960,
        "approved_by": "lead@meridian-consulting.example",
    }
    psa.fails("record_billable_hours", hours, 409)  # a planned project takes no time yet
    active = psa(
        "activate_project",
        {
            "id": pid,
            "customer_id": "CUS-200901",
            "contract_id": "CTR-500991",
            "billing_schedule_id": "BSC-300991",
        },
    )
    assert (active["status"], active["contract_id"]) == ("active", "CTR-500991")
    closed = psa(
        "close_milestone",
        {
            "project_id": pid,
            "milestone_id": milestone["id"],
            "completed_on": "2027-01-28",
            "accepted_by": "cfo@aurora.example",
        },
    )
    assert closed["status"] == "completed"
    event = receiver.wait_for("psa.milestone.completed", milestone["id"]).event
    assert flows.plan.contracts.check_event(event).ok
    first = psa("record_billable_hours", hours)
    again = psa(
        "record_billable_hours",
        {
            **hours,
            "billable_hours": 6,
            "amount": 720,
            "entries": [{**hours["entries"][0], "hours": 6}],
        },
    )
    assert again["id"] == first["id"]  # one record per timesheet: replaced, not added
    assert psa("get_project", {"id": pid})["hours_logged"] == 6
    psa.fails(
        "record_billable_hours",
        {
            **hours,
            "timesheet_id": "TS-0090002",
            "entries": [{**hours["entries"][0], "task_id": "TSK-000001"}],
        },
        422,
    )
    invoice = {
        "project_id": pid,
        "invoice_id": "INV-0099001",
        "customer_id": "CUS-200901",
        "issue_date": "2027-01-31",
        "due_date": "2027-03-02",
        "currency": "GBP",
        "net_amount": 24000,
        "tax": 4800,
        "total": 28800,
    }
    assert psa("record_invoice", invoice)["billed_to_date"] == 24000
    assert psa("record_invoice", invoice)["billed_to_date"] == 24000  # once per invoice
    change = psa(
        "update_project_budget",
        {
            "project_id": pid,
            "reference": "CO-000901",
            "hours_delta": 40,
            "amount_delta": 6000,
            "currency": "GBP",
            "reason": "Extra data source",
        },
    )
    assert change["budget_after"] == {"amount": 54000, "hours": 340}
    archived = psa("archive_project", {"id": pid, "reason": "pilot finished"})
    assert archived["status"] == "archived"
    psa.fails("create_task", {"project_id": pid, "name": "late"}, 409)
    assert len(psa("list_projects", {})) == sandbox.counts()["psa"]["projects"]
    assert pid in {p["id"] for p in psa("list_projects", {"status": "archived"})}
    assert pid not in {p["id"] for p in psa("list_projects", {"status": "active"})}
    psa.assert_all_called()
    # next-link pagination
    api = client(sandbox, "psa")
    page = api.get("/projects", params={"per_page": 1}).json()
    assert page["items"] and (
        page["links"]["next"] is None or page["links"]["next"].startswith("http")
    )


def test_every_erp_operation(flows: Runner, sandbox: Sandbox) -> None:
    erp, api = Tracked(flows, "erp"), client(sandbox, "erp")
    customer = erp(
        "create_customer",
        {
            "name": "Aurora Analytics Ltd",
            "tax_id": "GB 555 4443 33",
            "country": "GB",
            "subsidiary_id": 2,
            "legal_entity": "UK01",
            "currency": "GBP",
            "billing_address": ADDRESS,
            "crm_account_id": "ACC-20901",
        },
    )
    cid = customer["id"]
    assert re.fullmatch(r"CUS-2\d{5}", cid) and customer["tax_id"] == "GB555444333"
    assert customer["payment_terms"] == "NET30"  # the subsidiary's default
    assert erp("find_customer", {"tax_id": "GB555444333"})["id"] == cid
    assert erp("find_customer", {"tax_id": "GB000000000"}) is None
    assert erp("get_customer", {"id": cid})["crm_account_id"] == "ACC-20901"
    assert erp("get_customer", {"id": "CUS-999999"}) is None
    assert erp("update_customer", {"id": cid, "industry": "Analytics"})["industry"] == "Analytics"
    erp.fails("update_customer", {"id": cid, "tax_id": "GB111111111"}, 422)  # stays as booked
    contract = erp(
        "create_contract",
        {
            "customer_id": cid,
            "subsidiary_id": 2,
            "legal_entity": "UK01",
            "currency": "GBP",
            "name": "Aurora - Forecasting Pilot",
            "opportunity_id": "OPP-900001",
            "billing_model": "fixed_fee",
            "total_value": 48000,
            "signed_on": "2026-11-20",
            "start_date": "2026-12-01",
            "end_date": "2027-02-28",
            "payment_terms": None,
            "purchase_order": "PO-7781",
            "lines": [
                {
                    "line_id": "OLI-001",
                    "description": "Model build",
                    "role": "Data Engineer",
                    "hours": 400,
                    "rate": 120,
                    "amount": 48000,
                }
            ],
        },
    )
    ctr = contract["id"]
    assert re.fullmatch(r"CTR-\d{6}", ctr) and contract["status"] == "active"
    assert erp("find_contract", {"opportunity_id": "OPP-900001"})["id"] == ctr
    assert erp("get_contract", {"id": ctr})["total_value"] == 48000
    entries = [
        {
            "sequence": i + 1,
            "description": f"Instalment {i + 1}",
            "invoice_date": d,
            "amount": 16000,
        }
        for i, d in enumerate(["2026-12-31", "2027-01-31", "2027-02-28"])
    ]
    schedule = {
        "contract_id": ctr,
        "type": "fixed_fee",
        "currency": "GBP",
        "total": 48000,
        "entries": entries,
    }
    created = erp("create_billing_schedule", schedule)
    assert re.fullmatch(r"BSC-\d{6}", created["id"]) and created["entry_count"] == 3
    erp.fails("create_billing_schedule", schedule, 409)  # one active schedule per contract
    amendment = erp(
        "amend_contract",
        {
            "contract_id": ctr,
            "change_order_id": "CO-000901",
            "amount_delta": 6000,
            "currency": "GBP",
            "effective_date": "2027-01-05",
            "reason": "Extra source",
        },
    )
    assert amendment["total_value_after"] == 54000
    erp.fails(
        "amend_contract",
        {
            "contract_id": ctr,
            "change_order_id": "CO-000902",
            "amount_delta": 1,
            "currency": "USD",
            "effective_date": "2027-01-05",
        },
        422,
    )
    adjustment = erp(
        "adjust_billing_schedule",
        {
            "contract_id": ctr,
            "reference": "CO-000901",
            "method": "spread_remaining",
            "amount_delta": 6000,
            "currency": "GBP",
            "effective_date": "2027-01-05",
        },
    )
    assert adjustment["entries_changed"] == [2, 3]
    erp.fails(
        "adjust_billing_schedule",
        {
            "contract_id": ctr,
            "reference": "CO-000903",
            "method": "adjust_cap",
            "amount_delta": 5,
            "currency": "GBP",
        },
        422,
    )  # not a T&M schedule
    invoice = erp(
        "create_invoice",
        {
            "status": "draft",
            "project_id": "PRJ-290001",
            "customer_id": cid,
            "contract_id": ctr,
            "legal_entity": "UK01",
            "currency": "GBP",
            "period": "2026-12",
            "issue_date": "2026-12-31",
            "due_date": "2027-01-30",
        },
    )
    inv = invoice["id"]
    assert re.fullmatch(r"INV-\d{7}", inv) and invoice["status"] == "draft"
    found = erp(
        "find_invoice", {"project_id": "PRJ-290001", "status": "draft", "period": "2026-12"}
    )
    assert found["id"] == inv
    assert (
        erp("find_invoice", {"project_id": "PRJ-290001", "status": "draft", "period": "2027-01"})
        is None
    )
    line = {
        "description": "Data Engineer - week of 7 Dec",
        "quantity": 8,
        "unit_price": 120,
        "amount": 960,
    }
    added = erp(
        "add_invoice_lines", {"invoice_id": inv, "source_ref": "TS-0090001", "lines": [line]}
    )
    assert added["line_count"] == 1 and added["invoice_total"] == 1152  # GB VAT 20 %
    erp("add_invoice_lines", {"invoice_id": inv, "source_ref": "TS-0090001", "lines": [line]})
    assert len(erp("get_invoice", {"id": inv})["lines"]) == 1  # same source_ref: replaced
    erp.fails(
        "add_invoice_lines",
        {"invoice_id": inv, "source_ref": "TS-9", "lines": [{**line, "amount": 961}]},
        422,
    )  # not qty x price
    assert erp("get_invoice", {"id": "INV-0000001"}) is None
    payment = {
        "invoice_id": inv,
        "amount": 500,
        "currency": "GBP",
        "received_on": "2027-01-10",
        "method": "wire",
        "reference": "AURORA INV",
    }
    erp.fails("apply_payment", payment, 409)  # a draft cannot be paid
    assert api.post(f"/invoices/{inv}/post").json()["status"] == "posted"
    paid = erp("apply_payment", payment)
    assert re.fullmatch(r"PAY-\d{7}", paid["id"]) and paid["invoice_amount_due"] == 652
    erp.fails("apply_payment", {**payment, "amount": 1000}, 422)  # more than is due
    erp.fails("archive_customer", {"id": cid}, 409)  # it still has an active contract
    assert erp("cancel_contract", {"id": ctr, "reason": "test over"})["status"] == "cancelled"
    assert erp("archive_customer", {"id": cid})["status"] == "archived"
    assert erp("find_customer", {"tax_id": "GB555444333"}) is None  # archived: tax id is free
    active = erp("list_customers", {})
    assert cid not in {c["id"] for c in active} and {c["status"] for c in active} <= {"active"}
    assert cid in {c["id"] for c in erp("list_customers", {"status": "archived"})}
    erp.assert_all_called()
    # offset pagination
    page = api.get(
        "/customers", params={"limit": 1, "status": "archived", "tax_id": "GB555444333"}
    ).json()
    assert (page["total"], page["has_more"], page["items"][0]["id"]) == (1, False, cid)

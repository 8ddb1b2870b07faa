"""The reference flows end to end against the simulated systems, through the http connector.

No mocks: every call goes over loopback to the sandbox, which keeps its records in SQLite. The
events are the contracts' valid examples, verbatim except for identifiers the sandbox itself
assigned (a PSA project id, task ids), which the examples cannot know in advance. The stages
build on each other like a quarter of business: accounts synced → opportunities provisioned →
change orders → timesheets → invoice posted → payment received.
"""

from __future__ import annotations

import copy
import itertools
import sqlite3
from typing import Any

import pytest

from runtime.sandbox import Sandbox
from tests.sandbox._support import Runner, WebhookReceiver, client, example

ACCOUNTS = [
    "crm.account.upserted/examples/valid/harbor_logistics_us.json",
    "crm.account.upserted/examples/valid/pennine_water_uk.json",
    "crm.account.upserted/examples/valid/van_dijk_nl_contracted_by_de01.json",
    "crm.account.upserted/examples/valid/groupe_lumiere_fr_without_industry.json",
]
OPPORTUNITIES = [
    "crm.opportunity.closed_won/examples/valid/fixed_fee_us.json",
    "crm.opportunity.closed_won/examples/valid/milestone_uk.json",
    "crm.opportunity.closed_won/examples/valid/milestone_nl_customer_de01.json",
    "crm.opportunity.closed_won/examples/valid/time_and_materials_de.json",
    "crm.opportunity.closed_won/examples/valid/v2_fixed_fee_fr_with_purchase_order.json",
    "crm.opportunity.closed_won/examples/valid/v2_milestone_us_net30.json",
]
# the examples' project ids and the opportunity each project was created from
EXAMPLE_PROJECTS = {
    "PRJ-200871": "OPP-104233",
    "PRJ-200879": "OPP-104251",
    "PRJ-200884": "OPP-104268",
    "PRJ-200893": "OPP-104277",
    "PRJ-200902": "OPP-104302",
}


def rows(sandbox: Sandbox, system: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    """Query a system's database file directly (generated columns make JSON fields visible)."""
    conn = sqlite3.connect(sandbox.data_dir / f"{system}.db")
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def succeeded(flows: Runner, flow: str, event: dict[str, Any]) -> Any:
    plan = flows.plan
    result = flows.run(flow, event)
    assert result.status == "succeeded", (flow, event.get("subject"), result.error)
    assert all(not c.mocked for c in result.calls)
    for emitted in result.emitted:
        check = plan.contracts.check_event(emitted)
        assert check.ok, check.describe()
    return result


# ── stages ──────────────────────────────────────────────────────────────────────────────
@pytest.fixture(scope="module")
def baseline(sandbox: Sandbox) -> dict[str, dict[str, int]]:
    """Records per table before this module's business (the sandbox is shared)."""
    return sandbox.counts()


def added(sandbox: Sandbox, baseline: dict[str, dict[str, int]], system: str) -> dict[str, int]:
    now = sandbox.counts()[system]
    return {table: n - baseline[system].get(table, 0) for table, n in now.items()}


@pytest.fixture(scope="module")
def crm_records(sandbox: Sandbox, baseline: dict[str, dict[str, int]]) -> None:
    """The CRM holds the accounts and opportunities the examples were sent about."""
    crm = client(sandbox, "crm")
    accounts = {e["data"]["account_id"]: e["data"] for e in map(example, ACCOUNTS)}
    opportunities = [example(path)["data"] for path in OPPORTUNITIES]
    for opp in opportunities:
        account = dict(opp["account"])
        accounts.setdefault(account["account_id"], {
            **account, "legal_entity": opp["legal_entity"], "currency": opp["currency"],
            "owner_email": opp["owner_email"],
        })
    for data in accounts.values():
        body = {k: v for k, v in data.items() if k not in ("account_id", "updated_at")}
        assert crm.post("/accounts", json={"id": data["account_id"], **body}).status_code == 201
    for opp in opportunities:
        body = {k: v for k, v in opp.items() if k not in ("opportunity_id", "account", "stage")}
        body.update(id=opp["opportunity_id"], account_id=opp["account"]["account_id"], stage="Negotiation")
        assert crm.post("/opportunities", json=body).status_code == 201


@pytest.fixture(scope="module")
def synced(flows: Runner, crm_records: None) -> dict[str, Any]:
    return {p: succeeded(flows, "account_sync", example(p)) for p in ACCOUNTS}


@pytest.fixture(scope="module")
def provisioned(flows: Runner, synced: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """opportunity id -> the output of its opportunity_to_project run."""
    out = {}
    for path in OPPORTUNITIES:
        event = example(path)
        out[event["data"]["opportunity_id"]] = succeeded(flows, "opportunity_to_project", event).output
    return out


def real_project(provisioned: dict[str, dict[str, Any]], example_project: str) -> str:
    return str(provisioned[EXAMPLE_PROJECTS[example_project]]["project_id"])


@pytest.fixture(scope="module")
def changed(flows: Runner, provisioned: dict[str, dict[str, Any]]) -> dict[str, Any]:
    out = {}
    for name in ("scope_extension_us", "added_and_changed_lines_uk", "scope_reduction_de"):
        event = example(f"crm.change_order.approved/examples/valid/{name}.json")
        event["data"]["project_id"] = real_project(provisioned, event["data"]["project_id"])
        out[name] = succeeded(flows, "change_order", event).output
    return out


@pytest.fixture(scope="module")
def timesheets(flows: Runner, sandbox: Sandbox, provisioned: dict[str, dict[str, Any]]) -> dict[str, Any]:
    psa = client(sandbox, "psa")
    out = {}
    for name in ("consultant_uk_four_days", "engineer_de_with_saturday", "senior_consultant_us_full_week"):
        event = example(f"psa.timesheet.approved/examples/valid/{name}.json")
        data = event["data"]
        data["project_id"] = real_project(provisioned, data["project_id"])
        tasks = itertools.cycle(t["id"] for t in psa.get(f"/projects/{data['project_id']}/tasks").json()["items"])
        task_of = {old: next(tasks) for old in dict.fromkeys(e["task_id"] for e in data["entries"])}
        for entry in data["entries"]:
            entry["task_id"] = task_of[entry["task_id"]]
        out[name] = succeeded(flows, "time_to_invoice", event).output
    return out


# ── tests ───────────────────────────────────────────────────────────────────────────────
def test_account_sync_creates_erp_customers_and_writes_back(sandbox: Sandbox, synced: dict[str, Any]) -> None:
    assert {r.output["action"] for r in synced.values()} == {"created"}
    customers = rows(
        sandbox, "erp", "SELECT id, tax_id, crm_account_id, status FROM customers "
        "WHERE tax_id IN ('36-4172905', 'GB284613079', 'NL859204731B01', 'FR47852103964') ORDER BY id",
    )
    assert [(c[1], c[2], c[3]) for c in customers] == [
        ("36-4172905", "ACC-10482", "active"),
        ("GB284613079", "ACC-20117", "active"),
        ("NL859204731B01", "ACC-30071", "active"),
        ("FR47852103964", "ACC-40021", "active"),
    ]
    assert [c[0][:5] for c in customers] == ["CUS-1", "CUS-2", "CUS-3", "CUS-4"]  # per subsidiary
    status = client(sandbox, "crm").get("/accounts/ACC-30071").json()["integration"]
    assert status["erp_customer_id"] == customers[2][0]
    assert (status["erp_sync_status"], status["erp_sync_action"]) == ("synced", "created")
    assert status["erp_subsidiary_id"] == 3


def test_a_second_sync_of_an_account_updates_the_customer(flows: Runner, sandbox: Sandbox, synced: dict[str, Any]) -> None:
    event = example(ACCOUNTS[0])
    event["data"].update(name="Harbor Logistics Holdings Inc.", updated_at="2026-11-20T10:00:00Z")
    result = succeeded(flows, "account_sync", event)
    assert result.output["action"] == "updated"
    (name,) = rows(sandbox, "erp", "SELECT json_extract(doc, '$.name') FROM customers WHERE tax_id = ?", "36-4172905")[0]
    assert name == "Harbor Logistics Holdings Inc."
    assert rows(sandbox, "erp", "SELECT count(*) FROM customers WHERE tax_id = '36-4172905'")[0][0] == 1


def test_opportunity_to_project_provisions_erp_and_psa(
    sandbox: Sandbox, baseline: dict[str, dict[str, int]], provisioned: dict[str, dict[str, Any]]
) -> None:
    assert len(provisioned) == 6
    erp, psa = added(sandbox, baseline, "erp"), added(sandbox, baseline, "psa")
    # 4 customers came from account_sync and were found by tax id; Kessler and Cascadia are new
    assert (erp["customers"], erp["contracts"], erp["billing_schedules"]) == (6, 6, 6)
    assert (psa["projects"], psa["tasks"]) == (6, 18)
    assert psa["milestones"] == 9  # three milestone-billed opportunities, 3 each
    harbor = provisioned["OPP-104233"]
    contract = client(sandbox, "erp").get(f"/contracts/{harbor['contract_id']}").json()
    assert (contract["total_value"], contract["currency"], contract["status"]) == (239400, "USD", "active")
    schedule = rows(sandbox, "erp", "SELECT doc FROM billing_schedules WHERE id = ?", harbor["billing_schedule_id"])
    assert '"type": "fixed_fee"' in schedule[0][0]
    project = client(sandbox, "psa").get(f"/projects/{harbor['project_id']}").json()
    assert project["status"] == "active"
    assert (project["contract_id"], project["customer_id"]) == (harbor["contract_id"], harbor["customer_id"])
    opportunity = client(sandbox, "crm").get("/opportunities/OPP-104233").json()
    assert opportunity["psa_project_id"] == harbor["project_id"]
    assert opportunity["delivery_status"] == "Project Activated"
    v2 = client(sandbox, "erp").get(f"/contracts/{provisioned['OPP-104290']['contract_id']}").json()
    assert (v2["purchase_order"], v2["payment_terms"]) == ("4500183920", "NET60")


def test_change_orders_amend_contracts_budgets_tasks_and_billing(
    sandbox: Sandbox, baseline: dict[str, dict[str, int]], provisioned: dict[str, dict[str, Any]],
    changed: dict[str, Any],
) -> None:
    erp, psa = client(sandbox, "erp"), client(sandbox, "psa")
    us = provisioned["OPP-104233"]
    assert erp.get(f"/contracts/{us['contract_id']}").json()["total_value"] == 239400 + 26400
    schedule = erp.get(f"/contracts/{us['contract_id']}/billing-schedules").json()["items"][0]
    # the fee delta is spread over the instalments from January (effective 2027-01-12)
    assert [e["amount"] for e in schedule["entries"]] == [47880, 47880, 56680, 56680, 56680]
    assert schedule["total"] == 265800
    uk = provisioned["OPP-104251"]
    uk_schedule = erp.get(f"/contracts/{uk['contract_id']}/billing-schedules").json()["items"][0]
    assert uk_schedule["entries"][-1]["amount"] == 23600
    assert uk_schedule["entries"][-1]["psa_milestone_id"].startswith("MST-")
    uk_tasks = {t["external_ref"]: t for t in psa.get(f"/projects/{uk['project_id']}/tasks").json()["items"]}
    assert uk_tasks["OLI-003"]["planned_hours"] == 560  # changed line re-planned
    assert uk_tasks["OLI-004"]["role"] == "Security Architect"  # added line
    de = provisioned["OPP-104268"]
    de_schedule = erp.get(f"/contracts/{de['contract_id']}/billing-schedules").json()["items"][0]
    assert de_schedule["not_to_exceed"] == 217040 - 15280
    project = psa.get(f"/projects/{de['project_id']}").json()
    assert project["budget"] == {"amount": 217040 - 15280, "hours": 1760 - 160}
    assert added(sandbox, baseline, "erp")["contract_amendments"] == 3
    assert added(sandbox, baseline, "psa")["budget_changes"] == 3


def test_timesheets_record_hours_and_open_a_draft_invoice(
    sandbox: Sandbox, baseline: dict[str, dict[str, int]], timesheets: dict[str, Any]
) -> None:
    assert timesheets["engineer_de_with_saturday"]["amount"] == 5687.5  # 45.5 h x EUR 125
    assert timesheets["senior_consultant_us_full_week"]["billable_hours"] == 37.5
    assert added(sandbox, baseline, "psa")["billable_hours"] == 3
    invoice_id = timesheets["engineer_de_with_saturday"]["invoice_id"]
    invoice = client(sandbox, "erp").get(f"/invoices/{invoice_id}").json()
    assert (invoice["status"], invoice["period"], invoice["currency"]) == ("draft", "2026-11", "EUR")
    assert invoice["lines"][0]["tax_code"] == "DE_STD_19"
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (5687.5, 1080.63, 6768.13)
    # only the T&M project invoices hours
    assert timesheets["consultant_uk_four_days"]["invoice_id"] is None
    assert added(sandbox, baseline, "erp")["invoices"] == 1


def test_posted_invoice_and_payment_webhooks_drive_the_downstream_flows(
    flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver, timesheets: dict[str, Any],
    provisioned: dict[str, dict[str, Any]],
) -> None:
    plan = flows.plan
    invoice_id = timesheets["engineer_de_with_saturday"]["invoice_id"]
    assert client(sandbox, "erp").post(f"/invoices/{invoice_id}/post").status_code == 200
    posted = receiver.wait_for("erp.invoice.posted", invoice_id).event
    assert plan.contracts.check_event(posted).ok, plan.contracts.check_event(posted).describe()
    output = succeeded(flows, "invoice_status", posted).output
    assert output["opportunity_id"] == "OPP-104268"
    assert output["billed_to_date"] == 5687.5
    note = client(sandbox, "crm").get(f"/notes/{output['note_id']}").json()
    assert note["title"] == f"Invoice {invoice_id} posted: EUR 6,768.13"

    payment = flows.call("erp.apply_payment", {
        "invoice_id": invoice_id, "amount": 3000, "currency": "EUR", "received_on": "2026-12-15",
        "method": "sepa", "reference": f"KESSLER {invoice_id}",
    })
    received = receiver.wait_for("erp.payment.received", payment["id"]).event
    assert plan.contracts.check_event(received).ok
    out = succeeded(flows, "payment_received", received).output
    assert out == {"crm_account_id": "ACC-30056", "invoice_amount_due": 3768.13}
    status = client(sandbox, "crm").get("/accounts/ACC-30056").json()["integration"]
    assert status["receivables_status"] == "invoice_part_paid"
    assert status["open_balance"] == 3768.13
    assert status["last_payment"]["payment_id"] == payment["id"]


def test_invoice_status_on_the_examples(flows: Runner, sandbox: Sandbox, provisioned: dict[str, dict[str, Any]]) -> None:
    for name in ("fixed_fee_instalment_us_with_expenses", "milestone_nl_reverse_charge",
                 "milestone_uk_vat20", "time_and_materials_de_vat19"):
        event = example(f"erp.invoice.posted/examples/valid/{name}.json")
        project_id = real_project(provisioned, event["data"]["project_id"])
        event["data"]["project_id"] = project_id
        output = succeeded(flows, "invoice_status", event).output
        assert output["opportunity_id"] == EXAMPLE_PROJECTS[example(
            f"erp.invoice.posted/examples/valid/{name}.json")["data"]["project_id"]]
        again = succeeded(flows, "invoice_status", copy.deepcopy(event)).output  # a redelivery
        assert again["billed_to_date"] == output["billed_to_date"]  # counted once per invoice


def test_a_payment_for_an_invoice_the_erp_does_not_know_is_dead_lettered(flows: Runner) -> None:
    result = flows.run("payment_received", example("erp.payment.received/examples/valid/wire_us_full.json"))
    assert result.status == "dead_lettered"
    assert result.error["code"] == "validation.invoice_unknown"

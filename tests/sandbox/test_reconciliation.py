"""`nightly_reconciliation` against the simulated systems: more records than one page of each
system (CRM cursor, ERP offset, PSA next link — 200 a page), seeded discrepancies of each kind,
the discrepancy events and the report file. The sandbox is shared with the other tests, so the
assertions look at this test's own keys, and at totals read from the databases."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from runtime.engine.schedules import schedule_event
from runtime.sandbox import Sandbox
from tests.sandbox._support import Runner, client

N = 205  # more than one page (200) in every system
NIGHT = 1795399200.0  # 2026-11-23T02:00:00Z


def scalar(sandbox: Sandbox, system: str, sql: str) -> Any:
    conn = sqlite3.connect(sandbox.data_dir / f"{system}.db")
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


def seed(sandbox: Sandbox) -> None:
    """ACC-8xxxx accounts with their customers and won deals with their projects; then the
    differences: ACC-80001 has no customer, ACC-80002's customer is named differently,
    ACC-89999 exists only in the ERP; OPP-980001 has no project, OPP-980002's project is in
    another currency, OPP-989999 only has a project."""
    crm, erp, psa = (client(sandbox, s) for s in ("crm", "erp", "psa"))
    for n in range(N):
        account, tax_id, name = f"ACC-8{n:04d}", f"GB9{n:08d}", f"Reconcile Test {n} Ltd"
        customer = None
        assert (
            crm.post(
                "/accounts",
                json={
                    "id": account,
                    "name": name,
                    "tax_id": tax_id,
                    "country": "GB",
                    "legal_entity": "UK01",
                    "currency": "GBP",
                },
            ).status_code
            == 201
        )
        if n != 1:
            customer = erp.post(
                "/customers",
                json={
                    "name": name if n != 2 else name.upper(),
                    "tax_id": tax_id,
                    "country": "GB",
                    "legal_entity": "UK01",
                    "currency": "GBP",
                    "crm_account_id": account,
                },
            ).json()["id"]
            crm.put(f"/accounts/{account}/integration-status", json={"erp_customer_id": customer})
        opportunity = f"OPP-98{n:04d}"
        project = None
        if n != 1:
            project = psa.post(
                "/projects",
                json={
                    "name": name,
                    "opportunity_id": opportunity,
                    "crm_account_id": account,
                    "currency": "GBP" if n != 2 else "EUR",
                    "billing_model": "fixed_fee",
                    "start_date": "2026-12-01",
                    "end_date": "2027-03-31",
                },
            ).json()["id"]
            assert (
                psa.post(
                    f"/projects/{project}/activate", json={"contract_id": f"CTR-9{n:05d}"}
                ).status_code
                == 200
            )
        assert (
            crm.post(
                "/opportunities",
                json={
                    "id": opportunity,
                    "name": name,
                    "account_id": account,
                    "stage": "Closed Won",
                    "currency": "GBP",
                    "psa_project_id": project,
                },
            ).status_code
            == 201
        )
    erp.post(
        "/customers",
        json={
            "name": "Walk-in Ltd",
            "tax_id": "GB999999999",
            "country": "GB",
            "legal_entity": "UK01",
            "currency": "GBP",
            "crm_account_id": "ACC-89999",
        },
    )
    orphan = psa.post(
        "/projects",
        json={
            "name": "Orphan",
            "opportunity_id": "OPP-989999",
            "crm_account_id": "ACC-80000",
            "currency": "GBP",
            "billing_model": "fixed_fee",
            "start_date": "2026-12-01",
            "end_date": "2027-03-31",
        },
    ).json()["id"]
    psa.post(f"/projects/{orphan}/activate", json={"contract_id": "CTR-999999"})


def mine(report: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {d["key"]: d for d in report["discrepancies"] if str(d["key"]).startswith(prefix)}


def test_the_nightly_reconciliation_reads_every_page_and_finds_each_seeded_difference(
    flows: Runner, sandbox: Sandbox
) -> None:
    seed(sandbox)
    event = schedule_event(flows.plan.flows["nightly_reconciliation"], NIGHT, NIGHT + 2, 0)
    result = flows.run("nightly_reconciliation", event)
    assert result.status == "succeeded", result.error
    assert all(not call.mocked for call in result.calls)
    accounts = next(r.output for r in result.trace if r.id == "accounts")
    projects = next(r.output for r in result.trace if r.id == "projects")
    # every page of every system was read
    assert accounts["summary"]["records"] == {
        "crm": scalar(sandbox, "crm", "SELECT count(*) FROM accounts"),
        "erp": scalar(sandbox, "erp", "SELECT count(*) FROM customers WHERE status != 'archived'"),
    }
    assert (
        accounts["summary"]["records"]["crm"] > 200 and accounts["summary"]["records"]["erp"] > 200
    )
    assert projects["summary"]["records"] == {
        "crm": scalar(
            sandbox, "crm", "SELECT count(*) FROM opportunities WHERE stage = 'Closed Won'"
        ),
        "psa": scalar(sandbox, "psa", "SELECT count(*) FROM projects WHERE status = 'active'"),
    }
    assert projects["summary"]["records"]["psa"] > 200
    # each seeded difference, classified, and nothing else among this test's records
    found = mine(accounts, "ACC-8")
    assert {k: d["kind"] for k, d in found.items()} == {
        "ACC-80001": "missing",
        "ACC-80002": "mismatched",
        "ACC-89999": "extra",
    }
    assert found["ACC-80002"]["fields"] == {
        "name": {"expected": "Reconcile Test 2 Ltd", "actual": "RECONCILE TEST 2 LTD"}
    }
    found = mine(projects, "OPP-98")
    assert {k: d["kind"] for k, d in found.items()} == {
        "OPP-980001": "missing",
        "OPP-980002": "mismatched",
        "OPP-989999": "extra",
    }
    assert found["OPP-980002"]["fields"] == {"currency": {"expected": "GBP", "actual": "EUR"}}
    # one valid event per discrepancy, and the report on disk
    assert len(result.emitted) == sum(
        r["summary"][k] for r in (accounts, projects) for k in ("missing", "extra", "mismatched")
    )
    for emitted in result.emitted:
        assert flows.plan.contracts.check_event(emitted).ok
    report_file = Path(flows.plan.root) / ".seamline" / "reports" / "reconciliation-2026-11-23.json"
    report = json.loads(report_file.read_text(encoding="utf-8"))
    assert report["accounts"] == accounts and report["projects"] == projects
    assert result.output["report"] == report_file.name

"""The northwind_uk variant end to end: a UK02 deal won in the simulated CRM is announced as
crm.opportunity.closed_won v3, runs `opportunity_to_project` as the variant, and lands in the
acquired firm's legacy ERP (the sandbox's SQLite database, through the `legacy_erp` sql
connector) in GBP pence with Northwind's codes — while a UK01 deal still goes to the group ERP."""

from __future__ import annotations

import copy
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.sandbox import Sandbox
from tests.sandbox._support import Runner, WebhookReceiver, client, example

NEW_CUSTOMER = (
    "crm.opportunity.closed_won/examples/valid/v3_northwind_uk_fixed_fee_new_customer.json"
)
EXISTING = (
    "crm.opportunity.closed_won/examples/valid/v3_northwind_uk_milestone_existing_customer.json"
)


@pytest.fixture(autouse=True)
def legacy_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """connectors/legacy_erp.yaml reads its URL from env:SEAMLINE_NORTHWIND_UK_URL."""
    assert sandbox.legacy_url
    monkeypatch.setenv("SEAMLINE_NORTHWIND_UK_URL", sandbox.legacy_url)
    yield


def legacy(sandbox: Sandbox, sql: str, *params: Any) -> list[sqlite3.Row]:
    assert sandbox.legacy_path is not None
    conn = sqlite3.connect(sandbox.legacy_path)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def win(
    sandbox: Sandbox, receiver: WebhookReceiver, data: dict[str, Any], account_id: str
) -> dict[str, Any]:
    """Sales creates the account (once) and the opportunity in the CRM and wins it; returns the
    crm.opportunity.closed_won event the CRM announced."""
    crm = client(sandbox, "crm")
    account = dict(data["account"])
    if crm.get(f"/accounts/{account_id}").status_code == 404:
        body = {k: v for k, v in account.items() if k != "account_id"}
        body.update(
            id=account_id, legal_entity="UK01", currency="GBP", owner_email=data["owner_email"]
        )
        assert crm.post("/accounts", json=body).status_code == 201
    body = {
        k: v
        for k, v in data.items()
        if k not in ("opportunity_id", "account", "stage", "close_date")
    }
    body.update(id=data["opportunity_id"], account_id=account_id, stage="Negotiation")
    assert crm.post("/opportunities", json=body).status_code == 201
    assert (
        crm.post(
            f"/opportunities/{data['opportunity_id']}/close-won",
            json={"close_date": data["close_date"]},
        ).status_code
        == 200
    )
    return receiver.wait_for("crm.opportunity.closed_won", data["opportunity_id"]).event


def test_a_northwind_deal_lands_in_the_legacy_erp_in_pence(
    flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    data = copy.deepcopy(example(NEW_CUSTOMER)["data"])
    data.update(opportunity_id="OPP-904310")
    data["account"].update(name="Ribble Estuary Housing Trust", tax_id="GB771204558")
    event = win(sandbox, receiver, data, "ACC-20941")
    assert event["dataschema"] == "urn:seamline:contract:crm.opportunity.closed_won:v3"
    assert flows.plan.contracts.check_event(event).ok
    customers_before = legacy(sandbox, "SELECT count(*) FROM CUST_MASTER")[0][0]

    result = flows.run("opportunity_to_project", event)
    assert result.status == "succeeded", result.error
    assert result.variant == "northwind_uk" and result.emitted == []
    assert not [c for c in result.calls if c.operation.startswith("erp.")]

    (customer,) = legacy(sandbox, "SELECT * FROM CUST_MASTER WHERE VAT_REG = 'GB771204558'")
    assert dict(customer) | {"CREATED_DT": None, "LAST_UPD_TS": None} == {
        "CUST_NO": result.output["customer_id"],
        "CUST_NAME": "RIBBLE ESTUARY HOUSING TRUST",
        "VAT_REG": "GB771204558",
        "ADDR_1": "12 Bridge Street",
        "ADDR_2": None,
        "TOWN": "HALIFAX",
        "POST_CODE": "HX1 1BA",
        "CTRY_CODE": "GB",
        "ACCT_CODE": "1100",
        "CCY": "GBP",
        "VAT_CD": "S",
        "PAY_TERMS": 30,
        "CREDIT_LIM": 0,
        "STATUS_CD": "A",
        "SALES_REP": None,
        "CREATED_DT": None,
        "LAST_UPD_TS": None,
    }
    assert customer["CUST_NO"].startswith("NW") and len(customer["LAST_UPD_TS"]) == 19
    assert legacy(sandbox, "SELECT count(*) FROM CUST_MASTER")[0][0] == customers_before + 1
    (contract,) = legacy(
        sandbox, "SELECT * FROM SALES_CONTRACT WHERE CONTRACT_DESC LIKE 'OPP-904310 %'"
    )
    assert {
        k: contract[k]
        for k in (
            "CONTRACT_NO",
            "CUST_NO",
            "BILL_TYPE",
            "START_DT",
            "END_DT",
            "CONTRACT_VAL_P",
            "CCY",
            "ACCT_CODE",
            "STATUS_CD",
        )
    } == {
        "CONTRACT_NO": result.output["contract_id"],
        "CUST_NO": customer["CUST_NO"],
        "BILL_TYPE": "FF",
        "START_DT": "2026-12-01",
        "END_DT": "2027-03-31",
        "CONTRACT_VAL_P": 3340000,
        "CCY": "GBP",
        "ACCT_CODE": "4000",
        "STATUS_CD": "O",
    }
    assert contract["CONTRACT_DESC"] == "OPP-904310 CALDER VALLEY HOUSING - TENANT DATA PLATFORM"
    assert (
        legacy(
            sandbox,
            "SELECT typeof(CONTRACT_VAL_P) FROM SALES_CONTRACT WHERE CONTRACT_NO = ?",
            contract["CONTRACT_NO"],
        )[0][0]
        == "integer"
    )
    # delivery still runs in the group PSA, linked to the legacy records; the CRM knows them
    project = client(sandbox, "psa").get(f"/projects/{result.output['project_id']}").json()
    assert (project["status"], project["contract_id"], project["customer_id"]) == (
        "active",
        contract["CONTRACT_NO"],
        customer["CUST_NO"],
    )
    assert (project["currency"], project["legal_entity"]) == ("GBP", "UK02")
    opportunity = client(sandbox, "crm").get("/opportunities/OPP-904310").json()
    assert opportunity["erp_contract_id"] == contract["CONTRACT_NO"]
    # a create repeated after a lost answer finds the row it inserted: no second contract
    sent = next(record.input for record in result.trace if record.id == "create_contract")
    again = flows.call("legacy_erp.create_contract", sent)
    assert again["id"] == contract["CONTRACT_NO"]
    assert (
        legacy(
            sandbox, "SELECT count(*) FROM SALES_CONTRACT WHERE CONTRACT_DESC LIKE 'OPP-904310 %'"
        )[0][0]
        == 1
    )


def test_a_customer_northwind_already_has_is_found_by_its_vat_number(
    flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    """Pennine Water is in the legacy ERP as `GB 284 6130 79` (typed with spaces)."""
    data = copy.deepcopy(example(EXISTING)["data"])
    data.update(opportunity_id="OPP-904318")
    (pennine,) = legacy(sandbox, "SELECT CUST_NO FROM CUST_MASTER WHERE VAT_REG = 'GB 284 6130 79'")
    customers_before = legacy(sandbox, "SELECT count(*) FROM CUST_MASTER")[0][0]
    event = win(sandbox, receiver, data, "ACC-20942")
    result = flows.run("opportunity_to_project", event)
    assert result.status == "succeeded", result.error
    assert result.variant == "northwind_uk" and result.output["customer_id"] == pennine["CUST_NO"]
    assert legacy(sandbox, "SELECT count(*) FROM CUST_MASTER")[0][0] == customers_before
    (contract,) = legacy(
        sandbox, "SELECT * FROM SALES_CONTRACT WHERE CONTRACT_DESC LIKE 'OPP-904318 %'"
    )
    assert (
        contract["CUST_NO"],
        contract["BILL_TYPE"],
        contract["CONTRACT_VAL_P"],
        contract["ACCT_CODE"],
    ) == (pennine["CUST_NO"], "MS", 1026000, "4020")


def test_other_opportunities_still_go_to_the_group_erp(
    flows: Runner, sandbox: Sandbox, receiver: WebhookReceiver
) -> None:
    data = copy.deepcopy(example(NEW_CUSTOMER)["data"])
    data.update(opportunity_id="OPP-904320", legal_entity="UK01")
    data["account"].update(name="Wharfedale Mills Ltd", tax_id="GB771204559")
    before = sandbox.counts()["northwind_uk"]
    event = win(sandbox, receiver, data, "ACC-20943")
    assert event["dataschema"] != "urn:seamline:contract:crm.opportunity.closed_won:v3"
    result = flows.run("opportunity_to_project", event)
    assert result.status == "succeeded", result.error
    assert result.variant is None and result.output["contract_id"].startswith("CTR-")
    assert [e["type"] for e in result.emitted] == ["ps.project.activated"]
    assert sandbox.counts()["northwind_uk"] == before
    contract = client(sandbox, "erp").get(f"/contracts/{result.output['contract_id']}").json()
    assert (contract["legal_entity"], contract["currency"], contract["total_value"]) == (
        "UK01",
        "GBP",
        33400,
    )

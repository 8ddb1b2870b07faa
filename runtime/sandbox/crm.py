"""The simulated CRM (a Salesforce stand-in): accounts, opportunities, change orders, notes.

Serves every operation of `connectors/crm.yaml`, plus what a sales team does by hand and the
demo drives: create accounts and opportunities, close an opportunity won, raise and approve a
change order. Changes are announced by signed CloudEvents webhooks:

    crm.account.upserted          an account was created or its master data changed
    crm.opportunity.closed_won    an opportunity moved to stage Closed Won
    crm.change_order.approved     a change order was approved

Like a real CRM it is lenient about what sales people type (it does not enforce unique tax ids —
duplicate accounts are a fact of CRM life); the contracts and the ERP catch bad data.
"""

from __future__ import annotations

from typing import Any

from runtime.sandbox._problem import Problem, clean, not_found, only, require
from runtime.sandbox._service import Call, Handler, Reply, Service
from runtime.sandbox._store import Table, now_iso

ACCOUNT_FIELDS = frozenset(
    {
        "name",
        "tax_id",
        "country",
        "legal_entity",
        "currency",
        "billing_address",
        "industry",
        "owner_email",
    }
)
INTEGRATION_FIELDS = frozenset(
    {
        "erp_customer_id",
        "erp_subsidiary_id",
        "erp_sync_status",
        "erp_sync_action",
        "erp_synced_at",
        "crm_version",
        "receivables_status",
        "open_balance",
        "currency",
        "last_payment",
    }
)
OPPORTUNITY_FIELDS = frozenset(
    {
        "name",
        "account_id",
        "stage",
        "legal_entity",
        "currency",
        "amount",
        "billing_model",
        "close_date",
        "start_date",
        "end_date",
        "owner_email",
        "practice",
        "lines",
        "milestones",
        "purchase_order",
        "payment_terms",
        "psa_project_id",
        "erp_customer_id",
        "erp_contract_id",
        "delivery_status",
    }
)
CHANGE_ORDER_FIELDS = frozenset(
    {"opportunity_id", "project_id", "reason", "currency", "amount_delta", "hours_delta", "lines"}
)
STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
CLOSED_WON = "Closed Won"
# account numbers carry the contracting entity: ACC-1xxxx US01, ACC-2xxxx UK01, …
ENTITY_DIGIT = {"US01": "1", "UK01": "2", "DE01": "3", "FR01": "4"}
# legal entities that only version 3 of crm.opportunity.closed_won knows (acquired firms)
V3_ENTITIES = frozenset({"UK02"})
LINE_KEYS = ("line_id", "description", "role", "hours", "rate", "amount")
MILESTONE_KEYS = ("milestone_id", "name", "due_date", "amount")


class CrmService(Service):
    name = "crm"
    title = "CRM"
    source = "/crm/salesforce"
    page_style = "cursor"
    tables = [
        Table(
            "accounts", ("tax_id", "legal_entity", "erp_customer_id=integration.erp_customer_id")
        ),
        Table("opportunities", ("account_id", "stage")),
        Table("change_orders", ("opportunity_id", "status")),
        Table("notes", ("parent_id",)),
    ]

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/accounts", list_accounts),
            ("POST", "/accounts", create_account),
            ("GET", "/accounts/{id}", get_account),
            ("PATCH", "/accounts/{id}", update_account),
            ("PUT", "/accounts/{id}/integration-status", put_integration_status),
            ("GET", "/opportunities", list_opportunities),
            ("POST", "/opportunities", create_opportunity),
            ("GET", "/opportunities/{id}", get_opportunity),
            ("PATCH", "/opportunities/{id}", update_opportunity),
            ("POST", "/opportunities/{id}/close-won", close_won),
            ("GET", "/change-orders", list_change_orders),
            ("POST", "/change-orders", create_change_order),
            ("GET", "/change-orders/{id}", get_change_order),
            ("POST", "/change-orders/{id}/approve", approve_change_order),
            ("GET", "/notes", list_notes),
            ("POST", "/notes", add_note),
            ("GET", "/notes/{id}", get_note),
        ]


def _get(call: Call, table: str, kind: str, record_id: str | None = None) -> dict[str, Any]:
    record_id = record_id or call.params["id"]
    record = call.store.get(table, record_id)
    if record is None:
        raise not_found(kind, record_id)
    return record


# ── accounts ────────────────────────────────────────────────────────────────────────────
def list_accounts(call: Call) -> Any:
    q = call.query
    return call.page(
        "accounts",
        {
            "integration.erp_customer_id": q.get("erp_customer_id"),
            "tax_id": q.get("tax_id"),
            "legal_entity": q.get("legal_entity"),
        },
    )


def get_account(call: Call) -> Any:
    return _get(call, "accounts", "account")


def create_account(call: Call) -> Any:
    body = only(call.body, ACCOUNT_FIELDS | {"id"}, "an account")
    require(body, {"name": "str"})
    account_id = body.get("id")
    if account_id is not None:  # data import keeps the legacy id
        if call.store.get("accounts", account_id) is not None:
            raise Problem(409, "duplicate_id", f"account {account_id} already exists")
    else:
        prefix = "ACC-" + ENTITY_DIGIT.get(str(body.get("legal_entity")), "5")
        account_id = call.store.next_id("accounts", prefix, 4, 600)
    account = {"id": account_id, **{k: body.get(k) for k in sorted(ACCOUNT_FIELDS)}}
    account["integration"] = {}
    call.store.insert("accounts", account)
    call.emit("crm.account.upserted", account_id, account_event(account))
    return Reply(account, 201)


def update_account(call: Call) -> Any:
    account = _get(call, "accounts", "account")
    changes = only(call.body, ACCOUNT_FIELDS, "an account")
    account.update(changes)
    call.store.save("accounts", account)
    if changes:
        call.emit("crm.account.upserted", account["id"], account_event(account))
    return account


def put_integration_status(call: Call) -> Any:
    """The integration fields seamline writes back (no webhook: not a master-data change).
    The given fields replace those of the same name; fields not given are kept."""
    account = _get(call, "accounts", "account")
    changes = only(call.body, INTEGRATION_FIELDS, "the integration status")
    account["integration"] = {**account.get("integration", {}), **changes}
    call.store.save("accounts", account)
    return {"id": account["id"], **account["integration"], "updated_at": account["updated_at"]}


def account_event(account: dict[str, Any]) -> dict[str, Any]:
    """crm.account.upserted data: the account's master data (absent fields left out)."""
    data = {"account_id": account["id"]}
    data.update({k: account.get(k) for k in sorted(ACCOUNT_FIELDS)})
    data["updated_at"] = account.get("updated_at") or now_iso()
    return clean(data)


# ── opportunities ───────────────────────────────────────────────────────────────────────
def list_opportunities(call: Call) -> Any:
    q = call.query
    return call.page("opportunities", {"account_id": q.get("account_id"), "stage": q.get("stage")})


def get_opportunity(call: Call) -> Any:
    return _get(call, "opportunities", "opportunity")


def create_opportunity(call: Call) -> Any:
    body = only(call.body, OPPORTUNITY_FIELDS | {"id"}, "an opportunity")
    require(body, {"name": "str", "account_id": "str"}, optional={"amount": "number"})
    if call.store.get("accounts", body["account_id"]) is None:
        raise Problem(422, "account_not_found", f"account {body['account_id']} does not exist")
    stage = body.get("stage") or "Prospecting"
    if stage not in STAGES:
        raise Problem(422, "validation", f"stage must be one of {', '.join(STAGES)}")
    opportunity_id = body.get("id") or call.store.next_id("opportunities", "OPP-", 6, 104400)
    if call.store.get("opportunities", opportunity_id) is not None:
        raise Problem(409, "duplicate_id", f"opportunity {opportunity_id} already exists")
    opportunity = {
        "id": opportunity_id,
        **{k: body.get(k) for k in sorted(OPPORTUNITY_FIELDS)},
        "stage": stage,
    }
    call.store.insert("opportunities", opportunity)
    if stage == CLOSED_WON:
        _announce_won(call, opportunity)
    return Reply(opportunity, 201)


def update_opportunity(call: Call) -> Any:
    opportunity = _get(call, "opportunities", "opportunity")
    changes = only(call.body, OPPORTUNITY_FIELDS, "an opportunity")
    if "stage" in changes and changes["stage"] not in STAGES:
        raise Problem(422, "validation", f"stage must be one of {', '.join(STAGES)}")
    won = changes.get("stage") == CLOSED_WON and opportunity.get("stage") != CLOSED_WON
    opportunity.update(changes)
    call.store.save("opportunities", opportunity)
    if won:
        _announce_won(call, opportunity)
    return opportunity


def close_won(call: Call) -> Any:
    """Sales marks the deal won: stage Closed Won, close date (today unless given)."""
    opportunity = _get(call, "opportunities", "opportunity")
    if opportunity.get("stage") == CLOSED_WON:
        raise Problem(409, "already_closed", f"opportunity {opportunity['id']} is already won")
    body = call.body or {}
    require(body, {}, optional={"close_date": "date"})
    opportunity["stage"] = CLOSED_WON
    opportunity["close_date"] = body.get("close_date") or now_iso()[:10]
    call.store.save("opportunities", opportunity)
    _announce_won(call, opportunity)
    return opportunity


def _announce_won(call: Call, opportunity: dict[str, Any]) -> None:
    account = call.store.get("accounts", opportunity["account_id"]) or {}
    data = {
        "opportunity_id": opportunity["id"],
        "name": opportunity.get("name"),
        "stage": opportunity.get("stage"),
        "account": {
            "account_id": account.get("id"),
            "name": account.get("name"),
            "tax_id": account.get("tax_id"),
            "country": account.get("country"),
            "billing_address": account.get("billing_address"),
        },
        **{
            k: opportunity.get(k)
            for k in (
                "legal_entity",
                "currency",
                "amount",
                "billing_model",
                "close_date",
                "start_date",
                "end_date",
                "owner_email",
                "practice",
            )
        },
        "lines": [
            {k: line.get(k) for k in LINE_KEYS} for line in _objects(opportunity.get("lines"))
        ],
        "milestones": [
            {k: m.get(k) for k in MILESTONE_KEYS} for m in _objects(opportunity.get("milestones"))
        ]
        or None,
        "purchase_order": opportunity.get("purchase_order"),
        "payment_terms": opportunity.get("payment_terms"),
    }
    # v3 adds the acquired entity UK02; v2 the purchase order and payment terms; else v1
    if data["legal_entity"] in V3_ENTITIES:
        version = 3
    else:
        version = 2 if data["purchase_order"] or data["payment_terms"] else 1
    call.emit("crm.opportunity.closed_won", opportunity["id"], clean(data), version)


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# ── change orders ───────────────────────────────────────────────────────────────────────
def list_change_orders(call: Call) -> Any:
    q = call.query
    return call.page(
        "change_orders", {"opportunity_id": q.get("opportunity_id"), "status": q.get("status")}
    )


def get_change_order(call: Call) -> Any:
    return _get(call, "change_orders", "change order")


def create_change_order(call: Call) -> Any:
    body = only(call.body, CHANGE_ORDER_FIELDS, "a change order")
    require(
        body,
        {
            "opportunity_id": "str",
            "reason": "str",
            "amount_delta": "number",
            "hours_delta": "number",
            "lines": "list",
        },
    )
    opportunity = call.store.get("opportunities", body["opportunity_id"])
    if opportunity is None:
        raise Problem(
            422, "opportunity_not_found", f"opportunity {body['opportunity_id']} does not exist"
        )
    if opportunity.get("stage") != CLOSED_WON:
        raise Problem(
            409, "opportunity_not_won", f"opportunity {opportunity['id']} is not Closed Won"
        )
    change_order = {
        "id": call.store.next_id("change_orders", "CO-", 6, 400),
        **{k: body.get(k) for k in sorted(CHANGE_ORDER_FIELDS)},
        "project_id": body.get("project_id") or opportunity.get("psa_project_id"),
        "currency": body.get("currency") or opportunity.get("currency"),
        "status": "Pending Approval",
    }
    call.store.insert("change_orders", change_order)
    return Reply(change_order, 201)


def approve_change_order(call: Call) -> Any:
    """The customer and the engagement manager sign: the opportunity value moves by the delta."""
    change_order = _get(call, "change_orders", "change order")
    if change_order["status"] != "Pending Approval":
        raise Problem(
            409, "not_pending", f"change order {change_order['id']} is {change_order['status']}"
        )
    body = call.body or {}
    require(body, {"approved_by": "str"})
    change_order.update(status="Approved", approved_by=body["approved_by"], approved_at=now_iso())
    call.store.save("change_orders", change_order)
    opportunity = call.store.get("opportunities", change_order["opportunity_id"])
    if opportunity is not None and isinstance(opportunity.get("amount"), int | float):
        opportunity["amount"] = round(opportunity["amount"] + change_order["amount_delta"], 2)
        call.store.save("opportunities", opportunity)
    data = {"change_order_id": change_order["id"]}
    data.update(
        {
            k: change_order.get(k)
            for k in (
                "opportunity_id",
                "project_id",
                "reason",
                "currency",
                "amount_delta",
                "hours_delta",
                "lines",
                "approved_by",
                "approved_at",
            )
        }
    )
    call.emit("crm.change_order.approved", change_order["id"], clean(data))
    return change_order


# ── notes ───────────────────────────────────────────────────────────────────────────────
def list_notes(call: Call) -> Any:
    q = call.query
    return call.page(
        "notes", {"parent_id": q.get("parent_id"), "parent_type": q.get("parent_type")}
    )


def get_note(call: Call) -> Any:
    return _get(call, "notes", "note")


def add_note(call: Call) -> Any:
    body = only(call.body, {"parent_type", "parent_id", "title", "body"}, "a note")
    require(body, {"parent_type": "str", "parent_id": "str", "title": "str", "body": "str"})
    table = {"account": "accounts", "opportunity": "opportunities"}.get(body["parent_type"])
    if table is None:
        raise Problem(422, "validation", "parent_type must be account or opportunity")
    if call.store.get(table, body["parent_id"]) is None:
        raise Problem(
            422,
            "parent_not_found",
            f"{body['parent_type']} {body['parent_id']} does not exist",
        )
    note = {"id": call.store.next_id("notes", "NOTE-", 7, 7800), **body}
    call.store.insert("notes", note)
    return Reply(note, 201)

"""The simulated ERP (a NetSuite stand-in): customers, contracts and amendments, billing
schedules, invoices and payments, per subsidiary (legal entity).

Serves every operation of `connectors/erp.yaml`, plus what Finance does by hand and the demo
drives: post a draft invoice (`erp.invoice.posted`) and receive a payment
(`erp.payment.received`, also sent when a payment is applied through the API).

Rules it enforces like the real thing:
- one active customer per tax registration: a duplicate tax id is a 409 naming the existing
  customer (an archived customer frees its tax id);
- an unknown legal entity, an unknown currency, or a currency the entity may not transact in
  is a 422; so are payment terms it does not know and totals that do not add up;
- every write honours `Idempotency-Key` (same key and body: the first answer again, nothing new
  created; same key, different request: 422).
"""

from __future__ import annotations

from typing import Any

from runtime.sandbox import _erp_invoices as invoices
from runtime.sandbox import _erp_schedules as schedules
from runtime.sandbox._erp_ledger import (
    check_currency,
    check_terms,
    get,
    seed_reference,
    subsidiary,
)
from runtime.sandbox._money import cents, money, total
from runtime.sandbox._problem import Problem, only, require
from runtime.sandbox._service import Call, Handler, Reply, Service
from runtime.sandbox._store import Table, now_iso

CUSTOMER_FIELDS = frozenset(
    {
        "name",
        "tax_id",
        "country",
        "subsidiary_id",
        "legal_entity",
        "currency",
        "payment_terms",
        "crm_account_id",
        "external_id",
        "industry",
        "account_manager_email",
        "billing_address",
    }
)
IMMUTABLE = ("tax_id", "subsidiary_id", "legal_entity", "currency")
CONTRACT_FIELDS = frozenset(
    {
        "customer_id",
        "subsidiary_id",
        "legal_entity",
        "currency",
        "name",
        "opportunity_id",
        "billing_model",
        "total_value",
        "signed_on",
        "start_date",
        "end_date",
        "payment_terms",
        "purchase_order",
        "lines",
    }
)


class ErpService(Service):
    name = "erp"
    title = "ERP"
    source = "/erp/netsuite"
    page_style = "offset"
    tables = [
        Table("subsidiaries", ("legal_entity",)),
        Table("currencies"),
        Table("customers", ("tax_id", "status", "crm_account_id")),
        Table("contracts", ("customer_id", "opportunity_id", "status")),
        Table("contract_amendments", ("contract_id", "change_order_id")),
        Table("billing_schedules", ("contract_id", "status")),
        Table("schedule_adjustments", ("contract_id", "reference")),
        Table("invoices", ("customer_id", "project_id", "status", "period")),
        Table("payments", ("invoice_id", "customer_id")),
    ]

    def seed(self) -> None:
        seed_reference(self.store)

    def routes(self) -> list[tuple[str, str, Handler]]:
        c = "/contracts/{contract_id}"
        return [
            ("GET", "/customers", list_customers),
            ("POST", "/customers", create_customer),
            ("GET", "/customers/{id}", lambda call: get(call, "customers", "customer")),
            ("PATCH", "/customers/{id}", update_customer),
            ("POST", "/customers/{id}/archive", archive_customer),
            ("GET", "/contracts", list_contracts),
            ("POST", "/contracts", create_contract),
            ("GET", c, lambda call: get(call, "contracts", "contract", call.params["contract_id"])),
            ("POST", f"{c}/amendments", amend_contract),
            ("POST", f"{c}/cancel", cancel_contract),
            ("GET", f"{c}/billing-schedules", schedules.list_schedules),
            ("POST", f"{c}/billing-schedules", schedules.create_schedule),
            ("POST", f"{c}/billing-schedules/adjustments", schedules.adjust_schedule),
            ("GET", "/invoices", invoices.list_invoices),
            ("POST", "/invoices", invoices.create_invoice),
            ("GET", "/invoices/{id}", lambda call: get(call, "invoices", "invoice")),
            ("POST", "/invoices/{id}/lines", invoices.add_invoice_lines),
            ("POST", "/invoices/{id}/post", invoices.post_invoice),
            ("POST", "/invoices/{id}/payments", invoices.apply_payment),
            ("GET", "/payments/{id}", lambda call: get(call, "payments", "payment")),
        ]


def normal_tax_id(value: Any) -> str:
    return "".join(str(value).split()).upper()


# ── customers ───────────────────────────────────────────────────────────────────────────
def list_customers(call: Call) -> Any:
    """Active customers (`?status=archived` for archived ones) by tax id or CRM account."""
    q = call.query
    filters: dict[str, Any] = {
        "tax_id": normal_tax_id(q["tax_id"]) if q.get("tax_id") else None,
        "crm_account_id": q.get("crm_account_id"),
        "legal_entity": q.get("legal_entity"),
    }
    if q.get("status"):
        filters["status"] = q["status"]
    else:
        filters["status!"] = "archived"
    return call.page("customers", filters)


def create_customer(call: Call) -> Any:
    body = only(call.body, CUSTOMER_FIELDS, "a customer")
    require(
        body,
        {"name": "str", "tax_id": "str", "country": "str", "currency": "str"},
        optional={"billing_address": "object"},
    )
    sub = subsidiary(call, body)
    check_currency(call, sub, body["currency"])
    check_terms(body.get("payment_terms"))
    tax_id = normal_tax_id(body["tax_id"])
    existing = call.store.first("customers", {"tax_id": tax_id, "status!": "archived"})
    if existing is not None:
        raise Problem(
            409,
            "duplicate_tax_id",
            f"customer {existing['id']} ({existing['name']}) already has tax id {tax_id}",
            existing_id=existing["id"],
            tax_id=tax_id,
        )
    customer = {
        "id": call.store.next_id("customers", f"CUS-{sub['id']}", 5, 600),
        **{k: body.get(k) for k in sorted(CUSTOMER_FIELDS)},
        "tax_id": tax_id,
        "subsidiary_id": int(sub["id"]),
        "legal_entity": sub["legal_entity"],
        "payment_terms": body.get("payment_terms") or sub["default_payment_terms"],
        "status": "active",
        "open_balance": 0,
    }
    call.store.insert("customers", customer)
    return Reply(customer, 201)


def update_customer(call: Call) -> Any:
    """Master data changes; tax id, subsidiary and currency stay as booked."""
    customer = get(call, "customers", "customer")
    body = only(call.body, CUSTOMER_FIELDS, "a customer")
    if customer["status"] == "archived":
        raise Problem(409, "customer_archived", f"customer {customer['id']} is archived")
    for name in IMMUTABLE:
        value = normal_tax_id(body[name]) if name == "tax_id" and name in body else body.get(name)
        if value is not None and value != customer.get(name):
            raise Problem(
                422,
                "immutable_field",
                f"{name} of customer {customer['id']} cannot "
                f"change ({customer.get(name)} → {value}); create a new customer",
            )
    check_terms(body.get("payment_terms"))
    customer.update({k: v for k, v in body.items() if k not in IMMUTABLE})
    return call.store.save("customers", customer)


def archive_customer(call: Call) -> Any:
    customer = get(call, "customers", "customer")
    active = call.store.first("contracts", {"customer_id": customer["id"], "status": "active"})
    if active is not None:
        raise Problem(
            409,
            "customer_has_contracts",
            f"customer {customer['id']} has active contract {active['id']}; cancel it first",
            contract_id=active["id"],
        )
    if customer["status"] != "archived":
        customer.update(status="archived", archived_at=now_iso())
        call.store.save("customers", customer)
    return customer


# ── contracts ───────────────────────────────────────────────────────────────────────────
def list_contracts(call: Call) -> Any:
    q = call.query
    return call.page(
        "contracts", {k: q.get(k) for k in ("opportunity_id", "customer_id", "status")}
    )


def create_contract(call: Call) -> Any:
    body = only(call.body, CONTRACT_FIELDS, "a contract")
    require(
        body,
        {
            "customer_id": "str",
            "currency": "str",
            "name": "str",
            "billing_model": "str",
            "total_value": "positive",
            "start_date": "date",
            "end_date": "date",
        },
        optional={"signed_on": "date", "lines": "list"},
    )
    sub = subsidiary(call, body)
    check_currency(call, sub, body["currency"])
    check_terms(body.get("payment_terms"))
    customer = call.store.get("customers", body["customer_id"])
    if customer is None:
        raise Problem(422, "customer_not_found", f"customer {body['customer_id']} does not exist")
    if customer["status"] == "archived":
        raise Problem(409, "customer_archived", f"customer {customer['id']} is archived")
    if body["billing_model"] not in schedules.SCHEDULE_TYPES:
        raise Problem(422, "validation", f"billing_model must be one of {schedules.SCHEDULE_TYPES}")
    lines = body.get("lines") or []
    if not all(isinstance(line, dict) for line in lines):
        raise Problem(422, "validation", "every contract line must be an object")
    if lines and cents(total(line.get("amount", 0) for line in lines)) != cents(
        body["total_value"]
    ):
        raise Problem(
            422,
            "lines_total_mismatch",
            f"the lines add up to "
            f"{total(line.get('amount', 0) for line in lines)}, not the contract value "
            f"{body['total_value']}",
        )
    contract = {
        "id": call.store.next_id("contracts", "CTR-", 6, 500900),
        **{k: body.get(k) for k in sorted(CONTRACT_FIELDS)},
        "subsidiary_id": int(sub["id"]),
        "legal_entity": sub["legal_entity"],
        "payment_terms": body.get("payment_terms") or customer["payment_terms"],
        "total_value": money(body["total_value"]),
        "original_value": money(body["total_value"]),
        "status": "active",
    }
    call.store.insert("contracts", contract)
    return Reply(contract, 201)


def active_contract(call: Call) -> dict[str, Any]:
    contract = get(call, "contracts", "contract", call.params["contract_id"])
    if contract["status"] != "active":
        raise Problem(
            409, "contract_not_active", f"contract {contract['id']} is {contract['status']}"
        )
    return contract


def amend_contract(call: Call) -> Any:
    """A change order: the contract value moves by `amount_delta` from `effective_date`."""
    contract = active_contract(call)
    body = only(
        call.body,
        {
            "change_order_id",
            "amount_delta",
            "currency",
            "effective_date",
            "reason",
            "approved_by",
            "lines",
        },
        "an amendment",
    )
    require(
        body,
        {
            "change_order_id": "str",
            "amount_delta": "number",
            "currency": "str",
            "effective_date": "date",
        },
    )
    if body["currency"] != contract["currency"]:
        raise Problem(
            422,
            "currency_mismatch",
            f"contract {contract['id']} is in {contract['currency']}, not {body['currency']}",
        )
    existing = call.store.first(
        "contract_amendments",
        {"contract_id": contract["id"], "change_order_id": body["change_order_id"]},
    )
    if existing is not None:
        if cents(existing["amount_delta"]) != cents(body["amount_delta"]):
            raise Problem(
                409,
                "duplicate_change_order",
                f"change order {body['change_order_id']}"
                " already amended this contract by another amount",
                existing_id=existing["id"],
            )
        return existing
    after = cents(contract["total_value"]) + cents(body["amount_delta"])
    if after <= 0:
        raise Problem(
            422,
            "validation",
            f"the amendment would take contract {contract['id']} "
            f"to {after}; a contract value must stay positive",
        )
    amendment = {
        "id": call.store.next_id("contract_amendments", "AMD-", 6, 700000),
        "contract_id": contract["id"],
        **body,
        "total_value_before": contract["total_value"],
        "total_value_after": money(after),
        "status": "approved",
    }
    contract["total_value"] = money(after)
    call.store.save("contracts", contract)
    call.store.insert("contract_amendments", amendment)
    return Reply(amendment, 201)


def cancel_contract(call: Call) -> Any:
    contract = get(call, "contracts", "contract", call.params["contract_id"])
    body = only(call.body or {}, {"reason"}, "a cancellation")
    if contract["status"] != "cancelled":
        contract.update(
            status="cancelled", cancel_reason=body.get("reason"), cancelled_at=now_iso()
        )
        call.store.save("contracts", contract)
        for schedule in call.store.find("billing_schedules", {"contract_id": contract["id"]}):
            schedule.pop("_rowid")
            schedule["status"] = "cancelled"
            call.store.save("billing_schedules", schedule)
    return contract

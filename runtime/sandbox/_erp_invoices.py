"""ERP invoices (draft → lines → posted, with tax per line) and the payments applied to them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from runtime.sandbox._erp_ledger import (
    TAX_RATES,
    check_currency,
    get,
    same_currency,
    subsidiary,
    tax_code,
)
from runtime.sandbox._money import cents, money, number, total
from runtime.sandbox._problem import Problem, only, require
from runtime.sandbox._service import Call, Reply
from runtime.sandbox._store import now_iso

PAYMENT_METHODS = ("wire", "ach", "card", "sepa")
LINE_KEYS = ("description", "quantity", "unit_price", "amount", "tax_code")


# ── invoices ────────────────────────────────────────────────────────────────────────────
def list_invoices(call: Call) -> Any:
    q = call.query
    keys = ("project_id", "customer_id", "contract_id", "status", "period")
    return call.page("invoices", {k: q.get(k) for k in keys})


def create_invoice(call: Call) -> Any:
    """A draft invoice (lines are added, then it is posted)."""
    body = only(
        call.body,
        {
            "status",
            "project_id",
            "customer_id",
            "contract_id",
            "subsidiary_id",
            "legal_entity",
            "currency",
            "period",
            "issue_date",
            "due_date",
            "purchase_order",
            "memo",
        },
        "an invoice",
    )
    require(
        body, {"customer_id": "str", "currency": "str", "issue_date": "date", "due_date": "date"}
    )
    if body.get("status", "draft") != "draft":
        raise Problem(422, "validation", "invoices are created as draft, then posted")
    sub = subsidiary(call, body)
    check_currency(call, sub, body["currency"])
    customer = call.store.get("customers", body["customer_id"])
    if customer is None or customer["status"] == "archived":
        raise Problem(422, "customer_not_found", f"customer {body['customer_id']} is not active")
    if body.get("contract_id") and call.store.get("contracts", body["contract_id"]) is None:
        raise Problem(422, "contract_not_found", f"contract {body['contract_id']} does not exist")
    if body["due_date"] < body["issue_date"]:
        raise Problem(422, "validation", "due_date is before issue_date")
    invoice = {
        "id": call.store.next_id("invoices", "INV-", 7, 41900),
        **body,
        "status": "draft",
        "subsidiary_id": int(sub["id"]),
        "legal_entity": sub["legal_entity"],
        "period": body.get("period") or body["issue_date"][:7],
        "lines": [],
        "subtotal": 0,
        "tax": 0,
        "total": 0,
        "amount_paid": 0,
        "amount_due": 0,
    }
    call.store.insert("invoices", invoice)
    return Reply(invoice, 201)


def add_invoice_lines(call: Call) -> Any:
    """Lines from one source (`source_ref`, e.g. a timesheet); a repeat replaces them."""
    invoice = get(call, "invoices", "invoice")
    body = call.body
    require(body, {"source_ref": "str", "lines": "list"})
    if invoice["status"] != "draft":
        raise Problem(
            409,
            "invoice_posted",
            f"invoice {invoice['id']} is {invoice['status']}; "
            "lines can be added to draft invoices only",
        )
    sub = call.store.get("subsidiaries", str(invoice["subsidiary_id"])) or {}
    customer = call.store.get("customers", invoice["customer_id"]) or {}
    added = []
    for i, line in enumerate(body["lines"]):
        if not isinstance(line, dict):
            raise Problem(422, "validation", f"lines[{i}] must be an object")
        require(
            line,
            {
                "description": "str",
                "quantity": "positive",
                "unit_price": "positive",
                "amount": "positive",
            },
        )
        expected = cents(Decimal(str(line["quantity"])) * Decimal(str(line["unit_price"])))
        if cents(line["amount"]) != expected:
            raise Problem(
                422,
                "line_amount_mismatch",
                f"lines[{i}]: amount {line['amount']} is "
                f"not quantity x unit price ({number(expected)})",
            )
        code = line.get("tax_code") or tax_code(sub, customer.get("country"))
        if code not in TAX_RATES:
            raise Problem(422, "unknown_tax_code", f"lines[{i}]: tax code {code} does not exist")
        added.append(
            {
                **line,
                "amount": money(line["amount"]),
                "tax_code": code,
                "source_ref": body["source_ref"],
            }
        )
    invoice["lines"] = [ln for ln in invoice["lines"] if ln.get("source_ref") != body["source_ref"]]
    invoice["lines"] += added
    _totals(invoice)
    call.store.save("invoices", invoice)
    return {
        "invoice_id": invoice["id"],
        "source_ref": body["source_ref"],
        "line_count": len(added),
        "subtotal": total(ln["amount"] for ln in added),
        "invoice_subtotal": invoice["subtotal"],
        "invoice_total": invoice["total"],
        "lines": added,
    }


def _totals(invoice: dict[str, Any]) -> None:
    subtotal = sum((cents(ln["amount"]) for ln in invoice["lines"]), Decimal(0))
    tax = sum(
        (
            cents(cents(ln["amount"]) * Decimal(str(TAX_RATES[ln["tax_code"]])))
            for ln in invoice["lines"]
        ),
        Decimal(0),
    )
    invoice.update(subtotal=number(subtotal), tax=number(tax), total=number(subtotal + tax))
    invoice["amount_due"] = number(subtotal + tax - cents(invoice["amount_paid"]))


def post_invoice(call: Call) -> Any:
    """Finance posts the invoice: it is final, owed by the customer, and announced."""
    invoice = get(call, "invoices", "invoice")
    if invoice["status"] != "draft":
        raise Problem(409, "invoice_posted", f"invoice {invoice['id']} is {invoice['status']}")
    if not invoice["lines"]:
        raise Problem(409, "invoice_empty", f"invoice {invoice['id']} has no lines")
    _totals(invoice)
    invoice.update(status="posted", posted_at=now_iso())
    call.store.save("invoices", invoice)
    _move_balance(call, invoice["customer_id"], invoice["total"])
    schedule = invoice.get("contract_id") and call.store.first(
        "billing_schedules", {"contract_id": invoice["contract_id"], "status": "active"}
    )
    if schedule and schedule["type"] == "time_and_materials":
        schedule.pop("_rowid", None)
        schedule["invoiced_to_date"] = total([schedule["invoiced_to_date"], invoice["subtotal"]])
        call.store.save("billing_schedules", schedule)
    data = {"invoice_id": invoice["id"]}
    data.update(
        {
            k: invoice.get(k)
            for k in (
                "customer_id",
                "project_id",
                "legal_entity",
                "currency",
                "issue_date",
                "due_date",
            )
        }
    )
    data["lines"] = [{k: ln[k] for k in LINE_KEYS} for ln in invoice["lines"]]
    data.update(
        subtotal=invoice["subtotal"], tax=invoice["tax"], total=invoice["total"], status="posted"
    )
    call.emit("erp.invoice.posted", invoice["id"], data)
    return invoice


def _move_balance(call: Call, customer_id: str, amount: Any) -> None:
    customer = call.store.get("customers", customer_id)
    if customer is not None:
        customer["open_balance"] = total([customer.get("open_balance", 0), amount])
        call.store.save("customers", customer)


def apply_payment(call: Call) -> Any:
    """A customer payment applied to a posted invoice (part payments allowed, overpayment not)."""
    invoice = get(call, "invoices", "invoice")
    body = only(
        call.body,
        {"payment_id", "amount", "currency", "received_on", "method", "reference"},
        "a payment",
    )
    require(
        body,
        {
            "amount": "positive",
            "currency": "str",
            "received_on": "date",
            "method": "str",
            "reference": "str",
        },
    )
    if invoice["status"] not in ("posted", "partially_paid"):
        raise Problem(409, "invoice_not_open", f"invoice {invoice['id']} is {invoice['status']}")
    same_currency(invoice, body["currency"], "invoice")
    if body["method"] not in PAYMENT_METHODS:
        raise Problem(422, "validation", f"method must be one of {', '.join(PAYMENT_METHODS)}")
    if cents(body["amount"]) > cents(invoice["amount_due"]):
        raise Problem(
            422,
            "overpayment",
            f"payment {body['amount']} exceeds the amount due on "
            f"invoice {invoice['id']} ({invoice['amount_due']})",
        )
    payment_id = body.get("payment_id") or call.store.next_id("payments", "PAY-", 7, 90400)
    if call.store.get("payments", payment_id) is not None:
        raise Problem(409, "duplicate_payment", f"payment {payment_id} is already applied")
    invoice["amount_paid"] = total([invoice["amount_paid"], body["amount"]])
    invoice["amount_due"] = number(cents(invoice["total"]) - cents(invoice["amount_paid"]))
    invoice["status"] = "paid" if invoice["amount_due"] == 0 else "partially_paid"
    call.store.save("invoices", invoice)
    _move_balance(call, invoice["customer_id"], -cents(body["amount"]))
    payment = {
        **body,
        "id": payment_id,
        "invoice_id": invoice["id"],
        "customer_id": invoice["customer_id"],
        "amount": money(body["amount"]),
    }
    payment.pop("payment_id", None)
    call.store.insert("payments", payment)
    call.emit(
        "erp.payment.received",
        payment_id,
        {
            "payment_id": payment_id,
            **{
                k: payment[k]
                for k in (
                    "invoice_id",
                    "customer_id",
                    "amount",
                    "currency",
                    "received_on",
                    "method",
                    "reference",
                )
            },
        },
    )
    return Reply(
        {
            **payment,
            "invoice_status": invoice["status"],
            "invoice_amount_due": invoice["amount_due"],
        },
        201,
    )

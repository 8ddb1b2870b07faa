"""ERP billing schedules: how a contract is invoiced, and how change orders move it."""

from __future__ import annotations

from typing import Any

from runtime.sandbox._erp_ledger import get, same_currency
from runtime.sandbox._money import allocate, cents, money, number, total
from runtime.sandbox._problem import Problem, require
from runtime.sandbox._service import Call, Reply

SCHEDULE_TYPES = ("fixed_fee", "time_and_materials", "milestone")
METHOD_TYPES = {
    "spread_remaining": "fixed_fee",
    "adjust_cap": "time_and_materials",
    "add_milestone": "milestone",
}


def _contract(call: Call) -> dict[str, Any]:
    from runtime.sandbox.erp import active_contract

    return active_contract(call)


# ── billing schedules ───────────────────────────────────────────────────────────────────
def list_schedules(call: Call) -> Any:
    contract = get(call, "contracts", "contract", call.params["contract_id"])
    return call.page("billing_schedules", {"contract_id": contract["id"]})


def create_schedule(call: Call) -> Any:
    """Fixed fee and milestone: `entries` adding up to `total` (= the contract value).
    Time and materials: monthly invoicing of approved time up to `not_to_exceed`."""
    contract = _contract(call)
    body = call.body
    require(body, {"type": "str", "currency": "str"})
    same_currency(contract, body["currency"], "contract")
    if body["type"] != contract["billing_model"]:
        raise Problem(
            422,
            "schedule_type_mismatch",
            f"contract {contract['id']} is billed {contract['billing_model']}, not {body['type']}",
        )
    existing = call.store.first(
        "billing_schedules", {"contract_id": contract["id"], "status": "active"}
    )
    if existing is not None:
        raise Problem(
            409,
            "schedule_exists",
            f"contract {contract['id']} already has billing schedule {existing['id']}",
            existing_id=existing["id"],
        )
    schedule: dict[str, Any] = {
        "id": call.store.next_id("billing_schedules", "BSC-", 6, 300900),
        "contract_id": contract["id"],
        **{k: v for k, v in body.items() if k != "contract_id"},
        "status": "active",
    }
    if body["type"] == "time_and_materials":
        require(
            body,
            {
                "first_invoice_date": "date",
                "last_invoice_date": "date",
                "not_to_exceed": "positive",
            },
            optional={"rates": "list"},
        )
        schedule.update(
            not_to_exceed=money(body["not_to_exceed"]),
            invoiced_to_date=0,
            entries=[],
            entry_count=0,
        )
    else:
        require(body, {"total": "positive", "entries": "list"})
        entries = [_entry(i, e) for i, e in enumerate(body["entries"])]
        entries_total = total(e["amount"] for e in entries)
        if cents(entries_total) != cents(body["total"]):
            raise Problem(
                422,
                "schedule_total_mismatch",
                f"the entries add up to {entries_total}, not the schedule total {body['total']}",
            )
        if cents(body["total"]) != cents(contract["total_value"]):
            raise Problem(
                422,
                "schedule_contract_mismatch",
                f"schedule total {body['total']} is "
                f"not the value of contract {contract['id']} ({contract['total_value']})",
            )
        schedule.update(total=money(body["total"]), entries=entries, entry_count=len(entries))
    call.store.insert("billing_schedules", schedule)
    return Reply(schedule, 201)


def _entry(index: int, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict):
        raise Problem(422, "validation", f"entries[{index}] must be an object")
    require(entry, {"amount": "positive", "description": "str"})
    when = entry.get("invoice_date") or entry.get("planned_date")
    require({"date": when}, {"date": "date"})
    return {"sequence": index + 1, **entry, "amount": money(entry["amount"]), "status": "planned"}


def adjust_schedule(call: Call) -> Any:
    """A change order reaches billing: `spread_remaining` (fixed fee), `adjust_cap` (T&M),
    `add_milestone` (milestone)."""
    contract = _contract(call)
    body = call.body
    require(
        body,
        {"reference": "str", "method": "str", "amount_delta": "number", "currency": "str"},
        optional={"effective_date": "date"},
    )
    same_currency(contract, body["currency"], "contract")
    schedule = call.store.first(
        "billing_schedules", {"contract_id": contract["id"], "status": "active"}
    )
    if schedule is None:
        raise Problem(
            409, "no_active_schedule", f"contract {contract['id']} has no active billing schedule"
        )
    wanted = METHOD_TYPES.get(body["method"])
    if wanted is None:
        raise Problem(422, "validation", f"method must be one of {', '.join(METHOD_TYPES)}")
    if wanted != schedule["type"]:
        raise Problem(
            422,
            "method_not_applicable",
            f"{body['method']} applies to {wanted} "
            f"schedules; {schedule['id']} is {schedule['type']}",
        )
    existing = call.store.first(
        "schedule_adjustments", {"contract_id": contract["id"], "reference": body["reference"]}
    )
    if existing is not None:
        if cents(existing["amount_delta"]) != cents(body["amount_delta"]):
            raise Problem(
                409,
                "duplicate_reference",
                f"{body['reference']} already adjusted schedule {schedule['id']} by another amount",
                existing_id=existing["id"],
            )
        return existing
    changed = ADJUSTERS[body["method"]](schedule, body)
    call.store.save("billing_schedules", schedule)
    adjustment = {
        "id": call.store.next_id("schedule_adjustments", "BSA-", 6, 100),
        "contract_id": contract["id"],
        "schedule_id": schedule["id"],
        **body,
        "entries_changed": changed,
        "status": "applied",
    }
    call.store.insert("schedule_adjustments", adjustment)
    return Reply(adjustment, 201)


def _spread(schedule: dict[str, Any], body: dict[str, Any]) -> list[int]:
    since = body.get("effective_date") or "0000-00-00"
    remaining = [
        e
        for e in schedule["entries"]
        if e["status"] == "planned" and (e.get("invoice_date") or "") >= since
    ]
    if not remaining:
        raise Problem(
            409,
            "nothing_to_spread",
            f"schedule {schedule['id']} has no instalment left to invoice after {since}",
        )
    for entry, part in zip(remaining, allocate(body["amount_delta"], len(remaining)), strict=True):
        entry["amount"] = money(cents(entry["amount"]) + cents(part))
        if entry["amount"] <= 0:
            raise Problem(
                422, "validation", f"instalment {entry['sequence']} would become {entry['amount']}"
            )
    schedule["total"] = total([schedule["total"], body["amount_delta"]])
    return [e["sequence"] for e in remaining]


def _adjust_cap(schedule: dict[str, Any], body: dict[str, Any]) -> list[int]:
    cap = cents(schedule["not_to_exceed"]) + cents(body["amount_delta"])
    if cap <= cents(schedule.get("invoiced_to_date", 0)):
        raise Problem(
            422,
            "cap_below_invoiced",
            f"the cap of schedule {schedule['id']} would be "
            f"{cap}, below what is already invoiced ({schedule['invoiced_to_date']})",
        )
    schedule["not_to_exceed"] = number(cap)
    return []


def _add_milestone(schedule: dict[str, Any], body: dict[str, Any]) -> list[int]:
    require(body, {"description": "str", "planned_date": "date", "amount_delta": "positive"})
    entry = {
        "sequence": len(schedule["entries"]) + 1,
        "reference": body["reference"],
        "psa_milestone_id": body.get("psa_milestone_id"),
        "description": body["description"],
        "planned_date": body["planned_date"],
        "amount": money(body["amount_delta"]),
        "trigger": "on_acceptance",
        "status": "planned",
    }
    schedule["entries"].append(entry)
    schedule["entry_count"] = len(schedule["entries"])
    schedule["total"] = total([schedule["total"], body["amount_delta"]])
    return [entry["sequence"]]


ADJUSTERS = {
    "spread_remaining": _spread,
    "adjust_cap": _adjust_cap,
    "add_milestone": _add_milestone,
}

"""PSA time and billing: timesheets (submitted, approved → webhook), the priced billable hours
seamline records per approved timesheet, and the invoices billed against a project."""

from __future__ import annotations

from typing import Any

from runtime.sandbox._money import cents, money, number, total
from runtime.sandbox._problem import Problem, not_found, only, require
from runtime.sandbox._psa_rules import load_project, open_project, same_currency
from runtime.sandbox._service import Call, Reply
from runtime.sandbox._store import now_iso


# ── time and billing ────────────────────────────────────────────────────────────────────
def _check_entries(call: Call, project: dict[str, Any], entries: list[Any]) -> None:
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Problem(422, "validation", f"entries[{i}] must be an object")
        require(entry, {"date": "date", "task_id": "str", "hours": "positive"})
        task = call.store.get("tasks", entry["task_id"])
        if task is None or task["project_id"] != project["id"]:
            raise Problem(
                422,
                "unknown_task",
                f"entries[{i}]: task {entry['task_id']} is not a task of project {project['id']}",
            )


def record_billable_hours(call: Call) -> Any:
    """Priced billable time of one approved timesheet; a repeat for the timesheet replaces it."""
    project = open_project(call)
    body = call.body
    require(
        body,
        {
            "timesheet_id": "str",
            "employee_id": "str",
            "week_start": "date",
            "currency": "str",
            "rate": "positive",
            "entries": "list",
            "billable_hours": "positive",
            "amount": "positive",
        },
    )
    if project["status"] != "active":
        raise Problem(
            409,
            "project_not_active",
            f"project {project['id']} is {project['status']}"
            "; time can be recorded on active projects only",
        )
    same_currency(project, body["currency"])
    _check_entries(call, project, body["entries"])
    record = call.store.first(
        "billable_hours", {"project_id": project["id"], "timesheet_id": body["timesheet_id"]}
    )
    if record is not None:
        project["hours_logged"] -= record["billable_hours"]
        project["billable_amount"] = number(
            cents(project["billable_amount"]) - cents(record["amount"])
        )
    new = {
        "id": record["id"] if record else call.store.next_id("billable_hours", "BH-", 7, 1),
        "project_id": project["id"],
        **{k: v for k, v in body.items() if k != "project_id"},
        "amount": money(body["amount"]),
    }
    project["hours_logged"] = round(project["hours_logged"] + body["billable_hours"], 2)
    project["billable_amount"] = total([project["billable_amount"], body["amount"]])
    call.store.save("projects", project)
    if record is not None:
        return call.store.save("billable_hours", {**new, "created_at": record["created_at"]})
    return Reply(call.store.insert("billable_hours", new), 201)


def record_invoice(call: Call) -> Any:
    """A posted ERP invoice, added to the project's billed-to-date once per invoice."""
    project = load_project(call)
    body = call.body
    require(
        body,
        {"invoice_id": "str", "currency": "str", "net_amount": "number"},
        optional={"tax": "number", "total": "number", "issue_date": "date", "due_date": "date"},
    )
    same_currency(project, body["currency"])
    existing = call.store.first(
        "project_invoices", {"project_id": project["id"], "invoice_id": body["invoice_id"]}
    )
    if existing is not None:
        return {**existing, "billed_to_date": project["billed_to_date"]}
    project["billed_to_date"] = total([project["billed_to_date"], body["net_amount"]])
    call.store.save("projects", project)
    record = {
        "id": call.store.next_id("project_invoices", "PIV-", 6, 1),
        "project_id": project["id"],
        **{k: v for k, v in body.items() if k != "project_id"},
    }
    call.store.insert("project_invoices", record)
    return Reply({**record, "billed_to_date": project["billed_to_date"]}, 201)


def list_timesheets(call: Call) -> Any:
    q = call.query
    return call.page("timesheets", {k: q.get(k) for k in ("project_id", "employee_id", "status")})


def get_timesheet(call: Call) -> Any:
    timesheet = call.store.get("timesheets", call.params["id"])
    if timesheet is None:
        raise not_found("timesheet", call.params["id"])
    return timesheet


def submit_timesheet(call: Call) -> Any:
    """A consultant submits a week of time on a project's tasks."""
    body = only(
        call.body,
        {"project_id", "employee_id", "employee_name", "role", "week_start", "entries"},
        "a timesheet",
    )
    require(
        body,
        {
            "project_id": "str",
            "employee_id": "str",
            "employee_name": "str",
            "role": "str",
            "week_start": "date",
            "entries": "list",
        },
    )
    project = open_project(call, body["project_id"])
    if project["status"] != "active":
        raise Problem(409, "project_not_active", f"project {project['id']} is not open for time")
    _check_entries(call, project, body["entries"])
    for entry in body["entries"]:
        entry.setdefault("billable", True)
    timesheet = {
        "id": call.store.next_id("timesheets", "TS-", 7, 58400),
        **body,
        "total_hours": round(sum(e["hours"] for e in body["entries"]), 2),
        "status": "submitted",
    }
    call.store.insert("timesheets", timesheet)
    return Reply(timesheet, 201)


def approve_timesheet(call: Call) -> Any:
    timesheet = get_timesheet(call)
    body = call.body or {}
    require(body, {"approved_by": "str"})
    if timesheet["status"] != "submitted":
        raise Problem(409, "not_submitted", f"timesheet {timesheet['id']} is {timesheet['status']}")
    timesheet.update(status="approved", approved_by=body["approved_by"], approved_at=now_iso())
    call.store.save("timesheets", timesheet)
    data = {"timesheet_id": timesheet["id"]}
    data.update(
        {
            k: timesheet[k]
            for k in (
                "project_id",
                "employee_id",
                "employee_name",
                "role",
                "week_start",
                "entries",
                "total_hours",
                "approved_by",
                "approved_at",
            )
        }
    )
    call.emit("psa.timesheet.approved", timesheet["id"], data)
    return timesheet

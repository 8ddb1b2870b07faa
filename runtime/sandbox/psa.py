"""The simulated PSA (a Kantata stand-in): projects, budgets, tasks, milestones, timesheets,
billable hours and the invoices billed against each project.

Serves every operation of `connectors/psa.yaml`, plus what delivery teams do by hand and the
demo drives: submit and approve a timesheet, close a milestone on customer acceptance. Both are
announced by signed CloudEvents webhooks (`psa.timesheet.approved`, `psa.milestone.completed`).

Rules it enforces like the real thing: time is booked only on active projects and on tasks of
that project; amounts are in the project's currency; a task or milestone `external_ref` is unique
within its project; billable hours are one record per timesheet (a repeat replaces it).
"""

from __future__ import annotations

from typing import Any

from runtime.sandbox import _psa_time as time_
from runtime.sandbox._money import cents, money
from runtime.sandbox._problem import Problem, not_found, only, require
from runtime.sandbox._psa_rules import load_project, open_project, same_currency
from runtime.sandbox._service import Call, Handler, Reply, Service
from runtime.sandbox._store import Table, now_iso

CURRENCIES = frozenset({"USD", "GBP", "EUR", "CHF", "CAD", "AUD"})
BILLING_MODELS = frozenset({"fixed_fee", "time_and_materials", "milestone"})
PROJECT_FIELDS = frozenset(
    {
        "name",
        "opportunity_id",
        "crm_account_id",
        "customer_id",
        "legal_entity",
        "currency",
        "billing_model",
        "practice",
        "start_date",
        "end_date",
        "budget",
        "sales_owner_email",
        "status",
    }
)
TASK_FIELDS = frozenset(
    {"external_ref", "name", "role", "planned_hours", "rate", "budget", "status"}
)


class PsaService(Service):
    name = "psa"
    title = "PSA"
    source = "/psa/kantata"
    page_style = "link"
    tables = [
        Table("projects", ("opportunity_id", "customer_id", "status")),
        Table("tasks", ("project_id", "external_ref")),
        Table("milestones", ("project_id", "external_ref", "status")),
        Table("budget_changes", ("project_id", "reference")),
        Table("timesheets", ("project_id", "employee_id", "status")),
        Table("billable_hours", ("project_id", "timesheet_id")),
        Table("project_invoices", ("project_id", "invoice_id")),
    ]

    def routes(self) -> list[tuple[str, str, Handler]]:
        p = "/projects/{project_id}"
        return [
            ("GET", "/projects", list_projects),
            ("POST", "/projects", create_project),
            ("GET", p, get_project),
            ("POST", f"{p}/activate", activate_project),
            ("POST", f"{p}/archive", archive_project),
            ("POST", f"{p}/budget-changes", change_budget),
            ("GET", f"{p}/tasks", lambda c: c.page("tasks", {"project_id": load_project(c)["id"]})),
            ("POST", f"{p}/tasks", create_task),
            ("PATCH", f"{p}/tasks/by-ref/{{external_ref}}", update_task),
            (
                "GET",
                f"{p}/milestones",
                lambda c: c.page("milestones", {"project_id": load_project(c)["id"]}),
            ),
            ("POST", f"{p}/milestones", create_milestone),
            ("POST", f"{p}/milestones/{{milestone_id}}/close", close_milestone),
            ("POST", f"{p}/billable-hours", time_.record_billable_hours),
            ("POST", f"{p}/invoices", time_.record_invoice),
            ("GET", "/timesheets", time_.list_timesheets),
            ("POST", "/timesheets", time_.submit_timesheet),
            ("GET", "/timesheets/{id}", time_.get_timesheet),
            ("POST", "/timesheets/{id}/approve", time_.approve_timesheet),
        ]


# ── projects ────────────────────────────────────────────────────────────────────────────
def list_projects(call: Call) -> Any:
    q = call.query
    return call.page(
        "projects",
        {k: q.get(k) for k in ("opportunity_id", "customer_id", "status", "crm_account_id")},
    )


def get_project(call: Call) -> Any:
    return load_project(call)


def create_project(call: Call) -> Any:
    body = only(call.body, PROJECT_FIELDS, "a project")
    require(
        body,
        {
            "name": "str",
            "currency": "str",
            "billing_model": "str",
            "start_date": "date",
            "end_date": "date",
        },
        optional={"budget": "object"},
    )
    if body["currency"] not in CURRENCIES:
        raise Problem(422, "unknown_currency", f"currency {body['currency']} is not enabled")
    if body["billing_model"] not in BILLING_MODELS:
        raise Problem(422, "validation", f"billing_model must be one of {sorted(BILLING_MODELS)}")
    if body["end_date"] < body["start_date"]:
        raise Problem(422, "validation", "end_date is before start_date")
    if body.get("status", "planned") != "planned":
        raise Problem(422, "validation", "a new project starts planned; activate it afterwards")
    budget = body.get("budget") or {}
    project = {
        "id": call.store.next_id("projects", "PRJ-", 6, 201000),
        **{k: body.get(k) for k in sorted(PROJECT_FIELDS)},
        "status": "planned",
        "budget": {"amount": money(budget.get("amount") or 0), "hours": budget.get("hours") or 0},
        "contract_id": None,
        "billing_schedule_id": None,
        "activated_at": None,
        "hours_logged": 0,
        "billable_amount": 0,
        "billed_to_date": 0,
    }
    call.store.insert("projects", project)
    return Reply(project, 201)


def activate_project(call: Call) -> Any:
    """Links the ERP contract and billing schedule and opens the project for time entry."""
    project = open_project(call)
    body = only(
        call.body or {}, {"customer_id", "contract_id", "billing_schedule_id"}, "activation"
    )
    require(body, {"contract_id": "str"})
    if project["status"] == "active" and project["contract_id"] != body["contract_id"]:
        raise Problem(
            409,
            "already_active",
            f"project {project['id']} is active on contract {project['contract_id']}",
        )
    if project["status"] != "active":
        project["activated_at"] = now_iso()
    project.update({k: v for k, v in body.items() if v is not None}, status="active")
    return call.store.save("projects", project)


def archive_project(call: Call) -> Any:
    project = load_project(call)
    body = only(call.body or {}, {"reason"}, "an archive request")
    if project["status"] != "archived":
        project.update(status="archived", archive_reason=body.get("reason"), archived_at=now_iso())
        call.store.save("projects", project)
    return project


def change_budget(call: Call) -> Any:
    project = open_project(call)
    body = only(
        call.body,
        {"reference", "hours_delta", "amount_delta", "currency", "reason"},
        "a budget change",
    )
    require(
        body,
        {"reference": "str", "hours_delta": "number", "amount_delta": "number", "currency": "str"},
    )
    same_currency(project, body["currency"])
    existing = call.store.first(
        "budget_changes", {"project_id": project["id"], "reference": body["reference"]}
    )
    if existing is not None:
        if (existing["hours_delta"], existing["amount_delta"]) != (
            body["hours_delta"],
            body["amount_delta"],
        ):
            raise Problem(
                409,
                "duplicate_reference",
                f"budget change {body['reference']} was already applied with other values",
                existing_id=existing["id"],
            )
        return existing
    budget = project["budget"]
    budget["amount"] = money(cents(budget["amount"]) + cents(body["amount_delta"]))
    budget["hours"] = round(budget["hours"] + body["hours_delta"], 2)
    call.store.save("projects", project)
    change = {
        "id": call.store.next_id("budget_changes", "BCH-", 6, 100),
        "project_id": project["id"],
        **body,
        "budget_after": dict(budget),
    }
    call.store.insert("budget_changes", change)
    return Reply(change, 201)


# ── tasks and milestones ────────────────────────────────────────────────────────────────
def create_task(call: Call) -> Any:
    project = open_project(call)
    body = only(call.body, TASK_FIELDS, "a task")
    require(
        body,
        {"name": "str"},
        optional={
            "planned_hours": "number",
            "rate": "number",
            "budget": "number",
            "external_ref": "str",
        },
    )
    if body.get("external_ref"):
        existing = call.store.first(
            "tasks", {"project_id": project["id"], "external_ref": body["external_ref"]}
        )
        if existing is not None:
            raise Problem(
                409,
                "duplicate_external_ref",
                f"project {project['id']} already has "
                f"task {existing['id']} for {body['external_ref']}",
                existing_id=existing["id"],
            )
    task = {
        "id": call.store.next_id("tasks", "TSK-", 6, 440000),
        "project_id": project["id"],
        **{k: body.get(k) for k in sorted(TASK_FIELDS)},
        "status": body.get("status") or "open",
    }
    call.store.insert("tasks", task)
    return Reply(task, 201)


def update_task(call: Call) -> Any:
    project = open_project(call)
    ref = call.params["external_ref"]
    task = call.store.first("tasks", {"project_id": project["id"], "external_ref": ref})
    if task is None:
        raise not_found(f"task of project {project['id']} for", ref)
    task.update(only(call.body, TASK_FIELDS - {"external_ref"}, "a task"))
    return call.store.save("tasks", task)


def create_milestone(call: Call) -> Any:
    project = open_project(call)
    body = only(
        call.body, {"external_ref", "name", "due_date", "amount", "currency"}, "a milestone"
    )
    require(body, {"name": "str", "due_date": "date", "amount": "positive", "currency": "str"})
    same_currency(project, body["currency"])
    if body.get("external_ref") and (
        existing := call.store.first(
            "milestones", {"project_id": project["id"], "external_ref": body["external_ref"]}
        )
    ):
        raise Problem(
            409,
            "duplicate_external_ref",
            f"project {project['id']} already has "
            f"milestone {existing['id']} for {body['external_ref']}",
            existing_id=existing["id"],
        )
    milestone = {
        "id": call.store.next_id("milestones", "MST-", 6, 300500),
        "project_id": project["id"],
        "external_ref": body.get("external_ref"),
        **body,
        "amount": money(body["amount"]),
        "status": "open",
    }
    call.store.insert("milestones", milestone)
    return Reply(milestone, 201)


def close_milestone(call: Call) -> Any:
    """The customer accepted the milestone: it is completed and can be invoiced."""
    project = open_project(call)
    milestone = call.store.get("milestones", call.params["milestone_id"])
    if milestone is None or milestone["project_id"] != project["id"]:
        raise not_found(f"milestone of project {project['id']}", call.params["milestone_id"])
    body = only(call.body or {}, {"completed_on", "accepted_by"}, "a milestone acceptance")
    require(body, {"accepted_by": "str"}, optional={"completed_on": "date"})
    if milestone["status"] == "completed":
        raise Problem(409, "already_completed", f"milestone {milestone['id']} is completed")
    milestone.update(
        status="completed",
        completed_on=body.get("completed_on") or now_iso()[:10],
        accepted_by=body["accepted_by"],
    )
    call.store.save("milestones", milestone)
    call.emit(
        "psa.milestone.completed",
        milestone["id"],
        {
            "milestone_id": milestone["id"],
            "project_id": project["id"],
            "name": milestone["name"],
            "completed_on": milestone["completed_on"],
            "amount": milestone["amount"],
            "currency": milestone["currency"],
            "accepted_by": milestone["accepted_by"],
        },
    )
    return milestone

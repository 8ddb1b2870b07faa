"""What every PSA handler checks first: the project exists, is open, and the currency is its."""

from __future__ import annotations

from typing import Any

from runtime.sandbox._problem import Problem, not_found
from runtime.sandbox._service import Call


def load_project(call: Call, project_id: str | None = None) -> dict[str, Any]:
    project_id = project_id or call.params["project_id"]
    project = call.store.get("projects", project_id)
    if project is None:
        raise not_found("project", project_id)
    return project


def open_project(call: Call, project_id: str | None = None) -> dict[str, Any]:
    project = load_project(call, project_id)
    if project["status"] == "archived":
        raise Problem(409, "project_archived", f"project {project['id']} is archived")
    return project


def same_currency(project: dict[str, Any], currency: Any) -> None:
    if currency != project["currency"]:
        raise Problem(
            422,
            "currency_mismatch",
            f"project {project['id']} is in {project['currency']}, not {currency}",
        )

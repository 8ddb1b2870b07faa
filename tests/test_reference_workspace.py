"""The repository's own workspace: it checks clean and every flow runs on every valid example."""

from __future__ import annotations

import json

import anyio
import pytest

from runtime.compiler.workspace import check_workspace
from runtime.engine import VirtualClock, route, run_flow
from runtime.engine.mocks import load_mocks
from runtime.engine.schedules import schedule_event
from tests.conftest import REPO

REQUIRED_CONTRACTS = {
    "crm.account.upserted",
    "crm.opportunity.closed_won",
    "crm.change_order.approved",
    "psa.timesheet.approved",
    "psa.milestone.completed",
    "erp.invoice.posted",
    "erp.payment.received",
    "ps.project.activated",
}
REQUIRED_FLOWS = {
    "opportunity_to_project",
    "account_sync",
    "time_to_invoice",
    "change_order",
    "invoice_status",
    "nightly_reconciliation",
}
REQUIRED_CONNECTORS = {"crm", "psa", "erp", "legacy_erp", "reports"}
SCHEDULE = "(schedule fire)"  # a scheduled flow has no contract examples: it runs once on a fire
NIGHT = 1795399200.0  # 2026-11-23T02:00:00Z


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    return check_workspace(REPO)


def test_reference_workspace_is_clean(report) -> None:  # type: ignore[no-untyped-def]
    assert [str(d) for d in report.diagnostics] == []
    assert report.plan is not None
    assert set(report.plan.contracts.contracts) >= REQUIRED_CONTRACTS
    assert set(report.plan.flows) >= REQUIRED_FLOWS
    assert set(report.plan.connectors) >= REQUIRED_CONNECTORS


def test_every_contract_has_valid_and_invalid_examples(report) -> None:  # type: ignore[no-untyped-def]
    for contract in report.plan.contracts.contracts.values():
        kinds = {valid for _, valid in contract.examples}
        assert kinds == {True, False}, f"{contract.type} needs valid and invalid examples"


def _cases() -> list[tuple[str, str]]:
    """(flow, valid example of its trigger contract), read straight from the files; a scheduled
    flow runs once, on a fire of its schedule."""
    from runtime.loader.source import parse_yaml

    cases = []
    for file in sorted((REPO / "flows").glob("*.yaml")):
        data = parse_yaml(file.read_text(encoding="utf-8"), file.name).data
        trigger = (data.get("on") or {}) if isinstance(data, dict) else {}
        if trigger.get("schedule"):
            cases.append((file.stem, SCHEDULE))
        event_type = trigger.get("event")
        for example in sorted(
            (REPO / "contracts" / str(event_type) / "examples" / "valid").glob("*.json")
        ):
            cases.append((file.stem, str(example.relative_to(REPO))))
    return cases


@pytest.mark.parametrize(("flow", "example"), _cases())
def test_flow_runs_on_each_valid_example(report, flow: str, example: str) -> None:  # type: ignore[no-untyped-def]
    plan = report.plan
    mocks_file = REPO / "tests" / "mocks" / f"{flow}.yaml"
    assert mocks_file.is_file(), f"every flow has a mocks file; add tests/mocks/{flow}.yaml"
    if example == SCHEDULE:
        event = schedule_event(plan.flows[flow], NIGHT, NIGHT + 3, 0)
    else:
        event = json.loads((REPO / example).read_text(encoding="utf-8"))
    if example != SCHEDULE and flow not in {f.name for f in route(plan, event)}:  # variants too
        pytest.skip(f"{flow}'s filter does not take {example}")
    mocks = load_mocks(plan, mocks_file, str(mocks_file.relative_to(REPO)))
    result = anyio.run(lambda: run_flow(plan, flow, event, mocks=mocks, clock=VirtualClock()))
    assert result.status == "succeeded", result.error
    assert all(call.mocked for call in result.calls), "every call of the reference flows is mocked"
    for emitted in result.emitted:
        check = plan.contracts.check_event(emitted)
        assert check.ok, check.describe()

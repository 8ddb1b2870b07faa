"""`reconcile:` — record sets of 2–3 systems matched by key; missing, extra and mismatched records.

The systems are a mock connector seeded with known discrepancies: every kind must be found, and
nothing else. Emitted discrepancy events are checked against the real contract.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace, compile_workspace
from runtime.connectors.base import CallRequest
from runtime.engine.ingest import accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store import PENDING, RUNNING, SUCCEEDED, SqliteStore
from tests.conftest import REPO, WriteWorkspace, order_event
from tests.steps import run

CONTRACT_DIR = REPO / "contracts/ops.reconciliation.discrepancy"
CONTRACT = {
    f"contracts/ops.reconciliation.discrepancy/{p.relative_to(CONTRACT_DIR).as_posix()}": p.read_text(
        encoding="utf-8"
    )
    for p in CONTRACT_DIR.rglob("*")
    if p.is_file()
}
SCHEMA = json.loads((CONTRACT_DIR / "v1.schema.json").read_text(encoding="utf-8"))

# seeded: A2 has another tax id in ERP, A3 and A4 are not in ERP, A5 is only in ERP;
# PSA names A1 differently; "Beta " vs "Beta" is the same name (surrounding whitespace)
SYSTEMS = """\
connector: sys
kind: mock
operations:
  crm_accounts:
    output:
      - { id: A1, name: Acme, tax: DE1, size: 10 }
      - { id: A2, name: "Beta ", tax: DE2, size: 20 }
      - { id: A3, name: Gamma, tax: DE3, size: 30 }
      - { id: A4, name: Delta, tax: DE4, size: 40 }
  erp_customers:
    output:
      items:
        - { crm: A1, name: Acme, vat: DE1, size: 10.0 }
        - { crm: A2, name: Beta, vat: DE9, size: 20 }
        - { crm: A5, name: Extra, vat: DE5, size: 50 }
  psa_clients:
    output:
      - { ref: { crm: A1 }, client: Acme Corp, size: 99 }
      - { ref: { crm: A2 }, client: Beta }
      - { ref: { crm: A3 }, client: Gamma }
      - { ref: { crm: A4 }, client: Delta }
  write_report: { output: { stored: "${ input.reference }" } }
  one_record: { output: { id: A1 } }
  text: { output: "A1,A2" }
  items_text: { output: { items: "A1" } }
  notify: { output: { sent: true } }
"""

RECONCILE = """\
flow: recon
on: {{ event: shop.order.placed }}
steps:
  - id: accounts
    reconcile:
      sources:
        crm: {{ call: sys.crm_accounts, key: id }}
        erp: {{ call: sys.erp_customers, key: crm }}
{psa}      compare:
        name: {{ erp: name{psa_name} }}
        tax: {{ erp: vat }}
{extra}"""
PSA = "        psa: { call: sys.psa_clients, key: ref.crm }\n"


def recon(*, psa: bool = True, extra: str = "", steps: str = "") -> dict[str, str]:
    text = RECONCILE.format(
        psa=PSA if psa else "", psa_name=", psa: client" if psa else "", extra=extra
    )
    return {"flows/recon.yaml": text + steps}


def files(flow: dict[str, str]) -> dict[str, Any]:
    return {**CONTRACT, "connectors/sys.yaml": SYSTEMS, **flow}


def plan_of(workspace: WriteWorkspace, flow: dict[str, str]) -> Plan:
    return compile_workspace(workspace(files(flow)))


def missing(source: str, key: str) -> dict[str, Any]:
    return {"kind": "missing", "source": source, "key": key, "fields": {}}


def extra(source: str, key: str) -> dict[str, Any]:
    return {"kind": "extra", "source": source, "key": key, "fields": {}}


def mismatched(source: str, key: str, **fields: tuple[Any, Any]) -> dict[str, Any]:
    return {
        "kind": "mismatched",
        "source": source,
        "key": key,
        "fields": {f: {"expected": e, "actual": a} for f, (e, a) in fields.items()},
    }


SEEDED_ERP = [
    extra("erp", "A5"),
    mismatched("erp", "A2", tax=("DE2", "DE9")),
    missing("erp", "A3"),
    missing("erp", "A4"),
]
SEEDED_PSA = [mismatched("psa", "A1", name=("Acme", "Acme Corp"))]


# -- what is found ---------------------------------------------------------------------------
def test_two_sources_every_kind_found_and_nothing_else(workspace: WriteWorkspace) -> None:
    result = run(plan_of(workspace, recon(psa=False)), "recon")
    assert result.status == "succeeded", result.error
    assert result.output == {
        "reference": "crm",
        "summary": {"records": {"crm": 4, "erp": 3}, "missing": 2, "extra": 1, "mismatched": 1},
        "discrepancies": SEEDED_ERP,
    }
    assert result.emitted == []


def test_three_sources_each_compared_with_the_first(workspace: WriteWorkspace) -> None:
    result = run(plan_of(workspace, recon()), "recon")
    assert result.status == "succeeded", result.error
    assert result.output == {
        "reference": "crm",
        "summary": {
            "records": {"crm": 4, "erp": 3, "psa": 4},
            "missing": 2,
            "extra": 1,
            "mismatched": 2,
        },
        # A1..A4 are all in PSA (matched through the nested key ref.crm); `tax` is not mapped for
        # PSA and `size` for nobody, so PSA's missing tax and other sizes are not differences
        "discrepancies": SEEDED_ERP + SEEDED_PSA,
    }
    [trace] = result.trace
    assert (trace.label, trace.kind, trace.status) == ("accounts", "reconcile", "succeeded")


def test_the_reference_is_the_first_source_as_written(workspace: WriteWorkspace) -> None:
    flow = {
        "flows/recon.yaml": "flow: recon\non: { event: shop.order.placed }\nsteps:\n"
        "  - id: accounts\n    reconcile:\n      sources:\n"
        "        erp: { call: sys.erp_customers, key: crm }\n"
        "        crm: { call: sys.crm_accounts, key: id }\n"
        "      compare: { vat: { crm: tax } }\n"
    }
    result = run(plan_of(workspace, flow), "recon")
    assert result.output["reference"] == "erp"
    assert result.output["discrepancies"] == [
        extra("crm", "A3"),
        extra("crm", "A4"),
        mismatched("crm", "A2", vat=("DE9", "DE2")),
        missing("crm", "A5"),
    ]


SYSTEMS_RULES = """\
connector: sys
kind: mock
operations:
  left:
    output:
      - { id: 1, n: 10, s: "  x  ", t: "a b", c: Abc, z: null, addr: { city: Berlin } }
      - { id: 2, n: 10, s: x, t: "a b", c: Abc, addr: { city: Berlin } }
      - { id: 3, n: 1.5, s: x, t: a, c: Abc, addr: { city: Berlin } }
  right:
    output:
      - { key: 1, n: 10.0, s: x, t: "a b", c: Abc, location: { town: Berlin } }
      - { key: 2, n: "10", s: x, t: "a  b", c: abc, location: { town: " Berlin" } }
      - { key: 3, n: 1.5, s: x, t: a, c: Abc, location: { town: Bonn } }
"""


def test_equality_rules_trim_text_and_compare_numbers_by_value(workspace: WriteWorkspace) -> None:
    flow = {
        "flows/recon.yaml": "flow: recon\non: { event: shop.order.placed }\nsteps:\n"
        "  - id: rules\n    reconcile:\n      sources:\n"
        "        left: { call: sys.left, key: id }\n"
        "        right: { call: sys.right, key: key }\n"
        "      compare:\n"
        "        n: { right: n }\n        s: { right: s }\n        t: { right: t }\n"
        "        c: { right: c }\n        z: { right: z }\n"
        "        addr.city: { right: location.town }\n"
    }
    plan = compile_workspace(workspace({**CONTRACT, "connectors/sys.yaml": SYSTEMS_RULES, **flow}))
    result = run(plan, "recon")
    assert result.status == "succeeded", result.error
    # 1: 10 == 10.0, "  x  " == "x", null == absent: equal. 2: "10" is not 10, inner spaces and
    # case count, " Berlin" == "Berlin". 3: nested fields differ.
    assert result.output["discrepancies"] == [
        mismatched("right", 2, n=(10, "10"), t=("a b", "a  b"), c=("Abc", "abc")),
        mismatched("right", 3, **{"addr.city": ("Berlin", "Bonn")}),
    ]


def test_records_without_a_key_are_counted_but_not_matched(workspace: WriteWorkspace) -> None:
    systems = SYSTEMS_RULES.replace("      - { key: 3,", "      - { nokey: 3,")
    flow = {
        "flows/recon.yaml": "flow: recon\non: { event: shop.order.placed }\nsteps:\n"
        "  - id: rules\n    reconcile:\n      sources:\n"
        "        left: { call: sys.left, key: id }\n"
        "        right: { call: sys.right, key: key }\n"
    }
    plan = compile_workspace(workspace({**CONTRACT, "connectors/sys.yaml": systems, **flow}))
    result = run(plan, "recon")
    assert result.output["summary"] == {
        "records": {"left": 3, "right": 3},
        "missing": 1,
        "extra": 0,
        "mismatched": 0,
    }
    assert result.output["discrepancies"] == [missing("right", 3)]


@pytest.mark.parametrize(
    ("operation", "returned"),
    [("one_record", "dict"), ("text", "str"), ("items_text", "dict")],
)
def test_an_answer_that_is_not_a_list_fails_the_step(
    workspace: WriteWorkspace, operation: str, returned: str
) -> None:
    flow = recon(psa=False)
    flow["flows/recon.yaml"] = flow["flows/recon.yaml"].replace(
        "sys.erp_customers", f"sys.{operation}"
    )
    result = run(plan_of(workspace, flow), "recon")
    assert result.status == "dead_lettered"
    assert result.error is not None
    assert (result.error["step"], result.error["code"]) == ("accounts", "expression.failed")
    assert result.error["message"] == (
        f"sys.{operation} returned {returned}, expected a list of records"
    )


# -- emit ------------------------------------------------------------------------------------
def test_one_valid_event_per_discrepancy(workspace: WriteWorkspace) -> None:
    plan = plan_of(workspace, recon(extra="      emit: ops.reconciliation.discrepancy\n"))
    result = run(plan, "recon", run_id="run-1")
    assert result.status == "succeeded", result.error
    discrepancies = result.output["discrepancies"]
    assert len(result.emitted) == len(discrepancies) == 5
    validator = jsonschema.Draft202012Validator(SCHEMA)
    for event, item in zip(result.emitted, discrepancies, strict=True):
        assert plan.contracts.check_event(event).ok
        validator.validate(event["data"])
        assert event["data"] == {
            "reconciliation": "recon.accounts",
            "run_id": "run-1",
            "reference": "crm",
            **item,
        }
        assert (event["type"], event["subject"], event["source"]) == (
            "ops.reconciliation.discrepancy",
            item["key"],
            "/seamline/flows/recon",
        )
        assert (
            event["dataschema"] == plan.contracts.get("ops.reconciliation.discrepancy").latest.uri
        )
    ids = [e["id"] for e in result.emitted]
    assert len(set(ids)) == 5
    assert ids == [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"seamline:run-1:accounts[{i}]")) for i in range(5)
    ]
    again = run(plan, "recon", run_id="run-1")
    assert [e["id"] for e in again.emitted] == ids  # deterministic: a resumed run emits the same
    other = run(plan, "recon", run_id="run-2")
    assert not {e["id"] for e in other.emitted} & set(ids)


@pytest.mark.parametrize(("cap", "count"), [(2, 2), (0, 0), (5, 5), (99, 5)])
def test_max_events_caps_the_events_not_the_report(
    workspace: WriteWorkspace, cap: int, count: int
) -> None:
    text = f"      emit: ops.reconciliation.discrepancy\n      max_events: {cap}\n"
    result = run(plan_of(workspace, recon(extra=text)), "recon")
    assert len(result.output["discrepancies"]) == 5
    assert [e["data"]["key"] for e in result.emitted] == ["A5", "A2", "A3", "A4", "A1"][:count]


def test_nothing_to_report_emits_nothing(workspace: WriteWorkspace) -> None:
    flow = {
        "flows/recon.yaml": "flow: recon\non: { event: shop.order.placed }\nsteps:\n"
        "  - id: same\n    reconcile:\n      sources:\n"
        "        a: { call: sys.crm_accounts, key: id }\n"
        "        b: { call: sys.crm_accounts, key: id }\n"
        "      compare: { name: { b: name } }\n"
        "      emit: ops.reconciliation.discrepancy\n"
    }
    result = run(plan_of(workspace, flow), "recon")
    assert result.output == {
        "reference": "a",
        "summary": {"records": {"a": 4, "b": 4}, "missing": 0, "extra": 0, "mismatched": 0},
        "discrepancies": [],
    }
    assert result.emitted == []


# -- report ----------------------------------------------------------------------------------
def test_the_report_call_receives_the_whole_report(workspace: WriteWorkspace) -> None:
    text = "      report: { call: sys.write_report }\n"
    result = run(plan_of(workspace, recon(extra=text)), "recon")
    assert result.status == "succeeded", result.error
    calls = {c.operation: c for c in result.calls}
    assert list(calls) == [
        "sys.crm_accounts",
        "sys.erp_customers",
        "sys.psa_clients",
        "sys.write_report",
    ]
    assert calls["sys.write_report"].input == result.output
    assert calls["sys.write_report"].output == {"stored": "crm"}
    assert result.output["discrepancies"] == SEEDED_ERP + SEEDED_PSA


def test_each_sub_call_has_its_own_idempotency_key(workspace: WriteWorkspace) -> None:
    text = "      report: { call: sys.write_report }\n"
    result = run(plan_of(workspace, recon(extra=text)), "recon", run_id="r1")
    keys = [c.idempotency_key for c in result.calls]
    assert len(set(keys)) == 4, keys


# -- mocks -----------------------------------------------------------------------------------
def test_sub_calls_are_mocked_by_step_dot_source_and_by_operation(
    workspace: WriteWorkspace,
) -> None:
    plan = plan_of(workspace, recon())
    mocks = {
        "accounts.crm": {"output": [{"id": "X1", "name": "Xeno"}, {"id": "X2", "name": "Yz"}]},
        "sys.erp_customers": {"output": {"items": [{"crm": "X1", "name": "Xeno", "vat": None}]}},
        "accounts.psa": {"output": [{"ref": {"crm": "X2"}, "client": "Yz"}]},
        "sys.psa_clients": {"output": []},  # the step's own mock wins
    }
    result = run(plan, "recon", mocks=mocks)
    assert result.status == "succeeded", result.error
    assert [c.mocked for c in result.calls] == [True, True, True]
    assert result.output["summary"]["records"] == {"crm": 2, "erp": 1, "psa": 1}
    assert result.output["discrepancies"] == [missing("erp", "X2"), missing("psa", "X1")]


# -- load errors ------------------------------------------------------------------------------
HEAD = "flow: recon\non: { event: shop.order.placed }\nsteps:\n  - id: accounts\n    reconcile:\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "      sources:\n        crm: { call: sys.crm_accounts, key: id }\n"
            "        erp: { call: sys.erp_customers, key: crm }\n"
            "      compare:\n        name: { erp: name, psa: client, hr: x }\n",
            [
                "flows/recon.yaml:10:28: steps[0].reconcile.compare.name.psa: `psa` is not one of the sources "
                "(crm, erp) (hint: name a source listed under `sources`) [reconcile.unknown_source]",
                "flows/recon.yaml:10:41: steps[0].reconcile.compare.name.hr: `hr` is not one of the sources "
                "(crm, erp) (hint: name a source listed under `sources`) [reconcile.unknown_source]",
            ],
        ),
        (
            "      sources:\n        crm: { call: sys.crm_accounts, key: id }\n",
            [
                "flows/recon.yaml:7:9: steps[0].reconcile.sources: must have at least 2 items, got 1 "
                "item [spec.too_short]"
            ],
        ),
        (
            "      sources:\n"
            + "".join(f"        s{i}: {{ call: sys.crm_accounts, key: id }}\n" for i in range(4)),
            [
                "flows/recon.yaml:7:9: steps[0].reconcile.sources: must have at most 3 items, got 4 "
                "items [spec.too_long]"
            ],
        ),
        (
            "      sources:\n        crm: { call: sys.crm_acounts, key: id }\n"
            "        erp: { call: nope.list, key: crm }\n"
            "      report: { call: sys.write_reprt }\n",
            [
                "flows/recon.yaml:7:22: steps[0].reconcile.sources.crm.call: connector `sys` has "
                "no operation `crm_acounts` (hint: did you mean `crm_accounts`?) "
                "[ref.unknown_operation]",
                "flows/recon.yaml:8:22: steps[0].reconcile.sources.erp.call: no connector named "
                "`nope` (hint: connectors: sys, wms (add connectors/nope.yaml)) "
                "[ref.unknown_connector]",
                "flows/recon.yaml:9:23: steps[0].reconcile.report.call: connector `sys` has no "
                "operation `write_reprt` (hint: did you mean `write_report`?) "
                "[ref.unknown_operation]",
            ],
        ),
        (
            "      sources:\n        crm: { call: sys.crm_accounts, key: id }\n"
            "        erp: { call: sys.erp_customers }\n",
            [
                "flows/recon.yaml:8:9: steps[0].reconcile.sources.erp: missing required key `key` "
                "(the field holding the matching key (dots for nested fields)) (hint: add `key:`) "
                "[spec.missing_key]"
            ],
        ),
    ],
    ids=["unknown-compare-source", "one-source", "four-sources", "unknown-operation", "no-key"],
)
def test_load_errors(workspace: WriteWorkspace, body: str, expected: list[str]) -> None:
    report = check_workspace(workspace(files({"flows/recon.yaml": HEAD + body})))
    assert [str(d) for d in report.diagnostics] == expected


def test_an_unknown_discrepancy_contract_is_a_load_error(workspace: WriteWorkspace) -> None:
    text = "      emit: ops.reconciliation.discrepncy\n"
    report = check_workspace(workspace(files(recon(extra=text))))
    [found] = report.diagnostics
    assert (found.file, found.line, found.yaml_path) == (
        "flows/recon.yaml",
        13,
        "steps[0].reconcile.emit",
    )
    assert "ops.reconciliation.discrepncy" in found.message
    assert "ops.reconciliation.discrepancy" in (found.hint or "")


def test_an_unknown_compare_source_points_at_the_compare_entry(workspace: WriteWorkspace) -> None:
    body = (
        "      sources:\n        crm: { call: sys.crm_accounts, key: id }\n"
        "        erp: { call: sys.erp_customers, key: crm }\n"
        "      compare:\n        name: { erp: name, psa: client }\n"
    )
    [found] = check_workspace(workspace(files({"flows/recon.yaml": HEAD + body}))).diagnostics
    assert found.line == 10


# -- durable ---------------------------------------------------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def inbox(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT id, subject FROM events WHERE type='ops.reconciliation.discrepancy' ORDER BY seq"
        ).fetchall()
    return [(str(i), str(s)) for i, s in rows]


class Process:
    def __init__(self, root: Path, db: Path) -> None:
        self.root, self.db = root, db
        self.calls: list[tuple[str, str]] = []

    async def __aenter__(self) -> Process:
        self.store = SqliteStore(self.db)
        self.plan = compile_workspace(self.root)
        self.plans = PlanProvider(self.plan, self.store)
        await self.plans.publish(self.plan)
        self.worker = Worker(self.store, self.plans, owner="test-host:r", poll_interval=0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    def hang_first(self, operation: str, entered: anyio.Event) -> None:
        """The first call of `operation` never returns (the process dies in it)."""
        op = self.plan.connectors["sys"].operations[operation]
        original = op.invoke

        async def invoke(request: CallRequest) -> Any:
            self.calls.append((operation, request.idempotency_key))
            entered.set()
            await anyio.sleep_forever()
            return await original(request)

        op.invoke = invoke  # type: ignore[method-assign]

    async def crash_when(self, entered: anyio.Event) -> None:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(self.worker.step)
                await entered.wait()
                group.cancel_scope.cancel()


AFTER = "  - id: notify\n    call: sys.notify\n"
EMIT = "      emit: ops.reconciliation.discrepancy\n"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("hang", "extra_text", "steps"),
    [
        ("notify", EMIT, AFTER),  # the process dies after the reconcile step was journaled
        ("write_report", EMIT + "      report: { call: sys.write_report }\n", ""),  # inside it
    ],
    ids=["after-the-step", "inside-the-step"],
)
async def test_discrepancy_events_reach_the_inbox_exactly_once_across_a_resume(
    workspace: WriteWorkspace, tmp_path: Path, hang: str, extra_text: str, steps: str
) -> None:
    root = workspace(files(recon(extra=extra_text, steps=steps)))
    db = tmp_path / "s.db"
    entered = anyio.Event()
    async with Process(root, db) as p:
        await accept(p.plan, p.store, [order_event("O1")])
        p.hang_first(hang, entered)
        await p.crash_when(entered)
        [run_record] = await p.store.runs(flow="recon")
        assert run_record.status == RUNNING
    emitted_before = inbox(db)
    assert len(emitted_before) == (5 if hang == "notify" else 0)

    async with Process(root, db) as p:
        assert await p.store.recover(lambda owner: False) == 1
        assert (await p.store.run(run_record.id)).status == PENDING
        with anyio.fail_after(10):
            await p.worker.run_until_idle()
        [done] = await p.store.runs(flow="recon")
        assert done.status == SUCCEEDED, done.error
        journal = [(e.label, e.status) for e in await p.store.journal(done.id)]
        assert journal[0] == ("accounts", "succeeded")
    events = inbox(db)
    assert [subject for _, subject in events] == ["A5", "A2", "A3", "A4", "A1"]
    assert len({ident for ident, _ in events}) == 5
    if emitted_before:
        assert events == emitted_before  # the resume did not emit them again

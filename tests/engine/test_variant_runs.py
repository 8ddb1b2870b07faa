"""Runs of variants: the event picks the variant, the run records it and stays pinned to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock
from runtime.engine.executor import route
from runtime.engine.ingest import accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store import PENDING, SUCCEEDED, WAITING, SqliteStore
from tests.conftest import WriteWorkspace, order_event, write_files
from tests.steps import labels, run

BASE = """\
flow: orders
on: { event: shop.order.placed }
key: data.order_id
vars:
  region: EU
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
  - id: done
    set: { by: base, region: "${ vars.region }", variant: "${ run.variant }" }
output: "${ steps.done.output }"
"""
UK = """\
extends: orders
match: data.currency == 'GBP'
vars:
  region: UK
patch:
  replace:
    done: { set: { by: uk, region: "${ vars.region }", variant: "${ run.variant }" } }
  insert_after:
    reserve:
      - id: vat
        set: { vat: 20 }
"""
UK_FILE = "flows/variants/uk/orders.yaml"


@pytest.fixture
def plan(workspace: WriteWorkspace) -> Plan:
    return compile_workspace(workspace({"flows/orders.yaml": BASE, UK_FILE: UK}))


def test_a_run_takes_the_variant_its_event_matches(plan: Plan) -> None:
    result = run(plan, "orders", order_event("O1", currency="GBP"))
    assert result.status == "succeeded", result.error
    assert result.variant == "uk"
    assert result.content_hash == plan.variants["orders"][0].flow.content_hash
    assert labels(result) == ["reserve", "vat", "done"]
    assert result.output == {"by": "uk", "region": "UK", "variant": "uk"}


def test_an_event_no_variant_matches_runs_the_base_flow(plan: Plan) -> None:
    result = run(plan, "orders", order_event("O1", currency="EUR"))
    assert result.status == "succeeded", result.error
    assert result.variant is None
    assert result.content_hash == plan.flows["orders"].content_hash
    assert labels(result) == ["reserve", "done"]
    assert result.output == {"by": "base", "region": "EU", "variant": None}


def test_variant_none_forces_the_base_and_a_name_forces_that_variant(plan: Plan) -> None:
    base = run(plan, "orders", order_event("O1", currency="GBP"), variant=None)
    assert (base.variant, base.output["by"], labels(base)) == (None, "base", ["reserve", "done"])
    forced = run(plan, "orders", order_event("O2", currency="USD"), variant="uk")
    assert (forced.variant, forced.output) == ("uk", {"by": "uk", "region": "UK", "variant": "uk"})


def test_route_returns_each_flow_as_the_variant_the_event_selects(plan: Plan) -> None:
    [uk] = route(plan, order_event("O1", currency="GBP"))
    [base] = route(plan, order_event("O1", currency="EUR"))
    assert (uk.name, uk.variant, uk.file) == ("orders", "uk", UK_FILE)
    assert base is plan.flows["orders"]


# -- durable -------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Process:
    """One `seamline serve` as far as runs go: store connection, compiled plan, worker."""

    def __init__(self, root: Path, db: Path, clock: VirtualClock) -> None:
        self.root, self.db, self.clock = root, db, clock

    async def __aenter__(self) -> Process:
        self.store = SqliteStore(self.db)
        self.plan = compile_workspace(self.root)
        self.plans = PlanProvider(self.plan, self.store)
        await self.plans.publish(self.plan)
        self.worker = Worker(self.store, self.plans, clock=self.clock, owner="test-host:1")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    async def ingest(self, *events: dict[str, Any]) -> None:
        await accept(self.plan, self.store, list(events))

    async def work(self, max_wait: float = 0.0) -> None:
        with anyio.fail_after(10):
            await self.worker.run_until_idle(max_wait=max_wait)


@pytest.mark.anyio
async def test_a_routed_run_records_its_variant(workspace: WriteWorkspace, tmp_path: Path) -> None:
    root = workspace({"flows/orders.yaml": BASE, UK_FILE: UK})
    async with Process(root, tmp_path / "s.db", VirtualClock()) as p:
        await p.ingest(order_event("O1", currency="GBP"), order_event("O2", currency="EUR"))
        await p.work()
        runs = {r.key: r for r in await p.store.runs()}
        uk, base = runs["O1"], runs["O2"]
        assert (uk.status, uk.variant, uk.output["by"]) == (SUCCEEDED, "uk", "uk")
        assert (base.status, base.variant, base.output["by"]) == (SUCCEEDED, None, "base")
        assert uk.flow_hash == p.plan.variants["orders"][0].flow.content_hash
        assert base.flow_hash == p.plan.flows["orders"].content_hash
        [created, *_] = await p.store.audit(uk.id)
        assert (created.from_status, created.to_status) == (None, PENDING)
        assert created.detail == {"event": 1, "key": "O1", "variant": "uk"}
        [created, *_] = await p.store.audit(base.id)
        assert created.detail == {"event": 2, "key": "O2"}
        files = await p.store.flow_version_files(uk.flow_hash)
        assert files is not None and files[UK_FILE] == UK
        assert files["flows/orders.yaml"] == BASE
        assert [e.label for e in await p.store.journal(uk.id)] == ["reserve", "vat", "done"]


PAUSED = """\
extends: orders
match: data.currency == 'GBP'
patch:
  insert_before:
    done:
      - id: pause
        delay: 10m
  replace:
    done: {{ set: {{ by: {0} }} }}
"""


@pytest.mark.anyio
async def test_a_variant_run_resumes_on_its_pinned_variant_version(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    root = workspace({"flows/orders.yaml": BASE, UK_FILE: PAUSED.format("uk_v1")})
    db, clock = tmp_path / "s.db", VirtualClock()
    async with Process(root, db, clock) as p:
        await p.ingest(order_event("O1", currency="GBP"))
        await p.work()
        old = (await p.store.runs())[0]
        assert (old.status, old.variant) == (WAITING, "uk")

    write_files(root, {UK_FILE: PAUSED.format("uk_v2")})  # a new variant version is deployed
    async with Process(root, db, clock) as p:
        current = p.plan.variants["orders"][0].flow
        assert current.content_hash != old.flow_hash
        assert p.plan.by_hash("orders", old.flow_hash) is None  # only the store has it now
        await p.ingest(order_event("O2", currency="GBP"))
        await p.work(max_wait=3600)
        runs = {r.key: r for r in await p.store.runs()}
        assert (runs["O1"].status, runs["O1"].output) == (SUCCEEDED, {"by": "uk_v1"})
        assert (runs["O1"].variant, runs["O1"].flow_hash) == ("uk", old.flow_hash)
        assert (runs["O2"].status, runs["O2"].output) == (SUCCEEDED, {"by": "uk_v2"})
        assert (runs["O2"].variant, runs["O2"].flow_hash) == ("uk", current.content_hash)
        rebuilt_plan, rebuilt = await p.plans.flow("orders", old.flow_hash)
        assert (rebuilt.variant, rebuilt.content_hash) == ("uk", old.flow_hash)
        assert rebuilt_plan.root != p.plan.root  # rebuilt from the stored files
        journal = [e.label for e in await p.store.journal(runs["O1"].id)]
        assert journal == ["reserve", "pause", "done"]


@pytest.mark.anyio
async def test_a_variant_run_finishes_after_its_variant_file_was_deleted(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    root = workspace({"flows/orders.yaml": BASE, UK_FILE: PAUSED.format("uk_v1")})
    db, clock = tmp_path / "s.db", VirtualClock()
    async with Process(root, db, clock) as p:
        await p.ingest(order_event("O1", currency="GBP"))
        await p.work()
    (root / UK_FILE).unlink()
    async with Process(root, db, clock) as p:
        assert "orders" not in p.plan.variants
        await p.work(max_wait=3600)
        [done] = await p.store.runs()
        assert (done.status, done.variant, done.output) == (SUCCEEDED, "uk", {"by": "uk_v1"})

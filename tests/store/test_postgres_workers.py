"""Two `seamline worker` processes sharing one PostgreSQL store, end to end.

Each "process" has what `seamline worker` builds at start: its own store (its own connections to
the same schema), compiled workspace, PlanProvider and Worker. They run at once on the same
orders; every run must be executed once — each outbound call made once per idempotency key —
and a `wait_for` woken by an event that the other process routes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.connectors.base import CallRequest
from runtime.engine.ingest import accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store import PENDING, RUNNING, SUCCEEDED, WAITING, open_store
from tests.conftest import order_event
from tests.store.conftest import Backend, postgres_backend

pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing")

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

ORDERS = """
flow: orders
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: reserve_all
    for_each: data.lines
    as: line
    steps:
      - id: reserve_line
        call: wms.reserve
        with: { sku: "${ line.sku }" }
  - id: wait_accept
    wait_for: shop.order.accepted
    match: data.order_id
    equals: "${ data.order_id }"
    timeout: 30s
  - id: after
    set: { count: "${ steps.wait_accept.output.data.count }" }
"""
ORDERS_COUNT = 12


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def pg() -> Iterator[Backend]:
    backend = postgres_backend()
    yield backend
    assert backend.cleanup is not None
    backend.cleanup()


class Process:
    """One worker process on the shared store; `calls` collects every process's wms calls."""

    def __init__(self, root: Path, url: str, owner: str, calls: list[str]) -> None:
        self.root, self.url, self.owner, self.calls = root, url, owner, calls

    async def __aenter__(self) -> Process:
        self.store = open_store(self.url)
        self.plan = compile_workspace(self.root)
        for operation in self.plan.connectors["wms"].operations.values():
            original = operation.invoke

            async def invoke(request: CallRequest, original: Any = original) -> Any:
                self.calls.append(request.idempotency_key)
                await anyio.sleep(0.005)  # a remote system: the other worker gets a turn
                return await original(request)

            operation.invoke = invoke
        self.plans = PlanProvider(self.plan, self.store)
        await self.plans.publish(self.plan)
        self.worker = Worker(
            self.store, self.plans, owner=self.owner, concurrency=2, poll_interval=0.01
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    async def ingest(self, *events: dict[str, Any]) -> None:
        await accept(self.plan, self.store, list(events))


async def settled(process: Process) -> bool:
    """Nothing to route, nothing runnable or running: only runs waiting for an event."""
    counts = await process.store.counts()
    return counts["events.pending"] == 0 and not {"runs.pending", "runs.running"} & set(counts)


async def both_work(*processes: Process) -> None:
    """Every process works (as `seamline worker` does) until the shared store has settled."""

    async def work(process: Process) -> None:
        while not await settled(process):
            if not await process.worker.step():
                await anyio.sleep(0.01)

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for process in processes:
                group.start_soon(work, process)


async def test_two_workers_share_the_runs_and_run_each_once(workspace: Any, pg: Backend) -> None:
    assert pg.url is not None
    root = workspace({"flows/orders.yaml": ORDERS})
    calls: list[str] = []
    async with (
        Process(root, pg.url, "host-a:1:1", calls) as a,
        Process(root, pg.url, "host-b:2:2", calls) as b,
    ):
        await a.ingest(*(order_event(f"O{i}") for i in range(ORDERS_COUNT)))
        await both_work(a, b)
        runs = await b.store.runs(flow="orders", limit=100)
        assert [r.status for r in runs] == [WAITING] * ORDERS_COUNT

        # the accepted events arrive at the other process than the one that ingested the orders
        await b.ingest(
            *(
                {
                    "specversion": "1.0",
                    "id": f"acc-O{i}",
                    "source": "/wms",
                    "type": "shop.order.accepted",
                    "data": {"order_id": f"O{i}", "count": i},
                }
                for i in range(ORDERS_COUNT)
            )
        )
        await both_work(b, a)

        runs = await a.store.runs(flow="orders", limit=100)
        assert sorted((r.key, r.status, r.output) for r in runs) == sorted(
            (f"O{i}", SUCCEEDED, {"count": i}) for i in range(ORDERS_COUNT)
        )
        # every outbound call once: two lines per order, one idempotency key each
        assert len(calls) == 2 * ORDERS_COUNT and len(set(calls)) == len(calls)
        for run in runs:
            transitions = Counter((t.from_status, t.to_status) for t in await a.store.audit(run.id))
            assert transitions[(PENDING, RUNNING)] == 2  # started, then woken by its event
            assert transitions[(WAITING, PENDING)] == 1
            assert transitions[(RUNNING, SUCCEEDED)] == 1
        assert a.worker.runs_executed + b.worker.runs_executed == 2 * ORDERS_COUNT
        assert a.worker.runs_executed and b.worker.runs_executed  # both took runs
        assert await a.store.counts() == {
            "events": 2 * ORDERS_COUNT,
            "events.pending": 0,
            "runs.succeeded": ORDERS_COUNT,
        }

"""Workers poll sources on their own: `Worker.serve` (seamline worker) and the server's pool run
a poller task beside the runs, and `run_until_idle` polls what is due without waiting for more."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from runtime.compiler.workspace import compile_workspace
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.server.metrics import ServerMetrics
from runtime.server.workers import WorkerPool
from runtime.store import SqliteStore
from tests.sources._workspace import LEDGER_CONNECTOR, set_invoice, source_workspace

FAST = LEDGER_CONNECTOR.replace("every: 30s", "every: 50ms")


@asynccontextmanager
async def published(tmp_path: Path, plan: Any) -> AsyncIterator[tuple[SqliteStore, PlanProvider]]:
    """A store on disk with the plan published, closed afterwards."""
    store = SqliteStore(tmp_path / "store.db")
    try:
        plans = PlanProvider(plan, store)
        await plans.publish(plan)
        yield store, plans
    finally:
        await store.aclose()


async def _until(store: SqliteStore, runs: int, timeout: float = 20.0) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = await store.counts()
        if counts.get("runs.succeeded", 0) >= runs:
            return counts
        await anyio.sleep(0.05)
    return await store.counts()


def test_worker_serve_polls_sources_while_it_runs(tmp_path: Path) -> None:
    ws = source_workspace(tmp_path / "ws", ledger=FAST)
    set_invoice(ws, 1, "P", 10, "2026-11-21 09:00:00")
    plan = compile_workspace(ws)

    async def main() -> dict[str, int]:
        async with published(tmp_path, plan) as (store, plans):
            worker = Worker(store, plans, poll_interval=0.05)
            stop = anyio.Event()
            async with anyio.create_task_group() as group:
                group.start_soon(worker.serve, stop)
                first = await _until(store, 1)
                set_invoice(ws, 2, "P", 20, "2026-11-21 09:00:05")  # arrives while it serves
                second = await _until(store, 2)
                stop.set()
            assert first["runs.succeeded"] == 1
            return second

    assert anyio.run(main)["runs.succeeded"] == 2


def test_the_server_pool_polls_sources_in_a_task_of_its_own(tmp_path: Path) -> None:
    ws = source_workspace(tmp_path / "ws", ledger=FAST)
    for n in range(1, 4):
        set_invoice(ws, n, "P", n, f"2026-11-21 09:00:0{n}")
    plan = compile_workspace(ws)

    async def main() -> dict[str, int]:
        async with published(tmp_path, plan) as (store, plans):
            pool = WorkerPool(store, plans, ServerMetrics(), 2, poll_interval=5.0)
            assert pool.worker.poll_sources_in_step is False
            async with anyio.create_task_group() as group:
                group.start_soon(pool.run)
                # the pool sleeps 5 s between rounds unless woken: the poller's wake brings it back
                counts = await _until(store, 3, timeout=4.0)
                assert await pool.drain(5.0)
            return counts

    assert anyio.run(main)["runs.succeeded"] == 3


def test_run_until_idle_polls_what_is_due_and_returns(tmp_path: Path) -> None:
    ws = source_workspace(tmp_path / "ws", ledger=FAST)
    set_invoice(ws, 1, "P", 10, "2026-11-21 09:00:00")
    plan = compile_workspace(ws)

    async def main() -> dict[str, int]:
        async with published(tmp_path, plan) as (store, plans):
            with anyio.fail_after(10):  # a source due every 50 ms must not keep it waiting
                await Worker(store, plans).run_until_idle(max_wait=1.0)
            return await store.counts()

    assert anyio.run(main)["runs.succeeded"] == 1

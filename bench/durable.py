"""Durable processing: events/s through the store, group commit against one commit per event.

Acceptance: N CloudEvents accepted into a fresh SQLite store (WAL, fsync at every commit).
Group commit: the events arrive concurrently (64 at a time), as HTTP ingress delivers them, and
share commits. Baseline: each accept is awaited alone, one commit (one fsync) per event.

End to end: the same events accepted, routed and run by a single worker to completion — every
leaf step journaled (committed) before the next — against the same flow run in-process with no
store (the cost of durability). The flow: a mock connector call, a set, an emit (3 leaf steps).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench._timing import Row, Sample, Section
from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock, run_flow
from runtime.engine.ingest import accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store import SqliteStore

PLACED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id"],
    "properties": {"order_id": {"type": "string"}, "amount": {"type": "number"}},
}
DONE = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "reservation"],
    "properties": {"order_id": {"type": "string"}, "reservation": {"type": "string"}},
}
FILES = {
    "contracts/bench.order.placed/v1.schema.json": PLACED,
    "contracts/bench.order.booked/v1.schema.json": DONE,
    "connectors/wms.yaml": 'connector: wms\nkind: mock\noperations:\n  reserve: { output: { id: "R-${ input.order }" } }\n',
    "flows/book.yaml": """\
flow: book
on: { event: bench.order.placed }
key: data.order_id
steps:
  - id: reserve
    call: wms.reserve
    with: { order: "${ data.order_id }" }
  - id: label
    set: { reservation: "${ steps.reserve.output.id }" }
  - id: booked
    emit: bench.order.booked
    data: { order_id: "${ data.order_id }", reservation: "${ vars.reservation }" }
""",
}


def _workspace(root: Path) -> Path:
    import json

    for rel, content in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            content if isinstance(content, str) else json.dumps(content), encoding="utf-8"
        )
    return root


def _events(n: int, salt: str) -> list[dict[str, Any]]:
    return [
        {
            "specversion": "1.0",
            "id": f"{salt}-{i}",
            "source": "/bench",
            "type": "bench.order.placed",
            "data": {"order_id": f"{salt}-{i}", "amount": 10.0},
        }
        for i in range(n)
    ]


async def _accept_rate(db: Path, events: list[dict[str, Any]], concurrent: bool) -> float:
    store = SqliteStore(db, group_window=0.002 if concurrent else 0.0)
    try:
        start = time.perf_counter()
        if concurrent:
            limiter = anyio.Semaphore(64)

            async def one(event: dict[str, Any]) -> None:
                async with limiter:
                    await store.accept(event)

            async with anyio.create_task_group() as group:
                for event in events:
                    group.start_soon(one, event)
        else:
            for event in events:
                await store.accept(event)
        return len(events) / (time.perf_counter() - start)
    finally:
        await store.aclose()


async def _durable_rate(root: Path, events: list[dict[str, Any]]) -> float:
    plan = compile_workspace(root)
    store = SqliteStore(root / ".seamline" / "bench.db")
    try:
        plans = PlanProvider(plan, store)
        await plans.publish(plan)
        worker = Worker(store, plans, concurrency=8)
        start = time.perf_counter()
        await accept(plan, store, events)
        await worker.run_until_idle()
        elapsed = time.perf_counter() - start
        counts = await store.counts()
        assert counts.get("runs.succeeded") == len(events), counts
        return len(events) / elapsed
    finally:
        await store.aclose()


async def _in_process_rate(root: Path, events: list[dict[str, Any]]) -> float:
    plan = compile_workspace(root)
    clock = VirtualClock()
    start = time.perf_counter()
    for event in events:
        result = await run_flow(plan, "book", event, clock=clock)
        assert result.succeeded, result.error
    return len(events) / (time.perf_counter() - start)


def run(quick: bool = False) -> Section:
    repeats = 3 if quick else 5
    accept_n = 300 if quick else 1000
    runs_n = 100 if quick else 300
    group, single, durable, memory = [], [], [], []
    for attempt in range(repeats):
        scratch = Path(tempfile.mkdtemp(prefix="seamline-bench-durable-"))
        try:
            root = _workspace(scratch / "ws")
            group.append(
                anyio.run(
                    _accept_rate, scratch / f"g{attempt}.db", _events(accept_n, f"g{attempt}"), True
                )
            )
            single.append(
                anyio.run(
                    _accept_rate,
                    scratch / f"s{attempt}.db",
                    _events(accept_n, f"s{attempt}"),
                    False,
                )
            )
            durable.append(anyio.run(_durable_rate, root, _events(runs_n, f"d{attempt}")))
            memory.append(anyio.run(_in_process_rate, root, _events(runs_n, f"m{attempt}")))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    g, s, d, m = (
        Sample(tuple(group)),
        Sample(tuple(single)),
        Sample(tuple(durable)),
        Sample(tuple(memory)),
    )
    return Section(
        title="Durable processing (SQLite store, fsync at every commit)",
        method=__doc__ or "",
        rows=[
            Row(
                "events accepted, group commit (64 concurrent)",
                g,
                "events/s",
                baseline=s,
                baseline_name="one commit per event",
                ratio=g.median / s.median,
                ratio_label="× faster",
            ),
            Row(
                "events run end to end, durable, single worker",
                d,
                "events/s",
                baseline=m,
                baseline_name="same flow in-process, no store",
                ratio=d.median / m.median,
                ratio_label="× of in-process",
            ),
        ],
    )


def main() -> None:
    section = run(quick=True)
    for row in section.rows:
        print(
            f"{row.name}: {row.value.median:,.0f} {row.unit} vs {row.baseline_name} "
            f"{row.baseline.median if row.baseline else 0:,.0f} ({row.ratio:.2f}{row.ratio_label})"
        )


if __name__ == "__main__":
    main()

"""Durable execution end to end: a real SqliteStore file, the ingest API, PlanProvider and Worker.

A "process" here is a `Runtime`: its own store connection on the shared file, its own compiled
workspace, PlanProvider and Worker, exactly what `seamline serve` builds at start. A crash is a
worker step cancelled in the middle of a run (nothing after the cancel is journaled), after which
the store is closed without ceremony and the next process takes the run back with `recover`.

What the outside world saw is recorded by `Effects`: every connector call with its idempotency
key, across processes (each process patches its freshly compiled mock operations).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.connectors.base import CallRequest
from runtime.engine import worker as worker_module
from runtime.engine.ingest import Rejection, accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.errors import ConnectorError
from runtime.store import DEAD_LETTERED, FAILED, PENDING, RUNNING, SUCCEEDED, WAITING, SqliteStore
from runtime.store.base import Accepted, JournalEntry, RunRecord
from tests.conftest import REPO, order_event, write_files

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


WMS = """
connector: wms
kind: mock
operations:
  reserve: { output: { reservation: "R-${ input.sku }" } }
  release: { output: { released: true } }
  pack: { output: { packed: true } }
  notify: { output: { sent: true } }
  ship: { error: { type: permanent, message: no carrier } }
  busy: { error: { type: transient, message: busy } }
"""

SLA_CONTRACT = {
    f"contracts/ops.sla.breached/{path.relative_to(REPO / 'contracts/ops.sla.breached').as_posix()}": path.read_text(
        encoding="utf-8"
    )
    for path in (REPO / "contracts/ops.sla.breached").rglob("*")
    if path.is_file()
}


def flow(
    steps: str,
    *,
    name: str = "orders",
    head: str = "",
    trigger: str = "shop.order.placed",
    key: str = "data.order_id",
    tail: str = "",
) -> dict[str, str]:
    return {
        f"flows/{name}.yaml": f"flow: {name}\n{head}on: {{ event: {trigger} }}\nkey: {key}\n"
        f"steps:\n{steps}{tail}"
    }


def accepted(order_id: str, ident: str | None = None, count: int = 2) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": ident or f"acc-{order_id}",
        "source": "/wms",
        "type": "shop.order.accepted",
        "subject": order_id,
        "data": {"order_id": order_id, "count": count},
    }


Behaviour = Callable[[CallRequest, int], Awaitable[Any]]


@dataclass
class Effects:
    """Every call any process made to wms.*: (operation, idempotency key, payload)."""

    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    behaviour: dict[str, Behaviour] = field(default_factory=dict)

    def patch(self, plan: Plan) -> None:
        for name, operation in plan.connectors["wms"].operations.items():
            original = operation.invoke

            async def invoke(
                request: CallRequest, name: str = name, original: Any = original
            ) -> Any:
                self.calls.append((name, request.idempotency_key, request.payload))
                nth = len(self.of(name))
                if name in self.behaviour:
                    return await self.behaviour[name](request, nth)
                return await original(request)

            operation.invoke = invoke

    def of(self, name: str) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] == name]

    def keys(self, name: str) -> list[str]:
        return [key for _, key, _ in self.of(name)]


def transient(message: str = "busy", **kw: Any) -> ConnectorError:
    return ConnectorError(message, transient=True, **kw)


class Runtime:
    """One process: store connection, compiled workspace, published plan versions, a worker."""

    def __init__(
        self, root: Path, db: Path, effects: Effects, owner: str = "test-host:worker"
    ) -> None:
        self.root, self.db, self.effects, self.owner = root, db, effects, owner

    async def __aenter__(self) -> Runtime:
        self.store = SqliteStore(self.db)
        self.plan = compile_workspace(self.root)
        self.effects.patch(self.plan)
        self.plans = PlanProvider(self.plan, self.store)
        await self.plans.publish(self.plan)
        self.worker = Worker(self.store, self.plans, owner=self.owner, poll_interval=0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.store.aclose()

    async def ingest(self, *events: dict[str, Any]) -> list[Accepted | Rejection]:
        return await accept(self.plan, self.store, list(events))

    async def work(self, max_wait: float = 0.0) -> None:
        with anyio.fail_after(10):
            await self.worker.run_until_idle(max_wait=max_wait)

    async def crash_when(self, entered: anyio.Event) -> None:
        """Run one worker step and cancel it as soon as `entered` is set: a SIGKILL, as far as
        the store can tell (the run stays `running`, leased to this dead owner)."""
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                group.start_soon(self.worker.step)
                await entered.wait()
                group.cancel_scope.cancel()

    async def only_run(self, flow: str = "orders") -> RunRecord:
        [run] = await self.store.runs(flow=flow)
        return run

    async def journal(self, run_id: str, generation: int | None = None) -> list[JournalEntry]:
        return await self.store.journal(run_id, generation)


@dataclass
class Setup:
    root: Path
    db: Path
    effects: Effects

    def process(self, owner: str = "test-host:worker") -> Runtime:
        return Runtime(self.root, self.db, self.effects, owner)

    def write(self, files: dict[str, Any]) -> None:
        write_files(self.root, files)


@pytest.fixture
def setup(workspace: Any, tmp_path: Path) -> Callable[..., Setup]:
    def make(*flows: dict[str, str], extra: dict[str, Any] | None = None) -> Setup:
        files: dict[str, Any] = {"connectors/wms.yaml": WMS, **(extra or {})}
        for f in flows:
            files.update(f)
        return Setup(workspace(files), tmp_path / "state" / "seamline.db", Effects())

    return make


def summary(journal: list[JournalEntry]) -> list[tuple[str, str]]:
    return [(e.label, e.status) for e in journal]


def hang_first_time(entered: anyio.Event, answer: Any) -> Behaviour:
    async def behaviour(request: CallRequest, nth: int) -> Any:
        if nth == 1:
            entered.set()
            await anyio.sleep_forever()
        return answer

    return behaviour


# -- a run, step by step ------------------------------------------------------------------------
ORDERS = """\
  - id: reserve_all
    for_each: data.lines
    as: line
    steps:
      - id: reserve_line
        call: wms.reserve
        with: { sku: "${ line.sku }" }
  - id: totals
    set: { lines: "${ length(data.lines) }" }
  - id: pack
    call: wms.pack
    with: { reservations: "${ steps.reserve_all.output[].reservation }" }
  - id: accept
    emit: shop.order.accepted
    subject: "${ data.order_id }"
    data: { order_id: "${ data.order_id }", count: "${ vars.lines }" }
"""
CONFIRM = flow(
    """\
  - id: confirm
    call: wms.notify
    with: { order: "${ data.order_id }", count: "${ data.count }" }
""",
    name="confirm",
    trigger="shop.order.accepted",
)
ORDER_LABELS = [
    "reserve_all[0].reserve_line",
    "reserve_all[1].reserve_line",
    "totals",
    "pack",
    "accept",
]


async def test_a_run_journals_every_leaf_step_in_order(setup: Callable[..., Setup]) -> None:
    env = setup(flow(ORDERS, head="version: 1.2.0\n"), CONFIRM)
    async with env.process() as p:
        assert await p.ingest(order_event("O1")) == [Accepted(1, duplicate=False)]
        await p.work()
        run = await p.only_run()
        assert (run.status, run.key, run.flow_version, run.generation) == (
            SUCCEEDED,
            "O1",
            "1.2.0",
            0,
        )
        journal = await p.journal(run.id)
        assert summary(journal) == [(label, "succeeded") for label in ORDER_LABELS]
        assert [e.kind for e in journal] == ["call", "call", "set", "call", "emit"]
        by_label = {e.label: e for e in journal}
        assert by_label["reserve_all[1].reserve_line"].input == {"sku": "B"}
        assert by_label["reserve_all[1].reserve_line"].output == {"reservation": "R-B"}
        assert by_label["pack"].input == {"reservations": ["R-A", "R-B"]}
        assert by_label["totals"].output == {"lines": 2}
        assert all(e.attempts == 1 for e in journal if e.kind == "call")
        assert all(e.started_at and e.finished_at for e in journal)
        emitted = by_label["accept"].output
        assert run.output == emitted
        assert (emitted["type"], emitted["data"], emitted["subject"]) == (
            "shop.order.accepted",
            {"order_id": "O1", "count": 2},
            "O1",
        )
        assert p.plan.contracts.check_event(emitted).ok

        # outbound calls carry <run>:<step>
        assert env.effects.keys("reserve") == [
            f"{run.id}:reserve_all[0].reserve_line",
            f"{run.id}:reserve_all[1].reserve_line",
        ]
        assert env.effects.keys("pack") == [f"{run.id}:pack"]

        # the emitted event went through the inbox and started the flow that listens for it
        assert await p.store.event(2) is not None and (await p.store.event(2)).body == emitted
        confirm = await p.only_run("confirm")
        assert (confirm.status, confirm.key, confirm.event_seq) == (SUCCEEDED, "O1", 2)
        assert env.effects.of("notify")[0][2] == {"order": "O1", "count": 2}
        assert [(a.from_status, a.to_status) for a in await p.store.audit(run.id)] == [
            (None, PENDING),
            (PENDING, RUNNING),
            (RUNNING, SUCCEEDED),
        ]
        assert await p.store.counts() == {"events": 2, "events.pending": 0, "runs.succeeded": 2}


async def test_the_run_is_pinned_to_its_flow_versions_content_hash(
    setup: Callable[..., Setup],
) -> None:
    env = setup(flow(ORDERS))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        compiled = p.plan.flows["orders"]
        assert run.flow_hash == compiled.content_hash
        files = await p.store.flow_version_files(run.flow_hash)
        assert files is not None
        assert set(files) == set(compiled.files)
        assert files["flows/orders.yaml"] == (env.root / "flows/orders.yaml").read_text()
        assert "contracts/shop.order.accepted/v1.schema.json" in files  # the contract it emits


async def test_a_run_finishes_on_the_version_it_started_on(setup: Callable[..., Setup]) -> None:
    version = """\
  - id: pause
    delay: 300ms
  - id: built
    set: {{ by: {0} }}
"""
    env = setup(flow(version.format("v1")))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        old = await p.only_run()
        assert old.status == WAITING

    env.write(flow(version.format("v2")))  # a new flow version is deployed
    async with env.process() as p:
        await p.ingest(order_event("O2"))
        await p.work(max_wait=1)
        runs = {r.key: r for r in await p.store.runs()}
        assert runs["O1"].output == {"by": "v1"} and runs["O1"].flow_hash == old.flow_hash
        assert runs["O2"].output == {"by": "v2"}
        assert runs["O2"].flow_hash == p.plan.flows["orders"].content_hash != old.flow_hash


# -- crashes ------------------------------------------------------------------------------------
async def test_a_crashed_run_resumes_after_its_last_journaled_step(
    setup: Callable[..., Setup],
) -> None:
    env = setup(flow(ORDERS))
    entered = anyio.Event()
    env.effects.behaviour["pack"] = hang_first_time(entered, {"packed": True})
    async with env.process("test-host:crashed") as p:
        await p.ingest(order_event("O1"))
        await p.crash_when(entered)
        run = await p.only_run()
        assert run.status == RUNNING
        assert summary(await p.journal(run.id)) == [
            ("reserve_all[0].reserve_line", "succeeded"),
            ("reserve_all[1].reserve_line", "succeeded"),
            ("totals", "succeeded"),
        ]
        before = {e.label: e for e in await p.journal(run.id)}

    async with env.process() as p:
        assert await p.store.recover(lambda owner: False) == 1
        assert (await p.store.run(run.id)).status == PENDING
        await p.work()
        run = await p.only_run()
        assert run.status == SUCCEEDED
        journal = await p.journal(run.id)
        assert summary(journal) == [(label, "succeeded") for label in ORDER_LABELS]
        for label, entry in before.items():  # what was journaled was not redone
            assert {e.label: e for e in journal}[label] == entry
        # the vars a journaled `set` left behind were restored: the emitted count is right
        assert {e.label: e for e in journal}["accept"].output["data"] == {
            "order_id": "O1",
            "count": 2,
        }
        audit = [(a.from_status, a.to_status) for a in await p.store.audit(run.id)]
        assert audit == [
            (None, PENDING),
            (PENDING, RUNNING),
            (RUNNING, PENDING),
            (PENDING, RUNNING),
            (RUNNING, SUCCEEDED),
        ]

    assert len(env.effects.of("reserve")) == 2  # once per line, never again after the crash
    assert env.effects.keys("pack") == [
        f"{run.id}:pack",
        f"{run.id}:pack",
    ]  # same key across the crash


async def test_the_worker_takes_back_runs_of_dead_processes_on_this_host(
    setup: Callable[..., Setup],
) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    host = socket.gethostname()
    owners = {
        "O1": f"{host}:{finished.pid}:1",  # a process that is gone
        "O2": f"{host}:{os.getpid()}:1",  # an earlier process that had this pid
        "O3": worker_module._OWNER,  # this very process: alive
    }
    env = setup(flow(ORDERS))
    for key, owner in owners.items():
        entered = anyio.Event()
        env.effects.behaviour["pack"] = hang_first_time(entered, {"packed": True})
        env.effects.calls.clear()
        async with env.process(owner) as p:
            await p.ingest(order_event(key))
            await p.crash_when(entered)
    env.effects.behaviour.clear()
    async with env.process() as p:
        await p.work()  # recover() at start, by pid
        status = {r.key: r.status for r in await p.store.runs()}
        assert status == {"O1": SUCCEEDED, "O2": SUCCEEDED, "O3": RUNNING}


async def test_a_run_left_by_a_live_worker_is_not_taken_back(setup: Callable[..., Setup]) -> None:
    env = setup(flow(ORDERS))
    entered = anyio.Event()
    env.effects.behaviour["pack"] = hang_first_time(entered, {"packed": True})
    async with env.process("test-host:other") as p:
        await p.ingest(order_event("O1"))
        await p.crash_when(entered)
    async with env.process() as p:
        assert await p.store.recover(lambda owner: True) == 0
        await (
            p.work()
        )  # the worker's own recover trusts an owner on another host until its lease ends
        assert (await p.only_run()).status == RUNNING
        assert len(env.effects.of("pack")) == 1


# -- retries --------------------------------------------------------------------------------------
def retried(retry: str, op: str = "busy") -> dict[str, str]:
    return flow(f"""\
  - id: reserve
    call: wms.reserve
    with: {{ sku: "${{ data.lines[0].sku }}" }}
  - id: deliver
    call: wms.{op}
    with: {{ order: "${{ data.order_id }}" }}
    retry: {retry}
""")


def fail_then_answer(failures: int, error: Callable[[], ConnectorError], answer: Any) -> Behaviour:
    async def behaviour(request: CallRequest, nth: int) -> Any:
        if nth <= failures:
            raise error()
        return answer

    return behaviour


async def test_a_transient_error_is_a_durable_timer_another_process_resumes(
    setup: Callable[..., Setup],
) -> None:
    env = setup(
        retried("{ attempts: 3, backoff: exponential, delay: 150ms, max_delay: 1s, jitter: 0.2 }")
    )
    env.effects.behaviour["busy"] = fail_then_answer(2, transient, {"delivered": True})
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        t0 = time.time()
        await p.work()  # max_wait 0: returns while the timer is pending
        t1 = time.time()
        run = await p.only_run()
        assert run.status == WAITING
        assert t0 + 0.15 * 0.8 <= run.wake_at <= t1 + 0.15 * 1.2
        [reserve, deliver] = await p.journal(run.id)
        assert (deliver.label, deliver.status, deliver.attempts) == ("deliver", "retrying", 1)
        assert deliver.wake_at == run.wake_at
        assert deliver.input == {"order": "O1"}
        assert deliver.error == {"code": "connector.transient", "message": "busy"}
        assert await p.store.next_wake() == run.wake_at

    async with env.process() as p:  # a new process: nothing in memory, the timer is in the store
        await p.work(max_wait=1)
        run = await p.only_run()
        assert (run.status, run.output) == (SUCCEEDED, {"delivered": True})
        [reserve, deliver] = await p.journal(run.id)
        assert (deliver.status, deliver.attempts, deliver.wake_at) == ("succeeded", 3, None)
        statuses = [a.to_status for a in await p.store.audit(run.id)]
        assert statuses == [PENDING, RUNNING, WAITING, RUNNING, WAITING, RUNNING, SUCCEEDED]

    assert env.effects.keys("busy") == [f"{run.id}:deliver"] * 3
    assert len(env.effects.of("reserve")) == 1


async def test_the_second_retry_waits_longer_within_jitter_bounds(
    setup: Callable[..., Setup],
) -> None:
    env = setup(
        retried("{ attempts: 3, backoff: exponential, delay: 100ms, max_delay: 1s, jitter: 0.25 }")
    )
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        await anyio.sleep(max(run.wake_at - time.time(), 0) + 0.002)
        t0 = time.time()
        await p.work()
        t1 = time.time()
        run = await p.only_run()
        assert run.status == WAITING
        assert t0 + 0.2 * 0.75 <= run.wake_at <= t1 + 0.2 * 1.25  # 2 × delay ± 25 %
        assert (await p.journal(run.id))[-1].attempts == 2


async def test_exhausted_retries_dead_letter_the_run(setup: Callable[..., Setup]) -> None:
    env = setup(retried("{ attempts: 3, delay: 10ms, jitter: 0 }"))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work(max_wait=1)
        run = await p.only_run()
        assert run.status == DEAD_LETTERED
        assert (run.error["step"], run.error["code"], run.error["attempt"]) == (
            "deliver",
            "connector.transient",
            3,
        )
        assert run.error["message"] == "busy"
        deliver = (await p.journal(run.id))[-1]
        assert (deliver.status, deliver.attempts, deliver.input) == ("failed", 3, {"order": "O1"})
        assert [
            r.id for r in await p.store.runs(status=DEAD_LETTERED, error_code="connector.transient")
        ] == [run.id]
    assert len(env.effects.of("busy")) == 3


async def test_a_permanent_error_dead_letters_at_once_with_step_error_and_input(
    setup: Callable[..., Setup],
) -> None:
    env = setup(retried("{ attempts: 5, delay: 10ms }", op="ship"))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == DEAD_LETTERED
        assert {
            k: run.error[k] for k in ("flow", "step", "code", "message", "attempt", "transient")
        } == {
            "flow": "orders",
            "step": "deliver",
            "code": "connector.permanent",
            "message": "no carrier",
            "attempt": 1,
            "transient": False,
        }
        assert summary(await p.journal(run.id)) == [("reserve", "succeeded"), ("deliver", "failed")]
        failed = (await p.journal(run.id))[-1]
        assert (failed.input, failed.error["code"], failed.attempts) == (
            {"order": "O1"},
            "connector.permanent",
            1,
        )
        assert (await p.store.audit(run.id))[-1].detail == {"error": "connector.permanent"}
    assert len(env.effects.of("ship")) == 1


async def test_retry_after_sets_the_durable_timer(setup: Callable[..., Setup]) -> None:
    env = setup(retried("{ attempts: 3, delay: 10ms, jitter: 0 }"))
    env.effects.behaviour["busy"] = fail_then_answer(
        1,
        lambda: transient("slow down", status=429, retry_after=0.3, error_class="http_429"),
        {"ok": 1},
    )
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        t0 = time.time()
        await p.work()
        run = await p.only_run()
        assert run.status == WAITING
        assert run.wake_at >= t0 + 0.3  # the server's Retry-After beats the 10 ms policy
        assert (await p.journal(run.id))[-1].error["code"] == "connector.http_429"
        await p.work(max_wait=1)
        assert (await p.only_run()).status == SUCCEEDED
        assert time.time() >= t0 + 0.3


# -- compensation -------------------------------------------------------------------------------
COMPENSATED = """\
  - id: first
    call: wms.reserve
    with: { sku: A }
    undo: { call: wms.release, with: { why: first } }
  - id: second
    call: wms.reserve
    with: { sku: B }
    undo: { call: {undo}, with: { why: second } }
  - id: boom
    call: wms.ship
    with: { order: "${ data.order_id }" }
"""


def compensated(then: str = "dead_letter", undo: str = "wms.release") -> dict[str, str]:
    return flow(
        COMPENSATED.replace("{undo}", undo),
        tail=f"on_error: {{ compensate: true, then: {then} }}\n",
    )


async def test_compensation_runs_undos_in_reverse_and_journals_them(
    setup: Callable[..., Setup],
) -> None:
    env = setup(compensated())
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == DEAD_LETTERED
        assert run.error["step"] == "boom"  # the run's error is the original failure
        assert summary(await p.journal(run.id)) == [
            ("first", "succeeded"),
            ("second", "succeeded"),
            ("boom", "failed"),
            ("second.undo", "compensated"),
            ("first.undo", "compensated"),
        ]
    assert [c[2] for c in env.effects.of("release")] == [{"why": "second"}, {"why": "first"}]
    assert env.effects.keys("release") == [f"{run.id}:second.undo", f"{run.id}:first.undo"]


async def test_then_fail_ends_failed_but_a_failed_undo_dead_letters(
    setup: Callable[..., Setup],
) -> None:
    env = setup(compensated(then="fail"))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        assert (await p.only_run()).status == FAILED

    env = setup(compensated(then="fail", undo="wms.ship"))
    env.db = env.db.with_name("other.db")
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == DEAD_LETTERED
        journal = {e.label: e for e in await p.journal(run.id)}
        assert journal["second.undo"].status == "compensation_failed"
        assert "no carrier" in journal["second.undo"].error["message"]
        assert journal["first.undo"].status == "compensated"  # the other undos still ran


async def test_compensation_resumed_after_a_crash_skips_undos_already_done(
    setup: Callable[..., Setup],
) -> None:
    env = setup(compensated())
    entered = anyio.Event()

    async def release(request: CallRequest, nth: int) -> Any:
        if request.payload == {"why": "first"} and not entered.is_set():
            entered.set()
            await anyio.sleep_forever()
        return {"released": True}

    env.effects.behaviour["release"] = release
    async with env.process("test-host:crashed") as p:
        await p.ingest(order_event("O1"))
        await p.crash_when(entered)
        run = await p.only_run()
        assert summary(await p.journal(run.id))[-1] == ("second.undo", "compensated")

    async with env.process() as p:
        assert await p.store.recover(lambda owner: False) == 1
        await p.work()
        run = await p.only_run()
        assert run.status == DEAD_LETTERED
        assert summary(await p.journal(run.id))[-2:] == [
            ("second.undo", "compensated"),
            ("first.undo", "compensated"),
        ]
    assert [c[2]["why"] for c in env.effects.of("release")] == ["second", "first", "first"]
    assert len(env.effects.of("reserve")) == 2 and len(env.effects.of("ship")) == 1


async def test_an_undo_retry_is_a_durable_timer_too(setup: Callable[..., Setup]) -> None:
    env = setup(
        flow(
            """\
  - id: reserve
    call: wms.reserve
    with: { sku: A }
    undo: { call: wms.release, retry: { attempts: 3, delay: 150ms, jitter: 0 } }
  - id: boom
    call: wms.ship
""",
            tail="on_error: { compensate: true }\n",
        )
    )
    env.effects.behaviour["release"] = fail_then_answer(1, transient, {"released": True})
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == WAITING  # compensating, waiting to retry the undo
        assert summary(await p.journal(run.id)) == [
            ("reserve", "succeeded"),
            ("boom", "failed"),
            ("reserve.undo", "retrying"),
        ]
    async with env.process() as p:
        await p.work(max_wait=1)
        run = await p.only_run()
        assert (run.status, run.error["step"]) == (DEAD_LETTERED, "boom")
        undo = (await p.journal(run.id))[-1]
        assert (undo.label, undo.status, undo.attempts) == ("reserve.undo", "compensated", 2)
    assert env.effects.keys("release") == [f"{run.id}:reserve.undo"] * 2
    assert len(env.effects.of("ship")) == 1 and len(env.effects.of("reserve")) == 1


# -- timers and waits ---------------------------------------------------------------------------
async def test_a_delay_survives_a_restart(setup: Callable[..., Setup]) -> None:
    env = setup(
        flow("""\
  - id: reserve
    call: wms.reserve
    with: { sku: A }
  - id: pause
    delay: 400ms
  - id: pack
    call: wms.pack
""")
    )
    t0 = time.time()
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == WAITING and run.wake_at >= t0 + 0.4
        assert summary(await p.journal(run.id))[-1] == ("pause", "waiting")

    async with env.process() as p:
        await p.work()  # not due yet: nothing happens
        assert (await p.only_run()).status == WAITING and not env.effects.of("pack")
        await p.work(max_wait=1)
        run = await p.only_run()
        assert run.status == SUCCEEDED
        assert time.time() >= t0 + 0.4
        pause = {e.label: e for e in await p.journal(run.id)}["pause"]
        assert (pause.status, pause.output) == ("succeeded", {"waited_seconds": 0.4})
    assert len(env.effects.of("reserve")) == 1 and len(env.effects.of("pack")) == 1


def waiting(timeout: str = "5s", on_timeout: str = "fail") -> dict[str, str]:
    return flow(f"""\
  - id: reserve
    call: wms.reserve
    with: {{ sku: A }}
  - id: wait_accept
    wait_for: shop.order.accepted
    match: data.order_id
    equals: "${{ data.order_id }}"
    timeout: {timeout}
    on_timeout: {on_timeout}
  - id: after
    set: {{ count: "${{ steps.wait_accept.output.data.count }}" }}
""")


async def test_wait_for_is_woken_by_a_correlated_event_only(setup: Callable[..., Setup]) -> None:
    env = setup(waiting())
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        t0 = time.time()
        await p.work()
        run = await p.only_run()
        assert run.status == WAITING
        assert run.wake_at == pytest.approx(t0 + 5, abs=1)  # the timeout is the timer
        wait = (await p.journal(run.id))[-1]
        assert (wait.label, wait.status, wait.input) == (
            "wait_accept",
            "waiting",
            {"correlation": "O1"},
        )

    async with env.process() as p:  # the wait is durable: another process delivers the event
        await p.ingest(accepted("O2"))
        await p.work()
        assert (await p.only_run()).status == WAITING
        event = accepted("O1", count=7)
        await p.ingest(event)
        await p.work()
        run = await p.only_run()
        assert (run.status, run.output) == (SUCCEEDED, {"count": 7})
        wait = {e.label: e for e in await p.journal(run.id)}["wait_accept"]
        assert (wait.status, wait.output) == ("succeeded", event)
    assert len(env.effects.of("reserve")) == 1


@pytest.mark.parametrize("on_timeout", ["fail", "continue"])
async def test_wait_for_timeout(setup: Callable[..., Setup], on_timeout: str) -> None:
    env = setup(waiting(timeout="80ms", on_timeout=on_timeout))
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work(max_wait=1)
        run = await p.only_run()
        if on_timeout == "fail":
            assert run.status == DEAD_LETTERED
            assert (run.error["code"], run.error["step"]) == ("wait.timeout", "wait_accept")
        else:
            assert (run.status, run.output) == (SUCCEEDED, {"count": None})
        await p.ingest(accepted("O1"))  # too late: delivers nothing, changes nothing
        await p.work()
        assert (await p.store.run(run.id)).status == run.status


async def test_parallel_branches_wake_at_the_earliest_timer(setup: Callable[..., Setup]) -> None:
    env = setup(
        flow("""\
  - id: both
    parallel:
      confirm:
        - id: wait_accept
          wait_for: shop.order.accepted
          match: data.order_id
          equals: "${ data.order_id }"
          timeout: 5s
      cool:
        - id: pause
          delay: 100ms
        - id: pack
          call: wms.pack
""")
    )
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        t0 = time.time()
        await p.work(max_wait=1)
        run = await p.only_run()
        assert run.status == WAITING  # still waiting for the event, but the delay branch went on
        assert ("pack", "succeeded") in summary(await p.journal(run.id))
        assert run.wake_at == pytest.approx(t0 + 5, abs=1)


# -- inbox semantics ----------------------------------------------------------------------------
async def test_duplicates_start_nothing_and_a_key_runs_once(setup: Callable[..., Setup]) -> None:
    env = setup(flow(ORDERS))
    async with env.process() as p:
        first = order_event("O1")
        answers = await p.ingest(
            first, first, order_event("O1", id="another-id"), order_event("O2")
        )
        assert answers == [
            Accepted(1, False),
            Accepted(1, True),
            Accepted(3, False),
            Accepted(4, False),
        ]
        await p.work()
        assert await p.ingest(first) == [Accepted(1, True)]  # also after it ran
        await p.work()
        runs = await p.store.runs(flow="orders")
        assert sorted(r.key for r in runs) == ["O1", "O2"]
        assert (await p.store.counts())["events.pending"] == 0
    assert len(env.effects.of("pack")) == 2


async def test_an_invalid_event_is_rejected_and_never_stored(setup: Callable[..., Setup]) -> None:
    env = setup(flow(ORDERS))
    async with env.process() as p:
        bad = order_event("O1")
        bad["data"]["currency"] = "XYZ"
        [rejection] = await p.ingest(bad)
        assert isinstance(rejection, Rejection)
        assert (rejection.code, rejection.contract) == (
            "contract.violation",
            "shop.order.placed v1",
        )
        assert (await p.store.counts())["events"] == 0


# -- dead letters and replay --------------------------------------------------------------------
PACKING = """\
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
    undo: { call: wms.release, with: { reservation: "${ steps.reserve.output.reservation }" } }
  - id: pack
    call: wms.pack
    with: { reservation: "${ steps.reserve.output.reservation }" }
"""


def broken_until(fixed: list[bool]) -> Behaviour:
    async def behaviour(request: CallRequest, nth: int) -> Any:
        if not fixed:
            raise ConnectorError(
                "422 unknown warehouse", transient=False, status=422, error_class="http_422"
            )
        return {"packed": request.payload}

    return behaviour


async def test_replay_runs_again_from_the_failed_step_on_the_pinned_version(
    setup: Callable[..., Setup],
) -> None:
    env = setup(flow(PACKING))
    fixed: list[bool] = []
    env.effects.behaviour["pack"] = broken_until(fixed)
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert (run.status, run.error["code"]) == (DEAD_LETTERED, "connector.http_422")

        fixed.append(True)  # the operator fixes the cause, then replays
        replayed = await p.store.replay(run.id)
        assert (replayed.status, replayed.generation, replayed.flow_hash) == (
            PENDING,
            0,
            run.flow_hash,
        )
        await p.work()
        run = await p.only_run()
        assert (run.status, run.output, run.replays, run.error) == (
            SUCCEEDED,
            {"packed": {"reservation": "R-A"}},
            1,
            None,
        )
        assert summary(await p.journal(run.id)) == [("reserve", "succeeded"), ("pack", "succeeded")]
    assert len(env.effects.of("reserve")) == 1  # completed steps are not run again
    assert env.effects.keys("pack") == [f"{run.id}:pack"] * 2  # the same effect, the same key


CHANGING = """\
  - id: reserve
    call: wms.reserve
    with: {{ sku: A }}
  - id: ship
    call: wms.ship
  - id: built
    set: {{ by: {0} }}
"""


async def test_replay_on_the_pinned_or_the_latest_flow_version(setup: Callable[..., Setup]) -> None:
    env = setup(flow(CHANGING.format("v1"), head="version: 1.0.0\n"))
    async with env.process() as p:
        await p.ingest(order_event("O1"), order_event("O2"))
        await p.work()
        runs = {r.key: r for r in await p.store.runs()}
        assert {r.status for r in runs.values()} == {DEAD_LETTERED}
        old_hash = runs["O1"].flow_hash
        before = {key: (await p.journal(r.id))[0] for key, r in runs.items()}

    # the cause is fixed and a new flow version is deployed
    env.write(
        {
            "connectors/wms.yaml": WMS.replace(
                "ship: { error: { type: permanent, message: no carrier } }",
                "ship: { output: { shipped: true } }",
            ),
            **flow(CHANGING.format("v2"), head="version: 2.0.0\n"),
        }
    )
    async with env.process() as p:
        new = p.plan.flows["orders"]
        assert new.content_hash != old_hash
        await p.store.replay(runs["O1"].id)  # pinned: the old version, rebuilt from the store
        await p.store.replay(
            runs["O2"].id, flow_hash=new.content_hash, flow_version=new.version
        )  # --latest
        await p.work()
        pinned, latest = await p.store.run(runs["O1"].id), await p.store.run(runs["O2"].id)
        assert (pinned.status, pinned.output, pinned.flow_hash, pinned.flow_version) == (
            SUCCEEDED,
            {"by": "v1"},
            old_hash,
            "1.0.0",
        )
        assert (latest.status, latest.output, latest.flow_hash, latest.flow_version) == (
            SUCCEEDED,
            {"by": "v2"},
            new.content_hash,
            "2.0.0",
        )
        for key, run in (("O1", pinned), ("O2", latest)):
            journal = await p.journal(run.id)
            assert summary(journal) == [
                ("reserve", "succeeded"),
                ("ship", "succeeded"),
                ("built", "succeeded"),
            ]
            assert journal[0] == before[key]  # reserve was not run again
    assert len(env.effects.of("reserve")) == 2  # once per run, in the first process


async def test_a_compensated_run_replays_from_the_start_with_fresh_keys(
    setup: Callable[..., Setup],
) -> None:
    env = setup(flow(PACKING, tail="on_error: { compensate: true }\n"))
    fixed: list[bool] = []
    env.effects.behaviour["pack"] = broken_until(fixed)
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert summary(await p.journal(run.id))[-1] == ("reserve.undo", "compensated")

        fixed.append(True)
        replayed = await p.store.replay(run.id, from_start=True)
        assert replayed.generation == 1
        await p.work()
        run = await p.only_run()
        assert (run.status, run.generation) == (SUCCEEDED, 1)
        assert summary(await p.journal(run.id, 1)) == [
            ("reserve", "succeeded"),
            ("pack", "succeeded"),
        ]
        assert len(await p.journal(run.id, 0)) == 3  # the first attempt stays on record
    assert env.effects.keys("reserve") == [f"{run.id}:reserve", f"{run.id}.1:reserve"]
    assert env.effects.keys("pack") == [f"{run.id}:pack", f"{run.id}.1:pack"]
    assert env.effects.keys("release") == [f"{run.id}:reserve.undo"]


# -- SLA ----------------------------------------------------------------------------------------
SLOW = flow(
    """\
  - id: pause
    delay: 150ms
""",
    head="sla: 50ms\n",
)


async def sla_breach(env: Setup) -> tuple[RunRecord, dict[str, Any], Runtime]:
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work(max_wait=1)
        await p.work()
        run = await p.only_run()
        events = [await p.store.event(seq) for seq in range(1, 5)]
        breaches = [e.body for e in events if e is not None and e.type == "ops.sla.breached"]
        assert len(breaches) == 1, breaches  # flagged once
        return run, breaches[0], p


async def test_a_run_over_its_sla_is_flagged_and_announced(setup: Callable[..., Setup]) -> None:
    env = setup(SLOW, extra=SLA_CONTRACT)
    run, event, p = await sla_breach(env)
    assert run.status == SUCCEEDED and run.sla_breached
    assert p.plan.contracts.check_event(event).ok, p.plan.contracts.check_event(event).describe()
    assert (event["source"], event["subject"]) == ("/seamline/runtime", "O1")
    assert event["data"]["run_id"] == run.id and event["data"]["flow"] == "orders"
    assert event["data"]["subject"] == "O1"
    assert event["data"]["elapsed_seconds"] >= 0.05
    assert event["dataschema"] == p.plan.contracts.get("ops.sla.breached").latest.uri
    async with env.process() as p:
        details = [a.detail for a in await p.store.audit(run.id)]
        assert details.count({"sla_breached": True}) == 1


async def test_the_breach_event_states_the_declared_sla(setup: Callable[..., Setup]) -> None:
    _, event, _ = await sla_breach(setup(SLOW, extra=SLA_CONTRACT))
    assert event["data"]["sla"] == "50ms"


async def test_a_run_within_its_sla_is_not_flagged(setup: Callable[..., Setup]) -> None:
    env = setup(
        flow(
            """\
  - id: reserve
    call: wms.reserve
    with: { sku: A }
""",
            head="sla: 5s\n",
        ),
        extra=SLA_CONTRACT,
    )
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()
        run = await p.only_run()
        assert run.status == SUCCEEDED and not run.sla_breached
        assert (await p.store.counts())["events"] == 1


# -- values the store cannot hold -----------------------------------------------------------------
BIG = 10**20  # valid JSON and valid for the contracts (integer, minimum 1), beyond 64 bits


async def test_an_unstorable_step_output_fails_the_run_not_the_worker(
    setup: Callable[..., Setup],
) -> None:
    env = setup(
        flow(f"""\
  - id: big
    set: {{ n: "${{ `{BIG}` }}" }}
"""),
        flow(
            """\
  - id: reserve
    call: wms.reserve
    with: { sku: A }
""",
            name="other",
        ),
    )
    async with env.process() as p:
        await p.ingest(order_event("O1"))
        await p.work()  # once: ExceptionGroup([TypeError('Integer exceeds 64-bit range')])
        runs = {r.flow: r for r in await p.store.runs()}
        assert runs["orders"].status in (SUCCEEDED, DEAD_LETTERED)
        assert runs["other"].status == SUCCEEDED  # one bad run does not stop the others


async def test_an_unstorable_event_does_not_sink_its_batch(setup: Callable[..., Setup]) -> None:
    env = setup(flow(ORDERS))
    async with env.process() as p:
        big = order_event("O2", lines=[{"sku": "A", "qty": BIG}])
        assert p.plan.contracts.check_event(big).ok
        answers = await p.ingest(order_event("O1"), big)  # once: TypeError, batch lost
        assert isinstance(answers[0], Accepted)
        assert (await p.store.counts())["events"] >= 1

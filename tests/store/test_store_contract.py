"""The Store contract: every backend (tests/store/conftest.py `store`) must pass this suite.

It speaks only through the Store protocol (runtime/store/base.py); the few SQLite-specific checks
(group-commit counter, audit triggers enforced in SQL) say so and are skipped for other backends.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from runtime.store import (
    DEAD_LETTERED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    WAITING,
    Accepted,
    JournalEntry,
    NewRun,
    OpenWait,
    RouteDecision,
    SourceCommit,
    SourceReject,
    Store,
    StoredEvent,
    WaitDelivery,
)
from tests.store.conftest import Backend

pytestmark = pytest.mark.anyio


# -- helpers ------------------------------------------------------------------------------------
def event(
    ident: str,
    *,
    key: Any = None,
    corr: Any = None,
    type: str = "shop.order.placed",
    source: str = "/shop",
) -> dict[str, Any]:
    data: dict[str, Any] = {"key": key}
    if corr is not None:
        data["corr"] = corr
    return {"specversion": "1.0", "id": ident, "source": source, "type": type, "data": data}


class Router:
    """Starts one run of `orders` per shop.order.placed event (run id `run-<event id>`, key
    data.key) and delivers any event whose data.corr equals an open wait's correlation."""

    def __init__(
        self, flow: str = "orders", flow_hash: str = "hash-1", sla: float | None = None
    ) -> None:
        self.flow, self.flow_hash, self.sla = flow, flow_hash, sla
        self.seen: list[tuple[StoredEvent, list[OpenWait]]] = []

    def __call__(self, stored: StoredEvent, waits: Sequence[OpenWait]) -> RouteDecision:
        self.seen.append((stored, list(waits)))
        decision = RouteDecision()
        if stored.type == "shop.order.placed":
            decision.runs.append(
                NewRun(
                    f"run-{stored.id}",
                    self.flow,
                    self.flow_hash,
                    "1.0.0",
                    stored.body["data"]["key"],
                    self.sla,
                )
            )
        corr = stored.body.get("data", {}).get("corr")
        for wait in waits:
            if corr is not None and corr == wait.correlation:
                decision.deliveries.append(WaitDelivery(wait.run_id, wait.generation, wait.label))
        return decision


async def new_run(store: Store, ident: str, key: Any = None, router: Router | None = None) -> str:
    """Accept one event and route it: the id of the run it started."""
    await store.accept(event(ident, key=key))
    await store.route_pending(router or Router())
    run = await store.run(f"run-{ident}")
    assert run is not None
    return run.id


async def claimed_run(store: Store, ident: str, key: Any = None, owner: str = "w1") -> str:
    run_id = await new_run(store, ident, key)
    [run] = await store.claim(owner, time.time())
    assert run.id == run_id
    return run_id


def entry(
    run_id: str,
    label: str,
    status: str = "succeeded",
    *,
    generation: int = 0,
    kind: str = "call",
    **fields: Any,
) -> JournalEntry:
    return JournalEntry(
        run_id=run_id,
        generation=generation,
        label=label,
        kind=kind,
        status=status,
        started_at="2024-01-01T00:00:00Z",
        finished_at="2024-01-01T00:00:01Z",
        **fields,
    )


async def transitions(store: Store, run_id: str) -> list[tuple[str | None, str]]:
    return [(a.from_status, a.to_status) for a in await store.audit(run_id)]


# -- inbox --------------------------------------------------------------------------------------
async def test_accept_stores_the_event_and_recognises_duplicates(store: Store) -> None:
    first = await store.accept(event("e1", key="K1"))
    assert first == Accepted(first.seq, duplicate=False)
    stored = await store.event(first.seq)
    assert stored is not None
    assert (stored.source, stored.id, stored.type, stored.body) == (
        "/shop",
        "e1",
        "shop.order.placed",
        event("e1", key="K1"),
    )
    assert stored.received_at

    again = await store.accept(event("e1", key="changed"))
    assert again == Accepted(first.seq, duplicate=True)
    assert (await store.event(first.seq)).body["data"]["key"] == "K1"  # the first copy stays

    other_source = await store.accept(event("e1", key="K1", source="/elsewhere"))
    assert not other_source.duplicate and other_source.seq != first.seq  # the key is source + id
    assert await store.event(987654) is None
    counts = await store.counts()
    assert (counts["events"], counts["events.pending"]) == (2, 2)


async def test_accept_many_in_one_batch_with_a_duplicate_inside_it(store: Store) -> None:
    before = await store.accept(event("e0"))
    out = await store.accept_many([event("e1"), event("e2"), event("e1"), event("e0")])

    assert [a.duplicate for a in out] == [False, False, True, True]
    assert out[2].seq == out[0].seq and out[3].seq == before.seq
    assert out[0].seq < out[1].seq  # inbox order is acceptance order
    assert await store.accept_many([]) == []
    assert (await store.counts())["events"] == 3


async def test_concurrent_accepts_share_commits(store: Store, backend: Backend) -> None:
    results: dict[int, Accepted] = {}
    commits_before = getattr(store, "commits", 0)

    async def one(i: int) -> None:
        results[i] = await store.accept(event(f"c{i}"))

    async with anyio.create_task_group() as group:
        for i in range(60):
            group.start_soon(one, i)
        group.start_soon(one, 0)  # a duplicate in the same group commit

    assert len({a.seq for a in results.values()}) == 60
    assert (await store.counts())["events"] == 60
    if backend.sqlite:  # `commits` is the SQLite store's fsync counter
        assert store.commits - commits_before <= 3, store.commits - commits_before  # type: ignore[attr-defined]


async def test_a_cancelled_accept_does_not_strand_the_others(
    store: Store, backend: Backend
) -> None:
    if backend.sqlite:
        store.group_window = 0.2  # type: ignore[attr-defined]  # make the window easy to hit
    answers: list[Accepted] = []
    leader = anyio.CancelScope()

    async def first() -> None:
        with leader:
            await store.accept(event("lead"))

    async def second() -> None:
        answers.append(await store.accept(event("follow")))

    with anyio.fail_after(1):
        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await anyio.sleep(0.02)  # the leader is collecting its group commit
            group.start_soon(second)
            await anyio.sleep(0.02)
            leader.cancel()  # e.g. the HTTP client of the first request went away
    assert len(answers) == 1


# -- routing ------------------------------------------------------------------------------------
async def test_route_pending_creates_one_run_per_flow_and_key(store: Store) -> None:
    router = Router()
    await store.accept_many([event("e1", key="K1"), event("e2", key="K1"), event("e3", key="K2")])
    assert await store.route_pending(router) == 3
    assert [s.id for s, _ in router.seen] == ["e1", "e2", "e3"]  # inbox order
    assert await store.route_pending(router) == 0  # routed events are not routed again

    runs = await store.runs(flow="orders")
    assert sorted(r.id for r in runs) == ["run-e1", "run-e3"]  # e2 had K1 again: nothing started
    run = await store.run("run-e1")
    assert run is not None
    assert (run.status, run.flow, run.flow_hash, run.flow_version, run.key, run.generation) == (
        PENDING,
        "orders",
        "hash-1",
        "1.0.0",
        "K1",
        0,
    )
    assert run.event_seq == (await store.accept(event("e1"))).seq
    assert await transitions(store, "run-e1") == [(None, PENDING)]
    assert await store.audit("run-e2") == []
    counts = await store.counts()
    assert (counts["runs.pending"], counts["events.pending"]) == (2, 0)


async def test_the_same_key_in_another_flow_is_another_run(store: Store) -> None:
    await store.accept(event("e1", key="K1"))
    await store.route_pending(Router("orders"))
    await store.accept(event("e2", key="K1"))
    await store.route_pending(Router("billing"))
    assert {(r.flow, r.key) for r in await store.runs()} == {("orders", "K1"), ("billing", "K1")}


async def test_key_types_are_distinct_and_a_null_key_allows_many_runs(store: Store) -> None:
    await store.accept_many(
        [
            event("e1", key=42),
            event("e2", key="42"),
            event("e3"),
            event("e4"),
            event("e5", key={"a": 1, "b": 2}),
        ]
    )
    await store.route_pending(Router())
    assert sorted(r.id for r in await store.runs()) == [
        "run-e1",
        "run-e2",
        "run-e3",
        "run-e4",
        "run-e5",
    ]
    assert (await store.run("run-e1")).key == 42
    assert (await store.run("run-e5")).key == {"a": 1, "b": 2}
    # a key typed on a command line matches the JSON value and the string alike
    assert sorted(r.id for r in await store.runs(key="42")) == ["run-e1", "run-e2"]
    assert [r.id for r in await store.runs(key='"42"')] == ["run-e2"]


# -- claiming, leases, recovery -----------------------------------------------------------------
async def test_claim_leases_runs_oldest_first(store: Store) -> None:
    for ident in ("e1", "e2", "e3"):
        await new_run(store, ident, ident)
        await anyio.sleep(0.003)  # distinct creation times
    now = time.time()
    first = await store.claim("w1", now, limit=2)
    assert [r.id for r in first] == ["run-e1", "run-e2"]
    assert all(r.status == RUNNING for r in first)
    second = await store.claim("w2", now, limit=5)
    assert [r.id for r in second] == ["run-e3"]  # leased runs are not claimed twice
    assert await store.claim("w3", now) == []
    assert await transitions(store, "run-e1") == [(None, PENDING), (PENDING, RUNNING)]
    assert (await store.audit("run-e1"))[-1].detail == {"owner": "w1"}


async def test_waiting_runs_are_claimed_only_when_due(store: Store) -> None:
    now = time.time()
    late = await claimed_run(store, "late", "L")
    early = await claimed_run(store, "early", "E")
    parked = await claimed_run(store, "parked", "P")
    await store.suspend(late, now + 20)
    await store.suspend(early, now + 10)
    await store.suspend(parked, None)  # waits for an event only

    assert (await store.run(late)).status == WAITING
    assert (await store.run(late)).wake_at == pytest.approx(now + 20)
    assert await store.next_wake() == pytest.approx(now + 10)
    assert await store.claim("w", now + 5, limit=10) == []
    assert [r.id for r in await store.claim("w", now + 30, limit=10)] == [early, late]
    assert (await store.run(parked)).status == WAITING  # no timer: only an event wakes it
    assert await store.next_wake() is None
    assert await transitions(store, early) == [
        (None, PENDING),
        (PENDING, RUNNING),
        (RUNNING, WAITING),
        (WAITING, RUNNING),
    ]


async def test_recover_returns_runs_of_dead_owners_only(store: Store) -> None:
    dead = await claimed_run(store, "e1", "K1", owner="dead-worker")
    alive = await claimed_run(store, "e2", "K2", owner="live-worker")
    asked: list[str] = []

    def is_alive(owner: str) -> bool:
        asked.append(owner)
        return owner != "dead-worker"

    assert await store.recover(is_alive) == 1
    assert sorted(set(asked)) == ["dead-worker", "live-worker"]
    assert (await store.run(dead)).status == PENDING
    assert (await store.run(alive)).status == RUNNING
    assert (await store.audit(dead))[-1].detail == {"recovered_from": "dead-worker"}
    assert [r.id for r in await store.claim("w2", time.time())] == [dead]  # claimable again
    assert await store.recover(is_alive) == 0


async def test_recover_takes_back_an_expired_lease_even_from_a_live_owner(store: Store) -> None:
    run_id = await new_run(store, "e1", "K1")
    await store.claim(
        "slow-worker", time.time() - 120, lease_seconds=60
    )  # lease ran out a minute ago
    assert await store.recover(lambda owner: True) == 1
    assert (await store.run(run_id)).status == PENDING


# -- starting and finishing ---------------------------------------------------------------------
async def test_start_and_finish(store: Store) -> None:
    ok = await claimed_run(store, "e1", "K1")
    await store.start(ok, "2024-05-01T10:00:00Z")
    await store.start(ok, "2024-05-01T11:00:00Z")  # a resumed run keeps its first start
    await store.finish(ok, SUCCEEDED, output={"total": 3, "lines": ["a"]})
    run = await store.run(ok)
    assert (run.status, run.output, run.error, run.started_at) == (
        SUCCEEDED,
        {"total": 3, "lines": ["a"]},
        None,
        "2024-05-01T10:00:00Z",
    )
    assert run.finished_at

    bad = await claimed_run(store, "e2", "K2")
    error = {
        "flow": "orders",
        "step": "ship",
        "code": "connector.permanent",
        "message": "no carrier",
    }
    await store.finish(bad, DEAD_LETTERED, error=error)
    failed = await claimed_run(store, "e3", "K3")
    await store.finish(failed, FAILED, error={**error, "code": "stock.none"})

    assert (await store.run(bad)).error == error
    assert [r.id for r in await store.runs(error_code="connector.permanent")] == [bad]
    assert [r.id for r in await store.runs(status=DEAD_LETTERED)] == [bad]
    assert [r.id for r in await store.runs(status=FAILED, error_code="stock.none")] == [failed]
    assert await store.runs(status=DEAD_LETTERED, error_code="stock.none") == []
    assert await store.runs(flow="other") == []
    assert [r.id for r in await store.runs(key="K2")] == [bad]
    assert len(await store.runs(limit=2)) == 2
    assert await transitions(store, bad) == [
        (None, PENDING),
        (PENDING, RUNNING),
        (RUNNING, DEAD_LETTERED),
    ]
    counts = await store.counts()
    assert (counts["runs.succeeded"], counts["runs.dead_lettered"], counts["runs.failed"]) == (
        1,
        1,
        1,
    )


async def test_runs_are_listed_newest_first(store: Store) -> None:
    for ident in ("e1", "e2", "e3"):
        await new_run(store, ident, ident)
        await anyio.sleep(0.003)
    assert [r.id for r in await store.runs()] == ["run-e3", "run-e2", "run-e1"]


# -- waits ----------------------------------------------------------------------------------------
def open_wait(
    run_id: str, label: str = "wait_accept", correlation: Any = "O1", deadline: float | None = None
) -> OpenWait:
    return OpenWait(
        run_id,
        0,
        label,
        "shop.order.accepted",
        "data.corr",
        correlation,
        deadline if deadline is not None else time.time() + 3600,
    )


async def waiting_run(
    store: Store, ident: str = "e1", correlation: Any = "O1"
) -> tuple[str, OpenWait]:
    run_id = await claimed_run(store, ident, ident)
    wait = open_wait(run_id, correlation=correlation)
    await store.record(
        entry(
            run_id,
            "wait_accept",
            "waiting",
            kind="wait_for",
            wake_at=wait.deadline,
            input={"correlation": correlation},
        ),
        wait=wait,
    )
    return run_id, wait


async def test_an_event_delivered_to_a_wait_wakes_the_run(store: Store) -> None:
    run_id, wait = await waiting_run(store)
    await store.suspend(run_id, wait.deadline, "wait_accept")
    assert (await store.run(run_id)).status == WAITING

    router = Router()
    await store.accept(event("other-type", corr="O1", type="shop.order.shipped"))
    await store.accept(event("no-match", corr="O2", type="shop.order.accepted"))
    await store.route_pending(router)
    seen = {s.id: waits for s, waits in router.seen}
    assert seen["other-type"] == []  # only waits for the event's own type are offered
    assert seen["no-match"] == [wait]
    assert (await store.run(run_id)).status == WAITING

    accepted = event("acc-1", corr="O1", type="shop.order.accepted")
    await store.accept(accepted)
    await store.route_pending(router)
    run = await store.run(run_id)
    assert (run.status, run.wake_at) == (PENDING, None)
    [journaled] = await store.journal(run_id)
    assert (journaled.status, journaled.output) == ("succeeded", accepted)
    assert journaled.wake_at is None

    await store.accept(event("acc-2", corr="O1", type="shop.order.accepted"))
    await store.route_pending(router)
    assert router.seen[-1][1] == []  # the wait is closed: a second event finds nothing
    assert (await store.journal(run_id))[0].output == accepted
    assert await transitions(store, run_id) == [
        (None, PENDING),
        (PENDING, RUNNING),
        (RUNNING, WAITING),
        (WAITING, PENDING),
    ]


async def test_an_event_delivered_before_the_run_suspends(store: Store) -> None:
    run_id, wait = await waiting_run(store)
    await store.accept(event("acc-1", corr="O1", type="shop.order.accepted"))
    await store.route_pending(Router())  # the run is still `running`: the journal takes the event
    assert (await store.run(run_id)).status == RUNNING
    assert (await store.journal(run_id))[0].status == "succeeded"

    await store.suspend(run_id, wait.deadline, "wait_accept")
    run = await store.run(run_id)
    assert (run.status, run.wake_at) == (PENDING, None)  # not parked: it can go on at once
    assert [r.id for r in await store.claim("w2", time.time())] == [run_id]


async def test_finishing_a_run_closes_its_waits(store: Store) -> None:
    run_id, _ = await waiting_run(store)
    await store.finish(run_id, DEAD_LETTERED, error={"code": "x", "message": "y"})
    router = Router()
    await store.accept(event("acc-1", corr="O1", type="shop.order.accepted"))
    await store.route_pending(router)
    assert router.seen[-1][1] == []


# -- journal ------------------------------------------------------------------------------------
async def test_journal_records_every_field_and_upserts_in_completion_order(store: Store) -> None:
    run_id = await claimed_run(store, "e1", "K1")
    await store.record(
        entry(
            run_id,
            "reserve",
            input={"sku": "A"},
            output={"r": 1},
            attempts=1,
            duration_ms=1.5,
            detail={"note": "x"},
        )
    )
    await store.record(
        entry(
            run_id,
            "ship",
            "retrying",
            input={"n": 1},
            attempts=1,
            wake_at=123.0,
            error={"code": "connector.transient", "message": "busy"},
        )
    )
    await store.record(entry(run_id, "pause", "waiting", kind="delay", wake_at=456.0))
    await store.record(
        entry(run_id, "ship", "succeeded", input={"n": 1}, output={"ok": True}, attempts=2)
    )

    journal = await store.journal(run_id)
    assert [(e.label, e.status) for e in journal] == [
        ("reserve", "succeeded"),
        ("pause", "waiting"),
        ("ship", "succeeded"),
    ]
    first = journal[0]
    assert (
        first.run_id,
        first.generation,
        first.kind,
        first.input,
        first.output,
        first.attempts,
        first.duration_ms,
        first.detail,
        first.started_at,
        first.finished_at,
    ) == (
        run_id,
        0,
        "call",
        {"sku": "A"},
        {"r": 1},
        1,
        1.5,
        {"note": "x"},
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:01Z",
    )
    ship = journal[2]
    assert (ship.attempts, ship.error, ship.wake_at, ship.output) == (2, None, None, {"ok": True})
    assert journal[0].seq < journal[1].seq < journal[2].seq

    await store.record(entry(run_id, "ship", "succeeded", generation=1, output={"gen": 1}))
    assert [e.generation for e in await store.journal(run_id)] == [0, 0, 0, 1]
    assert [(e.label, e.output) for e in await store.journal(run_id, 1)] == [("ship", {"gen": 1})]
    assert len(await store.journal(run_id, 0)) == 3
    assert await store.journal("no-such-run") == []


async def test_emitted_events_land_in_the_inbox_once(store: Store) -> None:
    run_id = await claimed_run(store, "e1", "K1")
    emitted = event("out-1", corr="O1", type="shop.order.accepted", source="/seamline/flows/orders")
    await store.record(entry(run_id, "notify", kind="emit", output=emitted), emitted=[emitted])
    await store.record(
        entry(run_id, "notify", kind="emit", output=emitted), emitted=[emitted]
    )  # resumed

    counts = await store.counts()
    assert (counts["events"], counts["events.pending"]) == (2, 1)
    router = Router()
    assert await store.route_pending(router) == 1
    assert router.seen[0][0].body == emitted


# -- replay and discard -------------------------------------------------------------------------
async def dead_letter(store: Store, ident: str = "e1") -> str:
    run_id = await claimed_run(store, ident, ident)
    await store.record(entry(run_id, "reserve", output={"r": 1}))
    await store.record(entry(run_id, "maybe", "skipped", kind="call"))
    await store.record(entry(run_id, "ship", "retrying", attempts=2, wake_at=time.time() + 60))
    await store.record(
        entry(
            run_id,
            "ship",
            "failed",
            attempts=3,
            error={"code": "connector.permanent", "message": "no carrier"},
        )
    )
    await store.record(entry(run_id, "later", "retrying", attempts=1))
    await store.record(entry(run_id, "reserve.undo", "compensated", kind="undo"))
    await store.finish(
        run_id,
        DEAD_LETTERED,
        error={"step": "ship", "code": "connector.permanent", "message": "no carrier"},
    )
    return run_id


async def test_replay_resumes_at_the_failed_step(store: Store) -> None:
    run_id = await dead_letter(store)
    replayed = await store.replay(run_id)

    assert (replayed.status, replayed.generation, replayed.error, replayed.replays) == (
        PENDING,
        0,
        None,
        1,
    )
    assert replayed.flow_hash == "hash-1"
    assert [(e.label, e.status) for e in await store.journal(run_id)] == [
        ("reserve", "succeeded"),
        ("maybe", "skipped"),
    ]
    assert [r.id for r in await store.runs(error_code="connector.permanent")] == []
    assert (await store.audit(run_id))[-1].to_status == PENDING
    assert [r.id for r in await store.claim("w2", time.time())] == [run_id]


async def test_replay_from_the_start_opens_a_new_generation(store: Store) -> None:
    run_id = await dead_letter(store)
    replayed = await store.replay(run_id, from_start=True)
    assert (replayed.status, replayed.generation) == (PENDING, 1)
    assert await store.journal(run_id, 1) == []
    assert len(await store.journal(run_id, 0)) == 5  # the first attempt stays on record


async def test_replay_on_another_flow_version(store: Store) -> None:
    run_id = await dead_letter(store)
    replayed = await store.replay(run_id, flow_hash="hash-2", flow_version="2.0.0")
    assert (replayed.flow_hash, replayed.flow_version) == ("hash-2", "2.0.0")
    assert (await store.run(run_id)).flow_hash == "hash-2"
    assert (await store.audit(run_id))[-1].detail == {
        "replay": {"from_start": False, "flow_hash": "hash-2"}
    }


async def test_only_dead_letters_and_failed_runs_can_be_replayed(store: Store) -> None:
    ok = await claimed_run(store, "e2", "K2")
    await store.finish(ok, SUCCEEDED, output=1)
    running = await claimed_run(store, "e3", "K3")
    failed = await claimed_run(store, "e1", "K1")
    await store.finish(failed, FAILED, error={"code": "stock.none", "message": "x"})
    assert (await store.replay(failed)).status == PENDING

    for run_id in (ok, running):
        with pytest.raises(ValueError, match="only dead-lettered or failed"):
            await store.replay(run_id)
    with pytest.raises(KeyError):
        await store.replay("no-such-run")
    assert (await store.run(ok)).status == SUCCEEDED


async def test_discard_only_dead_letters(store: Store) -> None:
    run_id = await dead_letter(store)
    await store.discard(run_id, "customer cancelled the order")
    assert (await store.run(run_id)).status == "discarded"
    last = (await store.audit(run_id))[-1]
    assert (last.from_status, last.to_status, last.detail) == (
        DEAD_LETTERED,
        "discarded",
        {"reason": "customer cancelled the order"},
    )
    with pytest.raises(ValueError):
        await store.discard(run_id, "again")
    with pytest.raises(ValueError):
        await store.replay(run_id)  # discarded is final
    ok = await claimed_run(store, "e2", "K2")
    with pytest.raises(ValueError):
        await store.discard(ok, "running")


# -- SLA ----------------------------------------------------------------------------------------
def breach(run_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"sla-{run_id}",
        "source": "/seamline/runtime",
        "type": "ops.sla.breached",
        "data": {"run_id": run_id},
    }


async def test_sla_overdue_and_breach_flagged_once(store: Store) -> None:
    router = Router(sla=30)
    slow = await new_run(store, "slow", "S", router)
    quick = await new_run(store, "quick", "Q", router)
    await new_run(store, "no-sla", "N")  # no SLA at all
    now = time.time()
    run = await store.run(slow)
    assert run.sla_deadline == pytest.approx(now + 30, abs=5)
    assert await store.sla_overdue(now - 10) == []

    assert quick in [r.id for r in await store.claim("w", now, limit=5)]
    await store.finish(quick, SUCCEEDED, output=None)  # finished in time: never overdue
    assert [r.id for r in await store.sla_overdue(now + 60)] == [slow]

    events_before = (await store.counts())["events"]
    await store.mark_sla_breached(slow, breach(slow))
    run = await store.run(slow)
    assert run.sla_breached
    assert await store.sla_overdue(now + 60) == []  # flagged once
    counts = await store.counts()
    assert (counts["events"], counts["events.pending"]) == (events_before + 1, 1)
    router = Router()
    await store.route_pending(router)
    assert router.seen[0][0].body == breach(slow)
    assert (await store.audit(slow))[-1].detail == {"sla_breached": True}


async def test_a_run_that_finished_after_its_sla_is_overdue(store: Store) -> None:
    run_id = await new_run(store, "late", "L", Router(sla=0.01))
    await store.claim("w", time.time())
    await anyio.sleep(0.03)
    await store.finish(run_id, SUCCEEDED, output=None)
    assert [r.id for r in await store.sla_overdue(time.time())] == [run_id]


# -- audit, counts, persistence, flow versions --------------------------------------------------
async def test_the_audit_trail_records_every_transition(store: Store) -> None:
    run_id = await claimed_run(store, "e1", "K1")
    await store.suspend(run_id, time.time() - 1)
    await store.claim("w2", time.time())
    await store.finish(run_id, DEAD_LETTERED, error={"code": "x", "message": "y"})
    await store.replay(run_id)
    audit = await store.audit(run_id)
    assert [(a.from_status, a.to_status) for a in audit] == [
        (None, PENDING),
        (PENDING, RUNNING),
        (RUNNING, WAITING),
        (WAITING, RUNNING),
        (RUNNING, DEAD_LETTERED),
        (DEAD_LETTERED, PENDING),
    ]
    assert [a.seq for a in audit] == sorted(a.seq for a in audit)
    assert all(a.run_id == run_id and a.at for a in audit)
    assert audit[4].detail == {"error": "x"}


async def test_the_audit_trail_is_append_only_in_sql(store: Store, backend: Backend) -> None:
    if not backend.sqlite:
        pytest.skip("SQL-level check of the SQLite file; other backends enforce it with grants")
    run_id = await claimed_run(store, "e1", "K1")
    db = sqlite3.connect(str(backend.path))
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("UPDATE audit SET to_status='succeeded' WHERE run_id=?", (run_id,))
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM audit WHERE run_id=?", (run_id,))
    finally:
        db.close()
    assert await transitions(store, run_id) == [(None, PENDING), (PENDING, RUNNING)]


async def test_counts(store: Store) -> None:
    assert await store.counts() == {"events": 0, "events.pending": 0}
    await claimed_run(store, "e1", "K1")
    await new_run(store, "e2", "K2")
    await store.accept(event("e3", key="K3"))
    assert await store.counts() == {
        "events": 3,
        "events.pending": 1,
        "runs.running": 1,
        "runs.pending": 1,
    }


async def test_everything_survives_closing_and_reopening(store: Store, backend: Backend) -> None:
    run_id = await claimed_run(store, "e1", "K1")
    await store.start(run_id, "2024-05-01T10:00:00Z")
    await store.record(entry(run_id, "reserve", input={"sku": "A"}, output={"r": 1}, attempts=1))
    wait = open_wait(run_id)
    await store.record(
        entry(run_id, "wait_accept", "waiting", kind="wait_for", wake_at=wait.deadline), wait=wait
    )
    await store.suspend(run_id, wait.deadline, "wait_accept")
    await store.accept(event("unrouted", key="K9"))
    await store.save_flow_version(
        "hash-1", "orders", "1.0.0", {"flows/orders.yaml": "flow: orders\n"}
    )
    before = (
        await store.run(run_id),
        await store.journal(run_id),
        await store.audit(run_id),
        await store.counts(),
    )
    await store.aclose()

    reopened = backend.reopen()
    after = (
        await reopened.run(run_id),
        await reopened.journal(run_id),
        await reopened.audit(run_id),
        await reopened.counts(),
    )
    assert after == before
    assert await reopened.flow_version_files("hash-1") == {"flows/orders.yaml": "flow: orders\n"}
    assert await reopened.next_wake() == pytest.approx(wait.deadline)
    # the open wait and the inbox survived too
    await reopened.accept(event("acc-1", corr="O1", type="shop.order.accepted"))
    router = Router()
    await reopened.route_pending(router)
    assert [s.id for s, _ in router.seen] == ["unrouted", "acc-1"]
    assert (await reopened.run(run_id)).status == PENDING
    assert (await reopened.accept(event("e1", key="K1"))).duplicate


async def test_flow_versions_are_saved_by_content_hash(store: Store) -> None:
    files = {
        "flows/orders.yaml": "flow: orders\nversion: 1.0.0\n",
        "contracts/x/v1.schema.json": "{}",
        "flows/templates/t.j2": "héllo {{ data.name }}\n",
    }
    await store.save_flow_version("abc123", "orders", "1.0.0", files)
    await store.save_flow_version(
        "abc123", "orders", "1.0.0", {"flows/orders.yaml": "other"}
    )  # immutable
    assert await store.flow_version_files("abc123") == files
    assert await store.flow_version_files("nope") is None


# -- polled sources --------------------------------------------------------------------------------
async def test_a_source_poll_is_claimed_once_per_interval(store: Store) -> None:
    assert await store.claim_source_poll("db.rows", 100.0, 130.0) is True
    assert await store.claim_source_poll("db.rows", 110.0, 140.0) is False
    assert await store.claim_source_poll("db.rows", 130.0, 160.0) is True
    state = (await store.source_states())["db.rows"]
    assert (state.next_poll, state.last_poll, state.polls, state.cursor) == (160.0, 130.0, 2, None)


async def test_a_source_commit_takes_events_and_moves_the_cursor_together(store: Store) -> None:
    events = [event("r1", source="/seamline/sources/db.rows"), event("r2", source="/seamline/sources/db.rows")]
    rejects = [SourceReject("row 3", "contract.violation: no", {"id": 3})]
    first = await store.commit_source(
        "db.rows",
        SourceCommit(events, rejects, cursor={"ts": "t2", "id": 2}, expected_cursor=None, move_cursor=True),
    )
    assert first is not None and [a.duplicate for a in first] == [False, False]
    # a second poller that read from the same position finds the cursor moved: nothing taken in
    stale = await store.commit_source(
        "db.rows",
        SourceCommit(events[:1], (), cursor={"ts": "t1", "id": 1}, expected_cursor=None, move_cursor=True),
    )
    assert stale is None
    again = await store.commit_source(
        "db.rows",
        SourceCommit(events[1:], (), cursor={"ts": "t3", "id": 3},
                     expected_cursor={"id": 2, "ts": "t2"}, move_cursor=True),
    )
    assert again is not None and [a.duplicate for a in again] == [True]
    state = (await store.source_states())["db.rows"]
    assert state.cursor == {"ts": "t3", "id": 3}
    assert (state.events, state.duplicates, state.rejects, state.last_error) == (2, 1, 1, None)
    [reject] = await store.source_rejects("db.rows")
    assert (reject.source, reject.location, reject.message, reject.raw) == (
        "db.rows", "row 3", "contract.violation: no", {"id": 3},
    )
    assert await store.source_rejects("other.source") == []


async def test_a_source_item_is_taken_in_once(store: Store) -> None:
    commit = SourceCommit([event("f1:2", source="/seamline/sources/drop.files")],
                          [SourceReject("a.csv:3", "expected 3 fields, got 2", "x,y")],
                          item="a.csv@abc")
    assert not await store.source_item_seen("drop.files", "a.csv@abc")
    assert await store.commit_source("drop.files", commit) is not None
    assert await store.source_item_seen("drop.files", "a.csv@abc")
    assert await store.commit_source("drop.files", commit) is None
    state = (await store.source_states())["drop.files"]
    assert (state.items, state.events, state.rejects) == (1, 1, 1)
    [reject] = await store.source_rejects()
    assert reject.item == "a.csv@abc"


async def test_source_errors_and_resets_are_kept(store: Store, backend: Backend) -> None:
    await store.source_error("db.rows", "OperationalError: unable to open database file")
    await store.commit_source(
        "db.rows", SourceCommit((), (), cursor={"id": 9}, expected_cursor=None, move_cursor=True)
    )
    reopened = backend.reopen()
    state = (await reopened.source_states())["db.rows"]
    assert state.last_error is None and state.cursor == {"id": 9}  # a good read clears the error
    await reopened.claim_source_poll("db.rows", 100.0, 200.0)
    await reopened.reset_source("db.rows", {"id": 1})
    state = (await reopened.source_states())["db.rows"]
    assert (state.cursor, state.next_poll) == ({"id": 1}, 0.0)

"""What is particular to the PostgreSQL store: several processes sharing one database.

A "process" here is a PostgresStore of its own on the same schema (its own connections); the
contract every backend keeps is tests/store/test_store_contract.py. Needs a server at
$SEAMLINE_TEST_POSTGRES_URL (CI's .ci/run starts one); skipped without one.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest

from runtime.store import RUNNING, SourceCommit, Store, open_store
from tests.store.conftest import Backend, postgres_backend, with_query
from tests.store.test_store_contract import Router, event, new_run

psycopg = pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing")

from runtime.store._pg_connection import connection_params, redact  # noqa: E402
from runtime.store.postgres import PostgresStore  # noqa: E402

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]


@pytest.fixture
def pg() -> Iterator[Backend]:
    """A PostgreSQL store location (a fresh schema) that tests open as often as they like."""
    backend = postgres_backend()
    yield backend
    for store in backend.opened:
        anyio.run(store.aclose)
    assert backend.cleanup is not None
    backend.cleanup()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def sql(backend: Backend, statement: str) -> list[Any]:
    """Run one statement on the store's schema, outside the store."""
    assert backend.url is not None
    params, schema = connection_params(backend.url)
    with psycopg.connect(**params, autocommit=True) as db:
        db.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        cursor = db.execute(statement)
        return cursor.fetchall() if cursor.description else []


async def until_done(work: Callable[[], Any], done: Callable[[], Any]) -> None:
    """Call `work` until `done()` says everything is done (another process may hold rows back
    for a moment: SKIP LOCKED passes over them rather than waiting)."""
    with anyio.fail_after(20):
        while True:
            if not await work() and await done():
                return
            await anyio.sleep(0)


# -- the store location ---------------------------------------------------------------------------
def test_the_url_names_the_server_and_seamlines_schema() -> None:
    params, schema = connection_params(
        "postgresql://app:s3cret@db.internal:6432/ops?schema=integration&sslmode=require"
    )
    assert schema == "integration"
    assert (params["host"], params["port"], params["dbname"], params["user"]) == (
        "db.internal",
        "6432",
        "ops",
        "app",
    )
    assert params["sslmode"] == "require" and "schema" not in params
    assert (params["application_name"], params["connect_timeout"]) == ("seamline", "10")
    _, none = connection_params("postgres://db/ops?application_name=mine")
    assert none is None
    with pytest.raises(ValueError, match="empty `schema=`"):
        connection_params("postgresql://db/ops?schema=")
    assert redact("postgresql://app:s3cret@db:5432/ops") == "postgresql://app:***@db:5432/ops"
    assert redact("postgresql://db/ops") == "postgresql://db/ops"


async def test_open_store_takes_both_url_schemes_to_the_same_store(pg: Backend) -> None:
    assert pg.url is not None
    first = pg.reopen()
    assert isinstance(first, PostgresStore)
    await first.accept(event("e1"))
    second = open_store(pg.url.replace("postgresql://", "postgres://", 1), root="/ignored")
    pg.opened.append(second)
    assert isinstance(second, PostgresStore)
    assert (await second.accept(event("e1"))).duplicate


async def test_stores_opening_a_new_schema_at_once_all_succeed(pg: Backend) -> None:
    opened: list[Store] = []
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            opened.append(pg.open())
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pg.opened.extend(opened)
    assert failures == [] and len(opened) == 4
    assert sql(pg, "SELECT version FROM store_schema") == [(1,)]
    assert (await opened[0].accept(event("e1"))).seq == (await opened[3].accept(event("e1"))).seq


async def test_a_connection_the_server_dropped_is_replaced(pg: Backend) -> None:
    assert pg.url is not None
    name = f"seamline_drop_{id(pg)}"
    store = open_store(with_query(pg.url, application_name=name))
    pg.opened.append(store)
    await store.accept(event("e1"))
    # a server restart, an idle timeout, a failover: the kept connection is gone
    sql(
        pg,
        f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name='{name}'",
    )
    assert (await store.counts())["events"] == 1


async def test_a_closed_store_refuses_calls_and_closes_twice(pg: Backend) -> None:
    store = pg.reopen()
    await store.aclose()
    await store.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await store.counts()


async def test_the_audit_trail_is_append_only_in_sql(pg: Backend) -> None:
    store = pg.reopen()
    await new_run(store, "e1", "K1")
    for statement in ("UPDATE audit SET to_status='x'", "DELETE FROM audit", "TRUNCATE audit"):
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            sql(pg, statement)
    assert len(await store.audit("run-e1")) == 1


async def test_event_bodies_come_back_exactly(pg: Backend) -> None:
    store = pg.reopen()
    body = event("e1")
    body["data"] = {"z": 1, "a": [1.5, None, True], "nul": "a\u0000b", "ünï": "😀", "big": 2**62}
    accepted = await store.accept(body)
    stored = await store.event(accepted.seq)
    assert stored is not None and stored.body == body
    assert list(stored.body["data"]) == ["z", "a", "nul", "ünï", "big"]  # key order kept


# -- several processes on one database --------------------------------------------------------------
async def test_two_processes_claiming_at_once_never_claim_the_same_run(pg: Backend) -> None:
    first, second = pg.reopen(), pg.reopen()
    await first.accept_many([event(f"e{i}", key=f"K{i}") for i in range(60)])
    await first.route_pending(Router(), limit=100)
    claims: dict[str, list[str]] = {}

    async def worker(store: Store, owner: str) -> None:
        async def claim() -> int:
            claimed = await store.claim(owner, time.time(), limit=3)
            assert all(run.status == RUNNING and run.id not in claims for run in claimed)
            for run in claimed:
                claims.setdefault(run.id, []).append(owner)
            return len(claimed)

        async def none_left() -> bool:
            return "runs.pending" not in await store.counts()

        await until_done(claim, none_left)

    async with anyio.create_task_group() as group:
        for n in range(3):
            group.start_soon(worker, first, f"host-a:{n}")
            group.start_soon(worker, second, f"host-b:{n}")

    assert sorted(claims) == sorted(f"run-e{i}" for i in range(60))
    assert all(len(owners) == 1 for owners in claims.values())
    assert {owner[:6] for owners in claims.values() for owner in owners} == {"host-a", "host-b"}
    audit = await first.audit("run-e7")
    assert [(a.from_status, a.to_status) for a in audit] == [
        (None, "pending"),
        ("pending", RUNNING),
    ]


async def test_two_processes_routing_at_once_never_route_an_event_twice(pg: Backend) -> None:
    first, second = pg.reopen(), pg.reopen()
    # 90 events, 30 keys: each key starts one run, whichever process routes its first event
    await first.accept_many([event(f"e{i}", key=f"K{i % 30}") for i in range(90)])
    routers = [Router(), Router()]

    async def worker(store: Store, router: Router) -> None:
        async def route() -> int:
            return await store.route_pending(router, limit=4)

        async def none_left() -> bool:
            return (await store.counts())["events.pending"] == 0

        await until_done(route, none_left)

    async with anyio.create_task_group() as group:
        for _ in range(2):
            group.start_soon(worker, first, routers[0])
            group.start_soon(worker, second, routers[1])

    seen = Counter(stored.id for router in routers for stored, _ in router.seen)
    assert seen == Counter(f"e{i}" for i in range(90))  # every event routed, each once
    assert all(router.seen for router in routers)  # both processes took part
    runs = await first.runs(limit=1000)
    assert sorted(run.key for run in runs) == sorted(f"K{i}" for i in range(30))
    assert sql(pg, "SELECT SUM(runs_created) FROM events") == [(30,)]
    assert [len(await first.audit(run.id)) for run in runs] == [1] * 30


async def test_a_source_batch_is_taken_in_once_across_processes(pg: Backend) -> None:
    stores = [pg.reopen(), pg.reopen()]
    for round_ in range(5):
        batch = [event(f"r{round_}", source="/seamline/sources/db.rows")]
        expected = None if round_ == 0 else {"id": round_ - 1}
        commit = SourceCommit(
            batch, (), cursor={"id": round_}, expected_cursor=expected, move_cursor=True
        )
        results: list[Any] = []

        async def take_in(
            store: Store, commit: SourceCommit = commit, results: list[Any] = results
        ) -> None:
            results.append(await store.commit_source("db.rows", commit))

        async with anyio.create_task_group() as group:
            for store in stores * 2:
                group.start_soon(take_in, store)
        assert sum(result is not None for result in results) == 1, results

    state = (await stores[0].source_states())["db.rows"]
    assert (state.cursor, state.events, state.duplicates) == ({"id": 4}, 5, 0)


async def test_a_source_poll_is_claimed_by_one_process(pg: Backend) -> None:
    stores = [pg.reopen(), pg.reopen()]
    answers: list[bool] = []

    async def claim(store: Store) -> None:
        answers.append(await store.claim_source_poll("drop.files", 100.0, 160.0))

    async with anyio.create_task_group() as group:
        for store in stores * 3:
            group.start_soon(claim, store)
    assert sorted(answers) == [False] * 5 + [True]

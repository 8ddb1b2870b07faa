"""Schedules: cron triggers validated at load, fired durably from the store, once per fire time.

Time is passed explicitly (`now` as unix seconds, or a VirtualClock for workers): nothing sleeps.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace, compile_workspace
from runtime.engine import VirtualClock
from runtime.engine.plans import PlanProvider
from runtime.engine.schedules import fire_due, schedule_event, schedule_table
from runtime.engine.worker import Worker
from runtime.store import PENDING, SUCCEEDED, SqliteStore
from runtime.store.base import RunRecord, ScheduleState
from tests.conftest import WriteWorkspace, write_files


def nightly(
    cron: str = "0 * * * *", *, extra: str = "", key: str = "", name: str = "nightly"
) -> dict[str, str]:
    return {
        f"flows/{name}.yaml": f'flow: {name}\non: {{ schedule: "{cron}"{extra} }}\n{key}steps:\n'
        "  - id: sweep\n    call: wms.release\n"
        '  - id: seen\n    set: { when: "${ data.scheduled_for }", missed: "${ data.missed }" }\n'
    }


def at(text: str) -> float:
    """`"10:20"` or `"10:20:05"` on 2025-03-03 (UTC), or a full ISO time, as unix seconds."""
    if "T" not in text:
        text = f"2025-03-03T{text}{':00' if text.count(':') == 1 else ''}Z"
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def clock_at(text: str) -> VirtualClock:
    return VirtualClock(datetime.fromtimestamp(at(text), tz=UTC))


def run_ids() -> Callable[[], str]:
    counter: Iterator[int] = iter(range(1, 10_000))
    return lambda: f"run{next(counter):04d}"


# -- validation at load ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (
            '{ schedule: "61 * * * *" }',
            "flows/nightly.yaml:2:17: on.schedule: '61 * * * *' is not a valid cron expression "
            "(hint: five fields: minute hour day-of-month month day-of-week, e.g. 0 2 * * 1-5) "
            "[schedule.invalid]",
        ),
        (
            '{ schedule: "0 2 * * MON-XYZ" }',
            "flows/nightly.yaml:2:17: on.schedule: '0 2 * * MON-XYZ' is not a valid cron "
            "expression (hint: five fields: minute hour day-of-month month day-of-week, e.g. "
            "0 2 * * 1-5) [schedule.invalid]",
        ),
        (
            '{ schedule: "0 2 * * *", timezone: Mars/Olympus }',
            "flows/nightly.yaml:2:40: on.timezone: unknown time zone 'Mars/Olympus' (hint: use an "
            "IANA name such as Europe/London or UTC) [schedule.invalid]",
        ),
        (
            '{ schedule: "0 2 * * *", timezone: "../etc" }',
            "flows/nightly.yaml:2:40: on.timezone: unknown time zone '../etc' (hint: use an "
            "IANA name such as Europe/London or UTC) [schedule.invalid]",
        ),
        (
            '{ schedule: "0 2 * *" }',
            "flows/nightly.yaml:2:17: on.schedule: '0 2 * *' is not a five-field cron expression "
            "such as 0 2 * * * [spec.string_pattern_mismatch]",
        ),
        (
            '{ schedule: "@daily" }',
            "flows/nightly.yaml:2:17: on.schedule: '@daily' is not a five-field cron expression "
            "such as 0 2 * * * [spec.string_pattern_mismatch]",
        ),
        (
            '{ schedule: "0 2 * * *", misfire: later }',
            "flows/nightly.yaml:2:39: on.misfire: 'later' is not allowed; expected 'run_once' or "
            "'skip' [spec.literal_error]",
        ),
    ],
    ids=["minute", "weekday", "timezone", "timezone-path", "four-fields", "macro", "misfire"],
)
def test_a_schedule_that_cannot_fire_is_a_load_error(
    workspace: WriteWorkspace, on: str, expected: str
) -> None:
    text = f"flow: nightly\non: {on}\nsteps:\n  - id: sweep\n    call: wms.release\n"
    report = check_workspace(workspace({"flows/nightly.yaml": text}))
    assert [str(d) for d in report.diagnostics] == [expected]


def test_a_valid_schedule_is_compiled_with_its_policy(workspace: WriteWorkspace) -> None:
    plan = compile_workspace(
        workspace(nightly("0 2 * * 1-5", extra=", timezone: Europe/London, misfire: skip"))
    )
    flow = plan.flows["nightly"]
    assert (flow.schedule, flow.timezone, flow.misfire, flow.event_type) == (
        "0 2 * * 1-5",
        "Europe/London",
        "skip",
        None,
    )
    defaults = compile_workspace(workspace(nightly())).flows["nightly"]
    assert (defaults.timezone, defaults.misfire) == ("UTC", "run_once")


@pytest.mark.anyio
async def test_a_schedule_that_never_fires_does_not_stop_the_worker(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    report = check_workspace(workspace(nightly("0 2 30 2 *")))
    if report.plan is None:  # refused at load: fine
        assert [d.code for d in report.diagnostics] == ["schedule.invalid"]
        return
    store = SqliteStore(tmp_path / "s.db")
    try:
        assert await fire_due(store, report.plan, at("10:20"), run_ids()) == 0
    finally:
        await store.aclose()


# -- firing ----------------------------------------------------------------------------------
@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Env:
    """A workspace, its store file, and fire_due with explicit times."""

    def __init__(self, root: Path, db: Path) -> None:
        self.root, self.db = root, db
        self.ids = run_ids()
        self.store = SqliteStore(db)
        self.plan = compile_workspace(root)

    async def fire(self, now: str) -> int:
        return await fire_due(self.store, self.plan, at(now), self.ids)

    async def table(self, now: str = "00:00") -> list[dict[str, Any]]:
        return await schedule_table(self.store, self.plan, at(now))

    async def state(self, flow: str = "nightly") -> ScheduleState:
        return (await self.store.schedules())[flow]

    async def runs(self) -> list[RunRecord]:
        return sorted(await self.store.runs(), key=lambda r: r.id)

    async def event_of(self, run: RunRecord) -> dict[str, Any]:
        stored = await self.store.event(run.event_seq)
        assert stored is not None
        return stored.body

    def recompile(self, files: dict[str, Any]) -> None:
        write_files(self.root, files)
        self.plan = compile_workspace(self.root)

    async def reopen(self) -> None:
        await self.store.aclose()
        self.store = SqliteStore(self.db)
        self.plan = compile_workspace(self.root)


@pytest.fixture
async def env(workspace: WriteWorkspace, tmp_path: Path) -> Any:
    made: list[Env] = []

    def make(files: dict[str, Any] | None = None) -> Env:
        made.append(Env(workspace(files or nightly()), tmp_path / "state" / "s.db"))
        return made[-1]

    yield make
    for e in made:
        await e.store.aclose()


def row(next_fire: str, last_fire: str | None = None, **kw: str) -> dict[str, Any]:
    return {
        "flow": "nightly",
        "schedule": "0 * * * *",
        "timezone": "UTC",
        "misfire": "run_once",
        "next_fire": next_fire,
        "last_fire": last_fire,
        **kw,
    }


@pytest.mark.anyio
async def test_the_first_call_only_records_the_next_fire(env: Callable[..., Env]) -> None:
    e = env()
    # before anything is stored, the table computes the next fire from `now`
    assert await e.table("09:59") == [row("2025-03-03T10:00:00Z")]
    assert await e.fire("10:20") == 0
    assert await e.runs() == []
    assert await e.table("10:20") == [row("2025-03-03T11:00:00Z")]
    assert await e.table("10:59:59") == [row("2025-03-03T11:00:00Z")]  # stored: not from `now`
    assert await e.fire("10:59:59") == 0
    assert await e.runs() == []


@pytest.mark.anyio
async def test_a_due_time_fires_exactly_once(env: Callable[..., Env]) -> None:
    e = env()
    await e.fire("10:20")
    assert await e.fire("11:00:05") == 1
    assert await e.fire("11:00:05") == 0  # the same moment again
    assert await e.fire("11:00:40") == 0
    [run] = await e.runs()
    assert (run.flow, run.status, run.key, run.variant) == (
        "nightly",
        PENDING,
        "2025-03-03T11:00:00Z",
        None,
    )
    assert run.flow_hash == e.plan.flows["nightly"].content_hash
    event = await e.event_of(run)
    assert event == {
        "specversion": "1.0",
        "id": "nightly@2025-03-03T11:00:00Z",
        "source": "/seamline/schedules/nightly",
        "type": "seamline.schedule",
        "subject": "nightly",
        "time": "2025-03-03T11:00:05Z",
        "datacontenttype": "application/json",
        "data": {
            "flow": "nightly",
            "scheduled_for": "2025-03-03T11:00:00Z",
            "fired_at": "2025-03-03T11:00:05Z",
            "missed": 0,
            "timezone": "UTC",
        },
    }
    assert await e.table() == [row("2025-03-03T12:00:00Z", "2025-03-03T11:00:00Z")]
    [created] = (await e.store.audit(run.id))[:1]
    assert created.to_status == PENDING
    assert created.detail == {"event": run.event_seq, "schedule": at("11:00")}
    assert await e.fire("12:00") == 1  # the next hour, on the dot
    assert [r.key for r in await e.runs()] == ["2025-03-03T11:00:00Z", "2025-03-03T12:00:00Z"]


@pytest.mark.anyio
async def test_a_declared_key_is_used_instead_of_the_fire_time(env: Callable[..., Env]) -> None:
    e = env(nightly(key="key: \"join('/', [data.flow, data.scheduled_for])\"\n"))
    await e.fire("10:20")
    await e.fire("11:00")
    [run] = await e.runs()
    assert run.key == "nightly/2025-03-03T11:00:00Z"


@pytest.mark.anyio
async def test_two_workers_on_one_store_file_fire_a_time_once(env: Callable[..., Env]) -> None:
    e = env()
    await e.fire("10:20")
    other = SqliteStore(e.db)
    try:
        workers = [
            Worker(store, PlanProvider(e.plan, store), clock=clock_at("11:00:01"), owner=f"h:{n}")
            for n, store in enumerate((e.store, other))
        ]
        for w in workers:
            await w.plans.publish(e.plan)
        async with anyio.create_task_group() as group:
            for w in workers:
                group.start_soon(w.step)
        for w in workers:
            await w.step()
            await w.run_until_idle()
        [run] = await e.runs()
        assert (run.status, run.key) == (SUCCEEDED, "2025-03-03T11:00:00Z")
        assert run.output == {"when": "2025-03-03T11:00:00Z", "missed": 0}
    finally:
        await other.aclose()


@pytest.mark.anyio
async def test_a_worker_that_read_a_stale_next_fire_cannot_fire_the_time_again(
    env: Callable[..., Env],
) -> None:
    e = env()
    await e.fire("10:20")
    stale = await e.store.schedules()  # both workers read the state before either fired
    other = SqliteStore(e.db)
    try:

        async def schedules_read_before() -> dict[str, ScheduleState]:
            return stale

        other.schedules = schedules_read_before  # type: ignore[method-assign]
        assert await e.fire("11:00:01") == 1
        assert await fire_due(other, e.plan, at("11:00:02"), e.ids) == 0
        assert len(await e.runs()) == 1
        assert await e.table() == [row("2025-03-03T12:00:00Z", "2025-03-03T11:00:00Z")]
    finally:
        await other.aclose()


@pytest.mark.anyio
async def test_run_once_fires_once_for_the_latest_missed_time(env: Callable[..., Env]) -> None:
    e = env()
    await e.fire("10:20")
    assert await e.fire("15:40") == 1  # nobody ran from 10:20 to 15:40: 11..15 were missed
    [run] = await e.runs()
    assert run.key == "2025-03-03T15:00:00Z"
    data = (await e.event_of(run))["data"]
    assert data == {
        "flow": "nightly",
        "scheduled_for": "2025-03-03T15:00:00Z",
        "fired_at": "2025-03-03T15:40:00Z",
        "missed": 4,  # 11:00, 12:00, 13:00, 14:00 never ran
        "timezone": "UTC",
    }
    assert await e.table() == [row("2025-03-03T16:00:00Z", "2025-03-03T15:00:00Z")]
    assert await e.fire("15:59") == 0
    assert await e.fire("16:00:10") == 1
    newest = (await e.runs())[-1]
    assert (await e.event_of(newest))["data"]["missed"] == 0


@pytest.mark.anyio
async def test_skip_fires_nothing_after_an_outage_but_fires_on_time(
    env: Callable[..., Env],
) -> None:
    e = env(nightly(extra=", misfire: skip"))
    await e.fire("10:20")
    assert await e.fire("15:40") == 0
    assert await e.runs() == []
    assert await e.table() == [row("2025-03-03T16:00:00Z", misfire="skip")]
    assert await e.fire("16:00") == 1  # on time
    assert await e.fire("17:00:59") == 1  # late, but within the 60 s grace
    assert await e.fire("18:01:01") == 0  # 61 s late: a misfire, skipped
    assert [r.key for r in await e.runs()] == ["2025-03-03T16:00:00Z", "2025-03-03T17:00:00Z"]
    assert await e.table() == [row("2025-03-03T19:00:00Z", "2025-03-03T17:00:00Z", misfire="skip")]


@pytest.mark.anyio
async def test_a_cron_change_resets_the_next_fire(env: Callable[..., Env]) -> None:
    e = env()
    await e.fire("10:20")
    e.recompile(nightly("30 * * * *"))
    assert await e.fire("11:10") == 0  # 11:00 was due under the old cron: not fired
    assert await e.table() == [row("2025-03-03T11:30:00Z", schedule="30 * * * *")]
    assert await e.fire("11:30") == 1
    e.recompile(nightly("30 * * * *", extra=", timezone: Asia/Kolkata"))  # UTC+5:30
    assert await e.fire("11:40") == 0
    assert (await e.state()).next_fire == at("12:00")  # :30 in Kolkata is :00 in UTC
    assert (await e.state()).last_fire == at("11:30")


@pytest.mark.anyio
async def test_the_cron_is_read_in_the_flows_time_zone(env: Callable[..., Env]) -> None:
    e = env(nightly("0 2 * * *", extra=", timezone: Europe/London"))
    await e.fire("2025-03-03T10:00:00Z")  # winter: London is UTC
    assert (await e.state()).next_fire == at("2025-03-04T02:00:00Z")
    e.recompile(nightly("0 3 * * *", extra=", timezone: Europe/London"))
    await e.fire("2025-07-01T10:00:00Z")  # summer: 03:00 in London is 02:00 UTC
    assert (await e.state()).next_fire == at("2025-07-02T02:00:00Z")
    assert await e.fire("2025-07-02T02:00:30Z") == 1
    [run] = await e.runs()
    data = (await e.event_of(run))["data"]
    assert (data["scheduled_for"], data["timezone"]) == ("2025-07-02T02:00:00Z", "Europe/London")


@pytest.mark.anyio
async def test_schedules_survive_a_restart(env: Callable[..., Env]) -> None:
    e = env()
    await e.fire("10:20")
    assert await e.fire("11:00:05") == 1
    await e.reopen()  # a new process: same store file, freshly compiled workspace
    plans = PlanProvider(e.plan, e.store)
    await plans.publish(e.plan)
    clock = clock_at("11:00:30")
    worker = Worker(e.store, plans, clock=clock, owner="h:2")
    await worker.run_until_idle()
    [run] = await e.runs()
    assert (run.status, run.key) == (SUCCEEDED, "2025-03-03T11:00:00Z")  # run, not fired again
    assert await e.table() == [row("2025-03-03T12:00:00Z", "2025-03-03T11:00:00Z")]

    await e.reopen()
    assert await e.fire("11:59:59") == 0
    assert await e.fire("12:00:01") == 1
    assert [r.key for r in await e.runs()] == ["2025-03-03T11:00:00Z", "2025-03-03T12:00:00Z"]


@pytest.mark.anyio
async def test_a_restart_after_an_outage_follows_the_misfire_policy(
    env: Callable[..., Env],
) -> None:
    e = env()
    await e.fire("10:20")
    await e.reopen()
    worker = Worker(e.store, PlanProvider(e.plan, e.store), clock=clock_at("13:30"), owner="h:3")
    await worker.run_until_idle()
    [run] = await e.runs()
    assert (run.status, run.key, run.output) == (
        SUCCEEDED,
        "2025-03-03T13:00:00Z",
        {"when": "2025-03-03T13:00:00Z", "missed": 2},
    )


@pytest.mark.anyio
async def test_a_worker_waits_for_the_next_fire_on_its_clock(env: Callable[..., Env]) -> None:
    e = env()
    plans = PlanProvider(e.plan, e.store)
    await plans.publish(e.plan)
    clock = clock_at("10:59:00")
    worker = Worker(e.store, plans, clock=clock, owner="h:4")
    await worker.run_until_idle(max_wait=120)  # records 11:00, sleeps to it, fires, runs
    [run] = await e.runs()
    assert (run.status, run.key) == (SUCCEEDED, "2025-03-03T11:00:00Z")
    assert 59 < sum(clock.slept) < 61


@pytest.mark.anyio
async def test_a_flow_that_is_no_longer_scheduled_does_not_keep_the_worker_awake(
    env: Callable[..., Env],
) -> None:
    # its row stays in the store, with a next fire that has passed: it is no timer any more
    e = env()
    await e.fire("10:20")
    (e.root / "flows/nightly.yaml").unlink()
    e.recompile(
        {
            "flows/other.yaml": "flow: other\non: { event: shop.order.placed }\nsteps:\n"
            "  - id: s\n    set: { a: 1 }\n"
        }
    )
    worker = Worker(e.store, PlanProvider(e.plan, e.store), clock=clock_at("11:05"), owner="h:5")
    with anyio.fail_after(0.5):
        await worker.run_until_idle()


@pytest.mark.anyio
async def test_a_scheduled_flow_can_have_variants(env: Callable[..., Env]) -> None:
    e = env(
        {
            **nightly(),
            "flows/variants/catch_up/nightly.yaml": "extends: nightly\nmatch: data.missed > `0`\n"
            "patch:\n  replace:\n    seen: { set: { catch_up: true } }\n",
        }
    )
    await e.fire("10:20")
    await e.fire("11:00")
    await e.fire("14:10")
    on_time, late = await e.runs()
    assert (on_time.variant, late.variant) == (None, "catch_up")
    assert late.flow_hash == e.plan.variants["nightly"][0].flow.content_hash


def test_schedule_event_for_a_fire(workspace: WriteWorkspace) -> None:
    plan: Plan = compile_workspace(workspace(nightly(extra=", timezone: Europe/Paris")))
    event = schedule_event(plan.flows["nightly"], at("11:00"), at("11:02"), 3)
    assert event["id"] == "nightly@2025-03-03T11:00:00Z"
    assert event["data"] == {
        "flow": "nightly",
        "scheduled_for": "2025-03-03T11:00:00Z",
        "fired_at": "2025-03-03T11:02:00Z",
        "missed": 3,
        "timezone": "Europe/Paris",
    }


# -- the command line --------------------------------------------------------------------------
def cli_run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_seamline_schedules_shows_next_and_last_fire(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    root = workspace(
        {
            **nightly(),
            **nightly("15 2 * * *", extra=", timezone: Europe/London, misfire: skip", name="zz"),
        }
    )
    db = tmp_path / "s.db"

    async def fired_at_11() -> None:
        e = Env(root, db)
        try:
            await e.fire("10:20")
            await e.fire("11:00")
        finally:
            await e.store.aclose()

    anyio.run(fired_at_11)
    base = ("schedules", "--workspace", str(root), "--store", str(db))
    code, out = cli_run(*base)
    assert code == 0
    assert out.splitlines() == [
        'nightly  "0 * * * *" UTC  misfire run_once  next 2025-03-03T12:00:00Z  '
        "last 2025-03-03T11:00:00Z",
        'zz  "15 2 * * *" Europe/London  misfire skip  next 2025-03-04T02:15:00Z  last —',
    ]
    code, out = cli_run(*base, "--json")
    assert code == 0
    assert json.loads(out) == [
        row("2025-03-03T12:00:00Z", "2025-03-03T11:00:00Z"),
        {
            "flow": "zz",
            "schedule": "15 2 * * *",
            "timezone": "Europe/London",
            "misfire": "skip",
            "next_fire": "2025-03-04T02:15:00Z",
            "last_fire": None,
        },
    ]


def test_seamline_schedules_without_scheduled_flows(
    workspace: WriteWorkspace, tmp_path: Path
) -> None:
    root = workspace({})
    base = ("schedules", "--workspace", str(root), "--store", str(tmp_path / "s.db"))
    assert cli_run(*base) == (0, "no scheduled flows\n")
    assert cli_run(*base, "--json") == (0, "[]\n")


def test_seamline_run_fires_a_scheduled_flow_without_an_event(workspace: WriteWorkspace) -> None:
    root = workspace(nightly())
    code, out = cli_run("run", "nightly", "--workspace", str(root), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["status"] == "succeeded"
    when = result["output"]["when"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", when)
    assert result["output"] == {"when": when, "missed": 0}
    code, out = cli_run("run", "nightly", "--workspace", str(root))
    assert code == 0
    assert out.splitlines()[0].startswith("nightly v0.1.0  run ")
    assert "succeeded" in out


def test_seamline_run_keys_a_scheduled_run_by_its_fire_time(workspace: WriteWorkspace) -> None:
    root = workspace(nightly())
    code, out = cli_run("run", "nightly", "--workspace", str(root), "--json")
    assert code == 0, out
    result = json.loads(out)
    assert result["key"] == result["output"]["when"]


def test_seamline_run_of_an_event_flow_still_needs_an_event(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "flows/orders.yaml": "flow: orders\non: { event: shop.order.placed }\nsteps:\n"
            "  - id: s\n    set: { a: 1 }\n"
        }
    )
    code, out = cli_run("run", "orders", "--workspace", str(root))
    assert code == 2
    assert "Error: orders is triggered by shop.order.placed: give --event FILE" in out

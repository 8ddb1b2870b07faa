"""Hot reload: compile whole, swap atomically, reject a broken change and keep serving the old plan."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from watchfiles import Change

from runtime.cli.main import cli
from runtime.compiler.plan import Plan
from tests.server.conftest import (
    BOOK,
    FILES,
    MakeClient,
    compile_plan,
    order,
    state_of,
    wait_for_runs,
)

BROKEN = BOOK.replace("call: wms.reserve", "call: wms.reservx")


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    return compile_plan(tmp_path / "ws", FILES)


def _write(plan: Plan, rel: str, text: str) -> None:
    (Path(plan.root) / rel).write_text(text, encoding="utf-8")


def test_a_clean_change_is_swapped_in_and_recorded(make_client: MakeClient, plan: Plan) -> None:
    client = make_client(plan)
    state = state_of(client)
    _write(plan, "flows/book.yaml", BOOK.replace("marker: v1", "marker: v2"))
    record = client.post("/api/reload").json()
    assert record["ok"] is True and record["flows_changed"] == ["book"]
    assert record["old_hash"] == plan.workspace_hash != record["new_hash"]
    assert state.plan is not plan and state.plan.workspace_hash == record["new_hash"]
    client.post("/events", json=order("O1"))
    assert wait_for_runs(client, 1)[0]["output"]["marker"] == "v2"
    versions = client.get("/api/flows/book").json()["versions"]
    assert [v["current"] for v in versions] == [False, True]


def test_a_broken_change_is_rejected_and_the_old_plan_keeps_serving(
    make_client: MakeClient, plan: Plan, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(plan)
    state = state_of(client)
    _write(plan, "flows/book.yaml", BROKEN)
    with caplog.at_level(logging.INFO, logger="seamline.reload"):
        answer = client.post("/api/reload")
    assert answer.status_code == 422
    record = answer.json()
    assert record["ok"] is False and record["new_hash"] is None
    text = "flows/book.yaml:7:11: steps[0].call: connector `wms` has no operation `reservx` (hint: did you mean `reserve`?) [ref.unknown_operation]"
    assert [e["text"] for e in record["errors"]] == [text]
    assert (
        record["errors"][0]["file"],
        record["errors"][0]["line"],
        record["errors"][0]["col"],
    ) == ("flows/book.yaml", 7, 11)
    assert state.plan is plan
    assert any(text in r.getMessage() for r in caplog.records)
    status = client.get("/api/status").json()
    assert (
        status["errors"][0]["text"] == text and status["workspace"]["hash"] == plan.workspace_hash
    )
    client.post("/events", json=order("O1"))
    assert wait_for_runs(client, 1)[0]["output"]["marker"] == "v1"  # still the old behaviour

    _write(plan, "flows/book.yaml", BOOK.replace("marker: v1", "marker: v3"))
    assert client.post("/api/reload").json()["ok"] is True
    assert client.get("/api/status").json()["errors"] == []
    assert state_of(client).metrics.reloads.value("rejected") == 1


def test_settings_whose_secrets_do_not_resolve_are_rejected(
    make_client: MakeClient, plan: Plan
) -> None:
    client = make_client(plan)
    _write(plan, "seamline.yaml", "hooks:\n  crm: { secret: env:SEAMLINE_TEST_UNSET_SECRET }\n")
    record = client.post("/api/reload").json()
    assert record["ok"] is False
    assert record["errors"][0]["code"] == "server.settings"
    assert "env:SEAMLINE_TEST_UNSET_SECRET is not set" in record["errors"][0]["message"]
    assert state_of(client).plan is plan


def test_a_reload_that_fails_keeps_the_server_up(make_client: MakeClient, plan: Plan) -> None:
    client = make_client(plan)
    state = state_of(client)

    async def broken(new: Plan) -> None:
        raise OSError("disk full")

    state.plans.publish = broken  # type: ignore[method-assign]
    _write(plan, "flows/book.yaml", BOOK.replace("marker: v1", "marker: v2"))
    answer = client.post("/api/reload")
    assert answer.status_code == 422
    [error] = answer.json()["errors"]
    assert error["code"] == "server.reload_failed" and "OSError: disk full" in error["message"]
    assert state.plan is plan and client.get("/readyz").status_code == 200


def test_watch_reloads_within_a_second_and_status_shows_errors(
    make_client: MakeClient, plan: Plan, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = make_client(plan, watch=True, debounce=0.05)
    state = state_of(client)
    time.sleep(0.2)  # let the watchers start
    written = time.monotonic()
    _write(plan, "flows/book.yaml", BOOK.replace("marker: v1", "marker: v2"))
    while state.plan is plan:
        assert time.monotonic() - written < 3, "the change was not picked up"
        time.sleep(0.01)
    assert time.monotonic() - written < 1.0
    good = state.plan
    assert state.reloads.last is not None and state.reloads.last.files == ["flows/book.yaml"]

    _write(plan, "flows/book.yaml", BROKEN)
    while not state.reloads.errors:
        assert time.monotonic() - written < 5, "the broken change was not reported"
        time.sleep(0.01)
    assert state.plan is good

    monkeypatch.setattr(
        httpx,
        "get",
        lambda url, timeout=None, **kw: client.get(url.replace("http://server", ""), **kw),
    )
    result = CliRunner().invoke(cli, ["status", "--url", "http://server"])
    assert result.exit_code == 1, result.output
    assert "rejected" in result.output
    assert (
        "flows/book.yaml:7:11: steps[0].call: connector `wms` has no operation `reservx`"
        in result.output
    )
    assert f"still serving {good.workspace_hash[:12]}" in result.output

    _write(plan, "flows/book.yaml", BOOK)
    while state.reloads.errors:
        assert time.monotonic() - written < 8, "the fix was not picked up"
        time.sleep(0.01)
    result = CliRunner().invoke(cli, ["status", "--url", "http://server"])
    assert result.exit_code == 0 and "watch ok" in result.output


def test_a_new_folder_is_watched_too(make_client: MakeClient, plan: Plan) -> None:
    client = make_client(plan, watch=True, debounce=0.05)
    state = state_of(client)
    time.sleep(0.2)
    (Path(plan.root) / "flows" / "lookups").mkdir(exist_ok=True)
    folder = Path(plan.root) / "flows" / "templates"
    folder.mkdir()
    time.sleep(0.3)
    (folder / "note.txt.j2").write_text("{{ data.order_id }}", encoding="utf-8")
    deadline = time.monotonic() + 3
    while not any("flows/templates/note.txt.j2" in r.files for r in state.reloads.records):
        assert time.monotonic() < deadline, [r.files for r in state.reloads.records]
        time.sleep(0.02)


def test_the_watch_filter(plan: Plan, make_client: MakeClient) -> None:
    reloader = state_of(make_client(plan, concurrency=0)).reloader
    root = Path(plan.root)
    relevant = {
        "flows/book.yaml": True,
        "flows/templates/x.json.j2": True,
        "flows/lookups/rates.csv": True,
        "contracts/a.b/v1.schema.json": True,
        "connectors/wms.yaml": True,
        "seamline.yaml": True,
        "flows/.book.yaml.swp": False,
        "flows/book.yaml~": False,
        "flows/notes.txt": False,
        ".seamline/seamline.db-wal": False,
        "tests/x.yaml": False,
    }
    for rel, expected in relevant.items():
        assert reloader._relevant(Change.modified, str(root / rel)) is expected, rel
    assert reloader._relevant(Change.added, str(root / "flows")) is True
    assert reloader._relevant(Change.modified, "/elsewhere/flows/x.yaml") is False

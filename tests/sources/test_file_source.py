"""The file-drop source against real files: rows become events, bad rows are kept with file and
line, files are archived once taken in, and a file is never taken in twice."""

from __future__ import annotations

import os
import time
from pathlib import Path

import anyio
import pytest

from runtime.compiler.workspace import check_workspace
from runtime.engine.sources import plan_sources, poll_source
from runtime.store import SqliteStore
from tests.sources._workspace import DROP_CONNECTOR, Runtime, inbox, source_workspace

REF = "drop.hours"
GOOD = "employee,day,hours\nE1,2026-11-20,7.5\nE2,2026-11-20,8\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return source_workspace(tmp_path / "ws")


def drop(ws: Path, name: str, text: str, *, age: float = 10.0) -> Path:
    path = ws / "inbox" / name
    path.write_text(text, encoding="utf-8")
    past = time.time() - age
    os.utime(path, (past, past))
    return path


def test_rows_become_events_and_the_file_is_archived(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    drop(ws, "hours-2026-11-20.csv", GOOD)
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert (result.reads, result.events, result.rejects, result.error) == (1, 2, 0, None)
    events = inbox(store)
    assert [e["data"] for e in events] == [
        {"employee": "E1", "day": "2026-11-20", "hours": 7.5, "file": "hours-2026-11-20.csv:2"},
        {"employee": "E2", "day": "2026-11-20", "hours": 8, "file": "hours-2026-11-20.csv:3"},
    ]
    assert events[0]["source"] == "/seamline/sources/drop.hours"
    assert events[0]["id"].startswith("hours-2026-11-20.csv@") and events[0]["id"].endswith(":2")
    assert not (ws / "inbox" / "hours-2026-11-20.csv").exists()
    assert (ws / "inbox" / "done" / "hours-2026-11-20.csv").read_text() == GOOD
    assert rt.work()["runs.succeeded"] == 2
    state = rt.store_call("source_states")[REF]
    assert (state.items, state.events, state.rejects) == (1, 2, 0)


def test_bad_rows_are_kept_with_file_and_line(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    drop(
        ws,
        "hours-bad.csv",
        "employee,day,hours\n"
        "E1,2026-11-20,7.5\n"
        "E2,2026-11-20,lots\n"  # not a number
        "E3,2026-11-20\n"  # a field short
        "X9,2026-11-20,4\n"  # the contract wants E<digits>
        ",2026-11-20,4\n"  # required column empty
        "E5,2026-11-21,6\n",
    )
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert (result.events, result.rejects) == (2, 4)
    rejects = sorted(rt.store_call("source_rejects", REF), key=lambda r: r.seq)
    assert [(r.location, r.item.split("@")[0]) for r in rejects] == [
        ("hours-bad.csv:3", "hours-bad.csv"),
        ("hours-bad.csv:4", "hours-bad.csv"),
        ("hours-bad.csv:6", "hours-bad.csv"),
        ("hours-bad.csv:5", "hours-bad.csv"),
    ]
    by_line = {r.location: r for r in rejects}
    assert by_line["hours-bad.csv:3"].message == "column hours: 'lots' is not a number"
    assert by_line["hours-bad.csv:3"].raw == "E2,2026-11-20,lots"
    assert by_line["hours-bad.csv:4"].message == "expected 3 fields, got 2"
    assert by_line["hours-bad.csv:6"].message == "column employee is empty"
    assert by_line["hours-bad.csv:5"].message.startswith("contract.violation:")
    assert by_line["hours-bad.csv:5"].raw == {"employee": "X9", "day": "2026-11-20", "hours": 4}
    assert [e["data"]["employee"] for e in inbox(store)] == ["E1", "E5"]
    assert (ws / "inbox" / "done" / "hours-bad.csv").exists()


def test_the_same_file_dropped_again_is_taken_in_once(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    rt = Runtime(ws, store)
    drop(ws, "hours-a.csv", GOOD)
    assert rt.poll(REF).events == 2
    drop(ws, "hours-a.csv", GOOD)  # the same bytes again (a re-sent file)
    again = rt.poll(REF)
    assert (again.reads, again.events) == (0, 0)
    assert len(inbox(store)) == 2
    assert sorted(p.name for p in (ws / "inbox" / "done").iterdir()) == [
        "hours-a-1.csv",
        "hours-a.csv",
    ]
    drop(ws, "hours-a.csv", GOOD + "E3,2026-11-21,3\n")  # same name, new content: a new file
    assert rt.poll(REF).events == 3
    assert len(inbox(store)) == 5


def test_a_crash_after_the_commit_archives_without_taking_in_again(
    ws: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = tmp_path / "store.db"
    path = drop(ws, "hours-c.csv", GOOD)
    rt = Runtime(ws, store)
    source = plan_sources(rt.plan)[REF]

    async def crash(read: object) -> None:
        raise OSError("power cut before the archive move")

    monkeypatch.setattr(source, "taken_in", crash)
    result = rt.poll(REF)
    assert result.events == 2 and result.error is not None
    assert path.exists()  # committed, not archived
    monkeypatch.undo()
    after = rt.poll(REF)
    assert (after.reads, after.events) == (0, 0)
    assert not path.exists() and (ws / "inbox" / "done" / "hours-c.csv").exists()
    assert len(inbox(store)) == 2


def test_files_still_being_written_and_temporary_files_wait(tmp_path: Path) -> None:
    ws = source_workspace(tmp_path / "ws", settle="5s")
    store = tmp_path / "store.db"
    drop(ws, "hours-fresh.csv", GOOD, age=0)
    drop(ws, ".hours-hidden.csv", GOOD)
    drop(ws, "hours-upload.csv.part", GOOD)
    drop(ws, "other.csv", GOOD)
    rt = Runtime(ws, store)
    assert rt.poll(REF).reads == 0
    drop(ws, "hours-fresh.csv", GOOD, age=6)
    assert rt.poll(REF).events == 2
    assert sorted(p.name for p in (ws / "inbox").iterdir() if p.is_file()) == [
        ".hours-hidden.csv",
        "hours-upload.csv.part",
        "other.csv",
    ]


def test_oldest_files_first_and_at_most_max_files(tmp_path: Path) -> None:
    ws = source_workspace(tmp_path / "ws")
    (ws / "connectors" / "drop.yaml").write_text(
        (ws / "connectors" / "drop.yaml").read_text().replace("settle: 0s", "settle: 0s\n    max_files: 2", 1)
    )
    store = tmp_path / "store.db"
    for n, age in ((1, 30), (2, 10), (3, 20)):
        drop(ws, f"hours-{n}.csv", f"employee,day,hours\nE{n},2026-11-20,1\n", age=age)
    rt = Runtime(ws, store)
    assert rt.poll(REF).reads == 2
    assert [e["data"]["employee"] for e in inbox(store)] == ["E1", "E3"]
    assert rt.poll(REF).reads == 1


def test_jsonl_and_unreadable_files(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    drop(ws, "a.jsonl", '{"employee": "E1", "day": "2026-11-20", "hours": 2}\n{oops\n')
    (ws / "inbox" / "b.jsonl").write_bytes(b'{"employee": "E2"}\n\xff\xfe\n')
    past = time.time() - 10
    os.utime(ws / "inbox" / "b.jsonl", (past, past))
    rt = Runtime(ws, store)
    result = rt.poll("drop.hours_jsonl")
    assert (result.reads, result.events) == (2, 1)
    messages = {r.location: r.message for r in rt.store_call("source_rejects", "drop.hours_jsonl")}
    assert messages["a.jsonl:2"].startswith("not JSON")
    assert messages["b.jsonl:2"].startswith("not UTF-8")
    assert not any((ws / "inbox").glob("*.jsonl"))


def test_a_missing_drop_directory_is_an_error_on_the_source(ws: Path, tmp_path: Path) -> None:
    (ws / "inbox").rmdir()
    rt = Runtime(ws, tmp_path / "store.db")
    result = rt.poll(REF)
    assert result.error is not None and "drop directory does not exist" in result.error
    assert rt.store_call("source_states")[REF].last_error == result.error


def test_two_pollers_take_a_file_in_once(ws: Path, tmp_path: Path) -> None:
    store_path = tmp_path / "store.db"
    for n in range(6):
        drop(ws, f"hours-{n}.csv", f"employee,day,hours\nE{n},2026-11-20,1\nE{n},2026-11-21,2\n")
    rt = Runtime(ws, store_path)
    source = plan_sources(rt.plan)[REF]

    async def main() -> int:
        store = SqliteStore(store_path)
        try:
            results: list[int] = []

            async def one() -> None:
                results.append((await poll_source(store, rt.plan, source)).events)

            async with anyio.create_task_group() as group:
                for _ in range(3):
                    group.start_soon(one)
            return sum(results)
        finally:
            await store.aclose()

    assert anyio.run(main) == 12
    assert len(inbox(store_path)) == 12
    assert len(list((ws / "inbox" / "done").iterdir())) == 6


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            'pattern: "hours-*.csv"',
            'pattern: "sub/hours-*.csv"',
            "connectors/drop.yaml:8:14: sources.hours.pattern: a file name pattern, not a path "
            "(hint: put the folder in the connector's `directory`) [connector.bad_path]",
        ),
        (
            'pattern: "hours-*.csv"',
            'pattern: "hours-*"',
            "connectors/drop.yaml:8:14: sources.hours.pattern: cannot tell the format of "
            "'hours-*' from its extension (hint: add `format: csv`, `jsonl` or `json`) "
            "[connector.file_format]",
        ),
        (
            "emit: hr.hours.logged\n        every: 10s",
            "emit: hr.hours.log\n        every: 10s",
            "connectors/drop.yaml:6:11: sources.hours.emit: no contract for event type "
            "`hr.hours.log` (hint: did you mean `hr.hours.logged`?) [connector.unknown_event_type]",
        ),
        (
            'file: "{{ file.name }}:{{ file.line }}"',
            'file: "{{ input.name }}"',
            "connectors/drop.yaml:17:14: sources.hours.data.file: unknown name `input` (hint: "
            "available here: file, row) [expr.unknown_name]",
        ),
    ],
)
def test_load_errors(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in DROP_CONNECTOR
    ws = source_workspace(tmp_path / "ws")
    text = DROP_CONNECTOR.replace(old, new).replace("{settle}", "0s")
    import textwrap

    (ws / "connectors" / "drop.yaml").write_text(textwrap.dedent(text).lstrip("\n"))
    assert [str(d) for d in check_workspace(ws).diagnostics] == [expected]

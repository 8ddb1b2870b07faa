"""The SQL watermark source against a real SQLite database: rows changed since the last one taken
in become events, exactly once, across restarts, batch boundaries and bad rows."""

from __future__ import annotations

import sqlite3
import textwrap
from pathlib import Path

import anyio
import pytest

from runtime.compiler.workspace import check_workspace
from runtime.engine.sources import plan_sources, poll_source
from runtime.store import SqliteStore
from tests.sources._workspace import (
    LEDGER_CONNECTOR,
    Runtime,
    inbox,
    set_invoice,
    source_workspace,
)

REF = "ledger.invoice_changes"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return source_workspace(tmp_path / "ws")


def events_of(store: Path) -> list[tuple[int, str, str]]:
    return [
        (e["data"]["invoice_no"], e["data"]["status"], e["data"]["updated_at"])
        for e in inbox(store, "ledger.invoice.changed")
    ]


def test_rows_become_events_and_runs_once(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    set_invoice(ws, 1, "D", 1200, "2026-11-21 09:00:00")
    set_invoice(ws, 2, "P", 500, "2026-11-21 09:00:00")
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert (result.reads, result.events, result.rejects, result.error) == (1, 2, 0, None)
    first = inbox(store)[0]
    assert first["source"] == "/seamline/sources/ledger.invoice_changes"
    assert first["type"] == "ledger.invoice.changed"
    assert first["subject"] == "1"
    assert first["dataschema"] == "urn:seamline:contract:ledger.invoice.changed:v1"
    assert first["data"] == {
        "invoice_no": 1,
        "status": "draft",
        "gross_p": 1200,
        "updated_at": "2026-11-21 09:00:00",
    }
    # nothing changed: nothing new; then one update and one new invoice
    assert rt.poll(REF).events == 0
    set_invoice(ws, 1, "P", 1200, "2026-11-21 09:05:00")
    set_invoice(ws, 3, "D", 90, "2026-11-21 09:06:00")
    assert rt.poll(REF).events == 2
    assert events_of(store) == [
        (1, "draft", "2026-11-21 09:00:00"),
        (2, "posted", "2026-11-21 09:00:00"),
        (1, "posted", "2026-11-21 09:05:00"),
        (3, "draft", "2026-11-21 09:06:00"),
    ]
    counts = rt.work()
    assert counts["runs.succeeded"] == 4
    state = rt.store_call("source_states")[REF]
    assert state.cursor == {"LAST_UPD_TS": "2026-11-21 09:06:00", "INV_NO": 3}
    assert (state.events, state.duplicates, state.rejects, state.last_error) == (4, 0, 0, None)


def test_the_watermark_survives_a_restart(ws: Path, tmp_path: Path) -> None:
    """A new process (new plan, new store connection) carries on after the last row taken in."""
    store = tmp_path / "store.db"
    for n in range(1, 6):
        set_invoice(ws, n, "D", n * 100, f"2026-11-21 10:00:0{n}")
    assert Runtime(ws, store).poll(REF).events == 5
    set_invoice(ws, 6, "D", 600, "2026-11-21 10:00:06")
    restarted = Runtime(ws, store)
    assert restarted.poll(REF).events == 1
    assert [n for n, _, _ in events_of(store)] == [1, 2, 3, 4, 5, 6]


def test_batches_split_rows_of_one_timestamp_without_losing_any(tmp_path: Path) -> None:
    """1,234 rows share three timestamps; batches of 100, three batches per poll: every row once."""
    ws = source_workspace(tmp_path / "ws", batch=100, max_batches=3)
    store = tmp_path / "store.db"
    with sqlite3.connect(ws / "ledger.db") as db:
        db.executemany(
            "INSERT INTO INV VALUES (?,?,?,?)",
            [(n, "P", n, f"2026-11-21 11:00:0{n % 3}") for n in range(1, 1235)],
        )
    rt = Runtime(ws, store)
    polls = []
    while (result := rt.poll(REF)).reads:
        polls.append(result.events)
    assert polls == [300, 300, 300, 300, 34]
    taken = [n for n, _, _ in events_of(store)]
    assert sorted(taken) == list(range(1, 1235))
    assert len(taken) == len(set(taken))


def test_a_row_that_is_not_a_valid_event_is_kept_as_a_reject(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    set_invoice(ws, 1, "P", 100, "2026-11-21 12:00:00")
    set_invoice(ws, 2, "Q", 100, "2026-11-21 12:00:01")  # no such status code
    set_invoice(ws, 3, "P", -5, "2026-11-21 12:00:02")  # negative amount: contract says no
    set_invoice(ws, 4, "F", 100, "2026-11-21 12:00:03")
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert (result.events, result.rejects) == (2, 2)
    rejects = sorted(rt.store_call("source_rejects", REF), key=lambda r: r.seq)
    assert [r.location for r in rejects] == [
        "row LAST_UPD_TS=2026-11-21 12:00:01, INV_NO=2",
        "row LAST_UPD_TS=2026-11-21 12:00:02, INV_NO=3",
    ]
    assert "lookup table 'inv_status' has no key 'Q'" in rejects[0].message
    assert rejects[1].message.startswith("contract.violation:")
    assert "gross_p" in rejects[1].message
    assert rejects[1].raw == {
        "INV_NO": 3,
        "STATUS_CD": "P",
        "GROSS_P": -5,
        "LAST_UPD_TS": "2026-11-21 12:00:02",
    }
    # the watermark moved past them: the stream is not blocked by one bad row
    assert rt.store_call("source_states")[REF].cursor["INV_NO"] == 4


def test_a_query_that_does_not_follow_the_watermark_takes_nothing_in(tmp_path: Path) -> None:
    descending = LEDGER_CONNECTOR.replace(
        "ORDER BY LAST_UPD_TS, INV_NO LIMIT", "ORDER BY LAST_UPD_TS DESC, INV_NO LIMIT"
    )
    ws = source_workspace(tmp_path / "ws", ledger=descending)
    store = tmp_path / "store.db"
    set_invoice(ws, 1, "P", 100, "2026-11-21 12:00:00")
    set_invoice(ws, 2, "P", 100, "2026-11-21 12:00:01")
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert result.events == 0
    assert result.error is not None and "ORDER BY LAST_UPD_TS, INV_NO" in result.error
    state = rt.store_call("source_states")[REF]
    assert state.cursor is None and state.last_error == result.error
    assert inbox(store) == []


def test_a_database_that_cannot_be_read_is_an_error_on_the_source(ws: Path, tmp_path: Path) -> None:
    (ws / "ledger.db").unlink()
    (ws / "ledger.db").mkdir()  # not a database file
    result = Runtime(ws, tmp_path / "store.db").poll(REF)
    assert result.error is not None and result.events == 0


def test_two_pollers_never_take_a_batch_in_twice(ws: Path, tmp_path: Path) -> None:
    """Two pollers read the same rows at once; the watermark's compare-and-set lets one commit."""
    store_path = tmp_path / "store.db"
    for n in range(1, 41):
        set_invoice(ws, n, "P", n, f"2026-11-21 13:00:{n:02d}")
    rt = Runtime(ws, store_path)
    source = plan_sources(rt.plan)[REF]

    async def main() -> list[int]:
        store = SqliteStore(store_path)
        try:
            results: list[int] = []

            async def one() -> None:
                results.append((await poll_source(store, rt.plan, source)).events)

            async with anyio.create_task_group() as group:
                for _ in range(4):
                    group.start_soon(one)
            return results
        finally:
            await store.aclose()

    assert sorted(anyio.run(main)) == [0, 0, 0, 40]
    assert len(inbox(store_path)) == 40


def test_claiming_a_poll_keeps_the_interval_across_restarts(ws: Path, tmp_path: Path) -> None:
    rt = Runtime(ws, tmp_path / "store.db")
    assert rt.store_call("claim_source_poll", REF, 1000.0, 1030.0) is True
    assert rt.store_call("claim_source_poll", REF, 1010.0, 1040.0) is False  # not due
    assert rt.store_call("claim_source_poll", REF, 1030.0, 1060.0) is True
    state = rt.store_call("source_states")[REF]
    assert (state.next_poll, state.last_poll, state.polls) == (1060.0, 1030.0, 2)


def test_reset_rewinds_the_watermark(ws: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.db"
    set_invoice(ws, 1, "P", 1, "2026-11-21 14:00:00")
    set_invoice(ws, 2, "P", 2, "2026-11-21 14:00:01")
    rt = Runtime(ws, store)
    assert rt.poll(REF).events == 2
    rt.store_call("reset_source", REF, {"LAST_UPD_TS": "2026-11-21 14:00:00", "INV_NO": 1})
    result = rt.poll(REF)
    # invoice 2 is read again, and recognised: same source and id, so it starts nothing new
    assert (result.events, result.duplicates) == (0, 1)


# -- load errors ---------------------------------------------------------------------------------
BAD_SOURCES = [
    (
        "ORDER BY LAST_UPD_TS, INV_NO LIMIT :limit",
        "ORDER BY LAST_UPD_TS, INV_NO LIMIT 100",
        "connectors/ledger.yaml:8:10: sources.invoice_changes.sql: the query has no :limit, so one "
        "poll could read the whole table (hint: end it with ORDER BY LAST_UPD_TS, INV_NO LIMIT "
        ":limit) [connector.source_limit]",
    ),
    (
        "> (:LAST_UPD_TS, :INV_NO)",
        "> (:LAST_UPD_TS, 0)",
        "connectors/ledger.yaml:8:10: sources.invoice_changes.sql: the query does not use :INV_NO, "
        "so every poll would read from the start (hint: compare with the watermark: WHERE "
        "(LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO)) [connector.source_watermark]",
    ),
    (
        'start: { LAST_UPD_TS: "1970-01-01 00:00:00", INV_NO: 0 }',
        'start: { LAST_UPD_TS: "1970-01-01 00:00:00" }',
        "connectors/ledger.yaml:13:12: sources.invoice_changes.start: `start` gives LAST_UPD_TS; "
        "the watermark is LAST_UPD_TS, INV_NO (hint: give a starting value for each watermark "
        "column, and only those) [connector.source_start]",
    ),
    (
        "emit: ledger.invoice.changed",
        "emit: ledger.invoice.change",
        "connectors/ledger.yaml:6:11: sources.invoice_changes.emit: no contract for event type "
        "`ledger.invoice.change` (hint: did you mean `ledger.invoice.changed`?) "
        "[connector.unknown_event_type]",
    ),
    (
        "WHERE (LAST_UPD_TS",
        "WHERE STATUS_CD = '${ row.x }' AND (LAST_UPD_TS",
        "connectors/ledger.yaml:10:26: sources.invoice_changes.sql: `${` in SQL text: values are "
        "never spliced into SQL (hint: write a named parameter such as :tax_id and give its value "
        "in `params`) [connector.sql_interpolation]",
    ),
    (
        'subject: "${ to_string(row.INV_NO) }"',
        'subject: "${ to_string(input.INV_NO) }"',
        "connectors/ledger.yaml:16:28: sources.invoice_changes.subject: unknown name `input` "
        "(hint: available here: row) [expr.unknown_name]",
    ),
]


@pytest.mark.parametrize(("old", "new", "expected"), BAD_SOURCES)
def test_load_errors_name_the_file_line_and_field(
    tmp_path: Path, old: str, new: str, expected: str
) -> None:
    assert old in LEDGER_CONNECTOR
    ws = source_workspace(tmp_path / "ws", ledger=LEDGER_CONNECTOR.replace(old, new))
    report = check_workspace(ws)
    assert [str(d) for d in report.diagnostics] == [expected]


def test_a_key_the_inbox_cannot_index_is_a_reject_not_an_error(tmp_path: Path) -> None:
    """A NUL character or an over-long id is refused up front, like any invalid envelope."""
    with_id = LEDGER_CONNECTOR.replace(
        'subject: "${ to_string(row.INV_NO) }"',
        'subject: "${ to_string(row.INV_NO) }"\n        id: "${ row.LAST_UPD_TS }"',
    )
    ws = source_workspace(tmp_path / "ws", ledger=with_id)
    set_invoice(ws, 1, "P", 1, "2026-11-21 14:00:00")
    set_invoice(ws, 2, "P", 1, "2026-11-21 14:00:01\x00")
    set_invoice(ws, 3, "P", 1, "2026-11-21 14:00:02" + "0" * 1981)
    rt = Runtime(ws, tmp_path / "store.db")
    result = rt.poll(REF)
    assert (result.events, result.rejects, result.error) == (1, 2, None)
    messages = sorted(r.message for r in rt.store_call("source_rejects", REF))
    assert messages == [
        "envelope.invalid: event: $.id: 'id' contains a NUL character",
        "envelope.invalid: event: $.id: 'id' is 2,000 characters long (at most 1,024)",
    ]


def test_a_stored_watermark_that_no_longer_fits_stops_the_source(ws: Path, tmp_path: Path) -> None:
    """Changing the watermark columns after the source ran must not read from nowhere (nulls
    bound to the new columns) or from the start: the source shows an error until reset."""
    store = tmp_path / "store.db"
    set_invoice(ws, 1, "P", 1, "2026-11-21 14:00:00")
    assert Runtime(ws, store).poll(REF).events == 1
    changed = LEDGER_CONNECTOR.replace("(LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO)", "INV_NO > :INV_NO")
    changed = changed.replace("ORDER BY LAST_UPD_TS, INV_NO", "ORDER BY INV_NO")
    changed = changed.replace("watermark: [LAST_UPD_TS, INV_NO]", "watermark: [INV_NO]")
    changed = changed.replace('start: { LAST_UPD_TS: "1970-01-01 00:00:00", INV_NO: 0 }', "start: { INV_NO: 0 }")
    (ws / "connectors" / "ledger.yaml").write_text(
        textwrap.dedent(changed).lstrip("\n").replace("{batch}", "500").replace("{max_batches}", "20")
    )
    set_invoice(ws, 2, "P", 1, "2026-11-21 14:00:01")
    rt = Runtime(ws, store)
    result = rt.poll(REF)
    assert result.events == 0
    assert result.error is not None and "does not fit the watermark columns INV_NO" in result.error
    rt.store_call("reset_source", REF, {"INV_NO": 1})
    assert rt.poll(REF).events == 1

"""`seamline sources`: the table, rejects, polling now and moving a watermark."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from tests.sources._workspace import set_invoice, source_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = source_workspace(tmp_path / "ws")
    set_invoice(root, 1, "P", 10, "2026-11-21 09:00:00")
    set_invoice(root, 2, "Q", 10, "2026-11-21 09:00:01")  # a status the lookup does not know
    drop = root / "inbox" / "hours-1.csv"
    drop.write_text("employee,day,hours\nE1,2026-11-20,7.5\n")
    os.utime(drop, (time.time() - 5, time.time() - 5))
    return root


def sources(ws: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["sources", "-w", str(ws), *args])
    return result.exit_code, result.output


def test_list_poll_rejects_and_reset(ws: Path) -> None:
    code, out = sources(ws)
    assert code == 0
    assert "ledger.invoice_changes  sql watermark → ledger.invoice.changed  every 30s" in out
    assert 'no row taken in yet (from {"LAST_UPD_TS": "1970-01-01 00:00:00", "INV_NO": 0})' in out

    code, out = sources(ws, "poll")
    assert code == 0, out
    assert "drop.hours: 1 read, 1 new event, 0 duplicates, 0 rejects" in out
    assert "ledger.invoice_changes: 1 read, 1 new event, 0 duplicates, 1 reject" in out

    code, out = sources(ws, "--json")
    rows = {r["source"]: r for r in json.loads(out)}
    assert rows["ledger.invoice_changes"]["position"] == {"INV_NO": 2, "LAST_UPD_TS": "2026-11-21 09:00:01"}
    assert (rows["drop.hours"]["files"], rows["drop.hours"]["events"]) == (1, 1)

    code, out = sources(ws, "rejects", "ledger.invoice_changes", "--json")
    [reject] = json.loads(out)
    assert reject["location"] == "row LAST_UPD_TS=2026-11-21 09:00:01, INV_NO=2"
    assert "no key 'Q'" in reject["message"] and reject["raw"]["STATUS_CD"] == "Q"

    code, out = sources(ws, "reset", "ledger.invoice_changes", "--to", '{"LAST_UPD_TS": "2026-11-21 09:00:00", "INV_NO": 0}')
    assert code == 0 and "watermark set to" in out
    code, out = sources(ws, "poll", "ledger.invoice_changes")
    assert "1 read, 0 new events, 1 duplicate, 1 reject" in out  # invoice 1 again: recognised


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reset", "nope.nothing"), "no source 'nope.nothing' (sources: drop.hours, drop.hours_jsonl, ledger.invoice_changes)"),
        (("reset", "drop.hours"), "drop.hours is a file drop: it keeps no watermark"),
        (("reset", "ledger.invoice_changes", "--to", "{oops"), "--to is not JSON"),
        (("reset", "ledger.invoice_changes", "--to", '{"INV_NO": 1}'), "--to needs an object with exactly the watermark columns ['INV_NO', 'LAST_UPD_TS']"),
        (("rejects", "nope.nothing"), "no source 'nope.nothing'"),
    ],
)
def test_usage_errors(ws: Path, args: tuple[str, ...], message: str) -> None:
    code, out = sources(ws, *args)
    assert code == 2 and message in " ".join(out.split())


def test_poll_exits_1_when_a_source_fails(ws: Path) -> None:
    (ws / "inbox" / "hours-1.csv").unlink()
    (ws / "inbox").rmdir()
    code, out = sources(ws, "poll", "drop.hours")
    assert code == 1 and "the drop directory does not exist" in out
    code, out = sources(ws)
    assert "last error:" in out

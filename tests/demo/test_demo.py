"""`seamline demo --scale small` end to end, in a subprocess: it exits 0, and every count its
printed summary shows is what the systems' databases and the runtime's store hold."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SEED = 3
BAR = r"\s*[│|┃]\s*"


def query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def business_tables(path: Path) -> dict[str, int]:
    tables = [r[0] for r in query(path, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    return {
        t: query(path, f'SELECT count(*) FROM "{t}"')[0][0]
        for t in tables
        if not t.startswith(("_", "sqlite_"))
    }


def row(text: str, label: str, columns: int) -> list[int]:
    """The numbers of a summary table row (rich draws the cell borders)."""
    found = re.search(rf"^\s*{re.escape(label)}" + rf"{BAR}(\d+)" * columns, text, re.M)
    assert found, f"no row {label!r} in the printed summary"
    return [int(n) for n in found.groups()]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any], Path]:
    data = tmp_path_factory.mktemp("demo") / "day"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli.main",
            "demo",
            "--scale",
            "small",
            "--data-dir",
            str(data),
            "--seed",
            str(SEED),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={**__import__("os").environ, "COLUMNS": "160"},
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    summary = json.loads((data / "summary.json").read_text(encoding="utf-8"))
    return done.stdout, summary, data


@pytest.mark.slow
def test_the_demo_exits_0_and_leaves_its_databases(demo: tuple[str, dict[str, Any], Path]) -> None:
    out, summary, data = demo
    assert summary["scale"] == "small" and summary["seed"] == SEED
    assert summary["runtime"] == "seamline serve (in-process)"
    for name in ("crm.db", "psa.db", "erp.db", "northwind_uk.db"):
        assert (data / "sandbox" / name).is_file()
    assert (data / "workspace" / ".seamline" / "seamline.db").is_file()
    assert "where to look next" in out and f"seamline dlq list -w {data}/workspace" in out
    # the day had every ingredient
    played = summary["played"]
    assert played["northwind_deals"] >= 1 and played["timesheets"] >= 10
    assert (
        len(played["redelivered"]) >= 1 and played["invalid_sent"] == played["invalid_refused"] >= 1
    )
    assert (
        summary["runs"]["opportunity_to_project[northwind_uk]"]["succeeded"]
        == played["northwind_deals"]
    )
    assert summary["step_retries"] >= 1  # faults were injected and retried


@pytest.mark.slow
def test_runs_and_dead_letters_are_what_the_store_holds(
    demo: tuple[str, dict[str, Any], Path],
) -> None:
    out, summary, data = demo
    store = data / "workspace" / ".seamline" / "seamline.db"
    held: dict[str, dict[str, int]] = {}
    for flow, variant, status, n in query(
        store, "SELECT flow, variant, status, count(*) FROM runs GROUP BY flow, variant, status"
    ):
        held.setdefault(f"{flow}[{variant}]" if variant else flow, {})[status] = n
    assert summary["runs"] == held
    assert summary["runs_total"] == sum(map(sum, (c.values() for c in held.values())))
    assert set(held) >= {
        "account_sync",
        "opportunity_to_project",
        "opportunity_to_project[northwind_uk]",
        "time_to_invoice",
        "change_order",
        "invoice_status",
        "payment_received",
        "nightly_reconciliation",
    }
    for flow, counts in held.items():
        shown = row(out, flow, 5)
        assert shown[:3] == [counts.get(s, 0) for s in ("succeeded", "dead_lettered", "failed")], (
            flow
        )
        assert shown[4] == sum(counts.values()), flow
    dead = dict(
        query(
            store,
            "SELECT error_code, count(*) FROM runs WHERE status = 'dead_lettered' "
            "GROUP BY error_code",
        )
    )
    assert {code: e["runs"] for code, e in summary["dead_letters"].items()} == dead
    assert {"conflict.duplicate_account", "validation.rate_card"} <= set(dead)
    for code, n in dead.items():
        assert row(out, code, 1) == [n]
    # nothing left unfinished
    assert not query(store, "SELECT 1 FROM runs WHERE status IN ('pending', 'running', 'waiting')")


@pytest.mark.slow
def test_records_are_what_the_systems_databases_hold(
    demo: tuple[str, dict[str, Any], Path],
) -> None:
    out, summary, data = demo
    for system in ("crm", "psa", "erp", "northwind_uk"):
        held = business_tables(data / "sandbox" / f"{system}.db")
        assert summary["records"][system] == held, system
        for table, n in held.items():
            assert row(out, f"{system}.{table}", 2) == [n, summary["created"][system][table]]
    created = summary["created"]
    assert created["northwind_uk"]["SALES_CONTRACT"] == summary["played"]["northwind_deals"]
    assert created["crm"]["opportunities"] == summary["played"]["deals"]
    assert created["psa"]["timesheets"] == summary["played"]["timesheets"]


@pytest.mark.slow
def test_duplicates_prevented_and_refused_events_add_up(
    demo: tuple[str, dict[str, Any], Path],
) -> None:
    out, summary, data = demo
    store = data / "workspace" / ".seamline" / "seamline.db"
    ingress, prevented = summary["ingress"], summary["duplicates_prevented"]
    # every redelivered webhook was recognised as a duplicate (same source + id) and started nothing
    assert (
        prevented["ingress_duplicates"]
        == ingress["duplicates"]
        == len(summary["played"]["redelivered"])
    )
    from_systems = query(store, "SELECT count(*) FROM events WHERE source NOT LIKE '/seamline/%'")[
        0
    ][0]
    assert from_systems == ingress["accepted"] - ingress["duplicates"]
    for system, n in prevented["idempotent_replays_by_system"].items():
        (replayed,) = query(
            data / "sandbox" / f"{system}.db",
            "SELECT COALESCE(SUM(replays), 0) FROM _idempotency WHERE substr(key, 1, ?) != ?",
            len(f"demo{SEED}-"),
            f"demo{SEED}-",
        )[0]
        assert replayed == n, system
    assert f"{prevented['ingress_duplicates']} duplicate deliveries started no run" in out
    assert f"{prevented['idempotent_replays']} retried writes" in out
    rejected = ingress["rejected"]
    assert rejected.get("contract.violation", 0) >= summary["played"]["incomplete_accounts"]
    assert (
        sum(rejected.values())
        == summary["played"]["invalid_sent"] + summary["played"]["incomplete_accounts"]
    )
    night = summary["reconciliation"]
    assert night["accounts"]["extra"] >= 1 and night["accounts"]["mismatched"] >= 2
    assert (data / "workspace" / ".seamline" / "reports" / night["report"]).is_file()


@pytest.mark.slow
def test_the_stand_in_runtime_plays_the_same_day(tmp_path: Path) -> None:
    """Without the server package the demo falls back to an in-process receiver (HMAC checked)
    feeding `accept` and an engine Worker, on the same store: the same day, the same outcome."""
    from unittest import mock

    from runtime.demo import Demo, DemoOptions

    phases: list[str] = []
    with mock.patch.dict("os.environ"):  # the demo exports the systems' tokens and URLs
        demo = Demo(
            DemoOptions(
                data_dir=tmp_path / "day",
                scale="small",
                seed=SEED,
                workspace=REPO,
                prefer_server=False,
            ),
            lambda phase, done, total: phases.append(phase),
        )
        try:
            summary = demo.run()
        finally:
            demo.stop()
    assert summary["runtime"] == "in-process receiver and worker (fallback)"
    assert "night: reconciliation" in phases
    runs = summary["runs"]
    assert runs["opportunity_to_project[northwind_uk]"] == {
        "succeeded": summary["played"]["northwind_deals"]
    }
    assert all(set(counts) <= {"succeeded", "dead_lettered"} for counts in runs.values())
    assert summary["ingress"]["duplicates"] == len(summary["played"]["redelivered"])
    assert summary["reconciliation"]["accounts"]["extra"] >= 1


def test_a_data_dir_that_is_not_the_demos_is_left_alone(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from runtime.cli.main import cli

    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    result = CliRunner().invoke(cli, ["demo", "--scale", "small", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "was not made by `seamline demo`" in result.output
    assert keep.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]

"""Crash test for sources: a real `seamline worker` process is SIGKILLed again and again while a
feeder keeps inserting rows into a SQLite table and dropping CSV files; at the end every row and
every file row has become exactly one event and one run, and every file is archived."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from tests.sources._workspace import LEDGER_CONNECTOR, set_invoice, source_workspace

KILLS = 5
FILES = 40
ROWS_PER_FILE = 5
INVOICES = 300
TOTAL = INVOICES + FILES * ROWS_PER_FILE

FAST_LEDGER = LEDGER_CONNECTOR.replace("every: 30s", "every: 100ms")


def _seamline(*args: str) -> list[str]:
    return [sys.executable, "-m", "runtime.cli.main", *args]


def _taken_in(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM events").fetchone()[0])
    except sqlite3.Error:
        return 0


class Feeder(threading.Thread):
    """Inserts invoices with rising change times and drops files, at a steady pace."""

    def __init__(self, root: Path) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()

    def run(self) -> None:
        files = 0
        for n in range(1, INVOICES + 1):
            if self.stop.is_set():
                return
            minute, second = divmod(n, 60)
            set_invoice(self.root, n, "P", n, f"2026-11-21 1{minute // 60}:{minute % 60:02d}:{second:02d}")
            if n % (INVOICES // FILES) == 0 and files < FILES:
                rows = "".join(
                    f"E{files * ROWS_PER_FILE + r},2026-11-{10 + r:02d},{r + 1}\n"
                    for r in range(ROWS_PER_FILE)
                )
                temp = self.root / "inbox" / f".hours-{files:03d}.csv.part"
                temp.write_text("employee,day,hours\n" + rows)
                temp.rename(self.root / "inbox" / f"hours-{files:03d}.csv")  # how a careful writer drops
                files += 1
            time.sleep(0.03)  # the feed outlasts the kills


@pytest.mark.slow
def test_sigkilled_worker_takes_every_row_and_file_in_exactly_once(tmp_path: Path) -> None:
    root = source_workspace(tmp_path / "ws", batch=20, max_batches=3, ledger=FAST_LEDGER)
    drop = root / "connectors" / "drop.yaml"
    drop.write_text(drop.read_text().replace("every: 10s", "every: 100ms"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    database = root / ".seamline" / "seamline.db"
    feeder = Feeder(root)
    feeder.start()
    rng = random.Random(20261122)
    kills = 0
    try:
        for _ in range(KILLS):
            before = _taken_in(database)
            worker = subprocess.Popen(
                _seamline("worker", "-w", str(root), "--concurrency", "4"),
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 60
            while (
                _taken_in(database) < min(before + 10, TOTAL)
                and worker.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.4))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(timeout=30)
    finally:
        feeder.join(timeout=60)
        feeder.stop.set()
    assert kills >= KILLS - 1

    # catch up: poll until the sources have nothing new, then run everything
    for _ in range(50):
        polled = subprocess.run(
            _seamline("sources", "-w", str(root), "poll"),
            cwd=root, env=env, capture_output=True, text=True, timeout=120,
        )
        assert polled.returncode == 0, polled.stdout + polled.stderr
        if polled.stdout.count(" 0 new events") == 3 and " 1 read" not in polled.stdout:
            break
    final = subprocess.run(
        _seamline("worker", "-w", str(root), "--until-idle"),
        cwd=root, env=env, capture_output=True, text=True, timeout=300,
    )
    assert final.returncode == 0, final.stdout + final.stderr

    db = sqlite3.connect(database)
    bodies = [orjson.loads(b) for (b,) in db.execute("SELECT body FROM events ORDER BY seq")]
    invoices = Counter(b["data"]["invoice_no"] for b in bodies if b["type"] == "ledger.invoice.changed")
    assert sorted(invoices) == list(range(1, INVOICES + 1)), "an invoice row was lost"
    assert max(invoices.values()) == 1, "an invoice row was taken in twice"
    hours = Counter(b["data"]["employee"] for b in bodies if b["type"] == "hr.hours.logged")
    assert sorted(hours) == sorted(f"E{n}" for n in range(FILES * ROWS_PER_FILE))
    assert max(hours.values()) == 1, "a file row was taken in twice"
    assert not list((root / "inbox").glob("hours-*.csv")), "a file was left behind"
    assert len(list((root / "inbox" / "done").iterdir())) == FILES
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
    assert statuses == {"succeeded": TOTAL}
    duplicates, items = db.execute(
        "SELECT SUM(duplicates), SUM(items) FROM sources"
    ).fetchone()
    assert items == FILES
    print(f"\nsource crash test: {kills} kills, {len(bodies)} events, {duplicates} duplicates "
          "recognised, 0 lost, 0 twice")

"""End to end: a real `seamline serve --watch` process, events sent all along, flows edited, broken
and fixed under it — no accepted event fails or is lost; and SIGTERM drains with runs in flight.
"""

from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import MINI_WORKSPACE, write_files
from tests.server.conftest import BOOK, INGRESS, TOKENS, VIEWER, order

SETTINGS = """\
tokens:
  - { token: env:SEAMLINE_TEST_VIEWER, role: viewer }
  - { token: env:SEAMLINE_TEST_ADMIN, role: admin }
ingress_tokens: [env:SEAMLINE_TEST_INGRESS]
"""
BROKEN = BOOK.replace("marker: v1", "marker: v9").replace("call: wms.reserve", "call: wms.reservx")
ENV = {**os.environ, **TOKENS, "PYTHONUNBUFFERED": "1"}


class Server:
    """A `seamline serve` subprocess on a free port (it binds port 0 and prints the address)."""

    def __init__(self, root: Path, *args: str) -> None:
        self.log = (root.parent / f"serve-{time.monotonic_ns()}.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "runtime.cli.main", "serve", str(root), "--port", "0", *args],
            cwd=root,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        try:
            self.url = self._address()
        except BaseException:
            self.process.kill()
            self.process.wait(timeout=10)
            raise
        self.viewer = httpx.Client(base_url=self.url, headers=_bearer(VIEWER), timeout=10)
        self.ingress = httpx.Client(base_url=self.url, headers=_bearer(INGRESS), timeout=10)

    def _address(self) -> str:
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=30):
            self.process.kill()
            pytest.fail("seamline serve did not start: " + self.logs())
        line = self.process.stdout.readline()
        assert line.startswith("seamline serving http://"), line + self.logs()
        url = line.split()[2]
        deadline = time.monotonic() + 10
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "not ready: " + self.logs()
            time.sleep(0.05)

    def logs(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()

    def runs(self, **query: Any) -> list[dict[str, Any]]:
        answer = self.viewer.get("/api/runs", params={"flow": "book", "limit": 1000, **query})
        return list(answer.json()["runs"])

    def stop(self, timeout: float = 20) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=timeout)
        self.viewer.close()
        self.ingress.close()
        self.log.close()
        return code


@pytest.fixture
def started() -> Iterator[list[Server]]:
    """Every server a test starts; any still running at the end is stopped (a failed test too)."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=10)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Sender(threading.Thread):
    """Posts a new event every `interval` seconds until stopped; remembers every answer."""

    def __init__(self, server: Server, interval: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.server, self.interval = server, interval
        self.answers: list[tuple[str, int, float]] = []  # (order id, status, sent at)
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            order_id = f"O{n}"
            sent = time.monotonic()
            answer = self.server.ingress.post("/events", json=order(order_id))
            self.answers.append((order_id, answer.status_code, sent))
            self.halt.wait(self.interval)


def _wait_for_marker(server: Server, marker: str, since: float, limit: float) -> float:
    """Seconds from `since` until a run shows `marker` in its output (fails after `limit`)."""
    while True:
        if any((r["output"] or {}).get("marker") == marker for r in server.runs(limit=30)):
            return time.monotonic() - since
        assert time.monotonic() - since < limit, f"{marker} not visible after {limit}s"
        time.sleep(0.02)


@pytest.mark.slow
def test_hot_reload_under_load_loses_nothing(tmp_path: Path, started: list[Server]) -> None:
    root = write_files(
        tmp_path / "ws", {**MINI_WORKSPACE, "flows/book.yaml": BOOK, "seamline.yaml": SETTINGS}
    )
    flow = root / "flows" / "book.yaml"
    server = Server(root, "--watch", "--concurrency", "4")
    started.append(server)
    sender = Sender(server)
    try:
        sender.start()
        _wait_for_marker(server, "v1", time.monotonic(), 10)

        # 1. an edit: new runs show the new behaviour within a second
        time.sleep(0.3)
        edited = time.monotonic()
        flow.write_text(BOOK.replace("marker: v1", "marker: v2"))
        assert _wait_for_marker(server, "v2", edited, 5) < 1.0

        # 2. a broken edit: rejected, reported with file:line:col, the old version keeps serving
        broken = time.monotonic()
        flow.write_text(BROKEN)
        while not (status := server.viewer.get("/api/status").json())["errors"]:
            assert time.monotonic() - broken < 5, "the broken flow was not reported"
            time.sleep(0.02)
        error = "flows/book.yaml:7:11: steps[0].call: connector `wms` has no operation `reservx`"
        assert status["errors"][0]["text"].startswith(error)
        assert status["last_reload"]["ok"] is False
        assert status["last_reload"]["files"] == ["flows/book.yaml"]
        time.sleep(0.5)
        after_break = [r for r in server.runs(limit=50) if r["output"]]
        assert after_break and {r["output"]["marker"] for r in after_break[:10]} == {"v2"}
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "runtime.cli.main",
                "status",
                "--url",
                server.url,
                "--token",
                VIEWER,
            ],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cli.returncode == 1, cli.stdout + cli.stderr
        assert error in cli.stdout and "rejected" in cli.stdout
        assert error in server.logs()

        # 3. the fix
        fixed = time.monotonic()
        flow.write_text(BOOK.replace("marker: v1", "marker: v3"))
        _wait_for_marker(server, "v3", fixed, 5)
        assert server.viewer.get("/api/status").json()["errors"] == []
        time.sleep(0.3)
    finally:
        sender.halt.set()
        sender.join(timeout=10)

    # every 202 has a run that succeeded; nothing else was answered
    statuses = Counter(status for _, status, _ in sender.answers)
    assert set(statuses) == {202}, statuses
    accepted = {order_id for order_id, _, _ in sender.answers}
    assert len(accepted) >= 20  # sent all along (fewer on a busy machine)
    deadline = time.monotonic() + 15
    while True:
        runs = server.runs()
        done = {r["key"] for r in runs if r["status"] == "succeeded"}
        if accepted <= done or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert accepted - done == set(), f"{len(accepted - done)} accepted events have no succeeded run"
    assert Counter(r["status"] for r in runs) == {"succeeded": len(accepted)}
    markers = Counter(r["output"]["marker"] for r in runs)
    assert set(markers) == {"v1", "v2", "v3"}, markers  # never v9: the broken flow never ran

    reloads = server.viewer.get("/api/status", params={"history": 50}).json()["reloads"]
    assert [r["ok"] for r in reversed(reloads)][-3:] == [True, False, True]
    metrics = server.viewer.get("/metrics").text
    assert 'seamline_reloads_total{result="rejected"} 1' in metrics
    assert server.stop() == 0


# -- drain ----------------------------------------------------------------------------------


class SlowErp:
    """Takes `delay` seconds per call; creates one record per Idempotency-Key."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.records: Counter[str] = Counter()
        self.calls = 0
        self._answers: dict[str, dict[str, Any]] = {}

    def app(self) -> Starlette:
        async def reserve(request: Request) -> JSONResponse:
            body = await request.json()
            self.calls += 1
            await anyio.sleep(self.delay)  # finishes even if the caller went away
            key = request.headers.get("idempotency-key", "")
            if key not in self._answers:
                self.records[body["sku"]] += 1
                self._answers[key] = {"reservation": f"R-{body['sku']}"}
            return JSONResponse(self._answers[key], status_code=201)

        return Starlette(routes=[Route("/reserve", reserve, methods=["POST"])])


def _serve_in_thread(app: Starlette) -> tuple[uvicorn.Server, int, threading.Thread]:
    from runtime.server.runner import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    return server, int(sock.getsockname()[1]), thread


SLOW_FLOW = """\
flow: book
version: 1.0.0
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: reserve
    call: erp.reserve
    with: { sku: "${ data.order_id }" }
  - id: mark
    set: { marker: done }
output: { marker: "${ vars.marker }" }
"""


@pytest.mark.slow
def test_sigterm_drains_runs_in_flight_and_a_restart_finishes_the_rest(
    tmp_path: Path, started: list[Server]
) -> None:
    erp = SlowErp(delay=1.0)
    http, port, thread = _serve_in_thread(erp.app())
    connector = (
        f"connector: erp\nkind: http\nbase_url: http://127.0.0.1:{port}\ntimeout: 10s\n"
        "operations:\n  reserve: { method: POST, path: /reserve }\n"
    )
    root = write_files(
        tmp_path / "ws",
        {
            **MINI_WORKSPACE,
            "connectors/erp.yaml": connector,
            "flows/book.yaml": SLOW_FLOW,
            "seamline.yaml": SETTINGS,
        },
    )
    try:
        # 1. a drain that lets the runs in flight finish
        server = Server(root, "--concurrency", "2", "--grace", "10")
        started.append(server)
        for n in range(6):
            assert server.ingress.post("/events", json=order(f"O{n}")).status_code == 202
        while len(in_flight := server.runs(status="running")) < 2:
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        while server.viewer.get("/readyz").status_code == 200:
            time.sleep(0.01)
        refused = server.ingress.post("/events", json=order("O100"))
        assert refused.status_code == 503 and refused.json()["code"] == "ingress.draining"
        assert server.process.wait(timeout=15) == 0
        assert "drained" in server.logs()
        statuses = _statuses(root)
        assert statuses.get("running") is None and statuses.get("pending"), statuses
        assert {_status(root, r["id"]) for r in in_flight} == {"succeeded"}  # they finished

        # 2. a drain whose grace period is too short: the run in flight is cut off
        server = Server(root, "--concurrency", "1", "--grace", "0.2")
        started.append(server)
        while len(server.runs(status="running")) < 1:
            time.sleep(0.02)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == 0
        assert "grace period over" in server.logs()
        assert _statuses(root).get("running") == 1

        # 3. a restart takes the cut-off run back and finishes everything
        server = Server(root, "--concurrency", "4", "--grace", "10")
        started.append(server)
        deadline = time.monotonic() + 20
        while Counter(r["status"] for r in server.runs()) != {"succeeded": 6}:
            assert time.monotonic() < deadline, server.runs()
            time.sleep(0.05)
        audit = server.viewer.get(f"/api/runs/{_cut_off(root)}").json()["audit"]
        assert any("recovered_from" in (a["detail"] or {}) for a in audit)
        assert server.stop() == 0
    finally:
        http.should_exit = True
        thread.join(timeout=5)
    assert erp.records == Counter({f"O{n}": 1 for n in range(6)})  # each effect exactly once


def _statuses(root: Path) -> dict[str, int]:
    db = sqlite3.connect(root / ".seamline" / "seamline.db")
    try:
        return dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
    finally:
        db.close()


def _status(root: Path, run_id: str) -> str:
    db = sqlite3.connect(root / ".seamline" / "seamline.db")
    try:
        return str(db.execute("SELECT status FROM runs WHERE id=?", (run_id,)).fetchone()[0])
    finally:
        db.close()


def _cut_off(root: Path) -> str:
    db = sqlite3.connect(root / ".seamline" / "seamline.db")
    try:
        row = db.execute(
            "SELECT run_id FROM audit WHERE detail LIKE '%recovered_from%' LIMIT 1"
        ).fetchone()
        return str(row[0])
    finally:
        db.close()

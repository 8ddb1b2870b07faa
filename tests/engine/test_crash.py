"""Crash test: a real `seamline worker` process is SIGKILLed again and again while it works.

A local HTTP service stands in for an ERP that honours `Idempotency-Key` and otherwise creates a
new record for every POST (it does NOT de-duplicate by business key), so a run that repeated a
call under a different key would show up as a duplicate record. At the end every event must be
processed exactly once by effect: every expected record exists once, no record twice, every run
succeeded, and the audit trail shows runs that were recovered from a killed worker.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.conftest import ORDER_PLACED, write_files

ORDERS = 200
LINES_PER_ORDER = 2
KILLS = 6


class CountingErp:
    """Creates a record per POST; replays the first answer for a repeated Idempotency-Key."""

    def __init__(self) -> None:
        self.records: list[tuple[str, ...]] = []
        self.replayed = 0
        self._answers: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    async def _create(self, request: Request, natural: tuple[str, ...]) -> JSONResponse:
        await _latency()
        key = request.headers.get("idempotency-key")
        with self._lock:
            if key and key in self._answers:
                self.replayed += 1
                return JSONResponse(self._answers[key], status_code=201)
            self.records.append(natural)
            answer = {"id": f"R{len(self.records)}", "of": list(natural)}
            if key:
                self._answers[key] = answer
        return JSONResponse(answer, status_code=201)

    def app(self) -> Starlette:
        async def order(request: Request) -> JSONResponse:
            body = await _body(request)
            if body is None:
                return GONE
            return await self._create(request, ("order", body["order_id"]))

        async def line(request: Request) -> JSONResponse:
            body = await _body(request)
            if body is None:
                return GONE
            return await self._create(request, ("line", request.path_params["order"], body["sku"]))

        async def confirm(request: Request) -> JSONResponse:
            return await self._create(request, ("confirm", request.path_params["order"]))

        return Starlette(routes=[
            Route("/orders", order, methods=["POST"]),
            Route("/orders/{order}/lines", line, methods=["POST"]),
            Route("/orders/{order}/confirm", confirm, methods=["POST"]),
        ])


GONE = JSONResponse({"error": "client went away"}, status_code=499)


async def _body(request: Request) -> dict[str, Any] | None:
    try:
        return dict(await request.json())
    except ClientDisconnect:  # the worker was killed mid-request: nothing is created
        return None


async def _latency() -> None:
    import anyio

    await anyio.sleep(random.uniform(0.002, 0.012))  # runs are in flight when the kill comes


def _serve(app: Starlette) -> tuple[uvicorn.Server, int, threading.Thread]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "test ERP did not start"
        time.sleep(0.01)
    return server, int(sock.getsockname()[1]), thread


FLOW = """\
flow: book_order
version: 1.0.0
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: create_order
    call: erp.create_order
    with: { order_id: "${ data.order_id }" }
    retry: { attempts: 10, delay: 100ms, max_delay: 1s }
  - id: add_lines
    for_each: data.lines
    as: line
    concurrency: 2
    steps:
      - id: add_line
        call: erp.add_line
        with: { order: "${ data.order_id }", sku: "${ line.sku }" }
        retry: { attempts: 10, delay: 100ms, max_delay: 1s }
  - id: confirm
    call: erp.confirm
    with: { order: "${ data.order_id }" }
    retry: { attempts: 10, delay: 100ms, max_delay: 1s }
"""


def _connector(port: int) -> str:
    return f"""\
connector: erp
kind: http
base_url: http://127.0.0.1:{port}
timeout: 5s
operations:
  create_order: {{ method: POST, path: /orders }}
  add_line: {{ method: POST, path: "/orders/${{ input.order }}/lines", body: {{ sku: "${{ input.sku }}" }} }}
  confirm: {{ method: POST, path: "/orders/${{ input.order }}/confirm", body: {{}} }}
"""


def _journaled(database: Path) -> int:
    try:
        with sqlite3.connect(database, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM journal").fetchone()[0])
    except sqlite3.Error:
        return 0


def _seamline(*args: str, cwd: Path) -> list[str]:
    return [sys.executable, "-m", "runtime.cli.main", *args]


@pytest.mark.slow
def test_sigkilled_worker_processes_every_event_exactly_once(tmp_path: Path) -> None:
    erp = CountingErp()
    server, port, thread = _serve(erp.app())
    try:
        root = write_files(tmp_path / "ws", {
            "contracts/shop.order.placed/v1.schema.json": ORDER_PLACED,
            "connectors/erp.yaml": _connector(port),
            "flows/book_order.yaml": FLOW,
        })
        events = tmp_path / "events"
        events.mkdir()
        for n in range(ORDERS):
            lines = [{"sku": f"S{n}-{i}", "qty": 1} for i in range(LINES_PER_ORDER)]
            event = {"specversion": "1.0", "id": f"evt-{n}", "source": "/shop", "type": "shop.order.placed",
                     "data": {"order_id": f"O{n}", "currency": "EUR", "lines": lines}}
            (events / f"{n:04d}.json").write_text(json.dumps(event))
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        ingest = subprocess.run(_seamline("ingest", str(events), "-w", str(root), cwd=root),
                                cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert f"{ORDERS} events accepted" in ingest.stdout

        rng = random.Random(20261122)
        kills = 0
        database = root / ".seamline" / "seamline.db"
        for _ in range(KILLS):
            before = _journaled(database)
            worker = subprocess.Popen(_seamline("worker", "-w", str(root), "--concurrency", "8", cwd=root),
                                      cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            # kill while it works, however long a loaded machine takes to start it
            deadline = time.monotonic() + 60
            while _journaled(database) < before + 20 and worker.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(rng.uniform(0.05, 0.5))
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                kills += 1
            worker.wait(timeout=30)
        assert kills >= KILLS - 1

        # a duplicate delivery of every event after the crashes starts nothing new
        again = subprocess.run(_seamline("ingest", str(events), "-w", str(root), cwd=root),
                               cwd=root, env=env, capture_output=True, text=True, timeout=120)
        assert f"0 events accepted, {ORDERS} duplicates" in again.stdout

        final = subprocess.run(_seamline("worker", "-w", str(root), "--until-idle", "--max-wait", "5", cwd=root),
                               cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert final.returncode == 0, final.stdout + final.stderr
    finally:
        server.should_exit = True
        thread.join(timeout=5)

    # effects: every expected record exactly once
    expected = Counter([("order", f"O{n}") for n in range(ORDERS)]
                       + [("line", f"O{n}", f"S{n}-{i}") for n in range(ORDERS) for i in range(LINES_PER_ORDER)]
                       + [("confirm", f"O{n}") for n in range(ORDERS)])
    created = Counter(erp.records)
    duplicates = {record: count for record, count in created.items() if count > 1}
    assert duplicates == {}, f"{len(duplicates)} records were created twice"
    assert created == expected, f"lost: {len(expected - created)}, unexpected: {len(created - expected)}"

    db = sqlite3.connect(root / ".seamline" / "seamline.db")
    statuses = dict(db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status").fetchall())
    assert statuses == {"succeeded": ORDERS}
    recovered = db.execute("SELECT COUNT(*) FROM audit WHERE detail LIKE '%recovered_from%'").fetchone()[0]
    assert recovered >= 1, "no run was caught mid-flight by a kill: the test did not test resumption"
    journaled = db.execute("SELECT COUNT(*) FROM journal WHERE status='succeeded'").fetchone()[0]
    assert journaled == ORDERS * (2 + LINES_PER_ORDER)
    print(f"\ncrash test: {kills} kills, {recovered} runs recovered, {erp.replayed} calls answered from "
          f"the idempotency cache, {len(erp.records)} records, 0 duplicates, 0 lost")

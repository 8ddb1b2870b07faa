"""Helpers for the sandbox tests: a webhook receiver, an authenticated client, and a copy of
the reference workspace whose connectors point at the running sandbox."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.engine import RunResult, VirtualClock, run_flow
from runtime.sandbox import Sandbox
from tests.conftest import REPO

TOKEN = "tok-sandbox-5f1c-not-the-default"
SECRET = "whsec-test-2b7e"


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class WebhookReceiver:
    """Where the sandbox delivers its webhooks: keeps every request, answers 204."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._lock = threading.Lock()

        async def receive(request: Request) -> Response:
            body = await request.body()
            with self._lock:
                self.deliveries.append(
                    Delivery({k.lower(): v for k, v in request.headers.items()}, body)
                )
            return Response(status_code=204)

        app = Starlette(routes=[Route("/events", receive, methods=["POST"])])
        self._sock = socket.socket()
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/events"
        self._server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def start(self) -> WebhookReceiver:
        self._thread.start()
        while not self._server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._sock.close()

    def wait_for(
        self, event_type: str, subject: str, where: Any = None, timeout: float = 5.0
    ) -> Delivery:
        """The first delivery of that type and subject (whose data satisfies `where`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for delivery in self.deliveries:
                    event = delivery.event
                    if (event["type"], event["subject"]) == (event_type, subject) and (
                        where is None or where(event["data"])
                    ):
                        return delivery
            time.sleep(0.02)
        raise AssertionError(f"no {event_type} webhook for {subject} within {timeout}s")

    def all(self, event_type: str, subject: str) -> list[Delivery]:
        with self._lock:
            return [
                d
                for d in self.deliveries
                if (d.event["type"], d.event["subject"]) == (event_type, subject)
            ]


_CLIENTS: dict[tuple[str, str], httpx.Client] = {}


def client(sandbox: Sandbox, name: str, token: str = TOKEN) -> httpx.Client:
    """An authenticated client of one system (kept: building an httpx client costs ~0.1 s)."""
    key = (sandbox.urls[name], token)
    if key not in _CLIENTS:
        _CLIENTS[key] = httpx.Client(
            base_url=key[0], headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    return _CLIENTS[key]


# ── the reference workspace, pointed at the sandbox ─────────────────────────────────────
CALL_CONTRACT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["input"],
    "properties": {"input": {"type": "object"}},
}
CALL_FLOW = """\
flow: {flow}
version: 1.0.0
on: {{ event: sandbox.call }}
steps:
  - id: call
    call: {op}
    with: "${{ data.input }}"
    retry: {{ attempts: 1 }}
output: "${{ steps.call.output }}"
"""


def connector_operations() -> dict[str, list[str]]:
    """connector -> operation names, read from the reference connector files."""
    import yaml

    out = {}
    for file in sorted((REPO / "connectors").glob("*.yaml")):
        out[file.stem] = list(yaml.safe_load(file.read_text(encoding="utf-8"))["operations"])
    return out


def sandbox_workspace(dest: Path, sandbox: Sandbox) -> Plan:
    """The reference flows, contracts and connectors with each http connector's base_url set to
    the sandbox (and a 1 s timeout: loopback is fast, and timeout tests wait that long), plus
    one `call_<connector>_<operation>` flow per operation (no retry)."""
    for folder in ("flows", "contracts", "connectors"):
        shutil.copytree(REPO / folder, dest / folder)
    for file in (dest / "connectors").glob("*.yaml"):
        text = file.read_text(encoding="utf-8")
        if file.stem not in sandbox.urls:  # sql (legacy ERP: env:SEAMLINE_NORTHWIND_UK_URL), file
            continue
        text, n = re.subn(
            r"^base_url: .*$", f"base_url: {sandbox.urls[file.stem]}", text, flags=re.M
        )
        text, m = re.subn(r"^timeout: .*$", "timeout: 1s", text, flags=re.M)  # loopback
        assert n == m == 1, file
        file.write_text(text, encoding="utf-8")
    contract = dest / "contracts" / "sandbox.call"
    contract.mkdir()
    (contract / "v1.schema.json").write_text(json.dumps(CALL_CONTRACT), encoding="utf-8")
    for connector, operations in connector_operations().items():
        for op in operations:
            flow = f"call_{connector}_{op}"
            (dest / "flows" / f"{flow}.yaml").write_text(
                CALL_FLOW.format(flow=flow, op=f"{connector}.{op}"), encoding="utf-8"
            )
    return compile_workspace(dest)


class Runner:
    """Runs flows of a plan on one event loop (so connectors keep their HTTP clients), on a
    virtual clock (retry waits are skipped)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._runner = asyncio.Runner()

    def run(self, flow: str, event: dict[str, Any], run_id: str | None = None) -> RunResult:
        return self._runner.run(
            run_flow(self.plan, flow, event, clock=VirtualClock(), run_id=run_id)
        )

    def call(self, operation: str, payload: dict[str, Any], run_id: str | None = None) -> Any:
        """One connector operation through seamline's http connector (no retries); its
        idempotency key is `<run_id>:call`."""
        connector, op = operation.split(".")
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/tests/sandbox",
            "type": "sandbox.call",
            "data": {"input": payload},
        }
        result = self.run(f"call_{connector}_{op}", event, run_id)
        if not result.succeeded:
            raise CallFailed(result.error)
        return result.output

    def close(self) -> None:
        async def close_all() -> None:
            for connector in self.plan.connectors.values():
                await connector.aclose()

        self._runner.run(close_all())
        self._runner.close()


class CallFailed(AssertionError):
    def __init__(self, error: dict[str, Any] | None) -> None:
        super().__init__(str(error))
        self.error = error or {}


def example(path: str) -> dict[str, Any]:
    return json.loads((REPO / "contracts" / path).read_text(encoding="utf-8"))


def wait_until(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")

"""Server fixtures: a small workspace compiled once per module, a fresh store and app per test."""

from __future__ import annotations

import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import anyio
import pytest

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its TestClient; httpx works
    warnings.filterwarnings("ignore", message=".*httpx2.*")
    from starlette.testclient import TestClient

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace
from runtime.engine.plans import PlanProvider
from runtime.server import ServerOptions, ServerState, create_app
from runtime.store import SqliteStore
from tests.conftest import MINI_WORKSPACE, write_files

TOKENS = {
    "SEAMLINE_TEST_VIEWER": "viewer-token-0123",
    "SEAMLINE_TEST_OPERATOR": "operator-token-0123",
    "SEAMLINE_TEST_ADMIN": "admin-token-0123",
    "SEAMLINE_TEST_INGRESS": "ingress-token-0123",
    "SEAMLINE_TEST_HOOK_CRM": "crm-hook-secret-0123",
}
os.environ.update(TOKENS)

VIEWER, OPERATOR, ADMIN, INGRESS = (
    TOKENS["SEAMLINE_TEST_VIEWER"],
    TOKENS["SEAMLINE_TEST_OPERATOR"],
    TOKENS["SEAMLINE_TEST_ADMIN"],
    TOKENS["SEAMLINE_TEST_INGRESS"],
)
HOOK_SECRET = TOKENS["SEAMLINE_TEST_HOOK_CRM"]

SECURED = """\
tokens:
  - { token: env:SEAMLINE_TEST_VIEWER, role: viewer, name: grafana }
  - { token: env:SEAMLINE_TEST_OPERATOR, role: operator, name: ops }
  - { token: env:SEAMLINE_TEST_ADMIN, role: admin, name: root }
ingress_tokens: [env:SEAMLINE_TEST_INGRESS]
hooks:
  crm: { secret: env:SEAMLINE_TEST_HOOK_CRM, tolerance: 5m }
"""

BOOK = """\
flow: book
version: 1.0.0
on: { event: shop.order.placed, filter: "data.currency != 'GBP'" }
key: data.order_id
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
  - id: mark
    set: { marker: v1 }
output: { marker: "${ vars.marker }", reservation: "${ steps.reserve.output.reservation }" }
"""

SHIP = """\
flow: ship
version: 2.1.0
on: { event: shop.order.placed, filter: "data.order_id == 'O999'" }
key: data.order_id
steps:
  - id: ship
    call: wms.ship
on_error: { then: dead_letter }
"""

FILES: dict[str, Any] = {**MINI_WORKSPACE, "flows/book.yaml": BOOK, "flows/ship.yaml": SHIP}


def compile_plan(root: Path, files: Mapping[str, Any]) -> Plan:
    write_files(root, files)
    report = check_workspace(root)
    assert report.plan is not None, "\n".join(str(d) for d in report.diagnostics)
    return report.plan


@pytest.fixture(scope="module")
def open_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return compile_plan(tmp_path_factory.mktemp("open"), FILES)


@pytest.fixture(scope="module")
def secured_plan(tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return compile_plan(tmp_path_factory.mktemp("secured"), {**FILES, "seamline.yaml": SECURED})


MakeClient = Callable[..., TestClient]


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with the schema in place: copying it is faster than creating the schema."""
    path = tmp_path_factory.mktemp("store") / "empty.db"
    anyio.run(SqliteStore(path).aclose)
    return path


@pytest.fixture
def make_client(tmp_path: Path, empty_store: Path) -> Iterator[MakeClient]:
    """`make_client(plan, **options)` -> a TestClient with the lifespan (workers) running."""
    opened: list[tuple[TestClient, SqliteStore]] = []

    def make(plan: Plan, **options: Any) -> TestClient:
        path = tmp_path / f"store{len(opened)}.db"
        shutil.copyfile(empty_store, path)
        store = SqliteStore(path, group_window=0.0005)
        options.setdefault("poll_interval", 0.05)
        state = ServerState(PlanProvider(plan, store), store, ServerOptions(**options))
        client = TestClient(create_app(state), raise_server_exceptions=True)
        client.__enter__()
        opened.append((client, store))
        return client

    yield make
    for client, _ in opened:
        client.__exit__(None, None, None)


def state_of(client: TestClient) -> ServerState:
    return client.app.state.seamline  # type: ignore[attr-defined,no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def order(order_id: str = "O1", **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"evt-{order_id}",
        "source": "/shop",
        "type": "shop.order.placed",
        "subject": order_id,
        "data": {"order_id": order_id, "currency": "EUR", "lines": [{"sku": "A", "qty": 2}]},
    }
    data = changes.pop("data", None)
    if data is not None:
        event["data"] = {**event["data"], **data}
    event.update(changes)
    return event


def wait_for_runs(
    client: TestClient, count: int, status: str = "succeeded", **query: str
) -> list[dict[str, Any]]:
    """Poll /api/runs until `count` runs have `status` (the workers run in the background)."""
    deadline = time.monotonic() + 5
    while True:
        runs = client.get(
            "/api/runs", params={"status": status, **query}, headers=bearer(VIEWER)
        ).json()["runs"]
        if len(runs) >= count or time.monotonic() > deadline:
            return list(runs)
        time.sleep(0.02)

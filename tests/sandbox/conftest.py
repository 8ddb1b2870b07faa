"""Fixtures: one sandbox (real servers on free ports, real SQLite files) for this package,
and the reference workspace compiled once against it. Tests keep to their own records (their
own tax ids, accounts, opportunities) and compare counts before and after, so they do not
depend on each other or on their order; faults and rate limits are reset after every test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.compiler.plan import Plan
from runtime.sandbox import FaultConfig, RateLimit, Sandbox, start_all
from runtime.sandbox.ratelimit import TokenBucket
from tests.sandbox._support import SECRET, TOKEN, Runner, WebhookReceiver, sandbox_workspace

FREE = {"crm": 0, "psa": 0, "erp": 0}


@pytest.fixture(scope="package")
def receiver() -> Iterator[WebhookReceiver]:
    live = WebhookReceiver().start()
    yield live
    live.stop()


@pytest.fixture(scope="package")
def sandbox(
    tmp_path_factory: pytest.TempPathFactory, receiver: WebhookReceiver
) -> Iterator[Sandbox]:
    live = start_all(
        tmp_path_factory.mktemp("sandbox"),
        ports=FREE,
        token=TOKEN,
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        rate_limit=RateLimit(rate=0),
    )
    yield live
    live.stop()


@pytest.fixture(scope="package")
def plan(sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory) -> Plan:
    return sandbox_workspace(Path(tmp_path_factory.mktemp("ws")) / "ws", sandbox)


@pytest.fixture(scope="module")
def flows(plan: Plan) -> Iterator[Runner]:
    runner = Runner(plan)
    yield runner
    runner.close()


@pytest.fixture(scope="package", autouse=True)
def connector_tokens() -> Iterator[None]:
    """The reference connectors read their tokens from env:SEAMLINE_<SYSTEM>_TOKEN."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("CRM", "PSA", "ERP"):
            mp.setenv(f"SEAMLINE_{name}_TOKEN", TOKEN)
        yield


@pytest.fixture(autouse=True)
def calm(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test ends with no faults and no rate limit."""
    yield
    if "sandbox" in request.fixturenames:
        live: Sandbox = request.getfixturevalue("sandbox")
        live.set_faults(FaultConfig())
        for server in live.servers.values():
            server.service.bucket = TokenBucket(RateLimit(rate=0))

"""Run the simulated systems: each service's uvicorn in its own thread, and `start_all`.

    with start_all(".seamline/sandbox", ports={"crm": 0, "psa": 0, "erp": 0}) as sandbox:
        sandbox.urls          # {"crm": "http://127.0.0.1:54321", …}
        sandbox.env()         # SEAMLINE_CRM_URL / SEAMLINE_CRM_TOKEN … for the connectors
        sandbox.counts()      # {"crm": {"accounts": 12, …}, …, "northwind_uk": {…}}

Port 0 picks a free port. The databases stay in `data_dir` after `stop()`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import uvicorn

from runtime.sandbox._service import Service, ServiceSettings
from runtime.sandbox.crm import CrmService
from runtime.sandbox.erp import ErpService
from runtime.sandbox.faults import FaultConfig
from runtime.sandbox.legacy import create_legacy_db, legacy_url
from runtime.sandbox.psa import PsaService
from runtime.sandbox.ratelimit import RateLimit

SERVICES: dict[str, type[Service]] = {"crm": CrmService, "psa": PsaService, "erp": ErpService}
DEFAULT_PORTS = {"crm": 8101, "psa": 8102, "erp": 8103}


class ServiceServer:
    """One service served by uvicorn in a daemon thread, on a socket bound before it starts."""

    def __init__(self, service: Service, host: str = "127.0.0.1", port: int = 0) -> None:
        self.service = service
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # uvicorn leaves Nagle on for sockets it is handed: every response would wait ~40 ms
        # for the client's delayed ACK. Accepted connections inherit this option.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            self._sock.bind((host, port))
        except OSError as exc:
            self._sock.close()
            service.store.close()
            raise OSError(
                f"{service.title} cannot listen on {host}:{port}: {exc.strerror}"
            ) from exc
        self.port = int(self._sock.getsockname()[1])
        config = uvicorn.Config(
            service.app(),
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._sock]},
            name=f"sandbox-{service.name}",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ServiceServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulated {self.service.title} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.signal_stop()
        self._thread.join(timeout=10)
        self._sock.close()
        self.service.store.close()

    def signal_stop(self) -> None:
        self._server.should_exit = True


@dataclass
class Sandbox:
    """The running simulated systems."""

    data_dir: Path
    servers: dict[str, ServiceServer] = field(default_factory=dict)
    legacy_path: Path | None = None

    @property
    def urls(self) -> dict[str, str]:
        return {name: server.url for name, server in self.servers.items()}

    @property
    def crm(self) -> Service:
        return self.servers["crm"].service

    @property
    def psa(self) -> Service:
        return self.servers["psa"].service

    @property
    def erp(self) -> Service:
        return self.servers["erp"].service

    @property
    def legacy_url(self) -> str | None:
        return legacy_url(self.legacy_path) if self.legacy_path else None

    def env(self) -> dict[str, str]:
        """The environment the reference connectors read (`env:SEAMLINE_CRM_TOKEN`, …)."""
        out = {}
        for name, server in self.servers.items():
            out[f"SEAMLINE_{name.upper()}_URL"] = server.url
            out[f"SEAMLINE_{name.upper()}_TOKEN"] = server.service.settings.token
        if self.legacy_url:
            out["SEAMLINE_NORTHWIND_UK_URL"] = self.legacy_url
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        """Records per table of every system (what the demo's summary compares against)."""
        from runtime.sandbox._store import count_records

        out = {name: server.service.counts() for name, server in self.servers.items()}
        if self.legacy_path:
            out["northwind_uk"] = count_records(self.legacy_path)
        return out

    def replays(self, exclude_prefix: str | None = None) -> dict[str, int]:
        """Per system, writes answered from its idempotency store (`Idempotent-Replayed`),
        leaving out keys that start with `exclude_prefix`."""
        return {name: s.service.replays(exclude_prefix) for name, s in self.servers.items()}

    def set_faults(self, faults: FaultConfig, *services: str) -> None:
        for name in services or tuple(self.servers):
            self.servers[name].service.set_faults(faults)

    def set_webhook(self, url: str | None, secret: str | None = None, *services: str) -> None:
        """Where (and with which secret) the given systems, default all, send their webhooks."""
        for server in (self.servers[name] for name in services or tuple(self.servers)):
            server.service.webhooks.url = url
            if secret:
                server.service.webhooks.secret = secret
            server.service.webhooks.kick()

    def wait_delivered(self, timeout: float = 10.0) -> bool:
        """Wait until no webhook is pending (delivered or given up); False on timeout."""
        deadline = time.monotonic() + timeout
        while any(s.service.webhooks.pending() for s in self.servers.values()):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self) -> None:
        for server in self.servers.values():
            server.signal_stop()  # all at once: each takes a moment to drain
        for server in self.servers.values():
            server.stop()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def start_all(
    data_dir: Path | str,
    *,
    host: str = "127.0.0.1",
    ports: Mapping[str, int] | None = None,
    token: str | Mapping[str, str] | None = None,
    faults: FaultConfig | Mapping[str, FaultConfig] | None = None,
    rate_limit: RateLimit | None = None,
    webhook_url: str | None = None,
    webhook_secret: str | None = None,
    services: tuple[str, ...] = ("crm", "psa", "erp"),
    legacy: bool = True,
    legacy_seed: int = 7,
    reset: bool = False,
) -> Sandbox:
    """Start the simulated CRM, PSA and ERP (and create the legacy ERP database).

    `token`, `faults` may be one value for all or a mapping per service; unset values come from
    `SEAMLINE_SANDBOX_TOKEN` and `FaultConfig.from_env` (`SEAMLINE_SANDBOX_ERROR_RATE`, …).
    `reset` deletes the databases first.
    """
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if reset:
        for path in data_dir.glob("*.db*"):
            path.unlink()
    sandbox = Sandbox(data_dir)
    base = ServiceSettings(
        rate_limit=rate_limit or RateLimit(),
        webhook_url=webhook_url,
        webhook_secret=webhook_secret
        or os.environ.get("SEAMLINE_SANDBOX_WEBHOOK_SECRET", ServiceSettings.webhook_secret),
    )
    try:
        for name in services:
            settings = replace(
                base,
                token=_pick(token, name) or os.environ.get("SEAMLINE_SANDBOX_TOKEN", base.token),
                faults=_pick(faults, name) or FaultConfig.from_env(name),
            )
            service = SERVICES[name](data_dir / f"{name}.db", settings)
            port = (ports or DEFAULT_PORTS).get(name, DEFAULT_PORTS[name])
            sandbox.servers[name] = ServiceServer(service, host, port).start()
        if legacy:
            sandbox.legacy_path = create_legacy_db(data_dir / "northwind_uk.db", seed=legacy_seed)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def _pick(value: Any, name: str) -> Any:
    if isinstance(value, Mapping):
        return value.get(name)
    return value

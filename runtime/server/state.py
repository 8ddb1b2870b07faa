"""The running server's state: plan provider, store, security, workers, reloads — and its lifecycle.

`start` publishes the plan and starts the worker pool and (with --watch) the reloader; `drain`
closes ingress (503), lets the runs in flight finish within the grace period and stops the
background tasks. The app (app.py) and the runner (runner.py) only call these.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc

from runtime.compiler.plan import Plan
from runtime.engine.plans import PlanProvider
from runtime.errors import Diagnostic
from runtime.server.auth import Auth, AuthConfigError
from runtime.server.hooks import HookKeys, ReplayCache
from runtime.server.metrics import ServerMetrics, backlog_of
from runtime.server.reload import Reloader, ReloadLog, ReloadRecord, ReloadRejected, flow_hashes
from runtime.server.workers import WorkerPool
from runtime.spec.common import parse_duration
from runtime.spec.settings import WorkspaceSettings
from runtime.store.base import Store

log = logging.getLogger("seamline.server")


@dataclass
class ServerOptions:
    """What the command line decides; everything else comes from seamline.yaml."""

    host: str = "127.0.0.1"
    port: int = 8080
    concurrency: int | None = None  # default: settings.workers
    watch: bool = False
    grace: float | None = None  # default: settings.shutdown_grace
    poll_interval: float = 0.5
    debounce: float = 0.05
    backlog_ttl: float = 0.25  # how stale the backlog figure behind 429 may be


class Backlog:
    """Events not yet routed plus pending runs, read from the store at most every `ttl` seconds.

    Events accepted since the last reading are added, so a burst is seen before the next one.
    """

    def __init__(self, store: Store, ttl: float) -> None:
        self.store = store
        self.ttl = ttl
        self.counts: dict[str, int] = {}
        self._read_at = 0.0
        self._since = 0
        self._reading = False

    def added(self, n: int) -> None:
        self._since += n

    async def current(self) -> int:
        if time.monotonic() - self._read_at > self.ttl and not self._reading:
            await self.refresh()
        return backlog_of(self.counts) + self._since

    async def refresh(self) -> dict[str, int]:
        self._reading = True
        try:
            counts = await self.store.counts()
        finally:
            self._reading = False
        self.counts, self._since, self._read_at = counts, 0, time.monotonic()
        return counts


class ServerState:
    def __init__(self, plans: PlanProvider, store: Store, options: ServerOptions | None = None):
        self.plans = plans
        self.store = store
        self.options = options or ServerOptions()
        self.root = Path(plans.current.root)
        self.metrics = ServerMetrics()
        self.reloads = ReloadLog()
        self.auth, self.hook_keys = self._security(plans.current.settings)
        self.replays = ReplayCache()
        self.backlog = Backlog(store, self.options.backlog_ttl)
        concurrency = self.options.concurrency
        self.pool = WorkerPool(
            store,
            plans,
            self.metrics,
            plans.current.settings.workers if concurrency is None else concurrency,
            poll_interval=self.options.poll_interval,
        )
        self.reloader = Reloader(
            self.root,
            lambda: self.plans.current,
            self.apply,
            self.reloads,
            debounce=self.options.debounce,
            observe=self._observe_reload,
        )
        self.started_at = time.time()
        self.ready = False
        self.draining = False
        self.drained = anyio.Event()
        self.drain_requested = False
        self._drain_started = False
        self._stop_watch = anyio.Event()
        self._pool_scope: anyio.CancelScope | None = None
        self.on_drained: list[Callable[[], None]] = []  # the runner's: tell uvicorn to exit
        self.versions: dict[str, dict[str, dict[str, Any]]] = {}  # flow -> hash -> version info
        self._remember(plans.current)

    # -- plan and settings -------------------------------------------------------------------
    @property
    def plan(self) -> Plan:
        return self.plans.current

    @property
    def settings(self) -> WorkspaceSettings:
        return self.plans.current.settings

    @property
    def grace(self) -> float:
        if self.options.grace is not None:
            return self.options.grace
        return parse_duration(self.settings.shutdown_grace)

    def _security(self, settings: WorkspaceSettings) -> tuple[Auth, HookKeys]:
        return Auth.from_settings(settings, self.options.host), HookKeys.from_settings(settings)

    async def apply(self, plan: Plan) -> None:
        """Take a compiled plan: its tokens and hook secrets must resolve, then it is published."""
        try:
            auth, hook_keys = self._security(plan.settings)
        except AuthConfigError as exc:
            raise ReloadRejected(
                [Diagnostic("seamline.yaml", 1, 1, "", "server.settings", str(exc))]
            ) from exc
        for name in ("host", "port", "store"):
            if getattr(plan.settings, name) != getattr(self.settings, name):
                log.warning("seamline.yaml `%s` changed: it takes effect on restart", name)
        await self.plans.publish(plan)
        self.auth, self.hook_keys = auth, hook_keys
        self._remember(plan)

    def _remember(self, plan: Plan) -> None:
        """The flow versions this server has served (the store keeps their files by hash)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for flow in plan.flows.values():
            seen = self.versions.setdefault(flow.name, {})
            for info in seen.values():
                info["current"] = False
            entry = seen.setdefault(
                flow.content_hash,
                {"hash": flow.content_hash, "version": flow.version, "first_served": now},
            )
            entry["current"] = True

    def _observe_reload(self, record: ReloadRecord) -> None:
        self.metrics.reloads.inc("ok" if record.ok else "rejected")
        self.metrics.reload_latency.observe(record.duration_ms / 1000)
        self.metrics.last_reload.set(time.time())

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, group: anyio.abc.TaskGroup) -> None:
        """Publish the plan and start the background work in `group`."""
        started = time.perf_counter()
        await self.plans.publish(self.plan)
        self.reloads.add(
            ReloadRecord(
                at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                trigger="startup",
                files=[],
                ok=True,
                old_hash=None,
                new_hash=self.plan.workspace_hash,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                flows_added=sorted(flow_hashes(self.plan)),
            )
        )
        await self.backlog.refresh()
        group.start_soon(self._run_pool)
        group.start_soon(self._watch_drain_request)
        if self.options.watch:
            group.start_soon(self.reloader.watch, self._stop_watch)
        self.ready = True
        log.info(
            "serving %s (%d flows, workspace %s) with %d worker(s)%s; auth: %s",
            self.root,
            len(self.plan.flows),
            self.plan.workspace_hash[:12],
            self.pool.concurrency,
            ", watching for changes" if self.options.watch else "",
            self.auth.describe(),
        )

    async def _run_pool(self) -> None:
        with anyio.CancelScope() as scope:
            self._pool_scope = scope
            await self.pool.run()

    def request_drain(self) -> None:
        """Safe from a signal handler: ingress closes at once, a task does the rest."""
        self.draining = True
        self.drain_requested = True

    async def _watch_drain_request(self) -> None:
        while not self.drain_requested:
            await anyio.sleep(0.05)
        await self.drain()

    async def drain(self) -> None:
        """Close ingress, let runs in flight finish (up to the grace period), stop background work."""
        if self._drain_started:
            await self.drained.wait()
            return
        self._drain_started = True
        self.draining = True
        self.metrics.draining.set(1)
        grace = self.grace
        log.info(
            "draining (pid %d): ingress closed; waiting up to %.0fs for runs", os.getpid(), grace
        )
        finished = await self.pool.drain(grace)
        if not finished:
            log.warning(
                "grace period over: runs still in flight are stopped; they resume from their "
                "journal on the next start"
            )
            if self._pool_scope is not None:
                self._pool_scope.cancel()
        self._stop_watch.set()
        self.drained.set()
        for callback in self.on_drained:
            callback()
        log.info("drained; %d run(s) executed by this server", self.pool.worker.runs_executed)

    async def stop(self) -> None:
        """End everything (lifespan shutdown): drain if that has not happened yet."""
        await self.drain()


__all__ = ["Backlog", "ServerOptions", "ServerState"]

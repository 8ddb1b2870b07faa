"""`seamline demo`: the simulated systems and the runtime, and a business day played through them.

    demo = Demo(DemoOptions(scale="small"), progress)
    summary = demo.run()        # plays the day, waits until the runtime is idle, summarises
    demo.stop()                 # or keep everything running for a look around first

The order of the day: Northwind's customers put in the CRM by the migration (before the runtime
starts, so its first poll of the legacy ERP finds their accounts), accounts (synced to the ERP,
Northwind's invoices noted on their accounts), deals won (projects provisioned, Northwind's
in its legacy ERP), time and change orders, duplicate and invalid events, invoices and payments,
and at night the reconciliation — each stage waits until the runtime has caught up, so what
comes next finds what it needs (a project to book time on, an invoice to post).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import anyio

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace
from runtime.demo._business import Business
from runtime.demo._player import Player, Progress
from runtime.demo._runtime import DemoRuntime, start_runtime
from runtime.demo._scale import SCALES
from runtime.demo._summary import build_summary
from runtime.demo._world import SYSTEMS, World, build_world, find_workspace
from runtime.store import Store, open_store

NIGHTLY = "nightly_reconciliation"


class DemoError(Exception):
    pass


@dataclass
class DemoOptions:
    data_dir: Path = Path(".seamline/demo")
    scale: str = "day"
    seed: int = 7
    workspace: Path = Path(".")
    prefer_server: bool = True
    today: date = field(default_factory=date.today)


class Demo:
    def __init__(self, options: DemoOptions, progress: Progress) -> None:
        if options.scale not in SCALES:
            raise DemoError(f"unknown scale {options.scale!r}; use one of {', '.join(SCALES)}")
        self.options = options
        self.scale = SCALES[options.scale]
        self.phases: dict[str, list[float]] = {}  # phase -> [first seen, last seen]

        def timed(phase: str, done: int, total: int) -> None:
            now = time.monotonic()
            self.phases.setdefault(phase, [now, now])[1] = now
            progress(phase, done, total)

        self.progress = timed
        self.world: World | None = None
        self.store: Store | None = None
        self.runtime: DemoRuntime | None = None
        self.store_url = ""
        self._log: logging.Handler | None = None

    def start(self) -> None:
        """Systems up, workspace copied and compiled, runtime listening, webhooks pointed at it."""
        self._launch(self._build())

    def _build(self) -> Plan:
        """Systems up, workspace copied and compiled, the store open; no runtime yet."""
        options = self.options
        self.progress("starting the systems and the runtime", 0, 3)
        source = find_workspace(options.workspace)
        self.world = world = build_world(
            options.data_dir.resolve(), source, workers=self.scale.workers, seed=options.seed
        )
        # the systems' and the server's logs go to a file, not over the progress bar
        self._log = logging.FileHandler(world.data_dir / "demo.log", encoding="utf-8")
        self._log.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        )
        logging.getLogger().addHandler(self._log)
        logging.getLogger().setLevel(logging.INFO)
        self.progress("starting the systems and the runtime", 1, 3)
        report = check_workspace(world.workspace)
        if report.plan is None:
            problems = "\n".join(str(d) for d in report.diagnostics[:20])
            raise DemoError(f"the reference workspace has problems (seamline check):\n{problems}")
        plan = report.plan
        self.store_url = plan.settings.store
        self.store = open_store(self.store_url, world.workspace)
        return plan

    def _launch(self, plan: Plan) -> None:
        """The runtime listening (its worker polls the sources at once), webhooks pointed at it."""
        assert self.world is not None and self.store is not None
        world, options = self.world, self.options
        self.runtime = start_runtime(
            plan,
            self.store,
            self.scale.workers,
            world.hook_secrets,
            prefer_server=options.prefer_server,
        )
        self.progress("starting the systems and the runtime", 2, 3)
        for system in SYSTEMS:
            world.sandbox.set_webhook(
                self.runtime.hook_url(system), world.hook_secrets[system], system
            )
        self.progress("starting the systems and the runtime", 3, 3)

    def run(self) -> dict[str, Any]:
        """Play the day and return the summary (also written to <data dir>/summary.json)."""
        started = time.monotonic()
        plan = self._build()
        assert self.world is not None
        world, seed = self.world, self.options.seed
        baseline = world.sandbox.counts()
        business = Business(seed, self.options.today)
        player = Player(
            world.sandbox, world.token, world.workspace, self.scale, seed, business, self.progress
        )
        try:
            # Northwind's customers are in the CRM before the runtime first polls the legacy ERP
            player.migration()
            self._launch(plan)
            assert self.runtime is not None
            player.connect(self.runtime.url)
            player.morning()
            player.settle("runtime: accounts synced to the ERP")
            player.faults(True)
            player.account_changes()
            player.deals()
            player.settle("runtime: projects provisioned")
            player.delivery()
            player.settle("runtime: time priced and invoiced")
            player.duplicates()
            player.invalid_events(world.workspace / "contracts")
            player.finance()
            player.settle("runtime: invoices and payments recorded")
            player.faults(False)
            player.seed_discrepancies()
            self._fire_nightly()
            player.settle("night: reconciliation")
        finally:
            player.close()
        summary = build_summary(
            scale=self.scale,
            seed=seed,
            data_dir=world.data_dir,
            workspace=world.workspace,
            store_url=self.store_url,
            sandbox=world.sandbox,
            baseline=baseline,
            runtime=self.runtime,
            played=player.played,
            user_key_prefix=f"demo{seed}-",
            elapsed=time.monotonic() - started,
        )
        summary["phase_seconds"] = {p: round(b - a, 1) for p, (a, b) in self.phases.items()}
        (world.data_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary

    def _fire_nightly(self) -> None:
        """Night falls: the reconciliation's next fire time is set to now; a worker fires it."""
        assert self.world is not None

        async def fire() -> None:
            store = open_store(self.store_url, self.world.workspace)  # type: ignore[union-attr]
            try:
                for _ in range(100):  # the runtime records the schedule when it starts
                    state = (await store.schedules()).get(NIGHTLY)
                    if state is not None:
                        await store.set_schedule(
                            NIGHTLY, state.cron, state.timezone, time.time() - 1
                        )
                        return
                    await anyio.sleep(0.1)
                raise DemoError(f"the runtime has not scheduled {NIGHTLY}")
            finally:
                await store.aclose()

        anyio.run(fire)

    @property
    def urls(self) -> dict[str, str]:
        out = dict(self.world.sandbox.urls) if self.world else {}
        if self.runtime is not None:
            out["seamline"] = self.runtime.url
        return out

    def stop(self) -> None:
        """Stop the runtime (it drains), then the systems; the databases stay."""
        if self.runtime is not None:
            self.runtime.stop()
            self.runtime = None
        if self.store is not None:
            anyio.run(self.store.aclose)
            self.store = None
        if self.world is not None:
            self.world.stop()
            self.world = None
        if self._log is not None:
            logging.getLogger().removeHandler(self._log)
            self._log.close()
            self._log = None

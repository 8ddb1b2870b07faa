"""Workers: route accepted events to runs, run what is runnable, wake timers, flag SLA breaches.

A worker owns runs by lease; on start it takes back runs left `running` by a process that died
(one machine: checked by pid). Several workers in one process share the store.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import jmespath

from runtime.engine.context import Clock
from runtime.engine.durable import execute_run, sla_breach_event
from runtime.engine.executor import event_document, select_variant
from runtime.engine.plans import PlanProvider
from runtime.engine.result import RunResult
from runtime.engine.schedules import fire_due
from runtime.engine.sources import SourcePoller
from runtime.expressions.functions import jmespath_options
from runtime.expressions.jmes import is_truthy
from runtime.store.base import NewRun, OpenWait, RouteDecision, Store, StoredEvent, WaitDelivery

log = logging.getLogger("seamline.worker")


def new_run_id() -> str:
    """Time-ordered and unique: 12 hex digits of milliseconds, then 8 random."""
    return f"{int(time.time() * 1000):012x}{uuid.uuid4().hex[:8]}"


def process_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{int(time.time())}"


def owner_is_alive(owner: str) -> bool:
    """Only this machine's processes can be checked; others are trusted until their lease ends."""
    host, _, rest = owner.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    if int(pid_text) == os.getpid():
        return owner == _OWNER
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_OWNER = process_owner()


class EventRouter:
    """Decides, for one stored event, which runs start and which waiting runs it wakes."""

    def __init__(self, plans: PlanProvider) -> None:
        self.plans = plans
        self._matches: dict[str, Any] = {}

    def __call__(self, event: StoredEvent, waits: Sequence[OpenWait]) -> RouteDecision:
        plan = self.plans.current
        decision = RouteDecision()
        body = event.body
        document = event_document(body)
        for base in plan.flows_for(event.type):
            try:
                if base.filter is not None and not is_truthy(base.filter.evaluate(document)):
                    continue
                key = base.key.evaluate(document) if base.key is not None else None
            except Exception:  # noqa: BLE001 - a filter that cannot read this event does not match it
                continue
            flow = select_variant(plan, base.name, body)
            decision.runs.append(
                NewRun(
                    new_run_id(),
                    flow.name,
                    flow.content_hash,
                    flow.version,
                    key,
                    flow.sla_seconds,
                    flow.variant,
                )
            )
        options = jmespath_options(plan.functions)
        for wait in waits:
            compiled = self._matches.get(wait.match)
            if compiled is None:
                compiled = self._matches[wait.match] = jmespath.compile(wait.match)
            try:
                value = compiled.search(body, options=options)
            except Exception:  # noqa: BLE001 - an event the match cannot read does not correlate
                continue
            if value == wait.correlation:
                decision.deliveries.append(WaitDelivery(wait.run_id, wait.generation, wait.label))
        return decision


@dataclass
class Worker:
    store: Store
    plans: PlanProvider
    concurrency: int = 4
    clock: Clock = field(default_factory=Clock)
    poll_interval: float = 0.2
    owner: str = _OWNER
    runs_executed: int = 0
    on_result: Callable[[RunResult], None] | None = None
    """Called with every run's result as it ends or suspends (metrics, logs)."""
    sources: SourcePoller = field(default_factory=SourcePoller)
    poll_sources_in_step: bool = True
    """False while `source_loop` polls them in a task of its own (a slow source, say a
    database that does not answer, must not hold up runs)."""

    async def recover(self) -> int:
        return await self.store.recover(owner_is_alive)

    async def step(self) -> int:
        """One round: route, run what is due, flag SLA breaches. Returns the work done."""
        fired = await fire_due(
            self.store, self.plans.current, self.clock.now().timestamp(), new_run_id
        )
        if self.poll_sources_in_step:
            fired += await self.poll_sources()
        router = EventRouter(self.plans)
        routed = await self.store.route_pending(router)
        now = self.clock.now().timestamp()
        claimed = await self.store.claim(self.owner, now, limit=self.concurrency)
        if claimed:
            async with anyio.create_task_group() as group:
                for run in claimed:
                    group.start_soon(self._execute, run)
        flagged = await self._flag_sla(now)
        return fired + routed + len(claimed) + flagged

    async def poll_sources(self) -> int:
        """Poll the sources that are due; returns how many new events they gave."""
        return await self.sources.poll_due(
            self.store, self.plans.current, self.clock.now().timestamp()
        )

    async def source_loop(self, stop: anyio.Event, on_events: Callable[[], None]) -> None:
        """Poll sources until `stop`, calling `on_events` when new events arrived."""
        self.poll_sources_in_step = False
        while not stop.is_set():
            try:
                if await self.poll_sources():
                    on_events()
            except Exception:  # a failing round is logged and retried, never fatal
                log.exception("polling sources failed; retrying")
            due = self.sources.next_due(self.plans.current)
            now = self.clock.now().timestamp()
            # look again at least every second: a reload may add or change sources
            delay = 1.0 if due is None else min(max(due - now, 0.05), 1.0)
            with anyio.move_on_after(delay):
                await stop.wait()

    async def _execute(self, run: Any) -> None:
        result = await execute_run(self.store, self.plans, run, self.clock)
        self.runs_executed += 1
        if self.on_result is not None:
            self.on_result(result)

    async def _flag_sla(self, now: float) -> int:
        overdue = await self.store.sla_overdue(now)
        for run in overdue:
            flow = self.plans.current.flows.get(run.flow)
            sla = flow.sla_seconds if flow and flow.sla_seconds else 0.0
            event = sla_breach_event(run, now, sla)
            contract = self.plans.current.contracts.get("ops.sla.breached")
            if contract is not None:
                event["dataschema"] = contract.latest.uri
            await self.store.mark_sla_breached(run.id, event)
        return len(overdue)

    async def next_wake(self, *, sources: bool = True) -> float | None:
        """The earliest timer: a waiting run's, a schedule's next fire, or (unless `sources` is
        False) the next poll of a source polled in `step`."""
        scheduled = {f.name for f in self.plans.current.flows.values() if f.schedule}
        times = [
            s.next_fire for s in (await self.store.schedules()).values() if s.flow in scheduled
        ]
        wake = await self.store.next_wake()
        if wake is not None:
            times.append(wake)
        due = (
            self.sources.next_due(self.plans.current)
            if sources and self.poll_sources_in_step
            else None
        )
        if due is not None:
            times.append(due)
        return min(times) if times else None

    async def run_until_idle(self, *, max_wait: float = 0.0) -> None:
        """Work until nothing is runnable; with max_wait, also sleep for timers due within it.
        Sources that are due are polled, but a source's next poll is not a reason to wait: it
        comes round forever."""
        await self.recover()
        while True:
            if await self.step():
                continue
            wake = await self.next_wake(sources=False)
            now = self.clock.now().timestamp()
            if wake is None or wake - now > max_wait:
                return
            await self.clock.sleep(max(wake - now, 0.0) + 0.001)

    async def serve(self, stop: anyio.Event) -> None:
        """Work until `stop` is set, sleeping until the next timer or poll interval."""
        self.poll_sources_in_step = False
        async with anyio.create_task_group() as group:
            group.start_soon(self.source_loop, stop, lambda: None)
            await self._serve(stop)

    async def _serve(self, stop: anyio.Event) -> None:
        await self.recover()
        while not stop.is_set():
            if await self.step():
                continue
            wake = await self.next_wake()
            now = self.clock.now().timestamp()
            delay = (
                self.poll_interval
                if wake is None
                else min(max(wake - now, 0.0), self.poll_interval)
            )
            with anyio.move_on_after(delay):
                await stop.wait()

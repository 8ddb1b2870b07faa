"""The server's workers: the engine's Worker, woken by ingress, counted by metrics, drained on stop.

At most `concurrency` runs execute at once (the Worker claims that many per round). Ingress
wakes the pool after each durable accept, so a new event does not wait for the next poll; so
does the source poller, which runs in a task of its own (a database that does not answer must
not hold up runs). On
drain the pool stops claiming; runs in flight finish (every step is journaled as it ends). A
run still going when the grace period is over is cancelled where it stands: it stays `running`
with this process as owner, and the next start takes it back and resumes it from its journal.
"""

from __future__ import annotations

import logging

import anyio

from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.server.metrics import ServerMetrics
from runtime.store.base import Store

log = logging.getLogger("seamline.workers")


class WorkerPool:
    def __init__(
        self,
        store: Store,
        plans: PlanProvider,
        metrics: ServerMetrics,
        concurrency: int,
        *,
        poll_interval: float = 0.5,
    ) -> None:
        self.concurrency = concurrency
        self.worker = Worker(
            store, plans, concurrency=max(concurrency, 1), on_result=metrics.observe_run
        )
        self.worker.poll_sources_in_step = False  # `run` polls them in a task of its own
        self.worker.sources.on_poll = metrics.observe_poll
        self.poll_interval = poll_interval
        self.stopping = anyio.Event()
        self.stopped = anyio.Event()
        self._wake = anyio.Event()
        self.in_flight = False

    def wake(self) -> None:
        """New work arrived: look now instead of at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        self.stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Work until stopped; a cancellation mid-run leaves the run to be recovered later."""
        try:
            if self.concurrency <= 0:
                await self.stopping.wait()
                return
            async with anyio.create_task_group() as group:
                group.start_soon(self.worker.source_loop, self.stopping, self.wake)
                await self._work()
        finally:
            self.stopped.set()

    async def _work(self) -> None:
        worker = self.worker
        await worker.recover()
        while not self.stopping.is_set():
            self._wake = anyio.Event()
            self.in_flight = True
            try:
                busy = await worker.step()
            except Exception:  # a failing round is logged and retried, never fatal
                log.exception("worker round failed; retrying")
                busy = 0
                await anyio.sleep(self.poll_interval)
            finally:
                self.in_flight = False
            if busy or self.stopping.is_set():
                continue
            wake_at = await worker.store.next_wake()
            now = worker.clock.now().timestamp()
            delay = self.poll_interval
            if wake_at is not None:
                delay = min(max(wake_at - now, 0.0), delay)
            with anyio.move_on_after(delay):
                await self._wake.wait()

    async def drain(self, grace: float) -> bool:
        """Stop claiming and wait up to `grace` seconds for runs in flight; True if they ended."""
        self.stop()
        with anyio.move_on_after(grace):
            await self.stopped.wait()
        return self.stopped.is_set()


__all__ = ["WorkerPool"]

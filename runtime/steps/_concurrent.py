"""Fan-out for `parallel` branches and concurrent `for_each` items.

The runtime runs on asyncio (the HTTP connector binds its clients to the running loop), so the
fan-out uses asyncio's own TaskGroup: the same structured concurrency as anyio's task group
(the first failure cancels the siblings and everything is awaited before returning), at about
a quarter of its cost per fan-out — which matters for the small loops flows are made of.
Cancellation from outside (an enclosing anyio cancel scope, a step timeout, shutdown) reaches
the calling task and the TaskGroup passes it on to the jobs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any


async def run_concurrently(jobs: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run the jobs at the same time and wait for all of them. A failure cancels the others
    and is raised inside a BaseExceptionGroup (as a task group raises it).

    The first job runs in the calling task, the rest in tasks of their own: a task starts only
    once the caller yields, so the jobs start in order either way, and a job that never waits
    finishes before the next one starts, as it would in a task group.
    """
    if not jobs:
        return
    async with asyncio.TaskGroup() as group:
        for job in jobs[1:]:
            group.create_task(job)
        await jobs[0]

"""The step journal as the engine sees it: skip what already happened, record what happens.

In-process runs (`seamline run`, tests) use MemoryJournal: nothing is skipped, waits sleep on
the clock. Durable runs use StoreJournal: every leaf step is committed before the next starts,
completed steps are never executed again, and waits suspend the run on a durable timer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from runtime.steps._context import Suspend
from runtime.store.base import JournalEntry, OpenWait, Store

# Steps with effects or results of their own; containers (switch, for_each, parallel, subflow)
# are re-evaluated on resume and find their children in the journal.
LEAF_KINDS = frozenset({"call", "set", "emit", "fail", "wait_for", "delay", "undo", "reconcile"})
DONE = ("succeeded", "skipped", "compensated")


class MemoryJournal:
    durable = False
    generation = 0

    def entry(self, label: str) -> JournalEntry | None:
        return None

    async def record(
        self,
        entry: JournalEntry,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None:
        return None


class StoreJournal:
    durable = True

    def __init__(
        self, store: Store, run_id: str, generation: int, entries: Sequence[JournalEntry]
    ) -> None:
        self.store = store
        self.run_id = run_id
        self.generation = generation
        self._entries = {e.label: e for e in entries}

    def entry(self, label: str) -> JournalEntry | None:
        return self._entries.get(label)

    async def record(
        self,
        entry: JournalEntry,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None:
        await self.store.record(entry, emitted=emitted, wait=wait)
        self._entries[entry.label] = entry


Journal = MemoryJournal | StoreJournal

__all__ = ["DONE", "LEAF_KINDS", "Journal", "MemoryJournal", "StoreJournal", "Suspend"]

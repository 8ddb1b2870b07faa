"""The polled-source half of the SQLite store: poll claims, cursors, taken-in items, rejects.

A read of a source is committed in one transaction with the events it produced: the inbox rows,
the new cursor (compare-and-set against the cursor the read started from) or the item ledger
row, and the rejected records. A crash before the commit loses nothing (the next poll reads the
same rows again); after it, the cursor or the ledger says the read was taken in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from runtime.store._connection import SqliteConnection
from runtime.store._rows import (
    cursor_text,
    loads,
    now_iso,
    reject_params,
    source_counts_params,
    source_counts_sql,
    source_state,
)
from runtime.store.base import Accepted, SourceCommit, SourceReject, SourceState


class SourcesMixin(SqliteConnection):
    """Polled sources (file drops, SQL watermarks)."""

    def _insert_events(self, events: Sequence[dict[str, Any]]) -> list[Accepted]:
        raise NotImplementedError  # the store class provides it

    def _ensure_source(self, name: str) -> None:
        self._db.execute("INSERT OR IGNORE INTO sources(name) VALUES (?)", (name,))

    def _claim_poll(self, name: str, now: float, next_poll: float) -> bool:
        self._ensure_source(name)
        cursor = self._db.execute(
            "UPDATE sources SET next_poll=?, last_poll=?, polls=polls+1, updated_at=? "
            "WHERE name=? AND next_poll<=?",
            (next_poll, now, now_iso(), name, now),
        )
        return bool(cursor.rowcount)

    async def claim_source_poll(self, name: str, now: float, next_poll: float) -> bool:
        """True (and the next poll set) if this source is due and nobody claimed it since."""
        return bool(await self._call(self._claim_poll, name, now, next_poll))

    async def source_states(self) -> dict[str, SourceState]:
        rows = await self._call(
            lambda: self._db.execute("SELECT * FROM sources ORDER BY name").fetchall()
        )
        return {row["name"]: source_state(row) for row in rows}

    async def source_item_seen(self, name: str, item: str) -> bool:
        row = await self._call(
            lambda: self._db.execute(
                "SELECT 1 FROM source_items WHERE source=? AND item=?", (name, item)
            ).fetchone()
        )
        return row is not None

    def _commit_source(self, name: str, commit: SourceCommit) -> list[Accepted] | None:
        self._ensure_source(name)
        if commit.move_cursor:
            current = self._db.execute(
                "SELECT cursor FROM sources WHERE name=?", (name,)
            ).fetchone()["cursor"]
            if current != cursor_text(commit.expected_cursor):
                return None  # another poller took this batch in first
        if commit.item is not None:
            taken = self._db.execute(
                "INSERT OR IGNORE INTO source_items(source, item, events, rejects, at) "
                "VALUES (?,?,?,?,?)",
                (name, commit.item, len(commit.events), len(commit.rejects), now_iso()),
            )
            if not taken.rowcount:
                return None
        accepted = self._insert_events(commit.events) if commit.events else []
        now = now_iso()
        self._db.executemany(
            "INSERT INTO source_rejects(source, item, location, message, raw, at) "
            "VALUES (?,?,?,?,?,?)",
            reject_params(name, commit, now),
        )
        self._db.execute(
            source_counts_sql(commit, "?"), source_counts_params(name, commit, accepted, now)
        )
        return accepted

    async def commit_source(self, name: str, commit: SourceCommit) -> list[Accepted] | None:
        """Take one read in: events, rejects and the new cursor or item, in one transaction.
        None when the read was taken in already (cursor moved, or the item is in the ledger)."""
        result = await self._call(self._commit_source, name, commit)
        return None if result is None else list(result)

    async def source_error(self, name: str, message: str | None) -> None:
        def write() -> None:
            self._ensure_source(name)
            self._db.execute(
                "UPDATE sources SET last_error=?, updated_at=? WHERE name=?",
                (message, now_iso(), name),
            )

        await self._call(write)

    async def source_rejects(self, name: str | None = None, limit: int = 100) -> list[SourceReject]:
        def read() -> list[sqlite3.Row]:
            if name is None:
                return self._db.execute(
                    "SELECT * FROM source_rejects ORDER BY seq DESC LIMIT ?", (limit,)
                ).fetchall()
            return self._db.execute(
                "SELECT * FROM source_rejects WHERE source=? ORDER BY seq DESC LIMIT ?",
                (name, limit),
            ).fetchall()

        return [
            SourceReject(
                row["location"],
                row["message"],
                loads(row["raw"]),
                row["item"],
                row["seq"],
                row["source"],
                row["at"],
            )
            for row in await self._call(read)
        ]

    async def reset_source(self, name: str, cursor: Any = None) -> None:
        """Set the cursor (None: start over from the source's `start`) and poll at once."""

        def write() -> None:
            self._ensure_source(name)
            self._db.execute(
                "UPDATE sources SET cursor=?, next_poll=0, last_error=NULL, updated_at=? "
                "WHERE name=?",
                (cursor_text(cursor), now_iso(), name),
            )

        await self._call(write)

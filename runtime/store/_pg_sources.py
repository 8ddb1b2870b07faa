"""The polled-source half of the PostgreSQL store: poll claims, cursors, taken-in items, rejects.

Same semantics as runtime/store/_sources.py. Across processes: a poll is claimed with a
conditional UPDATE (a second claimer waits for the first to commit, then finds the next poll
moved and claims nothing), and a read is committed with the source's row locked (SELECT … FOR
UPDATE), so the cursor compare-and-set sees the cursor as the last commit left it.
"""

from __future__ import annotations

from typing import Any

from runtime.store._pg_connection import Db, PgConnection
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


class PgSourcesMixin(PgConnection):
    """Polled sources (file drops, SQL watermarks)."""

    @staticmethod
    def _ensure_source(db: Db, name: str) -> None:
        db.execute("INSERT INTO sources(name) VALUES (%s) ON CONFLICT DO NOTHING", (name,))

    def _claim_poll(self, db: Db, name: str, now: float, next_poll: float) -> bool:
        self._ensure_source(db, name)
        claimed = db.execute(
            "UPDATE sources SET next_poll=%s, last_poll=%s, polls=polls+1, updated_at=%s "
            "WHERE name=%s AND next_poll<=%s",
            (next_poll, now, now_iso(), name, now),
        )
        return bool(claimed.rowcount)

    async def claim_source_poll(self, name: str, now: float, next_poll: float) -> bool:
        """True (and the next poll set) if this source is due and nobody claimed it since."""
        return bool(await self._call(self._claim_poll, name, now, next_poll))

    async def source_states(self) -> dict[str, SourceState]:
        rows = await self._call(
            lambda db: db.execute("SELECT * FROM sources ORDER BY name").fetchall()
        )
        return {row["name"]: source_state(row) for row in rows}

    async def source_item_seen(self, name: str, item: str) -> bool:
        row = await self._call(
            lambda db: db.execute(
                "SELECT 1 FROM source_items WHERE source=%s AND item=%s", (name, item)
            ).fetchone()
        )
        return row is not None

    def _commit_source(self, db: Db, name: str, commit: SourceCommit) -> list[Accepted] | None:
        self._ensure_source(db, name)
        # the row lock makes concurrent commits of one source take turns: the compare-and-set
        # below reads the cursor the previous commit wrote, never an older snapshot
        current = db.execute(
            "SELECT cursor FROM sources WHERE name=%s FOR UPDATE", (name,)
        ).fetchone()
        assert current is not None
        if commit.move_cursor and current["cursor"] != cursor_text(commit.expected_cursor):
            return None  # another poller took this batch in first
        if commit.item is not None:
            taken = db.execute(
                "INSERT INTO source_items(source, item, events, rejects, at) "
                "VALUES (%s,%s,%s,%s,%s) ON CONFLICT DO NOTHING",
                (name, commit.item, len(commit.events), len(commit.rejects), now_iso()),
            )
            if not taken.rowcount:
                return None
        accepted = self._insert_events(db, commit.events)
        now = now_iso()
        if commit.rejects:
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO source_rejects(source, item, location, message, raw, at) "
                    "VALUES (%s,%s,%s,%s,%s,%s)",
                    reject_params(name, commit, now),
                )
        db.execute(
            source_counts_sql(commit, "%s"), source_counts_params(name, commit, accepted, now)
        )
        return accepted

    async def commit_source(self, name: str, commit: SourceCommit) -> list[Accepted] | None:
        """Take one read in: events, rejects and the new cursor or item, in one transaction.
        None when the read was taken in already (cursor moved, or the item is in the ledger)."""
        result = await self._call(self._commit_source, name, commit)
        return None if result is None else list(result)

    async def source_error(self, name: str, message: str | None) -> None:
        def write(db: Db) -> None:
            self._ensure_source(db, name)
            db.execute(
                "UPDATE sources SET last_error=%s, updated_at=%s WHERE name=%s",
                (message, now_iso(), name),
            )

        await self._call(write)

    async def source_rejects(self, name: str | None = None, limit: int = 100) -> list[SourceReject]:
        def read(db: Db) -> list[dict[str, Any]]:
            if name is None:
                return db.execute(
                    "SELECT * FROM source_rejects ORDER BY seq DESC LIMIT %s", (limit,)
                ).fetchall()
            return db.execute(
                "SELECT * FROM source_rejects WHERE source=%s ORDER BY seq DESC LIMIT %s",
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

        def write(db: Db) -> None:
            self._ensure_source(db, name)
            db.execute(
                "UPDATE sources SET cursor=%s, next_poll=0, last_error=NULL, updated_at=%s "
                "WHERE name=%s",
                (cursor_text(cursor), now_iso(), name),
            )

        await self._call(write)

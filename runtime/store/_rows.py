"""Converting between database rows and the store's records, and the JSON used in columns.

Shared by the SQLite and the PostgreSQL backends: both keep the same columns, JSON as text.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from runtime.store.base import (
    Accepted,
    JournalEntry,
    NewRun,
    OpenWait,
    RunRecord,
    SourceCommit,
    SourceState,
    StoredEvent,
)


class Row(Protocol):
    """A row by column name: a sqlite3.Row, or a dict from psycopg's dict_row."""

    def __getitem__(self, column: str, /) -> Any: ...


def dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def loads(text: str | bytes | None) -> Any:
    return None if text is None else orjson.loads(text)


def now_iso(now: float | None = None) -> str:
    moment = time.time() if now is None else now
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"
    )


def key_text(key: Any) -> str | None:
    """The run key as stored: JSON text, so 42 and "42" are different keys; null means none."""
    return None if key is None else orjson.dumps(key, option=orjson.OPT_SORT_KEYS).decode()


def stored_event(row: Row) -> StoredEvent:
    return StoredEvent(
        row["seq"],
        row["source"],
        row["id"],
        row["type"],
        orjson.loads(row["body"]),
        row["received_at"],
    )


def open_wait(row: Row) -> OpenWait:
    return OpenWait(
        row["run_id"],
        row["generation"],
        row["label"],
        row["event_type"],
        row["match"],
        loads(row["correlation"]),
        row["deadline"],
    )


def run_record(row: Row) -> RunRecord:
    return RunRecord(
        id=row["id"],
        flow=row["flow"],
        flow_hash=row["flow_hash"],
        flow_version=row["flow_version"],
        key=loads(row["key_json"]),
        event_seq=row["event_seq"],
        status=row["status"],
        generation=row["generation"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        wake_at=row["wake_at"],
        error=loads(row["error"]),
        output=loads(row["output"]),
        sla_deadline=row["sla_deadline"],
        sla_breached=bool(row["sla_breached"]),
        replays=row["replays"],
        variant=row["variant"],
    )


def journal_entry(row: Row) -> JournalEntry:
    return JournalEntry(
        run_id=row["run_id"],
        generation=row["generation"],
        label=row["label"],
        kind=row["kind"],
        status=row["status"],
        input=loads(row["input"]),
        output=loads(row["output"]),
        error=loads(row["error"]),
        attempts=row["attempts"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        duration_ms=row["duration_ms"],
        wake_at=row["wake_at"],
        detail=loads(row["detail"]),
        seq=row["seq"],
    )


def cursor_text(cursor: Any) -> str | None:
    """A polled source's cursor as stored: sorted-key JSON, so equal cursors compare equal."""
    return None if cursor is None else orjson.dumps(cursor, option=orjson.OPT_SORT_KEYS).decode()


def source_state(row: Row) -> SourceState:
    return SourceState(
        row["name"],
        loads(row["cursor"]),
        row["next_poll"],
        row["last_poll"],
        row["polls"],
        row["events"],
        row["duplicates"],
        row["rejects"],
        row["items"],
        row["last_error"],
        row["updated_at"],
    )


# -- parameters of the statements both backends write (same columns, same order) ---------------
def new_run_params(run: NewRun, event_seq: int, status: str) -> tuple[Any, ...]:
    """`runs(id, flow, flow_hash, flow_version, run_key, key_json, event_seq, status,
    created_at, updated_at, sla_deadline, variant)` of a run the router or a schedule starts."""
    now = now_iso()
    deadline = time.time() + run.sla_seconds if run.sla_seconds else None
    return (
        run.run_id,
        run.flow,
        run.flow_hash,
        run.flow_version,
        key_text(run.key),
        dumps(run.key),
        event_seq,
        status,
        now,
        now,
        deadline,
        run.variant,
    )


def journal_params(entry: JournalEntry) -> tuple[Any, ...]:
    """`journal(run_id, generation, label, kind, status, input, output, error, attempts,
    started_at, finished_at, duration_ms, wake_at, detail)`."""
    return (
        entry.run_id,
        entry.generation,
        entry.label,
        entry.kind,
        entry.status,
        dumps(entry.input),
        dumps(entry.output),
        dumps(entry.error),
        entry.attempts,
        entry.started_at,
        entry.finished_at,
        entry.duration_ms,
        entry.wake_at,
        dumps(entry.detail),
    )


def wait_params(wait: OpenWait) -> tuple[Any, ...]:
    """`waits(run_id, generation, label, event_type, match, correlation, deadline)`."""
    return (
        wait.run_id,
        wait.generation,
        wait.label,
        wait.event_type,
        wait.match,
        dumps(wait.correlation),
        wait.deadline,
    )


def reject_params(name: str, commit: SourceCommit, now: str) -> list[tuple[Any, ...]]:
    """`source_rejects(source, item, location, message, raw, at)` of a read's rejects."""
    return [
        (name, r.item or commit.item, r.location, r.message, dumps(r.raw), now)
        for r in commit.rejects
    ]


def source_counts_params(
    name: str, commit: SourceCommit, accepted: Sequence[Accepted], now: str
) -> tuple[Any, ...]:
    """The counters a committed read adds to its source (and its new cursor when it moves
    one): events, duplicates, rejects, items, updated_at[, cursor], name."""
    duplicates = sum(1 for a in accepted if a.duplicate)
    return (
        len(accepted) - duplicates,
        duplicates,
        len(commit.rejects),
        1 if commit.item is not None else 0,
        now,
        *((cursor_text(commit.cursor),) if commit.move_cursor else ()),
        name,
    )


def source_counts_sql(commit: SourceCommit, mark: str) -> str:
    """The UPDATE that goes with `source_counts_params`, with the backend's placeholder."""
    return (
        "UPDATE sources SET events=events+?, duplicates=duplicates+?, rejects=rejects+?, "
        "items=items+?, last_error=NULL, updated_at=?"
        + (", cursor=?" if commit.move_cursor else "")
        + " WHERE name=?"
    ).replace("?", mark)

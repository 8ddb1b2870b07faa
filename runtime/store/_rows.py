"""Converting between SQLite rows and the store's records, and the JSON used in columns."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import orjson

from runtime.store.base import JournalEntry, OpenWait, RunRecord, StoredEvent


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


def stored_event(row: sqlite3.Row) -> StoredEvent:
    return StoredEvent(
        row["seq"],
        row["source"],
        row["id"],
        row["type"],
        orjson.loads(row["body"]),
        row["received_at"],
    )


def open_wait(row: sqlite3.Row) -> OpenWait:
    return OpenWait(
        row["run_id"],
        row["generation"],
        row["label"],
        row["event_type"],
        row["match"],
        loads(row["correlation"]),
        row["deadline"],
    )


def run_record(row: sqlite3.Row) -> RunRecord:
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


def journal_entry(row: sqlite3.Row) -> JournalEntry:
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

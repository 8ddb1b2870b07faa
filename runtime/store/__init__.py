"""Durable state: the inbox, runs, the step journal, timers, flow versions and the audit trail."""

from pathlib import Path

from runtime.store.base import (
    DEAD_LETTERED,
    FAILED,
    FINAL,
    PENDING,
    RUN_STATUSES,
    RUNNING,
    SUCCEEDED,
    WAITING,
    Accepted,
    JournalEntry,
    NewRun,
    OpenWait,
    RouteDecision,
    RunRecord,
    SourceCommit,
    SourceReject,
    SourceState,
    Store,
    StoredEvent,
    WaitDelivery,
)
from runtime.store.sqlite import SqliteStore


def open_store(url: str, root: Path | str = ".") -> Store:
    """`sqlite:///.seamline/seamline.db` (relative to the workspace root) or a file path; or
    `postgresql://user@host:5432/dbname?schema=NAME` (`postgres://` too) for the shared store."""
    if url.startswith(("postgresql://", "postgres://")):
        try:  # psycopg is an optional extra: only the PostgreSQL store needs it
            from runtime.store.postgres import PostgresStore
        except ImportError as exc:
            raise ImportError(
                f"the PostgreSQL store needs psycopg 3: pip install 'seamline[postgres]' ({exc})"
            ) from exc
        return PostgresStore(url)
    path = Path(url.removeprefix("sqlite:///"))
    if not path.is_absolute():
        path = Path(root) / path
    return SqliteStore(path)


__all__ = [
    "DEAD_LETTERED",
    "FAILED",
    "FINAL",
    "PENDING",
    "RUNNING",
    "RUN_STATUSES",
    "SUCCEEDED",
    "WAITING",
    "Accepted",
    "JournalEntry",
    "NewRun",
    "OpenWait",
    "RouteDecision",
    "RunRecord",
    "SourceCommit",
    "SourceReject",
    "SourceState",
    "SqliteStore",
    "Store",
    "StoredEvent",
    "WaitDelivery",
    "open_store",
]

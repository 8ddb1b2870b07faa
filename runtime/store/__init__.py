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
    """`sqlite:///.seamline/seamline.db` (relative to the workspace root) or a file path."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
    elif url.startswith(("postgresql://", "postgres://")):
        raise NotImplementedError("the PostgreSQL store is not available yet; use sqlite:///path")
    else:
        path = Path(url)
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

"""The Store: where accepted events, runs, the step journal, timers and the audit trail live.

One interface, several backends (SQLite now, PostgreSQL later); tests/store/ is the suite every
backend must pass. Statuses and their meaning are part of the operator-facing API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

# run statuses
PENDING = "pending"  # ready to run (new, resumed after a wait, or replayed)
RUNNING = "running"  # claimed by a worker
WAITING = "waiting"  # suspended until wake_at, or until a correlated event arrives
SUCCEEDED = "succeeded"
FAILED = "failed"  # ended with on_error.then: fail
DEAD_LETTERED = "dead_lettered"  # parked for an operator: replay or discard
DISCARDED = "discarded"  # a dead letter an operator gave up on
FINAL = (SUCCEEDED, FAILED, DISCARDED)
RUN_STATUSES = (PENDING, RUNNING, WAITING, SUCCEEDED, FAILED, DEAD_LETTERED, DISCARDED)


@dataclass(frozen=True)
class Accepted:
    """The answer to an accepted event: its inbox sequence number, and whether it was a duplicate."""

    seq: int
    duplicate: bool


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    source: str
    id: str
    type: str
    body: dict[str, Any]
    received_at: str


@dataclass(frozen=True)
class NewRun:
    """A run the router decided to start for an event."""

    run_id: str
    flow: str
    flow_hash: str
    flow_version: str
    key: Any
    sla_seconds: float | None = None
    variant: str | None = None


@dataclass(frozen=True)
class WaitDelivery:
    """A waiting run whose `wait_for` step an event satisfies."""

    run_id: str
    generation: int
    label: str


@dataclass
class RouteDecision:
    runs: list[NewRun] = field(default_factory=list)
    deliveries: list[WaitDelivery] = field(default_factory=list)


@dataclass
class RunRecord:
    id: str
    flow: str
    flow_hash: str
    flow_version: str
    key: Any
    event_seq: int
    status: str
    generation: int
    created_at: str
    updated_at: str
    started_at: str | None = None
    finished_at: str | None = None
    wake_at: float | None = None
    error: dict[str, Any] | None = None
    output: Any = None
    sla_deadline: float | None = None
    sla_breached: bool = False
    replays: int = 0
    variant: str | None = None


@dataclass
class JournalEntry:
    """One step's durable record: written (and committed) before the next step starts."""

    run_id: str
    generation: int
    label: str
    kind: str
    status: (
        str  # succeeded | skipped | failed | retrying | waiting | compensated | compensation_failed
    )
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: str = ""
    finished_at: str = ""
    duration_ms: float = 0.0
    wake_at: float | None = None
    detail: dict[str, Any] | None = None
    seq: int = 0


@dataclass(frozen=True)
class OpenWait:
    run_id: str
    generation: int
    label: str
    event_type: str
    match: str
    correlation: Any
    deadline: float


@dataclass(frozen=True)
class ScheduleState:
    flow: str
    cron: str
    timezone: str
    next_fire: float
    last_fire: float | None


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    run_id: str
    at: str
    from_status: str | None
    to_status: str
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class SourceState:
    """Where a polled source stands: its cursor (a SQL watermark) and its counters."""

    name: str
    cursor: Any
    next_poll: float
    last_poll: float | None
    polls: int
    events: int
    """New events accepted from it (duplicates not counted)."""
    duplicates: int
    rejects: int
    items: int
    """Files (or other whole items) taken in."""
    last_error: str | None
    updated_at: str | None


@dataclass(frozen=True)
class SourceReject:
    """A record a source read but could not turn into a valid event: kept with its reason."""

    location: str
    """Where it came from: `file:line` for a file, the row's watermark for a table."""
    message: str
    raw: Any = None
    item: str | None = None
    seq: int = 0
    source: str = ""
    at: str = ""


@dataclass(frozen=True)
class SourceCommit:
    """One read of a source, committed as a whole: its events, its rejects, its new position.

    `expected_cursor` is the cursor the read started from: if another poller moved the cursor
    since, nothing is committed (compare-and-set), so a batch is never taken in twice. `item`
    names a whole input (a file and its digest) recorded as taken in, in the same transaction.
    """

    events: Sequence[dict[str, Any]] = ()
    rejects: Sequence[SourceReject] = ()
    cursor: Any = None
    expected_cursor: Any = None
    move_cursor: bool = False
    item: str | None = None


Router = Callable[[StoredEvent, Sequence[OpenWait]], RouteDecision]


class Store(Protocol):
    """Everything the runtime persists. Every method commits before it returns."""

    # inbox
    async def accept(self, event: dict[str, Any]) -> Accepted: ...
    async def accept_many(self, events: Sequence[dict[str, Any]]) -> list[Accepted]: ...
    async def route_pending(self, router: Router, limit: int = 100) -> int: ...
    async def event(self, seq: int) -> StoredEvent | None: ...

    # flow versions
    async def save_flow_version(
        self, flow_hash: str, flow: str, version: str, files: dict[str, str]
    ) -> None: ...
    async def flow_version_files(self, flow_hash: str) -> dict[str, str] | None: ...

    # runs
    async def claim(
        self, owner: str, now: float, limit: int = 1, lease_seconds: float = 60.0
    ) -> list[RunRecord]: ...
    async def recover(self, is_alive: Callable[[str], bool]) -> int: ...
    async def run(self, run_id: str) -> RunRecord | None: ...
    async def runs(
        self,
        *,
        flow: str | None = None,
        status: str | None = None,
        error_code: str | None = None,
        key: str | None = None,
        limit: int = 100,
    ) -> list[RunRecord]: ...
    async def start(self, run_id: str, started_at: str) -> None: ...
    async def finish(
        self, run_id: str, status: str, *, output: Any = None, error: dict[str, Any] | None = None
    ) -> None: ...
    async def suspend(
        self, run_id: str, wake_at: float | None, wait_label: str | None = None
    ) -> None: ...
    async def replay(
        self,
        run_id: str,
        *,
        flow_hash: str | None = None,
        flow_version: str | None = None,
        from_start: bool = False,
    ) -> RunRecord: ...
    async def discard(self, run_id: str, reason: str) -> None: ...
    async def next_wake(self) -> float | None: ...
    async def sla_overdue(self, now: float) -> list[RunRecord]: ...
    async def mark_sla_breached(self, run_id: str, event: dict[str, Any]) -> None: ...

    # schedules
    async def schedules(self) -> dict[str, ScheduleState]: ...
    async def set_schedule(self, flow: str, cron: str, timezone: str, next_fire: float) -> None: ...
    async def fire_schedule(
        self, flow: str, event: dict[str, Any], run: NewRun, fired_for: float, next_fire: float
    ) -> bool: ...

    # polled sources (file drops, SQL watermarks)
    async def claim_source_poll(self, name: str, now: float, next_poll: float) -> bool: ...
    async def source_states(self) -> dict[str, SourceState]: ...
    async def source_item_seen(self, name: str, item: str) -> bool: ...
    async def commit_source(self, name: str, commit: SourceCommit) -> list[Accepted] | None: ...
    async def source_error(self, name: str, message: str | None) -> None: ...
    async def source_rejects(
        self, name: str | None = None, limit: int = 100
    ) -> list[SourceReject]: ...
    async def reset_source(self, name: str, cursor: Any = None) -> None: ...

    # journal
    async def journal(self, run_id: str, generation: int | None = None) -> list[JournalEntry]: ...
    async def record(
        self,
        entry: JournalEntry,
        *,
        emitted: Sequence[dict[str, Any]] = (),
        wait: OpenWait | None = None,
    ) -> None: ...

    # audit
    async def audit(self, run_id: str) -> list[AuditRecord]: ...
    async def counts(self) -> dict[str, int]: ...

    async def aclose(self) -> None: ...

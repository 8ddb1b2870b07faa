"""Polling sources (file drops, SQL watermarks) into the inbox, durably and at most once per record.

Each due source is claimed in the store (its next poll time is stored, so a restart keeps the
interval and two pollers do not read the same batch), read, and every read is committed as a
whole: its events go to the inbox exactly as HTTP ingress would put them (envelope and
contract checked, de-duplicated on `source`+`id`, routed by the worker), records that are not
valid events are kept in the store as rejects with their location and reason, and the source's
new position (watermark or file ledger entry) is written in the same transaction.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.compiler.plan import Plan
from runtime.connectors.base import Source, SourceRead, SourceRecord, connector_sources
from runtime.connectors.secrets import redact
from runtime.engine.ingest import check
from runtime.store.base import SourceCommit, SourceReject, Store

log = logging.getLogger("seamline.sources")


def plan_sources(plan: Plan) -> dict[str, Source]:
    """Every source of the workspace by its name `<connector>.<source>`."""
    return {
        source.ref: source
        for connector in plan.connectors.values()
        for source in connector_sources(connector).values()
    }


@dataclass
class PollResult:
    reads: int = 0
    events: int = 0
    duplicates: int = 0
    rejects: int = 0
    error: str | None = None


def source_event(plan: Plan, source: Source, record: SourceRecord, now: str) -> dict[str, Any]:
    """The CloudEvent a record becomes (raises if the source's mapping cannot read it)."""
    mapping = source.mapping
    document = {"row": record.row, **record.context}
    data = mapping.data.evaluate(document) if mapping.data is not None else record.row
    ident = mapping.id.evaluate(document) if mapping.id is not None else record.default_id
    if ident is None or ident == "":
        raise ValueError("the source's `id` is empty for this record")
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": ident if isinstance(ident, str) else str(ident),
        "source": f"/seamline/sources/{source.ref}",
        "type": source.event_type,
        "time": now,
        "datacontenttype": "application/json",
    }
    if mapping.subject is not None:
        subject = mapping.subject.evaluate(document)
        if subject is not None:
            event["subject"] = subject if isinstance(subject, str) else str(subject)
    contract = plan.contracts.get(source.event_type)
    if contract is not None:
        event["dataschema"] = contract.latest.uri
    event["data"] = data
    return event


def _events(
    plan: Plan, source: Source, read: SourceRead
) -> tuple[list[dict[str, Any]], list[SourceReject]]:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    events: list[dict[str, Any]] = []
    rejects = [
        SourceReject(location, redact(message), raw, read.item)
        for location, message, raw in read.unreadable
    ]
    for record in read.records:
        try:
            event = source_event(plan, source, record, now)
        except Exception as exc:  # noqa: BLE001 - one record the mapping cannot read is one reject
            rejects.append(
                SourceReject(record.location, redact(f"mapping: {exc}"), record.row, read.item)
            )
            continue
        problem = check(plan, event)
        if problem is not None:
            message = f"{problem.code}: {problem.message}"
            rejects.append(SourceReject(record.location, redact(message), record.row, read.item))
            continue
        events.append(event)
    return events, rejects


async def poll_source(store: Store, plan: Plan, source: Source) -> PollResult:
    """Read a source from where it stands and take in every read; never raises."""
    result = PollResult()
    try:
        state = (await store.source_states()).get(source.ref)
        stored = state.cursor if state is not None else None
        cursor = stored if stored is not None else source.start_cursor()
        reads = source.reads(cursor)
        async with contextlib.aclosing(reads):  # type: ignore[type-var]
            async for read in reads:
                if read.item is not None and await store.source_item_seen(source.ref, read.item):
                    await source.taken_in(read)  # committed before a crash, not archived yet
                    continue
                events, rejects = _events(plan, source, read)
                commit = SourceCommit(
                    events,
                    rejects,
                    cursor=read.cursor,
                    expected_cursor=stored,
                    move_cursor=source.uses_cursor,
                    item=read.item,
                )
                accepted = await store.commit_source(source.ref, commit)
                if accepted is None and source.uses_cursor:
                    break  # another poller moved the watermark: its reads win
                if accepted is not None:
                    result.reads += 1
                    result.duplicates += sum(1 for a in accepted if a.duplicate)
                    result.events += sum(1 for a in accepted if not a.duplicate)
                    result.rejects += len(rejects)
                    stored = read.cursor if source.uses_cursor else stored
                    _log_read(source, read, accepted, rejects)
                await source.taken_in(read)
    except Exception as exc:  # noqa: BLE001 - a source that cannot be read is shown, not fatal
        result.error = redact(f"{type(exc).__name__}: {exc}")
        log.warning("source %s: %s", source.ref, result.error)
        with contextlib.suppress(Exception):
            await store.source_error(source.ref, result.error)
    return result


def _log_read(source: Source, read: SourceRead, accepted: list[Any], rejects: list[Any]) -> None:
    new = sum(1 for a in accepted if not a.duplicate)
    log.info(
        "source %s took in %s: %d events (%d duplicates), %d rejects",
        source.ref,
        read.label,
        new,
        len(accepted) - new,
        len(rejects),
    )
    for reject in rejects[:20]:
        log.warning("source %s rejected %s: %s", source.ref, reject.location, reject.message)


class SourcePoller:
    """Polls the plan's sources when due. The due times are kept in the store; this only
    remembers them to avoid asking the store every round."""

    def __init__(self, on_poll: Callable[[str, PollResult, float], None] | None = None) -> None:
        self._due: dict[str, float] = {}
        self.on_poll = on_poll
        """Called after every poll with the source, its result and the time (metrics)."""

    async def poll_due(self, store: Store, plan: Plan, now: float) -> int:
        """Poll every due source; returns how many new events were taken in."""
        taken = 0
        for ref, source in plan_sources(plan).items():
            if self._due.get(ref, 0.0) > now:
                continue
            if not await store.claim_source_poll(ref, now, now + source.every):
                state = (await store.source_states()).get(ref)
                self._due[ref] = state.next_poll if state is not None else now + source.every
                continue
            self._due[ref] = now + source.every
            result = await poll_source(store, plan, source)
            if self.on_poll is not None:
                self.on_poll(ref, result, now)
            taken += result.events
        return taken

    def next_due(self, plan: Plan) -> float | None:
        refs = plan_sources(plan)
        times = [when for ref, when in self._due.items() if ref in refs]
        if len(times) < len(refs):
            return 0.0  # a source never looked at: due now
        return min(times) if times else None


def _kind(source: Source) -> str:
    return "sql watermark" if source.uses_cursor else "file drop"


async def source_table(store: Store, plan: Plan) -> list[dict[str, Any]]:
    """Every source of the workspace with where it stands, for `seamline sources` and the API."""
    states = await store.source_states()
    rows = []
    for ref, source in plan_sources(plan).items():
        state = states.get(ref)
        rows.append(
            {
                "source": ref,
                "kind": _kind(source),
                "emits": source.event_type,
                "every_seconds": source.every,
                "position": (state.cursor if state else None) if source.uses_cursor else None,
                "start": source.start_cursor(),
                "files": state.items if state else 0,
                "events": state.events if state else 0,
                "duplicates": state.duplicates if state else 0,
                "rejects": state.rejects if state else 0,
                "polls": state.polls if state else 0,
                "last_poll": _iso(state.last_poll) if state and state.last_poll else None,
                "next_poll": _iso(state.next_poll) if state and state.next_poll else None,
                "last_error": state.last_error if state else None,
            }
        )
    return rows


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))

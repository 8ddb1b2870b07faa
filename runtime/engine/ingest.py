"""Accepting events: check the envelope and the contract, then commit them to the inbox.

An event is acknowledged only after its commit; a duplicate `source`+`id` is acknowledged as a
duplicate and starts nothing. Routing to flows happens after the commit, in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from runtime.compiler.plan import Plan
from runtime.store.base import Accepted, Store


@dataclass(frozen=True)
class Rejection:
    code: str  # envelope.invalid | contract.violation | contract.unknown
    message: str
    violations: tuple[tuple[str, str], ...]
    contract: str | None = None


_KEY_ATTRIBUTES = ("source", "id", "type", "subject")
MAX_KEY_LENGTH = 1024
"""Longest `source`, `id`, `type` or `subject` the inbox takes: they are indexed, and a
PostgreSQL index entry is limited to about 2.7 KB."""


def _key_problem(event: Any) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return None
    for name in _KEY_ATTRIBUTES:
        value = event.get(name)
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            return name, f"'{name}' contains a NUL character"
        if len(value) > MAX_KEY_LENGTH:
            return name, f"'{name}' is {len(value):,} characters long (at most {MAX_KEY_LENGTH:,})"
    return None


def check(plan: Plan, event: Any) -> Rejection | None:
    """Why the runtime would refuse this event, or None."""
    problem = _key_problem(event)
    if problem is not None:
        name, message = problem
        return Rejection(
            "envelope.invalid", f"event: $.{name}: {message}", ((f"$.{name}", message),)
        )
    outcome = plan.contracts.check_event(event)
    if outcome.ok:
        try:
            orjson.dumps(event)
        except (TypeError, orjson.JSONEncodeError) as exc:  # valid JSON Schema, but not storable
            return Rejection("envelope.unstorable", f"the event cannot be stored: {exc}", ())
        return None
    if outcome.contract is not None:
        name = f"{outcome.contract.type} v{outcome.contract.version}"
        return Rejection("contract.violation", outcome.describe(), tuple(outcome.violations), name)
    if outcome.problem is not None:
        return Rejection("contract.unknown", outcome.problem, ())
    return Rejection("envelope.invalid", outcome.describe(), tuple(outcome.violations))


async def accept(plan: Plan, store: Store, events: Sequence[Any]) -> list[Accepted | Rejection]:
    """Check every event, commit the good ones together, answer each in order."""
    verdicts: list[Accepted | Rejection | None] = [check(plan, e) for e in events]
    good = [e for e, v in zip(events, verdicts, strict=True) if v is None]
    accepted = iter(await store.accept_many(good) if good else [])
    return [v if v is not None else next(accepted) for v in verdicts]

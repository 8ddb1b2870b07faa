"""Calling connector operations directly, the way the engine does (one CallRequest per call)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio

from runtime.compiler.plan import Plan
from runtime.connectors.base import CallRequest


async def invoke(plan: Plan, ref: str, payload: Any = None, run_id: str = "run-1") -> Any:
    connector, _, name = ref.partition(".")
    operation = plan.connectors[connector].operation(name)
    assert operation is not None, ref
    return await operation.invoke(CallRequest(payload if payload is not None else {}, f"{run_id}:{name}", None, run_id))


def call_all(plan: Plan, calls: Sequence[tuple[str, Any]], run_id: str = "run-1") -> list[Any]:
    """Each call's result or the exception it raised, in order, on one event loop."""

    async def main() -> list[Any]:
        out: list[Any] = []
        try:
            for ref, payload in calls:
                try:
                    out.append(await invoke(plan, ref, payload, run_id))
                except Exception as exc:  # noqa: BLE001 - the tests look at it
                    out.append(exc)
        finally:
            for connector in plan.connectors.values():
                await connector.aclose()
        return out

    return anyio.run(main)


def call(plan: Plan, ref: str, payload: Any = None, run_id: str = "run-1") -> Any:
    """One call's result; raises what it raised."""
    [result] = call_all(plan, [(ref, payload)], run_id)
    if isinstance(result, Exception):
        raise result
    return result

"""`delay:` — wait on the run's clock; a VirtualClock records the wait and skips it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runtime.engine import VirtualClock
from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label


@pytest.mark.parametrize(("duration", "seconds", "detail"),
                         [("90s", 90.0, "waited 90s"), ("1h30m", 5400.0, "waited 5400s"), ("250ms", 0.25, "waited 0.25s")])
def test_delay_waits_on_the_clock(workspace, duration: str, seconds: float, detail: str) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": f"""
flow: orders
on: {{ event: shop.order.placed }}
steps:
  - id: cool_off
    delay: {duration}
  - id: after
    set: {{ at: "${{ run.started_at }}" }}
"""})
    start = datetime(2025, 1, 1, tzinfo=UTC)
    clock = VirtualClock(start)
    result = run(plan, "orders", clock=clock)

    assert result.status == "succeeded"
    assert clock.slept == [seconds]
    assert (clock.now() - start).total_seconds() == seconds
    record = steps_by_label(result)["cool_off"]
    assert (record.kind, record.detail, record.output) == ("delay", detail, {"waited_seconds": seconds})
    assert record.duration_ms < 1000  # skipped, not slept


def test_a_skipped_delay_does_not_wait(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": """
flow: orders
on: { event: shop.order.placed }
steps:
  - id: cool_off
    if: data.currency == 'USD'
    delay: 1h
"""})
    clock = VirtualClock()
    result = run(plan, "orders", order_event(currency="EUR"), clock=clock)

    assert clock.slept == []
    assert steps_by_label(result)["cool_off"].status == "skipped"

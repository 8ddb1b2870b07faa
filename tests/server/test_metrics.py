"""The Prometheus text rendering and what a run contributes to it."""

from __future__ import annotations

from runtime.engine.result import RunResult, StepRecord
from runtime.server.metrics import Counter, Histogram, ServerMetrics


def test_counters_escape_label_values() -> None:
    counter = Counter("x_total", "Help.", ("code",))
    counter.inc('a"b\\c\nd')
    counter.inc('a"b\\c\nd', amount=2)
    assert counter.header() == ["# HELP x_total Help.", "# TYPE x_total counter"]
    assert counter.samples() == ['x_total{code="a\\"b\\\\c\\nd"} 3']


def test_histogram_buckets_are_cumulative() -> None:
    histogram = Histogram("d_seconds", "Durations.", ("flow",), buckets=(0.1, 1))
    for value in (0.05, 0.5, 0.5, 7):
        histogram.observe(value, "f")
    assert histogram.samples() == [
        'd_seconds_bucket{flow="f",le="0.1"} 1',
        'd_seconds_bucket{flow="f",le="1"} 3',
        'd_seconds_bucket{flow="f",le="+Inf"} 4',
        'd_seconds_sum{flow="f"} 8.05',
        'd_seconds_count{flow="f"} 4',
    ]
    assert histogram.count("f") == 4


def test_a_run_counts_its_outcome_steps_and_retries_but_not_replayed_steps() -> None:
    metrics = ServerMetrics()
    result = RunResult(
        "r1", "book", "1.0.0", "h", "dead_lettered", error={"code": "connector.http_422"}
    )
    result.trace = [
        StepRecord("find", "find", "call", "succeeded", duration_ms=5, detail="from journal"),
        StepRecord("create", "create", "call", "failed", attempts=3, duration_ms=20),
        StepRecord("branch", "branch", "switch", "succeeded", duration_ms=25),
    ]
    metrics.observe_run(result)
    assert metrics.runs_finished.value("book", "dead_lettered") == 1
    assert metrics.dead_letters.value("book", "connector.http_422") == 1
    assert metrics.retries.value("book", "create") == 1  # one attempt per durable round
    assert metrics.step_latency.count("book", "call", "failed") == 1
    assert metrics.step_latency.count("book", "call", "succeeded") == 0  # from the journal
    assert metrics.step_latency.count("book", "switch", "succeeded") == 0  # containers not timed
    text = metrics.render()
    assert text.endswith("\n") and "# TYPE seamline_reloads_total counter" in text

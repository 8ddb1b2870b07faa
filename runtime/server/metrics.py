"""Prometheus metrics in the text exposition format (0.0.4), rendered without a client library.

A handful of counters, gauges and histograms is all the server needs; owning the ~100 lines
keeps every app instance's metrics separate (tests build many apps in one process) and adds no
global registry and no dependency.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from runtime.engine.result import RunResult
from runtime.engine.sources import PollResult

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

Labels = tuple[str, ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(str(v))}"' for n, v in zip(names, values, strict=True)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metric:
    kind = "untyped"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.label_names = tuple(labels)

    def header(self) -> list[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]

    def samples(self) -> list[str]:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError


class Counter(Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labels)
        self.values: dict[Labels, float] = {}

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def value(self, *labels: str) -> float:
        return self.values.get(labels, 0.0)

    def samples(self) -> list[str]:
        return [
            f"{self.name}{_labels(self.label_names, k)} {_number(v)}"
            for k, v in sorted(self.values.items())
        ]


class Gauge(Counter):
    kind = "gauge"

    def set(self, value: float, *labels: str) -> None:
        self.values[labels] = value

    def replace(self, values: Mapping[Labels, float]) -> None:
        self.values = dict(values)


class Histogram(Metric):
    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labels: Sequence[str] = (),
        buckets: Iterable[float] = LATENCY_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labels)
        self.buckets = tuple(sorted(buckets))
        self.series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, *labels: str) -> None:
        counts, totals = self.series.setdefault(labels, ([0] * (len(self.buckets) + 1), [0.0]))
        for i, bound in enumerate(self.buckets):
            if value <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
        totals[0] += value

    def count(self, *labels: str) -> int:
        return sum(self.series.get(labels, ([], [0.0]))[0])

    def samples(self) -> list[str]:
        out = []
        for key, (counts, totals) in sorted(self.series.items()):
            running = 0
            for bound, n in zip((*self.buckets, math.inf), counts, strict=True):
                running += n
                le = f'le="{_number(bound)}"'
                out.append(f"{self.name}_bucket{_labels(self.label_names, key, le)} {running}")
            out.append(f"{self.name}_sum{_labels(self.label_names, key)} {_number(totals[0])}")
            out.append(f"{self.name}_count{_labels(self.label_names, key)} {running}")
        return out


class ServerMetrics:
    """Everything `/metrics` shows; the server's modules update it as things happen."""

    def __init__(self) -> None:
        self.events_accepted = Counter(
            "seamline_events_accepted_total",
            "Events durably accepted into the inbox (duplicates included).",
            ("ingress",),
        )
        self.events_duplicate = Counter(
            "seamline_events_duplicate_total",
            "Accepted events whose source and id were already in the inbox (they start nothing).",
            ("ingress",),
        )
        self.events_rejected = Counter(
            "seamline_events_rejected_total",
            "Events or requests refused, by reason code.",
            ("ingress", "code"),
        )
        self.ingest_latency = Histogram(
            "seamline_ingest_duration_seconds",
            "Time from reading a request to its durable acknowledgement.",
            ("ingress",),
        )
        self.runs_finished = Counter(
            "seamline_runs_finished_total",
            "Runs this server's workers ended or suspended, by flow and outcome.",
            ("flow", "status"),
        )
        self.runs = Gauge(
            "seamline_runs", "Runs in the store by status (read at scrape time).", ("status",)
        )
        self.backlog = Gauge(
            "seamline_backlog", "Events not yet routed plus pending runs (read at scrape time)."
        )
        self.step_latency = Histogram(
            "seamline_step_duration_seconds",
            "Duration of executed steps (journaled steps skipped on resume are not counted).",
            ("flow", "kind", "status"),
        )
        self.retries = Counter(
            "seamline_step_retries_total",
            "Attempts beyond the first made by steps (transient errors retried).",
            ("flow", "step"),
        )
        self.dead_letters = Counter(
            "seamline_dead_letters_total",
            "Runs this server's workers dead-lettered, by flow and error code.",
            ("flow", "code"),
        )
        self.reloads = Counter(
            "seamline_reloads_total",
            "Workspace reloads by result (ok, rejected, unchanged).",
            ("result",),
        )
        self.reload_latency = Histogram(
            "seamline_reload_duration_seconds",
            "Time to compile and publish a changed workspace.",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.last_reload = Gauge(
            "seamline_last_reload_timestamp_seconds", "When the last reload finished (unix time)."
        )
        self.draining = Gauge("seamline_draining", "1 while the server drains after SIGTERM.")
        self.source_records = Counter(
            "seamline_source_records_total",
            "Records polled sources read, by outcome (event, duplicate, reject).",
            ("source", "outcome"),
        )
        self.source_polls = Counter(
            "seamline_source_polls_total",
            "Polls of each source, by result (ok, error).",
            ("source", "result"),
        )
        self.source_last_poll = Gauge(
            "seamline_source_last_poll_timestamp_seconds",
            "When each source was last polled without an error (unix time).",
            ("source",),
        )

    def all(self) -> list[Metric]:
        return [value for value in vars(self).values() if isinstance(value, Metric)]

    def observe_run(self, result: RunResult) -> None:
        """Count a run's outcome and time every step it executed (not those replayed from the journal)."""
        self.runs_finished.inc(result.flow, result.status)
        if result.status == "dead_lettered":
            self.dead_letters.inc(result.flow, str((result.error or {}).get("code", "unknown")))
        for record in result.trace:
            if record.detail == "from journal":
                continue
            if record.kind not in ("switch", "for_each", "parallel", "subflow"):
                self.step_latency.observe(
                    record.duration_ms / 1000, result.flow, record.kind, record.status
                )
            if record.attempts > 1:
                # a durable run makes one attempt per execution round (a retry suspends the run
                # on a timer), so an executed record past its first attempt is one retry
                self.retries.inc(result.flow, record.id)

    def observe_poll(self, source: str, result: PollResult, at: float) -> None:
        """Count one poll of a source: its records by outcome, and whether it failed."""
        for outcome, count in (
            ("event", result.events),
            ("duplicate", result.duplicates),
            ("reject", result.rejects),
        ):
            if count:
                self.source_records.inc(source, outcome, amount=count)
        self.source_polls.inc(source, "error" if result.error else "ok")
        if not result.error:
            self.source_last_poll.set(at, source)

    def store_counts(self, counts: Mapping[str, int]) -> None:
        self.runs.replace(
            {(k.split(".", 1)[1],): float(v) for k, v in counts.items() if k.startswith("runs.")}
        )
        self.backlog.set(float(backlog_of(counts)))

    def render(self) -> str:
        lines: list[str] = []
        for metric in self.all():
            lines += metric.header() + metric.samples()
        return "\n".join(lines) + "\n"


def backlog_of(counts: Mapping[str, int]) -> int:
    """Work waiting to be done: events not routed yet plus runs ready to run."""
    return int(counts.get("events.pending", 0)) + int(counts.get("runs.pending", 0))


__all__ = ["CONTENT_TYPE", "Counter", "Gauge", "Histogram", "ServerMetrics", "backlog_of"]

"""Events per second of `opportunity_to_project`, in process, against the hand-written baseline.

seamline: `route()` then `run_flow()` with the mocks of `tests/mocks/opportunity_to_project.yaml`
on a VirtualClock (no waits), envelope and contract validation on, one event after another in
one event loop (one worker). Baseline: `bench/baseline.py` on the same events. Both go through
the valid examples of `crm.opportunity.closed_won` that the base flow runs (those meant for a
variant are left out), in turn. Before timing, both must make the same calls with the same
inputs, emit the same data and return the same output.
For scale, a third series runs the same workspace compiled with every expression on the jmespath
library's interpreter (the runtime before compiled expressions; templates and functions as now).
"""

from __future__ import annotations

import json
import time
from typing import Any

import anyio

from bench._timing import Row, Sample, Section
from bench._workspace import MOCKS_FILE, REPO, Reference, envelope_schema, reference
from bench.baseline import Baseline, InMemorySystems
from runtime.compiler.workspace import compile_workspace
from runtime.engine.mocks import load_mocks
from runtime.expressions import jmes

TARGET = 3.0  # seamline's time per event at most 3x the baseline's


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def check_same_work(ref: Reference, baseline: Baseline) -> int:
    """Both implementations do the same work on every example; returns the calls compared."""
    compared = 0
    for event in ref.events:
        result = ref.run(event)
        assert result.succeeded, result.error
        systems = InMemorySystems()
        done = baseline.run(event, systems)
        ours = sorted(  # one record per call step; the baseline records every attempt
            (c.operation, _canonical(c.input)) for c in result.calls for _ in range(c.attempts)
        )
        theirs = sorted((op, _canonical(payload)) for op, payload, _ in systems.calls)
        assert ours == theirs, f"{event['id']}: the calls differ"
        assert _canonical(result.output) == _canonical(done["output"])
        ours_data = [e["data"] for e in result.emitted]
        assert _canonical(ours_data) == _canonical([e["data"] for e in done["emitted"]])
        compared += len(ours)
    return compared


def _seamline_batch(ref: Reference, count: int) -> float:
    events = ref.events

    async def batch() -> None:
        for i in range(count):
            result = await ref.run_async(events[i % len(events)])
            if result.status != "succeeded":
                raise AssertionError(result.error)

    start = time.process_time()
    anyio.run(batch)
    return (time.process_time() - start) / count


def _baseline_batch(baseline: Baseline, events: list[dict[str, Any]], count: int) -> float:
    start = time.process_time()
    for i in range(count):
        baseline.run(events[i % len(events)], InMemorySystems())
    return (time.process_time() - start) / count


def interpreted_reference() -> Reference:
    """The reference workspace compiled with every expression on the library's interpreter."""
    saved = jmes.NATIVE
    jmes.NATIVE = False
    try:
        plan = compile_workspace(REPO)
        return Reference(plan, load_mocks(plan, MOCKS_FILE), list(reference().events))
    finally:
        jmes.NATIVE = saved


def run(quick: bool = False) -> Section:
    ref = reference()
    baseline = Baseline(REPO, envelope_schema())
    compared = check_same_work(ref, baseline)
    runs, count = (3, 60) if quick else (7, 240)
    _seamline_batch(ref, 30)  # warm-up: generated expression code, template caches
    _baseline_batch(baseline, ref.events, 300)
    library = interpreted_reference()
    _seamline_batch(library, 30)
    mine, base, lib = [], [], []
    for _ in range(runs):  # interleaved, so a busy neighbour slows both alike
        mine.append(_seamline_batch(ref, count))
        base.append(_baseline_batch(baseline, ref.events, count * 10))
        lib.append(_seamline_batch(library, count // 2))
    ours, theirs, interpreted = Sample(tuple(mine)), Sample(tuple(base)), Sample(tuple(lib))
    ratio = ours.median / theirs.median
    per_second = Sample(tuple(1 / v for v in ours.values))
    baseline_per_second = Sample(tuple(1 / v for v in theirs.values))
    section = Section(
        "Reference flow: events per second (in process, one worker)",
        __doc__.split("\n\n", 1)[1].strip(),
    )
    section.rows.append(
        Row(
            "opportunity_to_project, seamline (interpreted flow, compiled expressions)",
            ours,
            "ms",
            theirs,
            "hand-written Python (bench/baseline.py)",
            ratio,
            "x the baseline's time per event",
            f"<= {TARGET:g}x",
            ratio <= TARGET,
        )
    )
    section.rows.append(
        Row(
            "the same, expressions on the jmespath library (SEAMLINE_JMESPATH=interpreted)",
            interpreted,
            "ms",
            ours,
            "compiled expressions",
            interpreted.median / ours.median,
            "x the compiled run's time",
        )
    )
    section.rows.append(Row("seamline events/s", per_second, "events/s"))
    section.rows.append(Row("baseline events/s", baseline_per_second, "events/s"))
    section.extra.append(
        f"Same work checked before timing: {len(ref.events)} examples, {compared} calls with "
        f"identical inputs, identical emitted data and outputs. {runs} runs of {count} events "
        f"(baseline: {count * 10})."
    )
    return section

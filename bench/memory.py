"""Memory per 100,000 waiting runs (in-memory run states; the durable store follows).

A run state is what the in-process engine holds for a run: its `RunResult` (status, step trace,
call records, emitted events) and its run document (`event`, `data`, `vars`, `steps`, `run`),
with the sharing the engine has (a step's output is one object in the trace, the call record
and `steps.<id>.output`). The states are those of real `opportunity_to_project` runs of the valid
examples, taken when the last step has run, so this is the upper bound for a run parked
in a wait. Each copy is made with `pickle.loads`, so every run owns its strings and containers,
as runs built from separately parsed events do.

Bytes per run: tracemalloc over 5,000 copies (several runs). Confirmation: a fresh process
holding 100,000 copies, measured as the growth of its resident set. Baseline: the same
events parsed with orjson and held as they are, which is what a hand-written in-memory queue of
pending work would keep. The durable store (runtime/store/, SQLite) is landing at the same
time; the footprint of a waiting run there will be measured here once runs wait in it
(bench/durable.py already measures its throughput).
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import tempfile
import textwrap
import tracemalloc
from pathlib import Path
from typing import Any

import orjson

from bench._timing import Row, Sample, Section
from bench._workspace import REPO, Reference, reference, run_state
from runtime.engine.result import RunResult

RUNS = 100_000
SAMPLE = 5_000


def run_states(ref: Reference) -> list[tuple[RunResult, dict[str, Any]]]:
    """(result, document) of one real run per valid example."""
    return [run_state(ref, event) for event in ref.events]


def _traced_bytes_per_copy(blobs: list[bytes], count: int) -> float:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        held = [pickle.loads(blobs[i % len(blobs)]) for i in range(count)]
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert len(held) == count
    return (after - before) / count


_PROBE = textwrap.dedent(
    """
    import gc, json, pickle, sys
    blobs = pickle.loads(open(sys.argv[1], "rb").read())
    count = int(sys.argv[2])
    import runtime.engine.result  # noqa: F401 - the classes the states unpickle into
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    gc.collect()
    gc.disable()
    before = rss()
    held = [pickle.loads(blobs[i % len(blobs)]) for i in range(count)]
    print(json.dumps({"bytes": rss() - before, "count": len(held)}))
    """
)


def _resident_growth(blobs: list[bytes], count: int) -> int:
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        f.write(pickle.dumps(blobs))
        path = f.name
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, path, str(count)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        Path(path).unlink()
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return int(json.loads(done.stdout.strip().splitlines()[-1])["bytes"])


def run(quick: bool = False) -> Section:
    ref = reference()
    states = run_states(ref)
    blobs = [pickle.dumps(state) for state in states]
    results_only = [pickle.dumps(result) for result, _ in states]
    documents_only = [pickle.dumps(document) for _, document in states]
    events = [pickle.dumps(orjson.loads(orjson.dumps(e))) for e in ref.events]
    runs, sample = (2, 1_000) if quick else (3, SAMPLE)
    ours = Sample(tuple(_traced_bytes_per_copy(blobs, sample) for _ in range(runs)))
    base = Sample(tuple(_traced_bytes_per_copy(events, sample) for _ in range(runs)))
    result_part = _traced_bytes_per_copy(results_only, sample)
    document_part = _traced_bytes_per_copy(documents_only, sample)
    count = 10_000 if quick else RUNS
    resident = _resident_growth(blobs, count)
    section = Section(
        f"Memory per {RUNS:,} waiting runs (in-memory run states)",
        __doc__.split("\n\n", 1)[1].strip(),
    )
    per_100k = Sample(tuple(v * RUNS for v in ours.values))
    section.rows.append(
        Row(
            f"RunResult + run document, {RUNS:,} runs",
            per_100k,
            "bytes",
            Sample(tuple(v * RUNS for v in base.values)),
            "the parsed events alone (orjson), same count",
            ours.median / base.median,
            "x the events alone",
            note=f"{ours.median / 1024:.1f} KiB per run: result (trace, calls, emitted) "
            f"{result_part / 1024:.1f} KiB alone, document {document_part / 1024:.1f} KiB alone "
            "(they share step outputs)",
        )
    )
    section.rows.append(
        Row(
            f"resident-set growth of a process holding {count:,} run states",
            Sample((float(resident),)),
            "bytes",
            note=f"{resident / count / 1024:.1f} KiB per run (allocator overhead included)",
        )
    )
    return section

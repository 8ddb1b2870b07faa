"""Where the reference flow spends its time: cProfile over runs of `opportunity_to_project`.

The same runs as the events/s benchmark (route, validate, run with mocks on a VirtualClock),
after a warm-up. Own time (excluding callees) is grouped by area; the table after it lists
the functions with the most own time, then seamline's functions with the most time including
callees. cProfile slows Python code more than C code, so read shares, not absolute times.
"""

from __future__ import annotations

import cProfile
import pstats
from collections import defaultdict
from typing import Any

import anyio

from bench._timing import Section
from bench._workspace import REPO, reference

AREAS = (  # (path fragment, area); the first match wins
    ("<jmespath>", "JMESPath, generated code"),
    ("runtime/expressions/_jmes", "JMESPath, generated code"),
    ("runtime/expressions/jmes.py", "JMESPath, generated code"),
    ("runtime/expressions/_functions", "custom functions (lookup, money, dates …)"),
    ("runtime/expressions/functions.py", "custom functions (lookup, money, dates …)"),
    ("runtime/expressions/jinja.py", "Jinja templates"),
    ("runtime/expressions/_jinja", "Jinja templates"),
    ("runtime/expressions/compiled.py", "value trees (mappings, `${}` strings)"),
    ("jinja2/", "Jinja templates"),
    ("markupsafe/", "Jinja templates"),
    (".j2", "Jinja templates"),
    ("jmespath/", "jmespath library"),
    ("runtime/engine/", "engine (executor, step runner, trace)"),
    ("runtime/steps/", "step kinds"),
    ("runtime/connectors/", "connectors (mock answers)"),
    ("runtime/contracts/", "contract validation"),
    ("anyio/", "anyio / asyncio"),
    ("asyncio/", "anyio / asyncio"),
    ("contextvars", "anyio / asyncio"),
    ("json/", "json (stdlib)"),
    ("uuid.py", "uuid, datetime"),
    ("datetime", "uuid, datetime"),
    ("calendar.py", "uuid, datetime"),
)


def _area(filename: str, name: str) -> str:
    text = f"{filename}:{name}"
    for fragment, area in AREAS:
        if fragment in text:
            return area
    if filename == "~":
        return "C built-ins (dict.get, isinstance, isoformat …)"
    return "other"


def _where(filename: str, line: int, name: str) -> str:
    short = filename.replace(str(REPO) + "/", "")
    if "site-packages/" in short:
        short = short.split("site-packages/", 1)[1]
    elif "/lib/python" in short:
        short = short.split("/lib/", 1)[1]
    return f"{short}:{line} {name}" if filename != "~" else name


def profile(events: int) -> pstats.Stats:
    ref = reference()

    async def batch(count: int) -> None:
        for i in range(count):
            result = await ref.run_async(ref.events[i % len(ref.events)])
            assert result.succeeded, result.error

    anyio.run(batch, 30)
    profiler = cProfile.Profile()
    profiler.enable()
    anyio.run(batch, events)
    profiler.disable()
    return pstats.Stats(profiler)


def run(quick: bool = False) -> Section:
    events = 60 if quick else 300
    stats = profile(events)
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values())
    by_area: dict[str, float] = defaultdict(float)
    for (filename, _line, name), (_cc, _nc, tottime, _cum, _callers) in table.items():
        by_area[_area(filename, name)] += tottime
    section = Section(
        "Profile of the reference flow (cProfile)", __doc__.split("\n\n", 1)[1].strip()
    )
    lines = [
        f"{events} events, {total:.2f} s profiled ({total / events * 1000:.2f} ms per event under the profiler).",
        "",
    ]
    lines += ["| area | share of own time |", "| --- | ---: |"]
    for area, seconds in sorted(by_area.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {area} | {seconds / total:.1%} |")
    lines += [
        "",
        "| function (most own time) | calls per event | own time share |",
        "| --- | ---: | ---: |",
    ]
    own = sorted(table.items(), key=lambda kv: -kv[1][2])[:15]
    for (filename, line, name), (_cc, calls, tottime, _cum, _callers) in own:
        lines.append(
            f"| `{_where(filename, line, name)}` | {calls / events:.1f} | {tottime / total:.1%} |"
        )
    lines += [
        "",
        "| seamline function (time including callees) | calls per event | share |",
        "| --- | ---: | ---: |",
    ]
    ours = [
        item
        for item in table.items()
        if "/runtime/" in item[0][0] and item[0][2] not in ("run_steps", "run_scope", "drive")
    ]
    for (filename, line, name), (_cc, calls, _tottime, cumtime, _callers) in sorted(
        ours, key=lambda kv: -kv[1][3]
    )[:15]:
        lines.append(
            f"| `{_where(filename, line, name)}` | {calls / events:.1f} | {cumtime / total:.1%} |"
        )
    section.extra.extend(lines)
    return section

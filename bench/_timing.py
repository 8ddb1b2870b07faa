"""Timing, statistics and the machine description shared by every benchmark."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    """Several measurements of one quantity (seconds, bytes …), each from a separate run."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    @property
    def spread(self) -> float:
        """(max - min) / median: how far apart the runs were, as a fraction."""
        return (self.high - self.low) / self.median if self.median else 0.0


@dataclass
class Row:
    """One line of a result table: a measurement, its baseline and their ratio."""

    name: str
    value: Sample
    unit: str  # how `value` is shown: "us", "ms", "s", "events/s", "bytes"
    baseline: Sample | None = None
    baseline_name: str = ""
    ratio: float | None = None  # value / baseline as the table reads it (see `ratio_label`)
    ratio_label: str = ""
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Section:
    """The result of one benchmark: rows, a method note and optional extra text."""

    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    seconds: float = 0.0


# CPU time of this process: the benchmarks are single-threaded and CPU-bound, and on a shared
# machine a busy neighbour disturbs CPU time far less than wall-clock time.
clock = time.process_time


def per_call(fn: Callable[[], Any], number: int) -> float:
    """CPU seconds per call of `fn`, over `number` calls, with the garbage collector paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = clock()
        for _ in range(number):
            fn()
        return (clock() - start) / number
    finally:
        if enabled:
            gc.enable()


def repeat(fn: Callable[[], float], runs: int) -> Sample:
    """`runs` independent measurements of `fn` (which returns one number each)."""
    return Sample(tuple(fn() for _ in range(runs)))


def geometric_mean(values: list[float]) -> float:
    return statistics.geometric_mean(values) if values else 0.0


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


PACKAGES = ("seamline", "jmespath", "jsonschema", "jsonschema-rs", "orjson", "Jinja2",
            "pydantic", "anyio", "PyYAML")  # fmt: skip


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info = {
        "CPU": _cpu_model(),
        "cores": f"{os.cpu_count()} logical ({affinity} usable)",
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        info["memory"] = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    for package in PACKAGES:
        info[package] = _version(package)
    return info

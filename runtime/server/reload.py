"""Hot reload: watch the workspace, compile it whole, swap the plan atomically or keep the old one.

Changes under flows/ (templates and lookups included), contracts/, connectors/ and seamline.yaml
are debounced, then the whole workspace is compiled with `check_workspace` on a worker thread.
A clean workspace becomes the current plan in one assignment (runs in flight stay on the
version they are pinned to); a broken one is rejected, the last good plan keeps serving, and
every diagnostic is logged as file:line:col and kept for `/api/status`. Every reload is recorded
(time, files changed, old and new hash, result) in memory — the last `HISTORY` of them — and in
the log; the store has no table for it.
"""

from __future__ import annotations

import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from watchfiles import Change, DefaultFilter, awatch

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import WorkspaceReport, check_workspace
from runtime.errors import Diagnostic

log = logging.getLogger("seamline.reload")
logging.getLogger("watchfiles").setLevel(logging.WARNING)  # it logs every batch at INFO

WATCHED_DIRS = ("flows", "contracts", "connectors")
WATCHED_FILES = ("seamline.yaml",)
SUFFIXES = (".yaml", ".yml", ".json", ".j2", ".csv")
HISTORY = 100
COALESCE = 0.01  # seconds: batches of the two watchers that arrive this close are one reload


class ReloadRejected(Exception):  # noqa: N818 - a verdict, carried to the reload record
    """A compiled plan the server cannot take (e.g. a token secret that does not resolve)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(str(d) for d in diagnostics))
        self.diagnostics = diagnostics


def _iso(moment: float) -> str:
    return (
        time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment % 1 * 1000):03d}Z"
    )


def flow_hashes(plan: Plan | None) -> dict[str, str]:
    return {} if plan is None else {name: f.content_hash for name, f in plan.flows.items()}


@dataclass
class ReloadRecord:
    at: str
    trigger: str  # startup | watch | api
    files: list[str]
    ok: bool
    old_hash: str | None
    new_hash: str | None
    duration_ms: float
    errors: list[dict[str, Any]] = field(default_factory=list)
    flows_added: list[str] = field(default_factory=list)
    flows_removed: list[str] = field(default_factory=list)
    flows_changed: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def diagnostic_dict(d: Diagnostic) -> dict[str, Any]:
    return {**d.to_dict(), "text": str(d)}


@dataclass
class ReloadLog:
    """What `/api/status` shows: when the plan was loaded, and the reloads since."""

    loaded_at: float = field(default_factory=time.time)
    records: deque[ReloadRecord] = field(default_factory=lambda: deque(maxlen=HISTORY))
    errors: list[dict[str, Any]] = field(default_factory=list)  # of the last reload, if rejected
    total: int = 0

    @property
    def last(self) -> ReloadRecord | None:
        return self.records[-1] if self.records else None

    def add(self, record: ReloadRecord) -> None:
        self.records.append(record)
        self.total += 1
        self.errors = list(record.errors)
        if record.ok:
            self.loaded_at = time.time()


class Reloader:
    """Compiles the workspace and hands a clean plan to `apply` (which publishes it)."""

    def __init__(
        self,
        root: Path | str,
        current: Callable[[], Plan],
        apply: Callable[[Plan], Awaitable[None]],
        log_: ReloadLog,
        *,
        debounce: float = 0.05,
        observe: Callable[[ReloadRecord], None] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.current = current
        self.apply = apply
        self.log = log_
        self.debounce = debounce
        self.observe = observe
        self._lock = anyio.Lock()

    async def reload(self, files: Iterable[str] = (), trigger: str = "api") -> ReloadRecord:
        """Compile the whole workspace now; publish it if clean. One reload at a time."""
        async with self._lock:
            started = time.perf_counter()
            old = self.current()
            plan, errors = await self._compile_and_apply()
            ok = plan is not None and not errors
            new = plan if ok else None
            before, after = flow_hashes(old), flow_hashes(new)
            record = ReloadRecord(
                at=_iso(time.time()),
                trigger=trigger,
                files=sorted(set(files)),
                ok=ok,
                old_hash=old.workspace_hash,
                new_hash=new.workspace_hash if new else None,
                duration_ms=round((time.perf_counter() - started) * 1000, 1),
                errors=[diagnostic_dict(d) for d in errors],
                flows_added=sorted(set(after) - set(before)) if ok else [],
                flows_removed=sorted(set(before) - set(after)) if ok else [],
                flows_changed=sorted(n for n in after if n in before and after[n] != before[n]),
            )
            self.log.add(record)
            self._log(record)
            if self.observe is not None:
                self.observe(record)
            return record

    async def _compile_and_apply(self) -> tuple[Plan | None, list[Diagnostic]]:
        """The compiled plan and the problems that keep it from serving (none: it serves)."""
        try:
            report: WorkspaceReport = await anyio.to_thread.run_sync(
                functools.partial(check_workspace, self.root, reuse=True)
            )
            errors = [d for d in report.diagnostics if d.severity == "error"]
            if report.plan is not None and not errors:
                await self.apply(report.plan)
            return report.plan, errors
        except ReloadRejected as rejected:
            return None, rejected.diagnostics
        except Exception as exc:  # a bug or a store failure must not take the server down
            log.exception("reload failed")
            message = f"the reload failed: {type(exc).__name__}: {exc} (see the server log)"
            return None, [Diagnostic("seamline.yaml", 1, 1, "", "server.reload_failed", message)]

    def _log(self, record: ReloadRecord) -> None:
        files = ", ".join(record.files) or "(none)"
        if record.ok:
            log.info(
                "reload ok in %.0f ms: %s -> %s (files: %s; flows changed: %s, added: %s, removed: %s)",
                record.duration_ms,
                (record.old_hash or "")[:12],
                (record.new_hash or "")[:12],
                files,
                ", ".join(record.flows_changed) or "none",
                ", ".join(record.flows_added) or "none",
                ", ".join(record.flows_removed) or "none",
            )
            return
        log.error(
            "reload rejected (files: %s): %d problem(s); still serving %s",
            files,
            len(record.errors),
            (record.old_hash or "")[:12],
        )
        for error in record.errors:
            log.error("  %s", error["text"])

    # -- watching --------------------------------------------------------------------------
    def _relevant(self, change: Change, path: str) -> bool:
        rel = self._rel(path)
        if rel is None:
            return False
        name = rel.rsplit("/", 1)[-1]
        if rel in WATCHED_FILES or (rel in WATCHED_DIRS and change != Change.modified):
            return True
        if rel.split("/", 1)[0] not in WATCHED_DIRS or not _DEFAULT_FILTER(change, path):
            return False
        return name.endswith(SUFFIXES)

    def _rel(self, path: str) -> str | None:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return None

    async def watch(self, stop: anyio.Event) -> None:
        """Reload on every (debounced) change until `stop` is set."""
        while not stop.is_set():
            try:
                await self._watch_once(stop)
            except Exception:  # e.g. a watched folder removed under the watcher: start over
                log.warning("file watching failed; restarting it", exc_info=True)
                await anyio.sleep(0.5)

    async def _watch_once(self, stop: anyio.Event) -> None:
        """Watch the folders that exist now, until stopped or until a folder appears or goes."""
        if stop.is_set():
            return
        dirs = [self.root / d for d in WATCHED_DIRS if (self.root / d).is_dir()]
        changes: anyio.abc.ObjectSendStream[set[tuple[Change, str]]]
        changes, received = anyio.create_memory_object_stream[set[tuple[Change, str]]](100)
        restart = anyio.Event()
        async with anyio.create_task_group() as group:
            # the folders recursively, the root alone (seamline.yaml, new folders): the
            # store under .seamline/ changes all the time and is never watched
            if dirs:
                group.start_soon(self._watch, dirs, True, changes.clone(), stop, restart)
            group.start_soon(self._watch, [self.root], False, changes, stop, restart)
            async with received:
                async for batch in received:
                    await self._coalesce(batch, received)
                    if any(self._rel(p) in WATCHED_DIRS for _, p in batch):
                        restart.set()  # a folder appeared or went: watch the new set
                    await self.reload([r for _, p in batch if (r := self._rel(p))], "watch")
                    if restart.is_set():
                        break
            group.cancel_scope.cancel()

    async def _coalesce(
        self,
        batch: set[tuple[Change, str]],
        received: anyio.abc.ObjectReceiveStream[set[tuple[Change, str]]],
    ) -> None:
        """Add what the other watcher reports right after (each has debounced its own changes)."""
        while True:
            with anyio.move_on_after(COALESCE):
                try:
                    batch |= await received.receive()
                except anyio.EndOfStream:  # the watchers stopped
                    return
                continue
            return

    async def _watch(
        self,
        paths: list[Path],
        recursive: bool,
        out: anyio.abc.ObjectSendStream[set[tuple[Change, str]]],
        stop: anyio.Event,
        restart: anyio.Event,
    ) -> None:
        async with out:
            async for batch in awatch(
                *paths,
                watch_filter=self._relevant,
                step=max(int(self.debounce * 1000), 10),
                debounce=1600,
                stop_event=_AnyOf(stop, restart),
                recursive=recursive,
            ):
                await out.send(batch)


class _AnyOf:
    """Set when any of its events is; the watcher thread polls it, so a stop is seen within a
    step (a plain task relaying the stop could be cancelled before it does)."""

    def __init__(self, *events: anyio.Event) -> None:
        self.events = events
        self._own = anyio.Event()

    def is_set(self) -> bool:
        return self._own.is_set() or any(e.is_set() for e in self.events)

    def set(self) -> None:
        self._own.set()

    async def wait(self) -> None:  # pragma: no cover - part of the protocol, unused by watchfiles
        while not self.is_set():
            await anyio.sleep(0.05)


_DEFAULT_FILTER = DefaultFilter()

__all__ = ["ReloadLog", "ReloadRecord", "ReloadRejected", "Reloader", "diagnostic_dict"]

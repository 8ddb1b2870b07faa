"""`seamline ingest` and `seamline worker` — durable processing without the HTTP server."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from typing import Any

import anyio
import click

from runtime.cli._output import console, plural
from runtime.cli._runtime import STORE_OPTION, WORKSPACE_OPTION, load_plan, open_workspace_store
from runtime.engine.ingest import Rejection, accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store.base import Accepted


def _event_files(paths: tuple[Path, ...]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        files += sorted(path.rglob("*.json")) if path.is_dir() else [path]
    return files


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON verdict per event.")
def ingest_command(
    paths: tuple[Path, ...], workspace: Path, store_url: str | None, as_json: bool
) -> None:
    """Durably accept the CloudEvents in PATHS (files or folders of *.json; a file may hold a list).

    Each event is checked against the envelope and its contract; good ones are committed to the
    inbox (duplicates recognised by source + id). Exit 1 if any event was rejected.
    """
    plan = load_plan(workspace)
    events: list[tuple[str, Any]] = []
    for file in _event_files(paths):
        try:
            body = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"{file}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from exc
        events += [(str(file), e) for e in (body if isinstance(body, list) else [body])]

    async def main() -> list[Accepted | Rejection]:
        store = open_workspace_store(plan, store_url)
        try:
            return await accept(plan, store, [e for _, e in events])
        finally:
            await store.aclose()

    verdicts = anyio.run(main)
    rejected = 0
    for (file, _), verdict in zip(events, verdicts, strict=True):
        if isinstance(verdict, Rejection):
            rejected += 1
            if as_json:
                click.echo(
                    json.dumps({"file": file, "rejected": verdict.code, "message": verdict.message})
                )
            else:
                console.print(
                    f"[red]rejected[/red] {file}: {verdict.message} \\[{verdict.code}]", markup=True
                )
        elif as_json:
            click.echo(
                json.dumps({"file": file, "seq": verdict.seq, "duplicate": verdict.duplicate})
            )
    duplicates = sum(1 for v in verdicts if isinstance(v, Accepted) and v.duplicate)
    fresh = len(verdicts) - rejected - duplicates
    if not as_json:
        console.print(
            f"{plural(fresh, 'event')} accepted, {plural(duplicates, 'duplicate')}, {rejected} rejected"
        )
    sys.exit(1 if rejected else 0)


@click.command("worker")
@WORKSPACE_OPTION
@STORE_OPTION
@click.option(
    "--until-idle",
    is_flag=True,
    help="Exit when nothing is runnable (timers further away than --max-wait).",
)
@click.option(
    "--max-wait",
    default=0.0,
    show_default=True,
    help="With --until-idle: also wait for timers due within this many seconds.",
)
@click.option("--concurrency", default=4, show_default=True, help="Runs executed at once.")
def worker_command(
    workspace: Path, store_url: str | None, until_idle: bool, max_wait: float, concurrency: int
) -> None:
    """Route accepted events, execute runs, fire timers and flag SLA breaches.

    Without --until-idle it works until SIGTERM or Ctrl-C; a run in flight is journaled step by
    step, so a killed worker loses nothing: the next one resumes after the last journaled step.
    """
    plan = load_plan(workspace)

    async def main() -> dict[str, int]:
        store = open_workspace_store(plan, store_url)
        try:
            plans = PlanProvider(plan, store)
            await plans.publish(plan)
            worker = Worker(store, plans, concurrency=concurrency)
            if until_idle:
                await worker.run_until_idle(max_wait=max_wait)
            else:
                stop = anyio.Event()
                async with anyio.create_task_group() as group:
                    group.start_soon(_stop_on_signal, stop)
                    await worker.serve(stop)
                    group.cancel_scope.cancel()
            return await store.counts()
        finally:
            await store.aclose()

    counts = anyio.run(main)
    summary = ", ".join(
        f"{k.split('.', 1)[1]} {v}" for k, v in sorted(counts.items()) if k.startswith("runs.")
    )
    console.print(f"runs: {summary or 'none'}")


async def _stop_on_signal(stop: anyio.Event) -> None:
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            stop.set()
            return

"""`seamline runs list|show` and `seamline dlq list|show|replay|discard`."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio
import click
from rich.markup import escape

from runtime.cli._output import compact, console, plural
from runtime.cli._runtime import STORE_OPTION, WORKSPACE_OPTION, load_plan, open_store_only
from runtime.engine.dlq import ReplayRefused, replay_dead_letter
from runtime.store import DEAD_LETTERED, RUN_STATUSES, Store
from runtime.store.base import RunRecord

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _with_store(workspace: Path, store_url: str | None, work: Any) -> Any:
    async def main() -> Any:
        store = open_store_only(workspace, store_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return anyio.run(main)


def _print_runs(runs: list[RunRecord], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps([asdict(r) for r in runs], indent=2, default=str))
        return
    if not runs:
        console.print("no runs")
        return
    for run in runs:
        error = (
            f"  [red]{escape(str((run.error or {}).get('code')))}[/red] at {escape(str((run.error or {}).get('step')))}"
            if run.error
            else ""
        )
        console.print(
            f"{run.id}  {run.status:<13} {escape(run.flow)} v{run.flow_version}  key {escape(compact(run.key, 40))}"
            f"  {run.created_at}{error}"
        )


async def _show(store: Store, run_id: str) -> dict[str, Any] | None:
    run = await store.run(run_id)
    if run is None:
        return None
    return {
        "run": asdict(run),
        "journal": [asdict(e) for e in await store.journal(run_id)],
        "audit": [asdict(a) for a in await store.audit(run_id)],
    }


def _print_show(shown: dict[str, Any] | None, run_id: str, as_json: bool) -> None:
    if shown is None:
        console.print(f"[red]no run {escape(run_id)}[/red]")
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(shown, indent=2, default=str))
        return
    run = shown["run"]
    console.print(
        f"[bold]{run['id']}[/bold] {escape(run['flow'])} v{run['flow_version']} ({run['flow_hash'][:12]})  "
        f"[bold]{run['status']}[/bold]  key {escape(compact(run['key']))}  generation {run['generation']}"
    )
    if run["error"]:
        console.print(f"  [red]error[/red] {escape(json.dumps(run['error'], default=str))}")
    console.print("timeline (journal):")
    for entry in shown["journal"]:
        attempts = f" ×{entry['attempts']}" if entry["attempts"] and entry["attempts"] > 1 else ""
        console.print(
            f"  {entry['finished_at'] or entry['started_at']}  g{entry['generation']} "
            f"[bold]{escape(entry['label'])}[/bold] {entry['kind']} {entry['status']}{attempts} "
            f"{entry['duration_ms'] or 0:.1f} ms"
        )
        if entry["input"] is not None:
            console.print(f"      in:  {escape(compact(entry['input']))}")
        if entry["error"]:
            console.print(f"      [red]err:[/red] {escape(compact(entry['error']))}")
        elif entry["output"] is not None:
            console.print(f"      out: {escape(compact(entry['output']))}")
    console.print("transitions (audit):")
    for record in shown["audit"]:
        detail = f"  {escape(compact(record['detail']))}" if record["detail"] else ""
        console.print(
            f"  {record['at']}  {record['from_status'] or '∅'} → {record['to_status']}{detail}"
        )


@click.group("runs")
def runs_group() -> None:
    """List and inspect runs."""


@runs_group.command("list")
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--flow", help="Only this flow.")
@click.option("--status", type=click.Choice(RUN_STATUSES), help="Only runs in this status.")
@click.option("--key", help="Only the run with this business key.")
@click.option("--error", "error_code", help="Only runs that failed with this error code.")
@click.option("--limit", default=50, show_default=True)
@JSON_OPTION
def runs_list(
    workspace: Path,
    store_url: str | None,
    flow: str | None,
    status: str | None,
    key: str | None,
    error_code: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Runs, newest first."""
    runs = _with_store(
        workspace,
        store_url,
        lambda s: s.runs(flow=flow, status=status, key=key, error_code=error_code, limit=limit),
    )
    _print_runs(runs, as_json)


@runs_group.command("show")
@click.argument("run_id")
@WORKSPACE_OPTION
@STORE_OPTION
@JSON_OPTION
def runs_show(run_id: str, workspace: Path, store_url: str | None, as_json: bool) -> None:
    """A run with its step timeline (the journal) and every state transition (the audit trail)."""
    _print_show(_with_store(workspace, store_url, lambda s: _show(s, run_id)), run_id, as_json)


@click.group("dlq")
def dlq_group() -> None:
    """The dead-letter queue: runs parked after a permanent failure or exhausted retries."""


@dlq_group.command("list")
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--flow", help="Only this flow.")
@click.option("--error", "error_code", help="Only this error code (e.g. connector.http_422).")
@click.option("--limit", default=100, show_default=True)
@JSON_OPTION
def dlq_list(
    workspace: Path,
    store_url: str | None,
    flow: str | None,
    error_code: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Dead letters, newest first, with the step and error that parked them."""
    runs = _with_store(
        workspace,
        store_url,
        lambda s: s.runs(flow=flow, status=DEAD_LETTERED, error_code=error_code, limit=limit),
    )
    _print_runs(runs, as_json)


@dlq_group.command("show")
@click.argument("run_id")
@WORKSPACE_OPTION
@STORE_OPTION
@JSON_OPTION
def dlq_show(run_id: str, workspace: Path, store_url: str | None, as_json: bool) -> None:
    """A dead letter: the failed step's input and error, the journal and the audit trail."""
    _print_show(_with_store(workspace, store_url, lambda s: _show(s, run_id)), run_id, as_json)


@dlq_group.command("replay")
@click.argument("run_ids", nargs=-1)
@WORKSPACE_OPTION
@STORE_OPTION
@click.option(
    "--all", "replay_all", is_flag=True, help="Every dead letter matching --flow/--error."
)
@click.option("--flow", help="With --all: only this flow.")
@click.option("--error", "error_code", help="With --all: only this error code.")
@click.option(
    "--latest", is_flag=True, help="Run on the current flow version instead of the pinned one."
)
@click.option(
    "--from-start",
    is_flag=True,
    help="Start over (fresh idempotency keys) instead of resuming at the failed step.",
)
def dlq_replay(
    run_ids: tuple[str, ...],
    workspace: Path,
    store_url: str | None,
    replay_all: bool,
    flow: str | None,
    error_code: str | None,
    latest: bool,
    from_start: bool,
) -> None:
    """Put dead letters back to work: from the failed step (completed steps are not repeated), on the
    pinned flow version or --latest. A compensated run always starts over. A worker picks them up."""
    if not run_ids and not replay_all:
        raise click.UsageError("name runs to replay, or use --all (with --flow/--error filters)")
    if (flow or error_code) and not replay_all:
        raise click.UsageError("--flow and --error select dead letters for --all; add --all")
    plan = load_plan(workspace) if latest else None

    async def work(store: Store) -> list[tuple[str, str]]:
        ids = list(run_ids)
        if replay_all:
            ids += [
                r.id
                for r in await store.runs(
                    flow=flow, status=DEAD_LETTERED, error_code=error_code, limit=100000
                )
            ]
        done = []
        for run_id in dict.fromkeys(ids):  # each run once, in the order given
            try:
                replayed = await replay_dead_letter(
                    store, run_id, latest=plan, from_start=from_start
                )
            except ReplayRefused as exc:
                done.append((run_id, str(exc)))
                continue
            done.append((run_id, f"replaying {replayed.how} on {replayed.run.flow_hash[:12]}"))
        return done

    results = _with_store(workspace, store_url, work)
    failed = 0
    for run_id, outcome in results:
        ok = outcome.startswith("replaying")
        failed += 0 if ok else 1
        console.print(f"{run_id}: {'' if ok else '[red]'}{escape(outcome)}{'' if ok else '[/red]'}")
    console.print(f"{plural(len(results) - failed, 'run')} queued for replay")
    sys.exit(1 if failed else 0)


@dlq_group.command("discard")
@click.argument("run_ids", nargs=-1, required=True)
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--reason", required=True, help="Why; kept in the audit trail.")
def dlq_discard(
    run_ids: tuple[str, ...], workspace: Path, store_url: str | None, reason: str
) -> None:
    """Give up on dead letters (they stay in the store, marked discarded, with the reason)."""

    async def work(store: Store) -> list[str]:
        problems = []
        for run_id in run_ids:
            try:
                await store.discard(run_id, reason)
            except (ValueError, KeyError) as exc:
                problems.append(f"{run_id}: {exc}")
        return problems

    problems = _with_store(workspace, store_url, work)
    for problem in problems:
        console.print(f"[red]{escape(problem)}[/red]")
    console.print(f"{plural(len(run_ids) - len(problems), 'run')} discarded")
    sys.exit(1 if problems else 0)

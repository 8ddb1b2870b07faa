"""`seamline sources` — polled sources (SQL watermarks, file drops): where each stands, what it
rejected, polling one now and rewinding a watermark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import click
from rich.markup import escape

from runtime.cli._output import compact, console, plural
from runtime.cli._runtime import STORE_OPTION, WORKSPACE_OPTION, load_plan, open_workspace_store
from runtime.compiler.plan import Plan
from runtime.engine.sources import plan_sources, poll_source, source_table
from runtime.store.base import Store


def _with_store(plan: Plan, store_url: str | None, work: Any) -> Any:
    async def main() -> Any:
        store: Store = open_workspace_store(plan, store_url)
        try:
            return await work(store)
        finally:
            await store.aclose()

    return anyio.run(main)


def _source(plan: Plan, name: str) -> Any:
    sources = plan_sources(plan)
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none in this workspace"
        raise click.UsageError(f"no source {name!r} (sources: {known})")
    return sources[name]


@click.group("sources", invoke_without_command=True)
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def sources_group(ctx: click.Context, workspace: Path, store_url: str | None, as_json: bool) -> None:
    """Polled sources: kind, event type, position, counts, last poll and last error."""
    ctx.ensure_object(dict)
    ctx.obj.update(workspace=workspace, store_url=store_url)
    if ctx.invoked_subcommand is not None:
        return
    plan = load_plan(workspace)
    rows = _with_store(plan, store_url, lambda store: source_table(store, plan))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no sources (a sql or file connector declares them under `sources:`)")
    for row in rows:
        if row["kind"] != "sql watermark":
            where = plural(row["files"], "file") + " taken in"
        elif row["position"] is None:
            where = f"no row taken in yet (from {compact(row['start'])})"
        else:
            where = f"watermark {compact(row['position'])}"
        console.print(
            f"[bold]{escape(row['source'])}[/]  {row['kind']} → {row['emits']}  "
            f"every {row['every_seconds']:g}s  {escape(where)}\n"
            f"  {plural(row['events'], 'event')}, {plural(row['duplicates'], 'duplicate')}, "
            f"{plural(row['rejects'], 'reject')}; last poll {row['last_poll'] or '—'}, "
            f"next {row['next_poll'] or 'now'}"
        )
        if row["last_error"]:
            console.print(f"  [red]last error:[/] {escape(row['last_error'])}")


@sources_group.command("rejects")
@click.argument("name", required=False)
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def rejects_command(ctx: click.Context, name: str | None, limit: int, as_json: bool) -> None:
    """Records a source read but could not take in: where from, why, and the raw record."""
    plan = load_plan(ctx.obj["workspace"])
    if name is not None:
        _source(plan, name)
    rejects = _with_store(
        plan, ctx.obj["store_url"], lambda store: store.source_rejects(name, limit)
    )
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "source": r.source,
                        "item": r.item,
                        "location": r.location,
                        "message": r.message,
                        "raw": r.raw,
                        "at": r.at,
                    }
                    for r in rejects
                ],
                indent=2,
            )
        )
        return
    if not rejects:
        console.print("no rejects")
    for r in rejects:
        console.print(
            f"{r.at}  [bold]{escape(r.source)}[/]  {escape(r.location)}: {escape(r.message)}\n"
            f"  {escape(compact(r.raw))}"
        )


@sources_group.command("poll")
@click.argument("name", required=False)
@click.pass_context
def poll_command(ctx: click.Context, name: str | None) -> None:
    """Poll now (one source, or all), outside the interval; a worker routes what it took in."""
    plan = load_plan(ctx.obj["workspace"])
    chosen = [_source(plan, name)] if name else list(plan_sources(plan).values())

    async def work(store: Store) -> list[tuple[str, Any]]:
        return [(s.ref, await poll_source(store, plan, s)) for s in chosen]

    failed = False
    for ref, result in _with_store(plan, ctx.obj["store_url"], work):
        line = (
            f"{ref}: {plural(result.reads, 'read')}, {plural(result.events, 'new event')}, "
            f"{plural(result.duplicates, 'duplicate')}, {plural(result.rejects, 'reject')}"
        )
        console.print(escape(line))
        if result.error:
            failed = True
            console.print(f"  [red]error:[/] {escape(result.error)}")
    if failed:
        raise SystemExit(1)


@sources_group.command("reset")
@click.argument("name")
@click.option(
    "--to",
    "position",
    default=None,
    help="The watermark as JSON ({\"LAST_UPD_TS\": \"…\", \"INV_NO\": 0}); omitted: the "
    "source's `start`.",
)
@click.pass_context
def reset_command(ctx: click.Context, name: str, position: str | None) -> None:
    """Move a SQL source's watermark (back, to read rows again; forward, to skip them).

    Rows read again under the same event ids are recognised as duplicates and start nothing.
    """
    plan = load_plan(ctx.obj["workspace"])
    source = _source(plan, name)
    if not source.uses_cursor:
        raise click.UsageError(
            f"{name} is a file drop: it keeps no watermark. To take a file in again, drop it "
            "with new content or under a new name."
        )
    cursor = source.start_cursor()
    if position is not None:
        try:
            cursor = json.loads(position)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"--to is not JSON: {exc.msg}") from exc
        expected = set(source.start_cursor())
        if not isinstance(cursor, dict) or set(cursor) != expected:
            raise click.UsageError(
                f"--to needs an object with exactly the watermark columns {sorted(expected)}"
            )
    _with_store(plan, ctx.obj["store_url"], lambda store: store.reset_source(name, cursor))
    console.print(escape(f"{name}: watermark set to {json.dumps(cursor)}; polled at next round"))

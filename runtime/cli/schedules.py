"""`seamline schedules` — scheduled flows with their next and last fire times."""

from __future__ import annotations

import json
import time
from pathlib import Path

import anyio
import click
from rich.markup import escape

from runtime.cli._output import console
from runtime.cli._runtime import STORE_OPTION, WORKSPACE_OPTION, load_plan, open_workspace_store
from runtime.engine.schedules import schedule_table


@click.command("schedules")
@WORKSPACE_OPTION
@STORE_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def schedules_command(workspace: Path, store_url: str | None, as_json: bool) -> None:
    """Every flow with a `schedule` trigger: cron, time zone, misfire policy, next and last fire."""
    plan = load_plan(workspace)

    async def main() -> list[dict[str, object]]:
        store = open_workspace_store(plan, store_url)
        try:
            return await schedule_table(store, plan, time.time())
        finally:
            await store.aclose()

    rows = anyio.run(main)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        console.print("no scheduled flows")
    for row in rows:
        console.print(
            f'{escape(str(row["flow"]))}  "{row["schedule"]}" {row["timezone"]}  misfire {row["misfire"]}  '
            f"next {row['next_fire']}  last {row['last_fire'] or '—'}"
        )

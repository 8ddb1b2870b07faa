"""`seamline demo` — the simulated systems and the runtime, a business day played through them,
with a progress bar, then a summary and where to look next."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from runtime.cli._output import console, err_console
from runtime.demo import SCALES, ApiError, DataDirError, Demo, DemoError, DemoOptions, next_steps


@click.command("demo")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".seamline/demo"),
    show_default=True,
    help="Where the systems' databases, the workspace copy and the store go (reset each run).",
)
@click.option(
    "--scale",
    type=click.Choice(sorted(SCALES)),
    default="day",
    show_default=True,
    help="`day`: a business day (a few minutes); `small`: a short one for tests and CI.",
)
@click.option("--seed", type=int, default=7, show_default=True, help="Makes the day repeatable.")
@click.option(
    "--keep-running", is_flag=True, help="After the summary, keep the systems and the runtime up."
)
@click.option(
    "--workspace",
    "-w",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The reference workspace to copy (default: this one, else the installed package's).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON, no progress.")
def demo_command(
    data_dir: Path, scale: str, seed: int, keep_running: bool, workspace: Path, as_json: bool
) -> None:
    """Start the simulated CRM, PSA and ERP and the runtime, play a business day, summarise it.

    Hundreds of accounts and won deals (some for the acquired Northwind UK, booked in its legacy
    ERP), time sheets, change orders, invoices and payments — plus duplicate webhooks, invalid
    events and injected faults. Exits 0 and leaves every database in --data-dir.
    """
    options = DemoOptions(data_dir=data_dir, scale=scale, seed=seed, workspace=workspace)
    progress = Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
    )
    tasks: dict[str, Any] = {}

    def report(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = progress.add_task(phase, total=total)
        progress.update(tasks[phase], completed=done, total=total)

    demo = Demo(options, report)
    try:
        with progress:
            summary = demo.run()
    except (DemoError, DataDirError, ApiError, TimeoutError) as exc:
        demo.stop()
        err_console.print(f"[red]error[/red]: {escape(str(exc))}")
        sys.exit(1)
    except BaseException:
        demo.stop()
        raise
    urls = demo.urls if keep_running else None
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        print_summary(summary, urls.get("seamline") if urls else None)
    if not keep_running:
        demo.stop()
        return
    _serve_until_signal(demo)


def _serve_until_signal(demo: Demo) -> None:
    for name, url in demo.urls.items():
        console.print(f"  {name:<8} {url}")
    console.print("running; Ctrl-C stops the runtime (it drains) and the systems")
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        data_dir = demo.options.data_dir
        demo.stop()
        console.print(f"stopped; the databases are in {escape(str(data_dir))}")


def _table(title: str, *columns: str) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold", show_edge=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", no_wrap=i == 0)
    return table


def print_summary(summary: dict[str, Any], runtime_url: str | None) -> None:
    played = summary["played"]
    console.print()
    console.print(
        f"[bold]seamline demo[/bold]: a business day at scale {summary['scale']} (seed "
        f"{summary['seed']}) in {summary['elapsed_seconds']:.0f} s, on {escape(summary['runtime'])}"
    )
    console.print(
        f"played: {played['accounts']} accounts (and {played['incomplete_accounts']} without a "
        f"tax id, {played['duplicate_accounts']} entered twice; {played['account_updates']} edited), "
        f"{played['deals']} deals won ({played['northwind_deals']} for Northwind UK, "
        f"{played['rule_breaking_deals']} breaking finance rules), {played['timesheets']} timesheets "
        f"approved, {played['change_orders']} change orders, {played['invoices_posted']} invoices "
        f"posted, {played['payments']} payments, {len(played['redelivered'])} duplicate webhooks, "
        f"{played['invalid_sent']} invalid events"
    )
    faults = summary["faults"]
    console.print(
        f"faults: CRM and PSA {faults['crm_psa_error_rate']:.0%} errors, ERP "
        f"{faults['erp_error_rate']:.0%} errors and {faults['erp_timeout_rate']:.1%} timeouts"
    )
    statuses = ["succeeded", "dead_lettered", "failed"]
    runs = _table(
        f"runs by flow and status ({summary['runs_total']} runs)",
        "flow",
        "succeeded",
        "DLQ",
        "failed",
        "other",
        "total",
    )
    for flow, counts in summary["runs"].items():
        other = sum(n for s, n in counts.items() if s not in statuses)
        runs.add_row(
            escape(flow),
            *(str(counts.get(s, 0)) for s in statuses),
            str(other),
            str(sum(counts.values())),
        )
    console.print(runs)
    dead = _table("dead letters by reason", "error code", "runs", "flows")
    for code, entry in summary["dead_letters"].items():
        dead.add_row(escape(code), str(entry["runs"]), escape(", ".join(entry["flows"])))
    console.print(dead if summary["dead_letters"] else "dead letters: none")
    records = _table("records in the systems", "system.table", "records", "created today")
    for system, tables in summary["records"].items():
        for table, n in tables.items():
            records.add_row(f"{system}.{table}", str(n), str(summary["created"][system][table]))
    console.print(records)
    ingress, dup = summary["ingress"], summary["duplicates_prevented"]
    rejected = ", ".join(f"{code} {n}" for code, n in ingress["rejected"].items()) or "none"
    console.print(
        f"ingress: {ingress['accepted']} events accepted, {ingress['duplicates']} of them "
        f"duplicates; refused: {rejected}"
    )
    by_system = ", ".join(f"{s} {n}" for s, n in dup["idempotent_replays_by_system"].items())
    console.print(
        f"duplicates prevented: {dup['ingress_duplicates']} duplicate deliveries started no run; "
        f"{dup['idempotent_replays']} retried writes were answered from the systems' idempotency "
        f"stores ({by_system}); {summary['step_retries']} step retries in all"
    )
    night = summary.get("reconciliation")
    if night:
        parts = [
            f"{name}: {s['missing']} missing, {s['extra']} extra, {s['mismatched']} mismatched"
            for name, s in (("accounts", night["accounts"]), ("projects", night["projects"]))
        ]
        console.print(f"nightly reconciliation: {'; '.join(parts)} (report {night['report']})")
    console.print(f"\n[bold]where to look next[/bold] (data in {escape(summary['data_dir'])}):")
    for command, what in next_steps(summary, runtime_url):
        console.print(f"  {escape(command)}\n      [dim]{escape(what)}[/dim]")

"""`seamline run FLOW --event FILE` — one in-process run with a step-by-step trace."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import click
from rich.markup import escape

from runtime.cli._output import compact, console, plural, print_diagnostics
from runtime.compiler.workspace import check_workspace
from runtime.connectors.mock import CompiledResponse
from runtime.engine import Clock, RunResult, VirtualClock, run_flow
from runtime.engine.executor import event_document
from runtime.engine.mocks import RunMocks, load_mocks
from runtime.engine.schedules import schedule_event
from runtime.errors import FlowError
from runtime.expressions.compiled import Literal
from runtime.expressions.jmes import is_truthy


@click.command("run")
@click.argument("flow")
@click.option(
    "--event",
    "event_file",
    required=False,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CloudEvent (structured JSON) to run the flow on; a scheduled flow without one fires now.",
)
@click.option(
    "--mocks",
    "mocks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A mocks file answering call steps by step id or connector.operation.",
)
@click.option(
    "--mock",
    "mock_pairs",
    multiple=True,
    metavar="STEP=FILE",
    help="Answer one step (or connector.operation) with the JSON in FILE; repeatable.",
)
@click.option(
    "--workspace",
    "-w",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace root.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole run result as JSON.")
@click.option(
    "--real-time",
    is_flag=True,
    help="Really sleep for delays and retry backoff (default: skip the waits).",
)
@click.option(
    "--ignore-filter",
    is_flag=True,
    help="Run even when the flow's `on.filter` does not match the event.",
)
def run_command(
    flow: str,
    event_file: Path | None,
    mocks_file: Path | None,
    mock_pairs: tuple[str, ...],
    workspace: Path,
    as_json: bool,
    real_time: bool,
    ignore_filter: bool,
) -> None:
    """Run FLOW once on the event in --event and print each step's input, output and duration.

    Exit code 0 when the run succeeded, 1 when it failed or the event was rejected.
    """
    flow = Path(flow).stem if flow.endswith((".yaml", ".yml")) else flow
    report = check_workspace(workspace)
    if report.plan is None:
        print_diagnostics(report.diagnostics)
        console.print(
            f"[red]the workspace has {len(report.diagnostics)} problem(s); fix them first (seamline check)[/red]"
        )
        sys.exit(1)
    plan = report.plan
    if flow not in plan.flows:
        raise click.UsageError(f"no flow named {flow!r}; flows: {', '.join(sorted(plan.flows))}")
    flow_plan = plan.flows[flow]
    if event_file is None:
        if not flow_plan.schedule:
            raise click.UsageError(
                f"{flow} is triggered by {flow_plan.event_type}: give --event FILE"
            )
        now = time.time()
        event = schedule_event(flow_plan, now, now, 0)
        event_file = Path(f"(schedule fire of {flow})")
    else:
        try:
            event = json.loads(event_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise click.UsageError(
                f"{event_file}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}"
            ) from exc
    applies = event.get("type") == flow_plan.event_type and flow_plan.filter is not None
    if (
        applies
        and not ignore_filter
        and not is_truthy(flow_plan.filter.evaluate(event_document(event)))
    ):
        console.print(
            f"filter `{flow_plan.filter.source}` does not match this event: in production no run of "
            f"{flow} would start. Use --ignore-filter to run it anyway."
        )
        sys.exit(0)
    mocks = None
    try:
        if mocks_file or mock_pairs:
            mocks = _mocks(plan, mocks_file, mock_pairs)
    except FlowError as exc:
        print_diagnostics(exc.diagnostics)
        sys.exit(1)
    clock: Clock = Clock() if real_time else VirtualClock()

    async def main() -> RunResult:
        try:
            return await run_flow(plan, flow, event, mocks=mocks, clock=clock)
        finally:
            for connector in plan.connectors.values():
                await connector.aclose()

    result = anyio.run(main)
    if as_json:
        json.dump(result.to_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
    else:
        print_result(result, event_file)
    sys.exit(0 if result.succeeded else 1)


def _mocks(plan: Any, mocks_file: Path | None, mock_pairs: tuple[str, ...]) -> RunMocks:
    mocks = load_mocks(plan, mocks_file) if mocks_file else RunMocks({})
    for pair in mock_pairs:
        step, sep, file = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--mock {pair!r}: expected STEP=FILE")
        try:
            output = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise click.UsageError(f"--mock {pair}: cannot read JSON from {file}: {exc}") from exc
        mocks.responses[step] = (CompiledResponse(Literal(output), None),)
    return mocks


def print_result(result: RunResult, event_file: Path) -> None:
    if result.status == "rejected":
        error = result.error or {}
        console.print(
            f"[red]event rejected[/red] ({escape(str(error.get('code')))}): {escape(str(event_file))}"
        )
        if error.get("contract"):
            console.print(f"  contract: [bold]{escape(error['contract'])}[/bold]")
        if not error.get("violations"):
            console.print(f"  {escape(str(error.get('message')))}")
        for violation in error.get("violations") or []:
            console.print(
                f"  [cyan]{escape(violation['path'])}[/cyan]: {escape(violation['message'])}"
            )
        return
    console.print(
        f"[bold]{result.flow}[/bold]{f' (variant {result.variant})' if result.variant else ''} v{result.version}  run {result.run_id}  key {escape(compact(result.key))}  "
        f"hash {result.content_hash[:12]}"
    )
    marks = {
        "succeeded": "[green]✓[/green]",
        "skipped": "[dim]–[/dim]",
        "failed": "[red]✗[/red]",
        "compensated": "[yellow]↺[/yellow]",
        "compensation_failed": "[red]↺✗[/red]",
        "cancelled": "[yellow]⊘[/yellow]",
    }
    for record in result.trace:
        indent = "  " * (record.depth + 1)
        attempts = f" ×{record.attempts} attempts" if record.attempts > 1 else ""
        detail = f" ({escape(record.detail)})" if record.detail else ""
        status = "" if record.status == "succeeded" else f" {record.status}"
        console.print(
            f"{indent}{marks.get(record.status, '?')} [bold]{escape(record.label)}[/bold] [dim]{record.kind}"
            f"{status}{attempts}{detail} {record.duration_ms:.1f} ms[/dim]"
        )
        if record.input is not None:
            console.print(f"{indent}    [dim]in:[/dim]  {escape(compact(record.input))}")
        if record.error:
            console.print(f"{indent}    [red]err:[/red] {escape(str(record.error.get('message')))}")
        elif record.status == "succeeded":
            console.print(f"{indent}    [dim]out:[/dim] {escape(compact(record.output))}")
    for event in result.emitted:
        console.print(
            f"emitted [bold]{event['type']}[/bold]"
            + (
                f" subject={escape(str(event['subject']))}"
                if event.get("subject") is not None
                else ""
            )
            + f" data={escape(compact(event['data'], 200))}"
        )
    colour = "green" if result.succeeded else "red"
    console.print(
        f"[{colour}]{result.status}[/{colour}] in {result.duration_ms:.1f} ms, {plural(len(result.calls), 'call')}, "
        f"{plural(len(result.emitted), 'event')} emitted"
    )
    if result.error:
        console.print(
            f"[red]error[/red] at step [bold]{escape(str(result.error.get('step')))}[/bold] "
            f"\\[{result.error.get('code')}]: {escape(str(result.error.get('message')))}"
        )
    if result.output is not None:
        console.print(f"output: {escape(compact(result.output, 400))}")

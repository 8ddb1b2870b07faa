"""`seamline check [WORKSPACE]` — load and compile everything; report every problem."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from runtime.cli._output import console, plural, print_diagnostics
from runtime.compiler.workspace import check_workspace


@click.command("check")
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the diagnostics and counts as JSON.")
def check_command(workspace: Path, as_json: bool) -> None:
    """Load and compile every flow, contract, connector and template; report all problems.

    Exit code 0 when clean, 1 when problems were found, 2 on a usage error.
    """
    if not workspace.is_dir():
        raise click.UsageError(f"workspace {workspace} is not a directory")
    report = check_workspace(workspace)
    if as_json:
        json.dump(
            {
                "ok": report.ok,
                "counts": report.counts,
                "diagnostics": [d.to_dict() for d in report.diagnostics],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print_diagnostics(report.diagnostics)
        c = report.counts
        summary = (
            f"{plural(c['flows'], 'flow')}, {plural(c['contracts'], 'contract')} "
            f"({plural(c['contract_versions'], 'version')}), {plural(c['connectors'], 'connector')}, "
            f"{plural(c['lookups'], 'lookup table')}, {plural(c['templates'], 'template')}"
        )
        if report.ok:
            console.print(f"[green]ok[/green]: {summary}; no problems")
        else:
            console.print(f"[red]{plural(len(report.diagnostics), 'problem')}[/red] in {summary}")
    sys.exit(0 if report.ok else 1)

"""`seamline catalog [WORKSPACE] [--out DIR] [--check]` — the event catalog of a workspace.

Writes `asyncapi.json` (AsyncAPI 3.0: a channel per event type, a message per contract
version, an operation per flow that receives or sends it), `README.md` and `index.html`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from runtime.catalog import build_catalog, write_catalog
from runtime.cli._output import console, plural, print_diagnostics
from runtime.compiler.workspace import check_workspace


@click.command("catalog")
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder to write to (default: WORKSPACE/catalog).",
)
@click.option(
    "--check", is_flag=True, help="Only report catalog files that are out of date (exit 1)."
)
def catalog_command(workspace: Path, out: Path | None, check: bool) -> None:
    """Write the event catalog: AsyncAPI 3.0, plus Markdown and HTML pages.

    Exit code 0 when written (or up to date), 1 when the workspace has problems or, with
    --check, the files are stale; 2 on a usage error.
    """
    if not workspace.is_dir():
        raise click.UsageError(f"workspace {workspace} is not a directory")
    report = check_workspace(workspace)
    if report.plan is None:
        print_diagnostics(report.diagnostics)
        console.print("[red]the workspace has problems; fix them first (seamline check)[/red]")
        sys.exit(1)
    catalog = build_catalog(report.plan)
    files = write_catalog(catalog, out if out is not None else workspace / "catalog")
    stale = []
    for path, text in files.items():
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        stale.append(path)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if check else "written"
    for path in stale:
        console.print(f"{verb}: {path}")
    console.print(
        f"{plural(len(catalog.events), 'event type')}, {plural(len(catalog.flows), 'flow')}"
        + ("" if stale else "; catalog is up to date")
    )
    sys.exit(1 if check and stale else 0)

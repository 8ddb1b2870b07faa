"""Opening the workspace and its store for the commands that need both."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from runtime.cli._output import console, print_diagnostics
from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace
from runtime.spec.settings import WorkspaceSettings
from runtime.store import Store, open_store

STORE_OPTION = click.option(
    "--store",
    "store_url",
    default=None,
    metavar="URL",
    help="Store URL (default: $SEAMLINE_STORE, else `store` in seamline.yaml, else sqlite:///.seamline/seamline.db).",
)
WORKSPACE_OPTION = click.option(
    "--workspace",
    "-w",
    default=".",
    type=click.Path(file_okay=False, path_type=Path),
    help="Workspace root.",
)


def load_plan(workspace: Path) -> Plan:
    """The compiled workspace, or exit 1 after printing its problems."""
    if not workspace.is_dir():
        raise click.UsageError(f"workspace {workspace} is not a directory")
    report = check_workspace(workspace)
    if report.plan is None:
        print_diagnostics(report.diagnostics)
        console.print(
            f"[red]the workspace has {len(report.diagnostics)} problem(s); fix them first (seamline check)[/red]"
        )
        sys.exit(1)
    return report.plan


def store_url(settings: WorkspaceSettings, explicit: str | None) -> str:
    return explicit or os.environ.get("SEAMLINE_STORE") or settings.store


def open_workspace_store(plan: Plan, explicit: str | None) -> Store:
    return open_store(store_url(plan.settings, explicit), plan.root)


def open_store_only(workspace: Path, explicit: str | None) -> Store:
    """The store, reading only seamline.yaml (no compile) — for runs and dlq listings."""
    url = explicit or os.environ.get("SEAMLINE_STORE")
    if url is None:
        from runtime.loader.files import parse_file

        settings_file = workspace / "seamline.yaml"
        settings = WorkspaceSettings()
        if settings_file.is_file():
            doc = parse_file(workspace, settings_file, [])
            if doc is not None and isinstance(doc.data, dict):
                settings = WorkspaceSettings.model_validate(doc.data)
        url = settings.store
    return open_store(url, workspace.resolve())

"""`seamline docs` — regenerate the reference docs and editor schemas from the spec models."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from runtime.docs import DOCS
from runtime.expressions.functions import render_functions_markdown
from runtime.schema import SCHEMA_NAMES, render_schema


def generated_files() -> dict[str, Callable[[], str]]:
    """Every generated file of the repository, by path relative to its root."""
    files: dict[str, Callable[[], str]] = dict(DOCS)
    files["docs/functions.md"] = render_functions_markdown
    for name in SCHEMA_NAMES:
        files[f"schemas/{name}.schema.json"] = lambda name=name: render_schema(name)
    return files


@click.command("docs")
@click.option(
    "--root", default=".", type=click.Path(file_okay=False, path_type=Path), help="Repository root."
)
@click.option(
    "--check",
    is_flag=True,
    help="Only report files that differ from what the models generate (exit 1).",
)
def docs_command(root: Path, check: bool) -> None:
    """Write docs/steps.md, docs/connectors.md, docs/functions.md and schemas/*.schema.json."""
    stale = []
    for rel, render in generated_files().items():
        path = root / rel
        text = render()
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(rel)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    verb = "out of date" if check else "written"
    for rel in stale:
        click.echo(f"{verb}: {rel}")
    if not stale:
        click.echo("all generated files are up to date")
    sys.exit(1 if check and stale else 0)

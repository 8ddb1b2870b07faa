"""`seamline schema NAME` — the JSON Schema of flow, connector, settings or mocks files."""

from __future__ import annotations

from pathlib import Path

import click

from runtime.schema import SCHEMA_NAMES, render_schema


@click.command("schema")
@click.argument("name", type=click.Choice(SCHEMA_NAMES))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to a file instead of stdout.",
)
def schema_command(name: str, output: Path | None) -> None:
    """Print the JSON Schema of a file kind, for editor autocompletion.

    Put `# yaml-language-server: $schema=../schemas/flow.schema.json` on the first line of a
    flow file and VS Code's YAML extension completes and checks it.
    """
    text = render_schema(name)
    if output:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)

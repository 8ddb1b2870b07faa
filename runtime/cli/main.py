"""The `seamline` command."""

from __future__ import annotations

import click

from runtime.cli.check import check_command
from runtime.cli.docs import docs_command
from runtime.cli.run import run_command
from runtime.cli.schema import schema_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seamline")
def cli() -> None:
    """seamline: a declarative integration runtime (YAML flows, JSON-Schema contracts)."""


cli.add_command(check_command)
cli.add_command(run_command)
cli.add_command(schema_command)
cli.add_command(docs_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

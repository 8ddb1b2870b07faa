"""The `seamline` command."""

from __future__ import annotations

import click

from runtime.cli.catalog import catalog_command
from runtime.cli.check import check_command
from runtime.cli.contracts import contracts_group
from runtime.cli.demo import demo_command
from runtime.cli.docs import docs_command
from runtime.cli.explain import explain_command
from runtime.cli.graph import graph_command
from runtime.cli.run import run_command
from runtime.cli.runs import dlq_group, runs_group
from runtime.cli.sandbox import sandbox_command
from runtime.cli.schedules import schedules_command
from runtime.cli.schema import schema_command
from runtime.cli.serve import serve_command, status_command
from runtime.cli.sources import sources_group
from runtime.cli.test import test_command
from runtime.cli.worker import ingest_command, worker_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seamline")
def cli() -> None:
    """seamline: a declarative integration runtime (YAML flows, JSON-Schema contracts)."""


cli.add_command(check_command)
cli.add_command(run_command)
cli.add_command(schema_command)
cli.add_command(docs_command)
cli.add_command(test_command)
cli.add_command(contracts_group)
cli.add_command(catalog_command)
cli.add_command(explain_command)
cli.add_command(graph_command)
cli.add_command(sandbox_command)
cli.add_command(ingest_command)
cli.add_command(worker_command)
cli.add_command(runs_group)
cli.add_command(dlq_group)
cli.add_command(schedules_command)
cli.add_command(sources_group)
cli.add_command(serve_command)
cli.add_command(status_command)
cli.add_command(demo_command)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()

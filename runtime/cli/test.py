"""`seamline test [PATH …] [--junit FILE] [--cov-fail-under N]` — pytest with the seamline plugin.

Collects flow test cases (`tests/flows/*.yaml`), contract examples and compatibility checks
exactly as a plain `pytest` does; the exit code is pytest's. Options after the paths that
seamline does not know (`-k name`, `-x`, `-q` …) go to pytest unchanged.
"""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import click


@click.command(
    "test",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.argument("paths", nargs=-1, type=click.UNPROCESSED)
@click.option(
    "--junit",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write JUnit XML to FILE (for CI test reports).",
)
@click.option(
    "--cov-fail-under",
    type=click.FloatRange(0, 100),
    help="Fail when flow coverage (steps and switch arms) is below N percent.",
)
@click.option(
    "--cov-report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write flow coverage as JSON to FILE.",
)
@click.option(
    "--against",
    metavar="GIT_REV",
    help="Also check contract versions against those at this git revision.",
)
def test_command(
    paths: tuple[str, ...],
    junit: Path | None,
    cov_fail_under: float | None,
    cov_report: Path | None,
    against: str | None,
) -> None:
    """Run flow test cases, contract examples and compatibility checks (pytest).

    PATH narrows the run (a test file, tests/flows, contracts/…); with none, pytest's own
    configuration decides, as for a bare `pytest`. Exit code: pytest's.
    """
    import pytest

    # the CLI has imported anyio already, so pytest cannot rewrite its plugin's asserts: harmless
    args = ["-W", "ignore::pytest.PytestAssertRewriteWarning", *paths]
    if junit is not None:
        args += ["--junitxml", str(junit)]
    if cov_fail_under is not None:
        args += ["--flow-cov-fail-under", f"{cov_fail_under:g}"]
    if cov_report is not None:
        args += ["--flow-cov-report", str(cov_report)]
    if against:
        args += ["--seamline-against", against]
    plugins: list[object] = []
    if not list(entry_points(group="pytest11", name="seamline")):
        from runtime.testing import plugin  # running from a source tree that is not installed

        plugins.append(plugin)
    sys.exit(int(pytest.main(args, plugins=plugins)))

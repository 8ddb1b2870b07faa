"""`seamline contracts check [WORKSPACE] [--against GIT_REV]` — contract governance for CI.

Checks every version of every contract against its predecessors under the contract's
compatibility mode, and (with `--against`) against the versions published at a git revision,
so an edit of a released version is caught too. Then checks that every event field each flow
reads exists in every contract version the flow accepts. Exit 0 clean, 1 problems, 2 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from runtime.cli._output import console, plural, print_diagnostics
from runtime.compiler.workspace import check_workspace
from runtime.contracts.compat import CompatCheck, RevisionError, check_diagnostics, check_registry
from runtime.contracts.registry import check_examples, load_contracts
from runtime.errors import Diagnostic, FlowError
from runtime.testing import check_workspace_consumers, load_test_file


@click.group("contracts")
def contracts_group() -> None:
    """Contract governance: compatibility between versions, and what flows read."""


@contracts_group.command("check")
@click.argument("workspace", default=".", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--against",
    "rev",
    metavar="GIT_REV",
    help="Also check each version against the contract versions at this git revision "
    "(e.g. origin/main): an edited or deleted published version is a change too.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the checks and problems as JSON.")
def contracts_check_command(workspace: Path, rev: str | None, as_json: bool) -> None:
    """Compatibility of every contract version with its predecessors, examples, consumer reads.

    Exit code 0 when everything holds, 1 when something breaks, 2 on a usage error.
    """
    if not workspace.is_dir():
        raise click.UsageError(f"workspace {workspace} is not a directory")
    root = workspace.resolve()
    registry, problems = load_contracts(root)
    try:
        checks = check_registry(registry, root, rev)
    except RevisionError as exc:
        raise click.UsageError(str(exc)) from exc
    diagnostics = [*problems, *check_examples(root, registry), *check_diagnostics(root, checks)]
    report = check_workspace(root)
    consumers: list[Diagnostic] = []
    if report.plan is not None:
        consumers = [
            Diagnostic(p.file, p.line, p.col, "", p.code, p.message)
            for p in check_workspace_consumers(report.plan, optional_reads(root))
        ]
    ok = not diagnostics and not consumers
    if as_json:
        json.dump(
            {
                "ok": ok,
                "against": rev,
                "checks": [_check_json(c) for c in checks],
                "diagnostics": [d.to_dict() for d in [*diagnostics, *consumers]],
            },
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
    else:
        print_diagnostics(sorted(diagnostics) + consumers)
        failed = sum(1 for c in checks if not c.ok)
        versions = sum(len(c.versions) for c in registry.contracts.values())
        against = f" and against {rev}" if rev else ""
        summary = (
            f"{plural(len(registry.contracts), 'contract')} ({plural(versions, 'version')}): "
            f"{plural(len(checks), 'compatibility check')}{against}, {failed} failed; "
            f"event reads of {plural(len(report.plan.flows) if report.plan else 0, 'flow')}: "
            f"{plural(len(consumers), 'problem')}"
        )
        if report.plan is None:
            summary += " (the workspace does not compile: run `seamline check`)"
        colour = "green" if ok else "red"
        console.print(f"[{colour}]{'ok' if ok else 'breaking'}[/{colour}]: {summary}")
    sys.exit(0 if ok else 1)


def optional_reads(root: Path) -> dict[str, dict[str, str]]:
    """`optional_reads` of every flow test file, by flow (files that do not load are skipped:
    `seamline test` reports them)."""
    out: dict[str, dict[str, str]] = {}
    folder = root / "tests" / "flows"
    for file in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            spec = load_test_file(root, file).spec
        except FlowError:
            continue
        out.setdefault(spec.flow, {}).update(spec.optional_reads)
    return out


def _check_json(check: CompatCheck) -> dict[str, Any]:
    return {
        "contract": check.contract,
        "mode": check.mode,
        "direction": check.direction,
        "newer": check.newer.label,
        "older": check.older.label,
        "file": check.newer.file,
        "ok": check.ok,
        "differences": [
            {"pointer": d.pointer, "path": d.path, "rule": d.rule, "message": d.message}
            for d in check.differences
        ],
    }

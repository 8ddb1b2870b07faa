"""`seamline explain FLOW [--variant V]` — the fully merged flow a variant resolves to."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml
from rich.markup import escape

from runtime.cli._output import console, print_diagnostics
from runtime.cli._runtime import WORKSPACE_OPTION, load_plan
from runtime.compiler.variants import load_variant, variant_files
from runtime.errors import Diagnostic
from runtime.loader.files import parse_file


@click.command("explain")
@click.argument("flow")
@click.option(
    "--variant",
    "-v",
    "variant",
    help="The variant (entity) to merge; without it, list the flow's variants.",
)
@WORKSPACE_OPTION
def explain_command(flow: str, variant: str | None, workspace: Path) -> None:
    """Print FLOW as VARIANT runs it: the base flow with the overlay's vars and patch applied.

    Without --variant, list the flow's variants, most specific first, with their `match`.
    """
    plan = load_plan(workspace)
    if flow not in plan.flows:
        raise click.UsageError(f"no flow named {flow!r}; flows: {', '.join(sorted(plan.flows))}")
    known = plan.variants.get(flow, ())
    if variant is None:
        if not known:
            console.print(f"{escape(flow)} has no variants")
        for v in known:
            console.print(
                f"{v.name}  (specificity {v.specificity})  match: {escape(v.match.source)}  "
                f"file: {escape(v.flow.file)}  version {v.flow.content_hash[:12]}"
            )
        return
    chosen = next((v for v in known if v.name == variant), None)
    if chosen is None:
        names = ", ".join(v.name for v in known) or "none"
        raise click.UsageError(f"{flow} has no variant {variant!r} (variants: {names})")
    root = Path(plan.root)
    problems: list[Diagnostic] = []
    base = parse_file(root, root / plan.flows[flow].file, problems)
    file = next(f for f in variant_files(root) if str(f.relative_to(root)) == chosen.flow.file)
    loaded = load_variant(root, file, {flow: base} if base else {}, problems)
    if loaded is None:
        print_diagnostics(problems)
        sys.exit(1)
    _, _, merged = loaded
    click.echo(
        f"# {flow} as variant {variant} runs it: {plan.flows[flow].file} + {chosen.flow.file}"
    )
    click.echo(f"# match: {chosen.match.source}")
    click.echo(
        yaml.safe_dump(merged.data, sort_keys=False, allow_unicode=True, width=110), nl=False
    )

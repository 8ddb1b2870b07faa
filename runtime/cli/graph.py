"""`seamline graph FLOW [--variant V] [-o FILE]` — the flow as a Mermaid diagram."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import click
from rich.markup import escape

from runtime.catalog.graph import flow_mermaid
from runtime.cli._output import console
from runtime.cli._runtime import WORKSPACE_OPTION, load_plan

RENDERED = (".svg", ".png", ".pdf")


@click.command("graph")
@click.argument("flow")
@click.option(
    "--variant",
    "-v",
    "variant",
    help="Draw the flow as this variant (entity) runs it.",
)
@click.option(
    "--output",
    "-o",
    "output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to FILE instead of printing: .mmd (or .md, fenced) as text; .svg, .png or .pdf "
    "rendered with mmdc (@mermaid-js/mermaid-cli) when it is installed.",
)
@WORKSPACE_OPTION
def graph_command(flow: str, variant: str | None, output: Path | None, workspace: Path) -> None:
    """Print FLOW as a Mermaid flowchart: trigger, steps in order, branches, loops, undo, output.

    Paste it into any Mermaid viewer (GitHub and GitLab render ```mermaid blocks), or pass
    `-o flow.svg` to render it with mmdc.
    """
    plan = load_plan(workspace)
    if flow not in plan.flows:
        raise click.UsageError(f"no flow named {flow!r}; flows: {', '.join(sorted(plan.flows))}")
    if variant is not None:
        known = plan.variants.get(flow, ())
        if not any(v.name == variant for v in known):
            names = ", ".join(v.name for v in known) or "none"
            raise click.UsageError(f"{flow} has no variant {variant!r} (variants: {names})")
    text = flow_mermaid(plan, flow, variant)
    if output is None:
        click.echo(text, nl=False)
        return
    suffix = output.suffix.lower()
    if suffix not in RENDERED:
        if suffix == ".md":
            text = f"```mermaid\n{text}```\n"
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {escape(str(output))}")
        return
    mmdc = shutil.which("mmdc")
    if mmdc is None:
        console.print(
            f"[red]rendering {suffix} needs mmdc, which is not on PATH: install it with "
            "`npm install -g @mermaid-js/mermaid-cli`, or write the Mermaid text instead "
            f"(-o {escape(output.with_suffix('.mmd').name)})[/red]"
        )
        sys.exit(1)
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp, output.stem).with_suffix(".mmd")
        source.write_text(text, encoding="utf-8")
        done = subprocess.run(
            [mmdc, "--quiet", "-i", str(source), "-o", str(output)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        console.print(f"[red]mmdc failed ({done.returncode}):[/red]")
        click.echo((done.stderr or done.stdout).strip(), err=True)
        sys.exit(1)
    console.print(f"wrote {escape(str(output))}")

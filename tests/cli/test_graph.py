"""`seamline graph FLOW [--variant V] [-o FILE]`: a compiled flow as a Mermaid flowchart."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.catalog import _nodes
from runtime.catalog.graph import escape, flow_mermaid
from runtime.cli.main import cli
from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from tests.conftest import REPO

# a node declaration: id, then an opening bracket and a quoted label
NODE = re.compile(
    r'^\s*([A-Za-z_][A-Za-z0-9_]*)(\(\[|\[\[|\[/|\(\(|\[|\{)"(.*)"(\]\)|\]\]|\\\]|\)\)|\]|\})'
)
SUBGRAPH = re.compile(r'^\s*subgraph ([A-Za-z_][A-Za-z0-9_]*)\["(.*)"\]$')
EDGE_LABEL = re.compile(r'\|"(.*?)"\|')


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_workspace(REPO)


def _declarations(text: str) -> list[tuple[str, str]]:
    found = []
    for line in text.splitlines():
        if m := NODE.match(line):
            found.append((m.group(1), m.group(3)))
        elif m := SUBGRAPH.match(line):
            found.append((m.group(1), m.group(2)))
    return found


def _edges(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if " --> " in line or " -.->" in line]


def test_every_reference_flow_draws(plan: Plan) -> None:
    assert len(plan.flows) >= 5
    for name, flow in plan.flows.items():
        text = flow_mermaid(plan, name)
        assert text.startswith("flowchart TD\n"), name
        declared = _declarations(text)
        ids = [node_id for node_id, _ in declared]
        assert len(ids) == len(set(ids)), f"{name}: duplicate node ids"
        for node in _nodes(flow.steps):
            assert node.id in ids, f"{name}: step {node.id} has no node"
        for node_id, label in declared:
            assert '"' not in label, f"{name}: unescaped quote in {node_id}: {label}"
        for edge in _edges(text):
            for label in EDGE_LABEL.findall(edge):
                assert '"' not in label and "|" not in label, f"{name}: {edge}"
            source, target = re.split(r" -\.?->(?:\|.*\|)? ", edge)
            assert source in ids and target in ids, f"{name}: edge to an undeclared node: {edge}"
        assert "start([" in text and "done([" in text and "on_error[" in text


def test_opportunity_to_project_shows_switch_arms_loops_fork_and_undo(plan: Plan) -> None:
    text = flow_mermaid(plan, "opportunity_to_project")
    assert (
        "start([\"on crm.opportunity.closed_won<br/>filter: data.stage == 'Closed Won'\"])" in text
    )
    assert 'billing_schedule{"billing_schedule<br/>switch"}' in text
    assert "billing_schedule -->|\"data.billing_model == 'milestone'\"| create_milestones" in text
    assert "billing_schedule -->|\"data.billing_model == 'fixed_fee'\"| fixed_fee_plan" in text
    assert 'billing_schedule -->|"else"| tm_schedule' in text
    assert "tm_schedule --> billing_schedule_join" in text
    assert 'subgraph create_tasks_loop["for_each data.lines as line, concurrency 4"]' in text
    assert 'subgraph create_milestones_loop["for_each data.milestones as milestone"]' in text
    assert 'subgraph provision_erp["branch erp"]' in text
    assert 'provision -->|"psa"| create_project' in text
    assert 'create_customer -.->|"undo"| create_customer_undo' in text
    assert "call erp.archive_customer" in text
    assert '"on_error<br/>compensate: yes<br/>then dead_letter"' in text
    assert "output: project_id, customer_id" in text
    assert "emit ps.project.activated v1" in text
    assert 'reject_currency["reject_currency<br/>fail validation.currency"]' in text


def test_if_steps_get_the_condition_and_a_skip_edge(plan: Plan) -> None:
    text = flow_mermaid(plan, "invoice_status")
    assert (
        'get_project -->|"if: steps.get_project.output == #96;null#96;"| reject_unknown_project'
    ) in text
    assert 'get_project -.->|"skip"| publish_invoice' in text


def test_a_variant_draws_its_own_calls(plan: Plan) -> None:
    base = flow_mermaid(plan, "opportunity_to_project")
    uk = flow_mermaid(plan, "opportunity_to_project", "northwind_uk")
    assert "call erp.find_customer" in base and "legacy_erp" not in base
    assert "call legacy_erp.find_customer" in uk and "call erp.find_customer" not in uk
    assert "call legacy_erp.close_customer" in uk
    assert "reject_unknown_entity" not in uk and "project_activated" not in uk
    assert "(variant northwind_uk)" in uk.splitlines()[1]
    with pytest.raises(KeyError, match="northwind_uk"):
        flow_mermaid(plan, "opportunity_to_project", "nowhere")


def test_labels_are_escaped() -> None:
    assert escape('a "b" [c] | #d <e> `f`') == (
        "a #quot;b#quot; #91;c#93; #124; #35;d #lt;e#gt; #96;f#96;"
    )
    assert escape("x" * 200).endswith("…") and len(escape("x" * 200)) == 90
    assert escape("two\n  lines") == "two lines"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["graph", *args, "-w", str(REPO)])
    return result.exit_code, result.output


def test_cli_prints_the_diagram() -> None:
    code, out = _run("opportunity_to_project")
    assert code == 0, out
    assert out.startswith("flowchart TD\n") and "billing_schedule" in out
    code, out = _run("opportunity_to_project", "--variant", "northwind_uk")
    assert code == 0 and "legacy_erp.create_contract" in out


def test_cli_unknown_flow_or_variant_is_a_usage_error() -> None:
    code, out = _run("nope")
    assert code == 2 and "no flow named 'nope'" in out and "opportunity_to_project" in out
    code, out = _run("opportunity_to_project", "--variant", "nope")
    assert code == 2 and "northwind_uk" in out


def test_cli_writes_mermaid_text(tmp_path: Path) -> None:
    code, out = _run("invoice_status", "-o", str(tmp_path / "flow.mmd"))
    assert code == 0, out
    assert (tmp_path / "flow.mmd").read_text(encoding="utf-8").startswith("flowchart TD\n")
    code, out = _run("invoice_status", "-o", str(tmp_path / "flow.md"))
    assert code == 0 and (tmp_path / "flow.md").read_text(encoding="utf-8").startswith(
        "```mermaid\nflowchart TD\n"
    )


def test_cli_svg_without_mmdc_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *a, **k: None if name == "mmdc" else real_which(name, *a, **k)
    )
    code, out = _run("invoice_status", "-o", str(tmp_path / "flow.svg"))
    assert code == 1
    assert "@mermaid-js/mermaid-cli" in out and "flow.mmd" in out
    assert not (tmp_path / "flow.svg").exists()


def test_cli_svg_renders_with_mmdc_when_it_is_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "bin" / "mmdc"  # stands in for mermaid-cli: copies the input to the output
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nwhile [ $# -gt 0 ]; do case "$1" in -i) i="$2"; shift;; -o) o="$2"; shift;;'
        ' esac; shift; done\ncp "$i" "$o"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    code, out = _run("invoice_status", "-o", str(tmp_path / "flow.svg"))
    assert code == 0, out
    assert (tmp_path / "flow.svg").read_text(encoding="utf-8").startswith("flowchart TD\n")

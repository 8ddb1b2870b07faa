"""The README's quick start works as written (its install step is what CI itself runs)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO


def _bash_blocks() -> list[str]:
    """The bash blocks of the README's quick start section, in order."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return [part.split("```", 1)[0] for part in section.split("```bash")[1:]]


def _commands(block: str) -> list[list[str]]:
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        for part in line.split("&&"):
            words = shlex.split(part)
            if words and words[0] == "seamline":
                commands.append(words)
    return commands


def _seamline(words: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.cli.main", *words[1:]],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_quick_start_seamline_commands_succeed(tmp_path: Path) -> None:
    """`seamline check`, then `seamline demo` — played here as a short day (--scale small)
    in a temporary data directory."""
    commands = _commands(_bash_blocks()[0])
    assert [c[:2] for c in commands] == [["seamline", "check"], ["seamline", "demo"]]
    for words in commands:
        if words[1] == "demo":
            words = [*words, "--scale", "small", "--data-dir", str(tmp_path / "demo")]
        done = _seamline(words, timeout=240)
        assert done.returncode == 0, f"{' '.join(words)}\n{done.stdout}\n{done.stderr}"
    assert "runs by flow and status" in done.stdout and "where to look next" in done.stdout
    assert (tmp_path / "demo" / "sandbox" / "erp.db").is_file()


def test_the_single_flow_example_runs() -> None:
    (run,) = _commands(_bash_blocks()[1])
    assert run[:2] == ["seamline", "run"]
    done = _seamline(run)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert "succeeded" in done.stdout and "ps.project.activated" in done.stdout


def test_readme_shows_the_invalid_event_being_rejected() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli.main",
            "run",
            "opportunity_to_project",
            "--event",
            "contracts/crm.opportunity.closed_won/examples/invalid/negative_amount.json",
            "--mocks",
            "tests/mocks/opportunity_to_project.yaml",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "crm.opportunity.closed_won v1" in done.stdout
    assert "$.data.amount" in done.stdout

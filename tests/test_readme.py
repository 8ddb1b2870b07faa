"""The README's quick start works as written (its install step is what CI itself runs)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from tests.conftest import REPO


def _quick_start_commands() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    joined = re.sub(r"\\\n\s*", " ", block)
    commands = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        for part in line.split("&&"):
            words = shlex.split(part)
            if words and words[0] == "seamline":
                commands.append(words)
    return commands


def test_quick_start_seamline_commands_succeed() -> None:
    commands = _quick_start_commands()
    assert [c[:2] for c in commands] == [["seamline", "check"], ["seamline", "run"]]
    for words in commands:
        done = subprocess.run([sys.executable, "-m", "runtime.cli.main", *words[1:]], cwd=REPO,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"{' '.join(words)}\n{done.stdout}\n{done.stderr}"
    assert "succeeded" in done.stdout and "ps.project.activated" in done.stdout


def test_readme_shows_the_invalid_event_being_rejected() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli.main", "run", "opportunity_to_project", "--event",
         "contracts/crm.opportunity.closed_won/examples/invalid/negative_amount.json",
         "--mocks", "tests/mocks/opportunity_to_project.yaml"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 1
    assert "crm.opportunity.closed_won v1" in done.stdout
    assert "$.data.amount" in done.stdout

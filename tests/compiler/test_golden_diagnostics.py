"""Golden diagnostics: tests/fixtures/flows/<case>/flow.yaml -> diagnostics.txt.

Each case's flow is named `case`; it is written as flows/case.yaml into a copy of the mini
workspace (tests/conftest.py), plus whatever the case keeps under `workspace/` (copied to the
workspace root, e.g. a template). `diagnostics.txt` holds the expected `str(Diagnostic)` lines,
in order. Regenerate with SEAMLINE_UPDATE_GOLDEN=1 (cases in KNOWN_BUGS are left alone: their
file holds the text the runtime should print), then READ every changed line before committing
it: the file is the spec, not a snapshot.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from runtime.compiler.workspace import check_workspace
from tests.conftest import WriteWorkspace

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "flows"
CASES = sorted(p.name for p in CASES_DIR.iterdir() if (p / "flow.yaml").is_file())
UPDATE = os.environ.get("SEAMLINE_UPDATE_GOLDEN") == "1"

# Cases whose expected text describes behaviour the runtime does not have yet.
KNOWN_BUGS: dict[str, str] = {}


def _param(case: str) -> object:
    if case in KNOWN_BUGS:
        return pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[case]))
    return case


def test_there_are_enough_cases() -> None:
    assert len(CASES) >= 12
    for case in CASES:
        assert (CASES_DIR / case / "diagnostics.txt").is_file() or UPDATE, (
            f"{case} has no diagnostics.txt"
        )


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_golden_diagnostics(case: str, workspace: WriteWorkspace) -> None:
    folder = CASES_DIR / case
    root = workspace({})
    (root / "flows" / "case.yaml").write_bytes((folder / "flow.yaml").read_bytes())
    overlay = folder / "workspace"
    if overlay.is_dir():
        shutil.copytree(overlay, root, dirs_exist_ok=True)

    actual = [str(d) for d in check_workspace(root).diagnostics]
    expected_file = folder / "diagnostics.txt"
    if UPDATE and case not in KNOWN_BUGS:
        expected_file.write_text("".join(line + "\n" for line in actual), encoding="utf-8")
        pytest.skip(f"regenerated {expected_file.relative_to(CASES_DIR.parent.parent.parent)}")
    expected = expected_file.read_text(encoding="utf-8").splitlines()
    assert expected, (
        f"{case}: diagnostics.txt is empty; every golden case shows at least one problem"
    )
    assert actual == expected

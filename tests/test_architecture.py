"""The layering of STYLE.md: a layer imports only from the layers before it (import-linter)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO


def test_layers_are_kept() -> None:
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is missing: install the dev extra (pip install -e '.[dev]')")
    done = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 kept, 0 broken" in done.stdout

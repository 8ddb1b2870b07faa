"""Contract versions as they were at a git revision (read with `git ls-tree` and `git show`;
the working tree is never touched)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from runtime.errors import SeamlineError

_VERSION = re.compile(r"^contracts/([^/]+)/v([1-9][0-9]*)\.schema\.json$")


class RevisionError(SeamlineError):
    """The revision, or the contracts in it, cannot be read."""


def _git(cwd: Path, *args: str) -> str:
    exe = shutil.which("git")
    if exe is None:
        raise RevisionError("git is not installed; --against needs it")
    done = subprocess.run(
        [exe, *args], cwd=cwd, capture_output=True, text=True, encoding="utf-8", check=False
    )
    if done.returncode != 0:
        raise RevisionError(
            done.stderr.strip().splitlines()[-1]
            if done.stderr.strip()
            else f"git {' '.join(args)} failed"
        )
    return done.stdout


def contracts_at(root: Path, rev: str) -> dict[str, dict[int, tuple[str, Any]]]:
    """{event type: {version: (workspace-relative file, schema)}} at `rev`."""
    root = root.resolve()
    if rev.startswith("-"):
        raise RevisionError(f"{rev!r} is not a revision")
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel").strip()).resolve()
    except RevisionError as exc:
        raise RevisionError(f"{root} is not inside a git repository ({exc})") from exc
    try:
        _git(top, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except RevisionError as exc:
        raise RevisionError(f"unknown git revision {rev!r}") from exc
    prefix = root.relative_to(top).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    listed = _git(top, "ls-tree", "-r", "--name-only", rev, "--", f"{prefix}contracts")
    out: dict[str, dict[int, tuple[str, Any]]] = {}
    for line in listed.splitlines():
        rel = line[len(prefix) :] if line.startswith(prefix) else line
        match = _VERSION.match(rel)
        if not match:
            continue
        text = _git(top, "show", f"{rev}:{line}")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RevisionError(
                f"{rel} at {rev} is not JSON: {exc.msg} (line {exc.lineno})"
            ) from exc
        out.setdefault(match.group(1), {})[int(match.group(2))] = (rel, schema)
    return out

"""Where the demo happens: its data directory, the simulated systems, and a copy of the reference
workspace whose connectors point at them.

    <data dir>/
      .seamline-demo           marks the folder as the demo's (only such a folder is reset)
      sandbox/                 crm.db psa.db erp.db northwind_uk.db — the systems' databases
      workspace/               flows/ contracts/ connectors/ (base URLs rewritten), seamline.yaml
      workspace/.seamline/     seamline.db (the runtime's store), reports/ (reconciliation)
      summary.json             the summary printed at the end
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from runtime.sandbox import FaultConfig, RateLimit, Sandbox, start_all

MARKER = ".seamline-demo"
COPIED = ("flows", "contracts", "connectors")
SYSTEMS = ("crm", "psa", "erp")


class DataDirError(Exception):
    """The data directory holds something that is not a previous demo's."""


def find_workspace(start: Path) -> Path:
    """The reference workspace: `start` if it is one, else the one this package came with."""
    for candidate in (start, Path(__file__).resolve().parents[2]):
        if all((candidate / name).is_dir() for name in COPIED):
            return candidate.resolve()
    raise DataDirError(f"{start} is not a seamline workspace (no flows/, contracts/, connectors/)")


def reset_data_dir(data_dir: Path) -> None:
    """Empty the data directory for a new day — only if it is empty or a previous demo's."""
    if data_dir.exists():
        if any(data_dir.iterdir()) and not (data_dir / MARKER).is_file():
            raise DataDirError(
                f"{data_dir} is not empty and was not made by `seamline demo`; "
                "choose another --data-dir"
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / MARKER).write_text("made by `seamline demo`; deleted by the next run\n")


def settings_yaml(workers: int) -> str:
    """seamline.yaml of the demo workspace: one signed webhook source per system."""
    hooks = "\n".join(
        f"  {s}: {{ secret: env:SEAMLINE_DEMO_{s.upper()}_HOOK_SECRET, tolerance: 5m }}"
        for s in SYSTEMS
    )
    return (
        "# written by `seamline demo`: the simulated systems' webhooks, signed per system\n"
        f"workers: {workers}\n"
        "max_backlog: 200000\n"
        "shutdown_grace: 20s\n"
        "default_retry: { attempts: 6, backoff: exponential, delay: 250ms, max_delay: 4s, jitter: 0.2 }\n"
        f"hooks:\n{hooks}\n"
    )


def copy_workspace(source: Path, dest: Path, urls: dict[str, str], workers: int) -> None:
    """The reference flows, contracts and connectors, with each http connector's base_url set
    to its simulated system and a short timeout (a fault's hang is a few seconds)."""
    for name in COPIED:
        shutil.copytree(source / name, dest / name)
    for file in (dest / "connectors").glob("*.yaml"):
        if file.stem not in urls:
            continue
        text = file.read_text(encoding="utf-8")
        text, n = re.subn(r"^base_url: .*$", f"base_url: {urls[file.stem]}", text, flags=re.M)
        text, m = re.subn(r"^timeout: .*$", "timeout: 3s", text, flags=re.M)
        if n != 1 or m != 1:
            raise DataDirError(f"{file.name}: expected one top-level base_url and timeout")
        file.write_text(text, encoding="utf-8")
    (dest / "seamline.yaml").write_text(settings_yaml(workers), encoding="utf-8")


@dataclass
class World:
    """The running systems and the prepared workspace."""

    data_dir: Path
    workspace: Path
    sandbox: Sandbox
    token: str
    hook_secrets: dict[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """What the connectors and the hooks read: tokens, the legacy ERP URL, hook secrets."""
        env = dict(self.sandbox.env())
        for system, secret in self.hook_secrets.items():
            env[f"SEAMLINE_DEMO_{system.upper()}_HOOK_SECRET"] = secret
        return env

    def stop(self) -> None:
        self.sandbox.stop()


def build_world(data_dir: Path, source: Path, *, workers: int, seed: int) -> World:
    """Reset the data directory, start the systems (free ports) and copy the workspace."""
    reset_data_dir(data_dir)
    token = secrets.token_urlsafe(16)
    sandbox = start_all(
        data_dir / "sandbox",
        ports=dict.fromkeys(SYSTEMS, 0),
        token=token,
        faults=FaultConfig(seed=seed),
        rate_limit=RateLimit(rate=400, burst=400),
        reset=True,
    )
    try:
        workspace = data_dir / "workspace"
        copy_workspace(source, workspace, sandbox.urls, workers)
        world = World(data_dir, workspace, sandbox, token)
        world.hook_secrets = {s: f"whsec-{s}-{secrets.token_hex(12)}" for s in SYSTEMS}
        os.environ.update(world.environment())
    except BaseException:
        sandbox.stop()
        raise
    return world

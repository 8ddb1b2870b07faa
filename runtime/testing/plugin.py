"""The seamline pytest plugin (entry point `pytest11: seamline`).

In a workspace (a folder with `flows/` or `contracts/`; the pytest rootdir unless
`--seamline-workspace` says otherwise) it collects, next to the Python tests:

* `tests/flows/*.yaml` — flow test cases, and the consumer checks of the flow they test;
* `contracts/<type>/examples/{valid,invalid}/*.json` — each example validates, or is rejected;
* `contracts/<type>/vN.schema.json` — the schema loads, and is compatible with its
  predecessors under the contract's mode (`--seamline-against REV` adds a git revision's
  versions as predecessors).

When pytest runs its configured `testpaths` (a bare `pytest`), the workspace's `contracts/`
folder is added to them, so CI's plain `pytest` checks the contracts too. After the run it
prints flow coverage (steps and switch arms); `--flow-cov-fail-under N` fails the session below
N percent. This module stays light: the runtime is imported only inside a workspace.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

_SESSION = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("seamline", "seamline flow tests and contract checks")
    group.addoption(
        "--seamline-workspace",
        metavar="DIR",
        default=None,
        help="workspace root (default: the pytest rootdir)",
    )
    group.addoption(
        "--flow-cov-fail-under",
        metavar="N",
        type=float,
        default=None,
        help="fail when flow step + switch-arm coverage is below N percent",
    )
    group.addoption(
        "--flow-cov-report",
        metavar="FILE",
        default=None,
        help="write flow coverage as JSON to FILE",
    )
    group.addoption(
        "--seamline-against",
        metavar="REV",
        default=None,
        help="also check each contract version against the versions at this git revision",
    )
    parser.addini("seamline_workspace", "workspace root, relative to the rootdir", default="")


def workspace_root(config: pytest.Config) -> Path | None:
    given = config.getoption("--seamline-workspace") or config.getini("seamline_workspace")
    root = (config.rootpath / given) if given else config.rootpath
    root = root.resolve()
    if (root / "flows").is_dir() or (root / "contracts").is_dir():
        return root
    return None


def pytest_configure(config: pytest.Config) -> None:
    root = workspace_root(config)
    if root is None:
        return
    from runtime.testing._session import WorkspaceSession

    config.stash[_SESSION] = WorkspaceSession(root, config)
    contracts = root / "contracts"
    if config.args_source == pytest.Config.ArgsSource.TESTPATHS and contracts.is_dir():
        given = [Path(a.split("::")[0]).resolve() for a in config.args]
        if not any(contracts == g or g in contracts.parents for g in given):
            config.args.append(str(contracts))


def _session(config: pytest.Config) -> Any:
    return config.stash.get(_SESSION, None)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    session = _session(parent.config)
    if session is None:
        return None
    return session.collector_for(file_path, parent)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _session(session.config)
    if state is None:
        return
    state.finish(session)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    state = _session(terminalreporter.config)
    if state is not None:
        state.summary(terminalreporter)

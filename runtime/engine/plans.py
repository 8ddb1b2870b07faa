"""Which compiled flow a run executes: the current one, or the version the run is pinned to.

Every flow version the runtime has seen is saved in the store by content hash (its files'
text). A run started on an older version finishes on it: the version is rebuilt from the saved
files over a copy of the workspace, compiled, and cached.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from runtime.compiler.plan import FlowPlan, Plan
from runtime.compiler.workspace import compile_workspace
from runtime.errors import SeamlineError
from runtime.store.base import Store


class PlanProvider:
    def __init__(self, plan: Plan, store: Store) -> None:
        self.current = plan
        self.store = store
        self._pinned: dict[str, tuple[Plan, FlowPlan]] = {}

    async def publish(self, plan: Plan) -> None:
        """Make `plan` current and save every flow version in it (idempotent)."""
        root = Path(plan.root)
        for flow in plan.all_versions():
            files = {
                rel: (root / rel).read_text(encoding="utf-8")
                for rel in flow.files
                if (root / rel).is_file()
            }
            await self.store.save_flow_version(flow.content_hash, flow.name, flow.version, files)
        self.current = plan

    async def flow(self, name: str, content_hash: str) -> tuple[Plan, FlowPlan]:
        """The plan and flow of exactly this version."""
        current = self.current.by_hash(name, content_hash)
        if current is not None:
            return self.current, current
        if content_hash not in self._pinned:
            self._pinned[content_hash] = await self._rebuild(name, content_hash)
        return self._pinned[content_hash]

    async def _rebuild(self, name: str, content_hash: str) -> tuple[Plan, FlowPlan]:
        files = await self.store.flow_version_files(content_hash)
        if files is None:
            raise SeamlineError(f"flow version {content_hash[:12]} of {name} is not in the store")
        # kept for the life of the process: templates may be re-read when they render
        scratch = Path(tempfile.mkdtemp(prefix=f"seamline-{name}-"))
        shutil.copytree(
            self.current.root,
            scratch,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".seamline", ".git", "__pycache__"),
        )
        for rel, text in files.items():
            target = scratch / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        plan = compile_workspace(scratch)
        flow = plan.by_hash(name, content_hash) or plan.flows.get(name)
        if flow is None:
            raise SeamlineError(
                f"flow version {content_hash[:12]} of {name} does not compile any more"
            )
        return plan, flow

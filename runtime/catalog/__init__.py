"""The event catalog of a workspace: every event type, its versions, who emits and consumes it.

`build_catalog(plan)` reads the compiled Plan (contracts, and each flow's trigger, `emit` and
`wait_for` steps); `asyncapi_document` turns it into AsyncAPI 3.0, `catalog_markdown` and
`catalog_html` into pages for people. `seamline catalog` writes all three.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.compiler.plan import FlowPlan, Plan
from runtime.connectors.base import connector_sources


@dataclass(frozen=True)
class VersionEntry:
    number: int
    file: str
    uri: str
    schema: Any
    examples: tuple[tuple[str, bool], ...]  # (file, valid)


@dataclass
class EventEntry:
    type: str
    description: str | None
    owner: str | None
    compatibility: str
    versions: list[VersionEntry]
    consumers: list[str] = field(default_factory=list)  # flows it triggers
    emitters: list[tuple[str, str, int]] = field(default_factory=list)  # (flow, step, version)
    awaiters: list[tuple[str, str]] = field(default_factory=list)  # (flow, wait_for step)
    sources: list[tuple[str, str]] = field(default_factory=list)  # (connector.source, kind)


@dataclass(frozen=True)
class FlowEntry:
    name: str
    version: str
    description: str | None
    file: str
    trigger: str | None  # event type
    filter: str | None
    schedule: str | None


@dataclass
class Catalog:
    root: str
    workspace_hash: str
    events: list[EventEntry]
    flows: list[FlowEntry]

    @property
    def workspace(self) -> str:
        return Path(self.root).name

    def event(self, event_type: str) -> EventEntry | None:
        return next((e for e in self.events if e.type == event_type), None)


def _nodes(steps: tuple[Any, ...]) -> list[Any]:
    out = []
    for node in steps:
        out.append(node)
        for _, children in node.children:
            out += _nodes(children)
    return out


def _version_of_example(file: Path, versions: list[Any]) -> int:
    try:
        dataschema = json.loads(file.read_text(encoding="utf-8")).get("dataschema")
    except (OSError, ValueError, AttributeError):
        dataschema = None
    for version in versions:
        if dataschema and (
            dataschema == version.uri or str(dataschema).endswith(f"v{version.version}")
        ):
            return int(version.version)
    return int(versions[-1].version)


def build_catalog(plan: Plan) -> Catalog:
    root = Path(plan.root)
    events: dict[str, EventEntry] = {}
    for event_type in sorted(plan.contracts.contracts):
        contract = plan.contracts.contracts[event_type]
        by_version: dict[int, list[tuple[str, bool]]] = {}
        for file, valid in contract.examples:
            number = _version_of_example(root / file, list(contract.versions))
            by_version.setdefault(number, []).append((file, valid))
        versions = [
            VersionEntry(v.version, v.file, v.uri, v.schema, tuple(by_version.get(v.version, [])))
            for v in contract.versions
        ]
        events[event_type] = EventEntry(
            event_type,
            contract.meta.description,
            contract.meta.owner,
            contract.meta.compatibility,
            versions,
        )
    flows = []
    for name in sorted(plan.flows):
        flow: FlowPlan = plan.flows[name]
        flows.append(
            FlowEntry(
                name,
                flow.version,
                flow.description,
                flow.file,
                flow.event_type,
                flow.filter.source if flow.filter is not None else None,
                flow.schedule,
            )
        )
        if flow.event_type in events:
            events[flow.event_type].consumers.append(name)
        for node in _nodes(flow.steps):
            if node.kind == "emit" and node.contract.type in events:
                events[node.contract.type].emitters.append((name, node.id, node.contract.version))
            elif node.kind == "wait_for" and node.event_type in events:
                events[node.event_type].awaiters.append((name, node.id))
    for connector in plan.connectors.values():
        for source in connector_sources(connector).values():
            if source.event_type in events:
                kind = "SQL watermark" if source.uses_cursor else "file drop"
                events[source.event_type].sources.append((source.ref, kind))
    return Catalog(str(root), plan.workspace_hash, list(events.values()), flows)


from runtime.catalog._asyncapi import asyncapi_document  # noqa: E402
from runtime.catalog._pages import catalog_html, catalog_markdown  # noqa: E402


def write_catalog(catalog: Catalog, out: Path) -> dict[Path, str]:
    """The files of the catalog (path -> text), ready to write or compare."""
    return {
        out / "asyncapi.json": json.dumps(asyncapi_document(catalog), indent=2, ensure_ascii=False)
        + "\n",
        out / "README.md": catalog_markdown(catalog),
        out / "index.html": catalog_html(catalog),
    }


__all__ = [
    "Catalog",
    "EventEntry",
    "FlowEntry",
    "asyncapi_document",
    "build_catalog",
    "catalog_html",
    "catalog_markdown",
    "write_catalog",
]

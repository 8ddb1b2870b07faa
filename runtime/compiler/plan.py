"""The compiled workspace: frozen, built once, swapped whole on reload. The engine reads only this."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.compiler._values import ValueCompiler
from runtime.connectors.base import Connector
from runtime.contracts.registry import ContractRegistry
from runtime.expressions.compiled import CompiledValue
from runtime.expressions.functions import IntegrationFunctions, jmespath_options
from runtime.expressions.jinja import TemplateEngine
from runtime.expressions.jmes import CompiledExpression
from runtime.loader.source import SourceMap
from runtime.spec.settings import WorkspaceSettings


@dataclass(frozen=True)
class FlowPlan:
    name: str
    version: str
    description: str | None
    file: str
    content_hash: str
    """sha256 over the flow file and every template, lookup and contract it uses."""
    event_type: str | None
    schedule: str | None
    filter: CompiledExpression | None
    key: CompiledExpression | None
    sla_seconds: float | None
    vars: tuple[tuple[str, CompiledValue], ...]
    steps: tuple[Any, ...]
    compensate: bool
    then: str
    output: CompiledValue | None
    subflows: frozenset[str] = frozenset()
    files: tuple[str, ...] = ()
    variant: str | None = None
    """The variant this plan is (None for the base flow)."""
    timezone: str = "UTC"
    misfire: str = "run_once"
    """Workspace files this version is made of (what content_hash covers), for version pinning."""


@dataclass(frozen=True)
class VariantPlan:
    """A base flow as one entity runs it: applies when `match` holds for the event."""

    name: str
    match: CompiledExpression
    specificity: int
    flow: FlowPlan


@dataclass(frozen=True)
class Plan:
    root: str
    flows: Mapping[str, FlowPlan]
    contracts: ContractRegistry
    connectors: Mapping[str, Connector]
    functions: IntegrationFunctions
    settings: WorkspaceSettings
    workspace_hash: str
    lookups: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    by_event: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    templates: TemplateEngine | None = None
    variants: Mapping[str, tuple[VariantPlan, ...]] = field(default_factory=dict)

    def value_compiler(self, source_map: SourceMap) -> ValueCompiler:
        """Compiles values of another file (a mocks file, a test case) like the workspace's."""
        table = self.functions.FUNCTION_TABLE
        return ValueCompiler(
            source_map,
            jmespath_options(self.functions),
            self.templates or TemplateEngine(Path(self.root)),
            frozenset(table),
            {name: entry["signature"] for name, entry in table.items()},
        )

    def flows_for(self, event_type: str) -> list[FlowPlan]:
        return [self.flows[name] for name in self.by_event.get(event_type, ())]

    def all_versions(self) -> list[FlowPlan]:
        """Every compiled flow: the base flows and their variants."""
        return [*self.flows.values(), *(v.flow for vs in self.variants.values() for v in vs)]

    def by_hash(self, name: str, content_hash: str) -> FlowPlan | None:
        return next(
            (f for f in self.all_versions() if f.name == name and f.content_hash == content_hash),
            None,
        )

"""Consumer checks: every event field a flow reads exists in every contract version it accepts.

A flow triggered by `crm.opportunity.closed_won` accepts every version of that contract (an
event names its version in `dataschema`). Each field it reads — in its filter, key, vars, step
values, conditions and templates — must be declared by each version's schema. A field that
only some versions declare is allowed when the flow's test file lists it under
`optional_reads` with a reason; an entry that is no longer needed is reported too, so the list
only ever shrinks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.compiler.plan import FlowPlan, Plan
from runtime.contracts._compat_schema import Node, RefError, resolve
from runtime.contracts.registry import ContractVersion
from runtime.loader.source import YamlLoadError, parse_yaml
from runtime.testing._reads import FlowReads, Read, maximal_reads


@dataclass(frozen=True)
class ConsumerProblem:
    file: str
    line: int
    col: int
    message: str
    code: str = "consumer.missing_field"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.message} [{self.code}]"


def flow_reads(plan: Plan, flow: FlowPlan) -> list[Read]:
    """What the flow reads, and what each of its variants' overlays read."""
    root = Path(plan.root)
    reads = []
    files = [(flow.file, False)] + [
        (p.relative_to(root).as_posix(), True)
        for p in sorted((root / "flows" / "variants").glob(f"*/{flow.name}.yaml"))
    ]
    for rel, is_variant in files:
        try:
            doc = parse_yaml((root / rel).read_text(encoding="utf-8"), rel)
        except (OSError, YamlLoadError):
            continue
        walker = FlowReads(root, doc)
        reads += walker.collect_variant() if is_variant else walker.collect()
    return maximal_reads(reads)


def accepted_versions(plan: Plan, flow: FlowPlan) -> list[ContractVersion]:
    contract = plan.contracts.get(flow.event_type) if flow.event_type else None
    return list(contract.versions) if contract else []


def field_problem(schema: Any, path: tuple[str, ...]) -> str | None:
    """Why `path` (after `data`) is not a declared field of `schema`, or None when it is."""
    return _lookup(Node(schema, schema), path, "$.data")


def _lookup(node: Node, path: tuple[str, ...], where: str) -> str | None:
    try:
        node = resolve(node)
    except RefError as exc:
        return str(exc)
    if not path:
        return None
    schema = node.schema
    if schema is False:
        return f"{where} can hold no value"
    branches = [
        node.child(keyword, index)
        for keyword in ("allOf", "anyOf", "oneOf")
        for index in range(len(node.get(keyword) or []))
    ] + [node.child(k) for k in ("then", "else") if node.has(k)]
    reasons = []
    for branch in branches:
        reason = _lookup(branch, path, where)
        if reason is None:
            return None
        reasons.append(reason)
    head, rest = path[0], path[1:]
    if head == "*":
        if node.has("items") or node.has("prefixItems"):
            items = [node.child("items")] if node.has("items") else []
            items += [
                node.child("prefixItems", i) for i in range(len(node.get("prefixItems") or []))
            ]
            found = [_lookup(item, rest, f"{where}[*]") for item in items]
            return None if any(r is None for r in found) else found[0]
        if isinstance(node.get("additionalProperties"), dict):
            return _lookup(node.child("additionalProperties"), rest, f"{where}.*")
        return reasons[0] if reasons else f"{where} declares no items"
    declared = node.get("properties") if isinstance(node.get("properties"), dict) else {}
    if head in declared:
        return _lookup(node.child("properties", head), rest, f"{where}.{head}")
    for pattern in node.get("patternProperties") or {}:
        try:
            if re.search(pattern, head):
                return _lookup(node.child("patternProperties", pattern), rest, f"{where}.{head}")
        except re.error:
            continue
    if reasons:
        return reasons[0]
    closed = node.get("additionalProperties") is False or node.get("unevaluatedProperties") is False
    return f"{where}.{head} is not declared" + (
        " (the object is closed: it never holds it)" if closed else ""
    )


def check_consumer(
    plan: Plan, flow: FlowPlan, optional: Mapping[str, str], version: ContractVersion
) -> list[ConsumerProblem]:
    """Reads of `flow` that `version` does not declare, less the allowed optional ones."""
    out = []
    versions = accepted_versions(plan, flow)
    for read in flow_reads(plan, flow):
        reason = field_problem(version.schema, read.path[1:])
        if reason is None:
            continue
        declared_elsewhere = [v for v in versions if field_problem(v.schema, read.path[1:]) is None]
        if read.text in optional:
            continue
        if declared_elsewhere:
            others = ", ".join(f"v{v.version}" for v in declared_elsewhere)
            hint = f"declared in {others} only; handle its absence and list it under optional_reads"
        else:
            hint = (
                "no version declares it: a typo, or a field the contract must add "
                "(or, when the flow handles its absence, list it under optional_reads)"
            )
        out.append(
            ConsumerProblem(
                read.file,
                read.line,
                read.col,
                f"flow {flow.name} reads {read.text}, but {version.type} v{version.version} "
                f"does not declare it: {reason} ({hint})",
            )
        )
    return out


def check_optional_reads(
    plan: Plan, flow: FlowPlan, optional: Mapping[str, tuple[str, int, int]]
) -> list[ConsumerProblem]:
    """Entries of `optional_reads` (text -> where it is written) that are not needed."""
    reads = {read.text for read in flow_reads(plan, flow)}
    versions = accepted_versions(plan, flow)
    out = []
    for text, (file, line, col) in optional.items():
        parts = tuple(text.replace("[*]", ".*").split("."))
        if text not in reads:
            why = f"flow {flow.name} does not read {text}"
        elif all(field_problem(v.schema, parts[1:]) is None for v in versions):
            why = f"every accepted version declares {text}"
        else:
            continue
        out.append(
            ConsumerProblem(
                file,
                line,
                col,
                f"optional_reads entry {text} is not needed: {why}",
                "consumer.unneeded_optional_read",
            )
        )
    return out


def check_workspace_consumers(
    plan: Plan, optional: Mapping[str, Mapping[str, str]] | None = None
) -> list[ConsumerProblem]:
    """Every flow against every version it accepts (for `seamline contracts check`)."""
    out: list[ConsumerProblem] = []
    for name in sorted(plan.flows):
        flow = plan.flows[name]
        allowed = (optional or {}).get(name, {})
        for version in accepted_versions(plan, flow):
            out += check_consumer(plan, flow, allowed, version)
    return sorted(set(out), key=lambda p: (p.file, p.line, p.col, p.message))

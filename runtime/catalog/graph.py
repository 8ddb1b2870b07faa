"""A compiled flow as a Mermaid `flowchart TD`: `seamline graph FLOW` prints it.

The trigger is the start node; each step is a node labelled with its id and kind (and what it
calls, emits, awaits or raises), in order. An `if:` puts its condition on the edges into the step
and a dashed `skip` edge around it; a `switch` is a decision node with one edge per arm; a
`parallel` forks into one subgraph per branch and joins; a `for_each` is a subgraph headed by the
loop; an `undo` is a dashed edge to its compensation; `on_error` is a note; the end node shows the
output. Labels are quoted, with Mermaid's `#…;` entities for the characters it would misread.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from runtime.compiler.plan import FlowPlan, Plan

MAX_LABEL = 90
_ENTITIES = {
    '"': "#quot;",
    "<": "#lt;",
    ">": "#gt;",
    "|": "#124;",
    "[": "#91;",
    "]": "#93;",
    "{": "#123;",
    "}": "#125;",
    "`": "#96;",
}
_SHAPES = {
    "box": ("[", "]"),
    "rounded": ("([", "])"),
    "decision": ("{", "}"),
    "circle": ("((", "))"),
    "subroutine": ("[[", "]]"),
    "trapezoid": ("[/", "\\]"),
}
_RESERVED = frozenset(
    {"end", "graph", "flowchart", "subgraph", "style", "class", "classdef", "click", "linkstyle"}
    | {"direction", "default", "call", "href"}
)


def escape(text: str, limit: int = MAX_LABEL) -> str:
    """`text` on one line, at most `limit` characters, safe inside a quoted Mermaid label."""
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    text = text.replace("#", "#35;")  # first: every other entity starts with '#'
    for char, entity in _ENTITIES.items():
        text = text.replace(char, entity)
    return text


def _label(*lines: str) -> str:
    return "<br/>".join(escape(line) for line in lines if line)


@dataclass(frozen=True)
class _Pending:
    """An edge waiting for the next node: from `source`, with a label, maybe dashed."""

    source: str
    label: str | None = None
    dashed: bool = False


@dataclass
class _Graph:
    body: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    depth: int = 1

    def new_id(self, name: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", name) or "node"
        if base[0].isdigit() or base.lower() in _RESERVED:
            base = f"n_{base}"
        candidate, n = base, 1
        while candidate in self.ids:
            n += 1
            candidate = f"{base}_{n}"
        self.ids.add(candidate)
        return candidate

    def line(self, text: str) -> None:
        self.body.append("    " * self.depth + text)

    def node(self, name: str, label: str, shape: str = "box", css: str | None = None) -> str:
        node_id = self.new_id(name)
        opening, closing = _SHAPES[shape]
        self.line(f'{node_id}{opening}"{label}"{closing}' + (f":::{css}" if css else ""))
        return node_id

    def edge(
        self, source: str, target: str, label: str | None = None, dashed: bool = False
    ) -> None:
        arrow = "-.->" if dashed else "-->"
        text = f'|"{escape(label)}"|' if label else ""
        self.edges.append(f"    {source} {arrow}{text} {target}")

    def connect(self, pending: list[_Pending], target: str, condition: str | None = None) -> None:
        for p in pending:
            label = p.label
            if condition is not None:
                label = (
                    f"if: {condition}" if label in (None, "skip") else f"{label}; if: {condition}"
                )
            self.edge(p.source, target, label, p.dashed)

    def subgraph(self, name: str, title: str) -> str:
        graph_id = self.new_id(name)
        self.line(f'subgraph {graph_id}["{title}"]')
        self.depth += 1
        self.line("direction TB")
        return graph_id

    def close(self) -> None:
        self.depth -= 1
        self.line("end")


def _operation(node: Any) -> str:
    operation = getattr(node, "operation", None)
    return getattr(operation, "ref", None) or f"{operation.connector}.{operation.name}"


def _step_lines(node: Any) -> list[str]:
    kind = node.kind
    if kind == "call":
        return [node.id, f"call {_operation(node)}"]
    if kind == "emit":
        return [node.id, f"emit {node.contract.type} v{node.contract.version}"]
    if kind == "wait_for":
        on_timeout = "continue" if node.continue_on_timeout else "fail"
        return [node.id, f"wait_for {node.event_type}", f"timeout {node.seconds:g}s → {on_timeout}"]
    if kind == "fail":
        return [node.id, f"fail {node.code}"]
    if kind == "subflow":
        return [node.id, f"subflow {node.flow}"]
    if kind == "set":
        return [node.id, "set " + ", ".join(name for name, _ in node.values)]
    if kind == "delay":
        return [node.id, f"delay {node.seconds:g}s"]
    if kind == "reconcile":
        sources = " ↔ ".join(s.operation.ref for s in node.sources)
        emits = f"emit {node.contract.type}" if node.contract is not None else ""
        return [node.id, f"reconcile {sources}", emits]
    return [node.id, kind]


def _steps(graph: _Graph, steps: tuple[Any, ...], pending: list[_Pending]) -> list[_Pending]:
    for node in steps:
        pending = _step(graph, node, pending)
    return pending


def _step(graph: _Graph, node: Any, pending: list[_Pending]) -> list[_Pending]:
    """Draw one step after `pending`; the edges that leave it (none after a `fail`)."""
    condition = node.condition.source if node.condition is not None else None
    if node.kind == "switch":
        exits = _switch(graph, node, pending, condition)
    elif node.kind == "parallel":
        exits = _parallel(graph, node, pending, condition)
    elif node.kind == "for_each":
        exits = _for_each(graph, node, pending, condition)
    else:
        css = {"fail": "failure", "emit": "event", "wait_for": "event"}.get(node.kind, "step")
        node_id = graph.node(node.id, _label(*_step_lines(node)), css=css)
        graph.connect(pending, node_id, condition)
        undo = getattr(node, "undo", None)
        if undo is not None:
            undo_id = graph.node(
                f"{node.id}_undo", _label(f"undo {node.id}", f"call {_operation(undo)}"), css="undo"
            )
            graph.edge(node_id, undo_id, "undo", dashed=True)
        exits = [] if node.kind == "fail" else [_Pending(node_id)]
    if condition is not None:
        exits = [*exits, *(_Pending(p.source, "skip", True) for p in pending)]
    return exits


def _switch(
    graph: _Graph, node: Any, pending: list[_Pending], condition: str | None
) -> list[_Pending]:
    decision = graph.node(node.id, _label(node.id, "switch"), shape="decision", css="decision")
    graph.connect(pending, decision, condition)
    exits: list[_Pending] = []
    for arm_condition, steps in node.arms:
        label = "else" if arm_condition is None else arm_condition.source
        exits += _steps(graph, steps, [_Pending(decision, label)])
    if all(arm_condition is not None for arm_condition, _ in node.arms):
        exits.append(_Pending(decision, "no arm matches", True))
    if not exits:
        return []
    join = graph.node(f"{node.id}_join", _label(f"end {node.id}"), shape="circle", css="join")
    graph.connect(exits, join)
    return [_Pending(join)]


def _parallel(
    graph: _Graph, node: Any, pending: list[_Pending], condition: str | None
) -> list[_Pending]:
    fork = graph.node(node.id, _label(node.id, "parallel"), shape="subroutine", css="fork")
    graph.connect(pending, fork, condition)
    exits: list[_Pending] = []
    for branch, steps in node.branches:
        graph.subgraph(f"{node.id}_{branch}", _label(f"branch {branch}"))
        exits += _steps(graph, steps, [_Pending(fork, branch)])
        graph.close()
    if not exits:
        return []
    join = graph.node(f"{node.id}_join", _label(f"join {node.id}"), shape="subroutine", css="fork")
    graph.connect(exits, join)
    return [_Pending(join)]


def _for_each(
    graph: _Graph, node: Any, pending: list[_Pending], condition: str | None
) -> list[_Pending]:
    loop = f"for_each {node.items.source} as {node.name}"
    if node.concurrency > 1:
        loop += f", concurrency {node.concurrency}"
    graph.subgraph(f"{node.id}_loop", _label(loop))
    head = graph.node(node.id, _label(node.id, "for_each"), shape="trapezoid", css="loop")
    graph.connect(pending, head, condition)
    body = _steps(graph, node.steps, [_Pending(head, "each item")])
    graph.close()
    for p in body:
        graph.edge(p.source, head, "next item", dashed=True)
    return [_Pending(head, "all items done")]


def _trigger_lines(flow: FlowPlan) -> list[str]:
    if flow.event_type is not None:
        lines = [f"on {flow.event_type}"]
        if flow.filter is not None:
            lines.append(f"filter: {flow.filter.source}")
        return lines
    if flow.schedule is not None:
        zone = f" ({flow.timezone})" if flow.timezone != "UTC" else ""
        return [f"on schedule {flow.schedule}{zone}"]
    return ["start"]


def _output_line(flow: FlowPlan) -> str:
    output = flow.output
    if output is None:
        return ""
    items = getattr(output, "items", None)
    if isinstance(items, tuple) and all(isinstance(i, tuple) and len(i) == 2 for i in items):
        return "output: " + ", ".join(str(name) for name, _ in items)
    expression = getattr(output, "expression", None)
    if expression is not None:
        return f"output: {expression.source}"
    return "output"


def flow_plan(plan: Plan, flow_name: str, variant: str | None = None) -> FlowPlan:
    """The compiled flow (or one of its variants); KeyError naming the known ones otherwise."""
    if flow_name not in plan.flows:
        raise KeyError(f"no flow named {flow_name!r}; flows: {', '.join(sorted(plan.flows))}")
    if variant is None:
        return plan.flows[flow_name]
    known = plan.variants.get(flow_name, ())
    chosen = next((v for v in known if v.name == variant), None)
    if chosen is None:
        names = ", ".join(v.name for v in known) or "none"
        raise KeyError(f"{flow_name} has no variant {variant!r} (variants: {names})")
    return chosen.flow


def flow_mermaid(plan: Plan, flow_name: str, variant: str | None = None) -> str:
    """FLOW (as VARIANT runs it, if given) as a Mermaid `flowchart TD`."""
    flow = flow_plan(plan, flow_name, variant)
    graph = _Graph()
    start = graph.node("start", _label(*_trigger_lines(flow)), shape="rounded", css="trigger")
    exits = _steps(graph, flow.steps, [_Pending(start)])
    end = graph.node("done", _label("end", _output_line(flow)), shape="rounded", css="trigger")
    graph.connect(exits, end)
    on_error = [
        "on_error",
        f"compensate: {'yes' if flow.compensate else 'no'}",
        f"then {flow.then}",
    ]
    graph.node("on_error", _label(*on_error), css="note")
    title = f"{flow.name} {flow.version}" + (f" (variant {flow.variant})" if flow.variant else "")
    return (
        "\n".join(
            [
                "flowchart TD",
                f"    %% {title} - {flow.file}",
                *graph.body,
                *graph.edges,
                "    classDef trigger fill:#e8f4ff,stroke:#3b82f6",
                "    classDef step fill:#ffffff,stroke:#334155",
                "    classDef event fill:#ecfdf5,stroke:#10b981",
                "    classDef failure fill:#fef2f2,stroke:#ef4444",
                "    classDef undo fill:#fff7ed,stroke:#f97316,stroke-dasharray: 4 3",
                "    classDef decision fill:#fefce8,stroke:#ca8a04",
                "    classDef fork fill:#f5f3ff,stroke:#7c3aed",
                "    classDef loop fill:#f0fdfa,stroke:#0d9488",
                "    classDef join fill:#f1f5f9,stroke:#64748b",
                "    classDef note fill:#fffbeb,stroke:#d97706,stroke-dasharray: 2 2",
            ]
        )
        + "\n"
    )


__all__ = ["escape", "flow_mermaid", "flow_plan"]

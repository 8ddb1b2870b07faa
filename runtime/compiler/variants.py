"""Variants: overlays of base flows per entity, merged, compiled, and ordered by specificity."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.compiler._values import ValueCompiler, check_roots
from runtime.compiler.plan import FlowPlan, VariantPlan
from runtime.errors import Diagnostic
from runtime.expressions.jmes import CompiledExpression, ast_of
from runtime.loader.diagnostics import did_you_mean, pydantic_diagnostics
from runtime.loader.files import parse_file, relative_name
from runtime.loader.merge import merge_variant
from runtime.loader.source import SourceMap, YamlDocument
from runtime.spec.variant import VariantSpec
from runtime.steps import STEP_KINDS


def variant_files(root: Path) -> list[Path]:
    folder = root / "flows" / "variants"
    return sorted(folder.glob("*/*.yaml")) if folder.is_dir() else []


def load_variant(
    root: Path, file: Path, bases: dict[str, YamlDocument], problems: list[Diagnostic]
) -> tuple[VariantSpec, YamlDocument, YamlDocument] | None:
    """Parse and validate a variant file and merge it into its base; None if it cannot be."""
    doc = parse_file(root, file, problems)
    if doc is None:
        return None
    if not isinstance(doc.data, dict):
        problems.append(
            doc.source_map.diagnostic(
                (),
                "spec.not_mapping",
                "a variant file is a mapping",
                "start with `extends: <flow>` and `match: <expression>`",
            )
        )
        return None
    try:
        spec = VariantSpec.model_validate(doc.data)
    except ValidationError as exc:
        problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, VariantSpec))
        return None
    if spec.extends != file.stem:
        problems.append(
            doc.source_map.diagnostic(
                ("extends",),
                "spec.name_mismatch",
                f"a variant of `{spec.extends}` is in file {file.name}",
                f"name the file {spec.extends}.yaml",
            )
        )
        return None
    base = bases.get(spec.extends)
    if base is None:
        hint = did_you_mean(spec.extends, sorted(bases)) or f"flows: {', '.join(sorted(bases))}"
        problems.append(
            doc.source_map.diagnostic(
                ("extends",), "variant.unknown_base", f"no flow `{spec.extends}` to extend", hint
            )
        )
        return None
    merged, merge_problems = merge_variant(base, doc, frozenset(STEP_KINDS))
    problems.extend(merge_problems)
    if merge_problems:
        return None
    return spec, doc, merged


def specificity(expr: CompiledExpression) -> int:
    """How many conditions joined by && the match has: more conditions, more specific."""

    def count(node: dict[str, Any]) -> int:
        if node["type"] == "and_expression":
            return sum(count(child) for child in node["children"])
        return 1

    return count(ast_of(expr))


def _equalities(expr: CompiledExpression) -> dict[str, Any]:
    """`path == literal` conditions of a conjunction, for proving two matches disjoint."""
    found: dict[str, Any] = {}

    def walk(node: dict[str, Any]) -> None:
        if node["type"] == "and_expression":
            for child in node["children"]:
                walk(child)
        elif node["type"] == "comparator" and node.get("value") == "eq":
            left, right = node["children"]
            if right["type"] == "literal" and left["type"] in ("field", "subexpression"):
                found[repr(left)] = right["value"]
            elif left["type"] == "literal" and right["type"] in ("field", "subexpression"):
                found[repr(right)] = left["value"]

    walk(ast_of(expr))
    return found


def disjoint(a: CompiledExpression, b: CompiledExpression) -> bool:
    ea, eb = _equalities(a), _equalities(b)
    return any(path in eb and eb[path] != value for path, value in ea.items())


def compile_match(
    spec: VariantSpec,
    source_map: SourceMap,
    values_for: Callable[[SourceMap], ValueCompiler],
    problems: list[Diagnostic],
) -> CompiledExpression | None:
    values = values_for(source_map)
    expr = values.expression(spec.match, ("match",), check_roots(("event", "data")))
    problems.extend(values.diagnostics)
    return expr


def order_variants(
    found: list[tuple[VariantPlan, SourceMap]], problems: list[Diagnostic]
) -> dict[str, tuple[VariantPlan, ...]]:
    """Variants per base flow, most specific first; equal specificity must be provably disjoint."""
    by_base: dict[str, list[tuple[VariantPlan, SourceMap]]] = {}
    for variant, sm in found:
        by_base.setdefault(variant.flow.name, []).append((variant, sm))
    ordered: dict[str, tuple[VariantPlan, ...]] = {}
    for base, items in by_base.items():
        for i, (a, _) in enumerate(items):
            for b, b_sm in items[i + 1 :]:
                if a.name == b.name:
                    problems.append(
                        b_sm.diagnostic(
                            ("variant",),
                            "variant.duplicate",
                            f"two variants of {base} are named `{b.name}`",
                            "give each variant its own name",
                        )
                    )
                elif a.specificity == b.specificity and not disjoint(a.match, b.match):
                    problems.append(
                        b_sm.diagnostic(
                            ("match",),
                            "variant.ambiguous",
                            f"variants `{a.name}` and `{b.name}` of {base} could both match with the same "
                            f"specificity ({a.specificity} condition{'s' if a.specificity != 1 else ''})",
                            "make one match more specific (add a condition with &&) or make them exclusive "
                            "(e.g. different values of the same field)",
                        )
                    )
        ordered[base] = tuple(v for v, _ in sorted(items, key=lambda pair: -pair[0].specificity))
    return ordered


def variant_plan(
    spec: VariantSpec, name: str, match: CompiledExpression, flow: FlowPlan
) -> VariantPlan:
    return VariantPlan(name=name, match=match, specificity=specificity(match), flow=flow)


__all__ = [
    "compile_match",
    "load_variant",
    "order_variants",
    "relative_name",
    "variant_files",
    "variant_plan",
]

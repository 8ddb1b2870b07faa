"""Object keywords of the subset check: required, properties, additional and pattern properties."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from runtime.contracts._compat_scalars import compare_size
from runtime.contracts._compat_schema import Node, child_path, equivalent, resolve, show

if TYPE_CHECKING:
    from runtime.contracts._compat_rules import Comparer

_APPLICATORS = ("allOf", "anyOf", "oneOf", "if", "dependentSchemas", "$ref", "$dynamicRef")


def additional(node: Node) -> tuple[Node, str]:
    """The schema for properties not listed, and the keyword it comes from.

    `unevaluatedProperties` acts like `additionalProperties` when nothing else in the
    subschema could evaluate properties."""
    if node.has("additionalProperties"):
        return node.child("additionalProperties"), "additionalProperties"
    if node.has("unevaluatedProperties") and not any(node.has(k) for k in _APPLICATORS):
        return node.child("unevaluatedProperties"), "unevaluatedProperties"
    return Node(node.root, True, node.at("additionalProperties")), "additionalProperties"


def property_schema(node: Node, name: str) -> tuple[Node, str, str]:
    """(schema, origin, keyword) for property `name`: declared, matched by a pattern, or other."""
    if isinstance(node.get("properties"), dict) and name in node.get("properties"):
        return node.child("properties", name), "declared", "properties"
    for pattern in node.get("patternProperties") or {}:
        if pattern_matches(pattern, name):
            return node.child("patternProperties", pattern), "pattern", "patternProperties"
    schema, keyword = additional(node)
    return schema, "additional", keyword


def _is_false(node: Node) -> bool:
    try:
        return resolve(node).schema is False
    except ValueError:
        return False


def compare_objects(c: Comparer, w: Node, r: Node, path: str, same: set[str]) -> None:
    W, R = c.w_label, c.r_label
    w_required = set(w.get("required") or [])
    for name in sorted(set(r.get("required") or []) - w_required):
        note = ""
        declared = r.get("properties") or {}
        if isinstance(declared.get(name), dict) and "default" in declared[name]:
            note = (
                "; its `default` does not help: a default is an annotation, validators do not "
                "fill it in"
            )
        c.report(
            w,
            r,
            "required",
            child_path(path, name),
            "compat.required",
            f"{R} requires {show(name)}, {W} does not: data without it is rejected{note}",
        )
    _counts(c, w, r, path)
    for key, needs in (r.get("dependentRequired") or {}).items():
        have = set((w.get("dependentRequired") or {}).get(key, [])) | w_required
        missing = sorted(set(needs) - have)
        if missing:
            c.report(
                w,
                r,
                "dependentRequired",
                child_path(path, key),
                "compat.dependent_required",
                f"{R} requires {show(missing)} whenever {show(key)} is present, {W} does not",
            )
    names = set(w.get("properties") or {}) | set(r.get("properties") or {})
    for name in sorted(names):
        wn, w_origin, _ = property_schema(w, name)
        rn, r_origin, r_keyword = property_schema(r, name)
        if _is_false(wn):
            continue
        where = child_path(path, name)
        found = c.sub(wn, rn, where)
        if not found:
            continue
        if _is_false(rn):
            shown = "additionalProperties: false" if r_origin == "additional" else "schema false"
            at = (r_keyword,) if r_origin == "additional" else ("properties", name)
            c.report(
                w,
                r,
                at,
                where,
                "compat.additional_properties",
                f"{W} allows property {show(name)}, {R} does not ({shown})",
                writer_at=("properties", name),
            )
        elif (
            w_origin == "additional" and r_origin == "declared" and resolve(wn).schema in ({}, True)
        ):
            c.report(
                w,
                r,
                ("properties", name),
                where,
                "compat.open_property",
                f"{R} constrains property {show(name)}, which {W}'s open object allows "
                f"with any value: {found[0].message}",
                writer_at=("properties",),
            )
        else:
            c.out.extend(found)
    _others(c, w, r, path, same)


def _counts(c: Comparer, w: Node, r: Node, path: str) -> None:
    compare_size(
        c,
        w,
        r,
        path,
        ("minProperties", "compat.min_properties"),
        ("maxProperties", "compat.max_properties"),
        lambda n: f"fewer than {n} properties",
        lambda n: f"more than {n} properties",
        detail=False,
    )


def _others(c: Comparer, w: Node, r: Node, path: str, same: set[str]) -> None:
    """Properties neither side lists by name."""
    W, R = c.w_label, c.r_label
    w_add, _ = additional(w)
    r_add, r_keyword = additional(r)
    w_closed = _is_false(w_add) and not w.get("patternProperties")
    listed = sorted(set(w.get("properties") or {}) | set(r.get("properties") or {}))
    if r.has("propertyNames") and "propertyNames" not in same:
        if w_closed:
            for name in sorted(w.get("properties") or {}):
                if not _is_false(w.child("properties", name)) and not r.child(
                    "propertyNames"
                ).accepts(name):
                    c.report(
                        w,
                        r,
                        "propertyNames",
                        child_path(path, name),
                        "compat.property_names",
                        f"{W} allows property {show(name)}, {R}'s propertyNames does not",
                    )
        else:
            c.undecidable(w, r, "propertyNames", path)
    if w_closed:
        return
    if (w.get("patternProperties") or r.get("patternProperties")) and not equivalent(
        w.child("patternProperties"), r.child("patternProperties")
    ):
        c.undecidable(w, r, "patternProperties", path)
        return
    found = c.sub(w_add, r_add, child_path(path, "*"))
    if not found:
        return
    if _is_false(r_add):
        others = f"properties other than {show(listed, 60)}" if listed else "any property"
        c.report(
            w,
            r,
            r_keyword,
            path,
            "compat.additional_properties",
            f"{W} allows {others}, {R} does not ({r_keyword}: false)",
        )
    else:
        c.out.extend(found)


def pattern_matches(pattern: str, name: str) -> bool | None:
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return None

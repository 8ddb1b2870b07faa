"""Schema navigation for the compatibility checker: local `$ref`, annotations, types, values.

A `Node` is one subschema seen from its document: the root (for `$ref`), the subschema and its
JSON pointer. Everything here is read-only and never validates data except through
`Node.accepts`, which asks python-jsonschema (formats asserted, as contracts do).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

# keywords that never change what a schema accepts
ANNOTATIONS = frozenset(
    {
        "title",
        "description",
        "examples",
        "default",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$anchor",
        "$defs",
        "definitions",
        "$vocabulary",
        "contentMediaType",
        "contentEncoding",
        "contentSchema",
    }
)
# JSON types, with `number` split so that `integer` is a subset of it
_INT, _FRACTION = "integer", "non-integer number"
ALL_TYPES = frozenset({"null", "boolean", "object", "array", "string", _INT, _FRACTION})
_TYPE_SETS = {
    "null": {"null"},
    "boolean": {"boolean"},
    "object": {"object"},
    "array": {"array"},
    "string": {"string"},
    "integer": {_INT},
    "number": {_INT, _FRACTION},
}


class RefError(ValueError):
    """A `$ref` that does not point inside the same document."""


def escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


@dataclass(frozen=True)
class Node:
    root: Any
    schema: Any
    pointer: str = "#"

    def child(self, *tokens: str | int) -> Node:
        """The subschema at `tokens` below this one (absent -> `true`)."""
        schema, pointer = self.schema, self.pointer
        for token in tokens:
            schema = (
                schema.get(token, True)
                if isinstance(schema, dict)
                else (
                    schema[token] if isinstance(schema, list) and isinstance(token, int) else True
                )
            )
            pointer += "/" + escape(token)
        return Node(self.root, schema, pointer)

    def get(self, keyword: str, default: Any = None) -> Any:
        return self.schema.get(keyword, default) if isinstance(self.schema, dict) else default

    def has(self, keyword: str) -> bool:
        return isinstance(self.schema, dict) and keyword in self.schema

    def at(self, *tokens: str | int) -> str:
        """The pointer of a keyword in this subschema (where it is, or would be)."""
        return self.pointer + "".join(f"/{escape(t)}" for t in tokens)

    def accepts(self, value: Any) -> bool:
        validator = _validator(self.root)
        return bool(validator.evolve(schema=self.schema).is_valid(value))


_VALIDATORS: dict[str, Draft202012Validator] = {}


def _validator(root: Any) -> Draft202012Validator:
    key = json.dumps(root, sort_keys=True)
    if key not in _VALIDATORS:
        if len(_VALIDATORS) > 256:
            _VALIDATORS.clear()
        _VALIDATORS[key] = Draft202012Validator(root, format_checker=FormatChecker())
    return _VALIDATORS[key]


def resolve_pointer(root: Any, ref: str) -> tuple[Any, str]:
    """The target of a local `$ref` (`#`, `#/$defs/x`) and its normalised pointer."""
    if not ref.startswith("#"):
        raise RefError(f"$ref {ref!r} is not local; contracts keep shared parts under $defs")
    fragment = ref[1:]
    if fragment and not fragment.startswith("/"):
        anchors = {n.get("$anchor"): p for p, n in _walk(root, "#") if isinstance(n, dict)}
        if fragment not in anchors:
            raise RefError(f"$ref {ref!r} names no $anchor in this schema")
        return resolve_pointer(root, anchors[fragment])
    target, pointer = root, "#"
    for raw in fragment.split("/")[1:] if fragment else []:
        token = _unescape(raw)
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            raise RefError(f"$ref {ref!r} points at nothing")
        pointer += "/" + escape(token)
    return target, pointer


def _walk(schema: Any, pointer: str) -> Iterator[tuple[str, Any]]:
    yield pointer, schema
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key not in ("enum", "const", "examples", "default"):
                yield from _walk(value, f"{pointer}/{escape(key)}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from _walk(value, f"{pointer}/{index}")


def resolve(node: Node) -> Node:
    """Follow `$ref`s. Siblings of a `$ref` are merged in when they do not clash with the
    target's keywords, otherwise the pair becomes an `allOf` (both apply, per 2020-12)."""
    seen: set[str] = set()
    while isinstance(node.schema, dict) and isinstance(node.schema.get("$ref"), str):
        ref = node.schema["$ref"]
        if node.pointer in seen:
            raise RefError(f"$ref {ref!r} loops without reaching a schema")
        seen.add(node.pointer)
        target, pointer = resolve_pointer(node.root, ref)
        siblings = {k: v for k, v in node.schema.items() if k != "$ref" and k not in ANNOTATIONS}
        if not siblings:
            node = Node(node.root, target, pointer)
        elif isinstance(target, dict) and not (set(siblings) & (set(target) - ANNOTATIONS)):
            return Node(node.root, {**target, **siblings}, pointer)
        else:
            return Node(node.root, {"allOf": [{"$ref": ref}, siblings]}, node.pointer)
    return node


def keywords(node: Node) -> set[str]:
    """The validation keywords of a (resolved) node."""
    if not isinstance(node.schema, dict):
        return set()
    return {k for k in node.schema if k not in ANNOTATIONS}


def is_true(node: Node) -> bool:
    return node.schema is True or (isinstance(node.schema, dict) and not keywords(node))


def types_of(node: Node) -> frozenset[str]:
    declared = node.get("type")
    if declared is None:
        return ALL_TYPES
    names = [declared] if isinstance(declared, str) else list(declared)
    out: set[str] = set()
    for name in names:
        out |= _TYPE_SETS.get(name, set())
    return frozenset(out)


def type_of_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return _INT
    if isinstance(value, float):
        return _FRACTION
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def describe_types(types: frozenset[str]) -> str:
    names = set(types)
    if {_INT, _FRACTION} <= names:
        names -= {_INT, _FRACTION}
        names.add("number")
    if names == {"null", "boolean", "object", "array", "string", "number"}:
        return "any type"
    return " or ".join(sorted(names))


def finite_values(node: Node) -> list[Any] | None:
    """Every value the schema can accept, when that is a short list (const, enum, booleans,
    null); None otherwise. The list may hold values the schema's other keywords reject."""
    if node.has("const"):
        return [node.get("const")]
    if isinstance(node.get("enum"), list):
        return list(node.get("enum"))
    types = types_of(node)
    if types <= {"null", "boolean"}:
        return [v for v in (None, True, False) if type_of_value(v) in types]
    return None


def canonical(node: Node, seen: frozenset[str] = frozenset()) -> Any:
    """The schema with annotations dropped and local `$ref`s expanded (recursion marked)."""
    try:
        node = resolve(node)
    except RefError:
        return {"$unresolvable": node.schema}
    if node.pointer in seen:
        return {"$recursive": node.pointer}
    schema = node.schema
    if not isinstance(schema, dict):
        return schema
    inner = seen | {node.pointer}
    out: dict[str, Any] = {}
    for key in sorted(keywords(node)):
        value = schema[key]
        if key in ("enum", "const", "required", "type"):
            out[key] = (
                sorted(value, key=json.dumps)
                if key in ("enum", "required") and isinstance(value, list)
                else value
            )
        elif isinstance(value, dict) and key in (
            "properties",
            "patternProperties",
            "$defs",
            "dependentSchemas",
        ):
            out[key] = {k: canonical(node.child(key, k), inner) for k in sorted(value)}
        elif isinstance(value, list) and key in ("allOf", "anyOf", "oneOf", "prefixItems"):
            items = [canonical(node.child(key, i), inner) for i in range(len(value))]
            out[key] = items if key == "prefixItems" else sorted(items, key=json.dumps)
        elif isinstance(value, dict | bool) and key not in ("dependentRequired",):
            out[key] = canonical(node.child(key), inner)
        else:
            out[key] = value
    return out


def equivalent(a: Node, b: Node) -> bool:
    """Structurally the same constraint (annotations ignored, `$ref`s followed)."""
    return json.dumps(canonical(a), sort_keys=True) == json.dumps(canonical(b), sort_keys=True)


def to_fraction(number: float | int) -> Fraction:
    return Fraction(str(number)) if isinstance(number, float) else Fraction(number)


Bound = tuple[Fraction, bool]  # (value, exclusive)


def lower_bound(node: Node, integers_only: bool) -> Bound | None:
    found: list[Bound] = []
    if isinstance(node.get("minimum"), int | float):
        found.append((to_fraction(node.get("minimum")), False))
    if isinstance(node.get("exclusiveMinimum"), int | float):
        found.append((to_fraction(node.get("exclusiveMinimum")), True))
    if not found:
        return None
    value, exclusive = max(found, key=lambda b: (b[0], b[1]))
    if integers_only:  # > 0 over the integers is >= 1
        return (Fraction(math.floor(value) + 1) if exclusive else Fraction(math.ceil(value))), False
    return value, exclusive


def upper_bound(node: Node, integers_only: bool) -> Bound | None:
    found: list[Bound] = []
    if isinstance(node.get("maximum"), int | float):
        found.append((to_fraction(node.get("maximum")), False))
    if isinstance(node.get("exclusiveMaximum"), int | float):
        found.append((to_fraction(node.get("exclusiveMaximum")), True))
    if not found:
        return None
    value, exclusive = min(found, key=lambda b: (b[0], not b[1]))
    if integers_only:
        return (Fraction(math.ceil(value) - 1) if exclusive else Fraction(math.floor(value))), False
    return value, exclusive


def show_bound(bound: Bound | None, lower: bool) -> str:
    if bound is None:
        return "no bound"
    value, exclusive = bound
    text = str(value.numerator) if value.denominator == 1 else str(float(value))
    sign = (">" if exclusive else ">=") if lower else ("<" if exclusive else "<=")
    return f"{sign} {text}"


def show(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def child_path(path: str, token: str | int) -> str:
    """Extend a data JSON path: `$.lines` + `*` -> `$.lines[*]`, + `name` -> `$.lines.name`."""
    if token == "*" or isinstance(token, int):
        return f"{path}[{token}]"
    if isinstance(token, str) and token.isidentifier():
        return f"{path}.{token}"
    return f"{path}[{json.dumps(token)}]"


__all__ = [
    "ALL_TYPES",
    "ANNOTATIONS",
    "Node",
    "RefError",
    "canonical",
    "child_path",
    "describe_types",
    "equivalent",
    "finite_values",
    "is_true",
    "keywords",
    "lower_bound",
    "resolve",
    "show",
    "show_bound",
    "type_of_value",
    "types_of",
    "upper_bound",
]

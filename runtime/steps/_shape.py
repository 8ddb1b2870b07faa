"""Load-time check of an emit's data mapping against its contract, before any run.

Only what is known without data is checked: keys present or missing, keys the contract does
not allow, literals, and templates (which always render text). `${ }` values are checked
when the event is emitted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from runtime.expressions.compiled import is_template

Problem = tuple[tuple[str | int, ...], str, str, str | None, bool]


def _deref(schema: Any, root: Mapping[str, Any]) -> Any:
    seen = 0
    while (
        isinstance(schema, dict)
        and isinstance(schema.get("$ref"), str)
        and schema["$ref"].startswith("#/")
        and seen < 16
    ):
        target: Any = root
        for part in schema["$ref"][2:].split("/"):
            target = (
                target.get(part.replace("~1", "/").replace("~0", "~"), {})
                if isinstance(target, dict)
                else {}
            )
        schema = target
        seen += 1
    return schema


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type")
    if isinstance(declared, str):
        return {declared}
    if isinstance(declared, list):
        return set(declared)
    return set()


def check_static_shape(
    raw: Any, schema: Any, root: Mapping[str, Any] | None = None, path: tuple[str | int, ...] = ()
) -> Iterator[Problem]:
    root = root if root is not None else (schema if isinstance(schema, dict) else {})
    schema = _deref(schema, root)
    if not isinstance(schema, dict):
        return
    if isinstance(raw, str):
        if "${" in raw and not is_template(raw):
            stripped = raw.strip()
            if stripped.startswith("${") and stripped.endswith("}"):
                return  # typed expression: checked at emit time
            raw_kind = "interpolated text"
        elif is_template(raw):
            raw_kind = "template text"
        else:
            raw_kind = None
        if raw_kind:
            types = _types(schema)
            if types and "string" not in types:
                yield (
                    path,
                    "emit.type_mismatch",
                    f"{raw_kind} always renders a string, but the contract expects {' or '.join(sorted(types))}",
                    "use a whole-value expression `${ … }` to keep the JSON type",
                    False,
                )
            return
    if isinstance(raw, dict):
        properties = (
            schema.get("properties", {}) if isinstance(schema.get("properties"), dict) else {}
        )
        if "object" not in _types(schema) and not properties and "required" not in schema:
            return
        for name in schema.get("required", []):
            if name not in raw:
                yield (
                    path,
                    "emit.missing_property",
                    f"data has no `{name}`, which the contract requires",
                    f"add `{name}:` to the data mapping",
                    False,
                )
        closed = (
            schema.get("additionalProperties") is False
            or schema.get("unevaluatedProperties") is False
        )
        for key, value in raw.items():
            if key in properties:
                yield from check_static_shape(value, properties[key], root, (*path, key))
            elif closed and not schema.get("patternProperties"):
                allowed = ", ".join(properties) or "none"
                yield (
                    (*path, key),
                    "emit.unknown_property",
                    f"the contract does not allow property `{key}`",
                    f"allowed: {allowed}",
                    True,
                )
        return
    if isinstance(raw, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for index, value in enumerate(raw):
                yield from check_static_shape(value, items, root, (*path, index))
        return
    # a literal scalar: validate it as it is
    subschema = {**schema, "$defs": root.get("$defs", {})}
    error = next(
        iter(Draft202012Validator(subschema, format_checker=FormatChecker()).iter_errors(raw)), None
    )
    if error is not None:
        yield (
            path,
            "emit.invalid_literal",
            f"literal {raw!r} violates the contract: {error.message}",
            None,
            False,
        )

"""Pydantic validation errors -> Diagnostics that name the key, what was expected, and a hint."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, Discriminator, Tag, ValidationError

from runtime.errors import Diagnostic
from runtime.loader.source import SourceMap

_FRIENDLY_PATTERNS = {
    r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$": "a connector operation such as erp.find_customer",
    r"^\s*(\S+\s+){4}\S+\s*$": "a five-field cron expression such as 0 2 * * *",
    r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$": "a semantic version such as 1.2.0",
    r"^(env|file):.+$": "a secret reference such as env:ERP_TOKEN or file:/run/secrets/erp",
    r"^[a-z][a-z0-9_]*$": "a snake_case name (lower-case letters, digits, underscores; starts with a letter)",
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$": "a dotted event type such as crm.opportunity.closed_won",
}


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Strip Annotated and Optional; return the core type and the Annotated metadata."""
    metadata: list[Any] = []
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            args = typing.get_args(annotation)
            annotation, metadata = args[0], metadata + list(args[1:])
            continue
        if origin in (Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) == 1:
                annotation = args[0]
                continue
        return annotation, metadata


def _members(annotation: Any) -> list[Any]:
    core, _ = _unwrap(annotation)
    if typing.get_origin(core) in (Union, types.UnionType):
        return list(typing.get_args(core))
    return [core]


def _pick_member(annotation: Any, data: Any) -> Any:
    """The union member a value selects: by callable discriminator tag or by required keys."""
    core, metadata = _unwrap(annotation)
    members = _members(core)
    if len(members) == 1:
        return members[0]
    disc = next((m for m in metadata if isinstance(m, Discriminator)), None)
    if disc is not None and isinstance(disc.discriminator, str):
        tag = data.get(disc.discriminator) if isinstance(data, dict) else None
        for member in members:
            model = _unwrap(member)[0]
            info = getattr(model, "model_fields", {}).get(disc.discriminator)
            if info is not None and tag in typing.get_args(info.annotation):
                return model
        return None
    if disc is not None and callable(disc.discriminator):
        tag = disc.discriminator(data)
        for member in members:
            _, meta = _unwrap(member)
            if any(isinstance(m, Tag) and m.tag == tag for m in meta):
                return _unwrap(member)[0]
        return None
    if isinstance(data, dict):
        for member in members:
            model = _unwrap(member)[0]
            if isinstance(model, type) and issubclass(model, BaseModel):
                required = [f.alias or n for n, f in model.model_fields.items() if f.is_required()]
                if required and all(r in data for r in required):
                    return model
    return None


def _field_by_key(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if key in (name, info.alias):
            return (
                info.annotation
                if not info.metadata
                else typing.Annotated[(info.annotation, *info.metadata)]
            )
    return None


def model_at(
    root: type[BaseModel], data: Any, path: tuple[str | int, ...]
) -> type[BaseModel] | None:
    """The spec model that validates the mapping at `path` of `data`, if one does."""
    annotation: Any = root
    value = data
    for segment in path:
        core = (
            _pick_member(annotation, value) if _members(annotation)[1:] else _unwrap(annotation)[0]
        )
        if core is None:
            return None
        if isinstance(core, type) and issubclass(core, BaseModel):
            if not isinstance(segment, str):
                return None
            annotation = _field_by_key(core, segment)
        else:
            origin = typing.get_origin(core)
            args = typing.get_args(core)
            if origin is list and isinstance(segment, int):
                annotation = args[0]
            elif origin is dict and isinstance(segment, str):
                annotation = args[1]
            else:
                return None
        if annotation is None:
            return None
        value = value[segment] if isinstance(value, dict | list) else None
    core = _pick_member(annotation, value) if _members(annotation)[1:] else _unwrap(annotation)[0]
    return core if isinstance(core, type) and issubclass(core, BaseModel) else None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _is_tag(segment: Any) -> bool:
    return isinstance(segment, str) and segment.startswith("<") and segment.endswith(">")


def _data_path(data: Any, loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    """Pydantic's loc with union tags and model names dropped: the path in the YAML."""
    path: list[str | int] = []
    value = data
    for segment in loc:
        if _is_tag(segment) or segment == "[key]":
            continue
        if (
            isinstance(value, dict)
            and segment in value
            or isinstance(value, list)
            and isinstance(segment, int)
            and segment < len(value)
        ):
            path.append(segment)
            value = value[segment]
        elif (
            isinstance(value, dict)
            and isinstance(segment, str)
            and segment not in value
            and segment == loc[-1]
        ):
            # a missing or unknown key (a union tag is never the last segment)
            path.append(segment)
        # anything else is a tag or a class name that pydantic adds to loc
    return tuple(path)


def _lower_first(text: str) -> str:
    """`Fail the attempt…` -> `fail the attempt…`, but `JMESPath…` stays as it is."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _discriminator_tags(root: Any) -> list[str]:
    tags: list[str] = []
    for member in _members(root):
        model = _unwrap(member)[0]
        info = getattr(model, "model_fields", {}).get("kind")
        if info is not None:
            tags.extend(str(t) for t in typing.get_args(info.annotation))
    return tags


def did_you_mean(word: str, choices: list[str]) -> str | None:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def pydantic_diagnostics(
    error: ValidationError,
    data: Any,
    source_map: SourceMap,
    root: type[BaseModel],
    *,
    kind_names: list[str] | None = None,
    prefix: tuple[str | int, ...] = (),
) -> list[Diagnostic]:
    """One Diagnostic per pydantic error, positioned through the SourceMap."""
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for err in error.errors(include_url=False):
        path = _data_path(data, tuple(err["loc"]))
        full = (*prefix, *path)
        kind = err["type"]
        on_key = bool(err["loc"]) and err["loc"][-1] == "[key]"  # a mapping key is wrong
        if kind == "trigger_kind":
            out.append(
                source_map.diagnostic(
                    full,
                    "spec.missing_key",
                    "missing required key `event` or `schedule`",
                    'add `event: <event type>` or `schedule: "<cron>"`',
                    at_key=True,
                )
            )
            continue
        if kind == "extra_forbidden":
            key = str(path[-1]) if path else "?"
            parent_model = model_at(root, data, path[:-1])
            choices = allowed_keys(parent_model) if parent_model else []
            if kind_names and parent_model is not None and getattr(parent_model, "kind_key", ""):
                choices = [c for c in choices] + [
                    k for k in kind_names if k != parent_model.kind_key
                ]
                if key in kind_names:
                    diag = source_map.diagnostic(
                        full,
                        "spec.two_kinds",
                        f"a step has one kind; this one also has `{key}`",
                        "split it into two steps",
                        at_key=True,
                    )
                    out.append(diag)
                    continue
            expected = ", ".join(allowed_keys(parent_model)) if parent_model else None
            hint = did_you_mean(key, choices) or (f"allowed keys: {expected}" if expected else None)
            out.append(
                source_map.diagnostic(
                    full, "spec.unknown_key", f"unknown key `{key}`", hint, at_key=True
                )
            )
        elif kind == "missing":
            key = str(path[-1]) if path else "?"
            parent_model = model_at(root, data, path[:-1])
            field_doc = ""
            if parent_model is not None:
                for name, info in parent_model.model_fields.items():
                    if key in (name, info.alias) and info.description:
                        field_doc = f" ({_lower_first(info.description.rstrip('.'))})"
            out.append(
                source_map.diagnostic(
                    full[:-1],
                    "spec.missing_key",
                    f"missing required key `{key}`{field_doc}",
                    f"add `{key}:`",
                    at_key=True,
                )
            )
        elif kind == "step_kind":
            out.append(_step_kind_diagnostic(data, path, full, source_map, kind_names or []))
        elif kind in ("union_tag_not_found", "union_tag_invalid"):
            ctx = err.get("ctx") or {}
            tag, expected = ctx.get("tag"), str(ctx.get("expected_tags", ""))
            choices = [t.strip(" '") for t in expected.split(",")]
            if kind == "union_tag_invalid":
                message = f"unknown kind {tag!r}; expected one of {expected}"
                hint = did_you_mean(str(tag), choices)
                out.append(
                    source_map.diagnostic(
                        (*full, ctx.get("discriminator", "'kind'").strip("'")),
                        "spec.unknown_kind",
                        message,
                        hint,
                    )
                )
            else:
                expected = ", ".join(repr(t) for t in _discriminator_tags(root)) or expected
                out.append(
                    source_map.diagnostic(
                        full,
                        "spec.missing_kind",
                        f"missing `kind` (one of {expected})",
                        "add `kind: http`",
                        at_key=True,
                    )
                )
        else:
            message, hint = _describe(err, path)
            out.append(source_map.diagnostic(full, f"spec.{kind}", message, hint, at_key=on_key))
    unique = []
    for d in out:
        ident = (d.line, d.col, d.message)
        if ident not in seen:
            seen.add(ident)
            unique.append(d)
    return unique


def _step_kind_diagnostic(
    data: Any,
    path: tuple[str | int, ...],
    full: tuple[str | int, ...],
    source_map: SourceMap,
    kinds: list[str],
) -> Diagnostic:
    value = data
    for segment in path:
        value = value[segment]
    if not isinstance(value, dict):
        return source_map.diagnostic(
            full,
            "spec.step_not_mapping",
            "a step must be a mapping",
            "write `- id: my_step` followed by its kind key, e.g. `call: erp.find_customer`",
        )
    present = [k for k in kinds if k in value]
    if len(present) > 1:
        return source_map.diagnostic(
            (*full, present[1]),
            "spec.two_kinds",
            f"a step has exactly one kind; this one has {', '.join(present)}",
            "split it into one step per kind",
            at_key=True,
        )
    common = {"id", "description", "if", "timeout", "retry", "with", "undo"}
    for key in value:
        if key in common:
            continue
        hint = did_you_mean(key, kinds)
        if hint:
            return source_map.diagnostic(
                (*full, key), "spec.unknown_kind", f"unknown step kind `{key}`", hint, at_key=True
            )
    return source_map.diagnostic(
        full, "spec.no_kind", "this step has no kind key", f"add one of: {', '.join(kinds)}"
    )


def _describe(err: dict[str, Any], path: tuple[str | int, ...]) -> tuple[str, str | None]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    got = err.get("input")
    if kind == "string_pattern_mismatch":
        expected = _FRIENDLY_PATTERNS.get(ctx.get("pattern", ""))
        if expected is None and "ms|s|m|h|d|w" in str(ctx.get("pattern")):
            expected = "a duration such as 30s, 5m, 1h30m or 2d"
        expected = expected or f"text matching {ctx.get('pattern')}"
        return f"{got!r} is not {expected}", None
    if kind == "literal_error":
        options = [
            o.strip(" '") for o in str(ctx.get("expected", "")).replace(" or ", ",").split(",")
        ]
        hint = did_you_mean(str(got), [o for o in options if o])
        return f"{got!r} is not allowed; expected {ctx.get('expected')}", hint
    if kind in (
        "string_type",
        "int_type",
        "int_parsing",
        "float_type",
        "bool_type",
        "dict_type",
        "list_type",
        "model_type",
        "float_parsing",
        "bool_parsing",
        "model_attributes_type",
    ):
        expected = {
            "dict": "mapping",
            "model": "mapping",
            "str": "string",
            "int": "integer",
            "float": "number",
            "bool": "boolean",
            "list": "list",
        }.get(kind.split("_")[0], kind.split("_")[0])
        return (
            f"expected {'an' if expected[0] in 'aeiou' else 'a'} {expected}, got {_json_type(got)}",
            None,
        )
    if kind == "value_error":
        return str(ctx.get("error") or err["msg"]), None
    if kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        size = ctx.get("actual_length")
        word = "at least" if kind == "too_short" else "at most"
        unit = "character" if isinstance(got, str) else "item"
        return (
            f"must have {word} {bound} {unit}{'s' if bound != 1 else ''}, "
            f"got {size} {unit}{'s' if size != 1 else ''}"
        ), None
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        text = (
            err["msg"]
            .replace("Input should be", "must be")
            .replace("Value should have", "must have")
        )
        text = text.replace("List should have", "must have").replace(
            "Dictionary should have", "must have"
        )
        return (
            f"{text}, got {_json_type(got) if not isinstance(got, list | dict) else _size(got)}",
            None,
        )
    return err["msg"][0].lower() + err["msg"][1:], None


def _size(value: list[Any] | dict[str, Any]) -> str:
    return f"{len(value)} item{'s' if len(value) != 1 else ''}"


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"

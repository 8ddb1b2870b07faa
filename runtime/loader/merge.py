"""Merge a variant overlay into its base flow, keeping where every part came from.

The merged document is plain data, like a loaded file; its CompositeSourceMap answers positions
in the base file for base parts and in the variant file for what the variant added or replaced,
so every later error still points at the line an analyst wrote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from runtime.errors import Diagnostic, YamlPath, format_yaml_path
from runtime.loader.source import Position, SourceMap, YamlDocument

Origin = tuple[SourceMap, YamlPath]
_STEP_LISTS = ("steps", "else")
_KIND_COMMON = ("id", "description", "if", "timeout")


class CompositeSourceMap(SourceMap):
    """Positions of a merged document, resolved to the file each part came from."""

    def __init__(self, root: Any, base: SourceMap) -> None:
        super().__init__(base.file, text=base.text)
        self._root = root
        self.nodes: dict[int, Origin] = {}
        self.keys_from: dict[tuple[int, str], Origin] = {}

    def resolve(self, path: YamlPath) -> Origin:
        node = self._root
        origin = self.nodes[id(node)]
        sm, opath = origin
        for segment in path:
            override = self.keys_from.get((id(node), segment)) if isinstance(node, dict) else None
            if override is not None:
                sm, opath = override
            else:
                opath = (*opath, segment)
            child = None
            if isinstance(node, dict):
                child = node.get(segment)  # type: ignore[call-overload]
            elif isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
                child = node[segment]
            if child is not None and id(child) in self.nodes:
                sm, opath = self.nodes[id(child)]
            node = child
        return sm, opath

    def file_at(self, path: YamlPath) -> str:
        return self.resolve(path)[0].file

    def value_at(self, path: YamlPath) -> Position:
        sm, opath = self.resolve(tuple(path))
        return sm.value_at(opath)

    def key_at(self, path: YamlPath) -> Position:
        sm, opath = self.resolve(tuple(path))
        return sm.key_at(opath)

    def locate(self, path: YamlPath, value: str, offset: int) -> tuple[int, int]:
        sm, opath = self.resolve(tuple(path))
        return sm.locate(opath, value, offset)

    def diagnostic(
        self,
        path: YamlPath,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        at_key: bool = False,
        col_offset: int = 0,
        line_offset: int = 0,
    ) -> Diagnostic:
        sm, opath = self.resolve(tuple(path))
        found = sm.diagnostic(
            opath,
            code,
            message,
            hint,
            at_key=at_key,
            col_offset=col_offset,
            line_offset=line_offset,
        )
        # the YAML path shown is the merged flow's: that is what `seamline explain` prints
        return Diagnostic(
            found.file, found.line, found.col, format_yaml_path(path), code, message, hint
        )


@dataclass
class _Merge:
    base: YamlDocument
    variant: YamlDocument
    composite: CompositeSourceMap | None = None
    problems: list[Diagnostic] = field(default_factory=list)

    def copy(self, value: Any, origin: Origin) -> Any:
        """Deep copy that remembers, for every mapping and list, where it came from."""
        sm, path = origin
        if isinstance(value, dict):
            out: Any = {k: self.copy(v, (sm, (*path, k))) for k, v in value.items()}
        elif isinstance(value, list):
            out = [self.copy(v, (sm, (*path, i))) for i, v in enumerate(value)]
        else:
            return value
        assert self.composite is not None
        self.composite.nodes[id(out)] = origin
        return out


def _find(steps: list[Any], step_id: str) -> Iterator[tuple[list[Any], int]]:
    """(list, index) of the step with this id anywhere in the tree (ids are unique per flow)."""
    for index, step in enumerate(steps):
        if not isinstance(step, dict):
            continue
        if step.get("id") == step_id:
            yield steps, index
        for key in _STEP_LISTS:
            if isinstance(step.get(key), list):
                yield from _find(step[key], step_id)
        for key in ("switch",):
            for arm in step.get(key) or []:
                if isinstance(arm, dict):
                    for arm_key in _STEP_LISTS:
                        if isinstance(arm.get(arm_key), list):
                            yield from _find(arm[arm_key], step_id)
        if isinstance(step.get("parallel"), dict):
            for branch in step["parallel"].values():
                if isinstance(branch, list):
                    yield from _find(branch, step_id)


def merge_variant(
    base: YamlDocument, variant: YamlDocument, step_kinds: frozenset[str]
) -> tuple[YamlDocument, list[Diagnostic]]:
    """The base flow with the variant's vars and patch applied (the variant file is already valid).

    Order: replace, insert_before/insert_after, remove — so steps can be inserted next to a step
    the same patch removes (one step replaced by several)."""
    m = _Merge(base, variant)
    holder: dict[str, Any] = {}
    composite = CompositeSourceMap(holder, base.source_map)
    m.composite = composite
    merged = m.copy(base.data, (base.source_map, ()))
    composite._root = merged
    vsm, vdata = variant.source_map, variant.data

    if vdata.get("vars"):
        merged_vars = merged.setdefault("vars", {})
        if id(merged_vars) not in composite.nodes:
            composite.nodes[id(merged_vars)] = (vsm, ("vars",))
        for name, value in vdata["vars"].items():
            merged_vars[name] = m.copy(value, (vsm, ("vars", name)))
            composite.keys_from[(id(merged_vars), name)] = (vsm, ("vars", name))

    patch = vdata.get("patch") or {}
    steps = merged.get("steps") if isinstance(merged.get("steps"), list) else []

    def locate(step_id: str, where: YamlPath) -> tuple[list[Any], int] | None:
        found = next(_find(steps, step_id), None)
        if found is None:
            known = sorted(_all_ids(steps))
            from runtime.loader.diagnostics import did_you_mean

            hint = did_you_mean(step_id, known) or f"steps of the base flow: {', '.join(known)}"
            m.problems.append(
                vsm.diagnostic(
                    where,
                    "variant.unknown_step",
                    f"the base flow has no step `{step_id}`",
                    hint,
                    at_key=True,
                )
            )
        return found

    for step_id, fields in (patch.get("replace") or {}).items():
        found = locate(step_id, ("patch", "replace", step_id))
        if found is None:
            continue
        owner, index = found
        step = owner[index]
        new_kind = next((k for k in fields if k in step_kinds), None)
        if new_kind is not None:  # a new kind: the old kind's fields go
            for key in [k for k in step if k not in _KIND_COMMON]:
                del step[key]
        for key, value in fields.items():
            if value is None:
                step.pop(key, None)
                continue
            step[key] = m.copy(value, (vsm, ("patch", "replace", step_id, key)))
            composite.keys_from[(id(step), key)] = (vsm, ("patch", "replace", step_id, key))
    for mode in ("insert_before", "insert_after"):
        for step_id, new_steps in (patch.get(mode) or {}).items():
            found = locate(step_id, ("patch", mode, step_id))
            if found is None:
                continue
            owner, index = found
            at = index if mode == "insert_before" else index + 1
            copies = [
                m.copy(s, (vsm, ("patch", mode, step_id, i))) for i, s in enumerate(new_steps)
            ]
            owner[at:at] = copies
    for step_id in patch.get("remove") or []:
        index_in_list = (patch.get("remove") or []).index(step_id)
        found = locate(step_id, ("patch", "remove", index_in_list))
        if found is not None:
            owner, index = found
            del owner[index]
            if not owner:
                m.problems.append(
                    vsm.diagnostic(
                        ("patch", "remove", index_in_list),
                        "variant.empty_steps",
                        f"removing `{step_id}` leaves a list of steps empty",
                        "replace the step instead, or remove the step that holds the list",
                    )
                )
    return YamlDocument(merged, composite), m.problems


def _all_ids(steps: list[Any]) -> Iterator[str]:
    for step in steps:
        if isinstance(step, dict):
            if isinstance(step.get("id"), str):
                yield step["id"]
            for value in step.values():
                if isinstance(value, list):
                    yield from _all_ids(value)
                elif isinstance(value, dict):
                    for inner in value.values():
                        if isinstance(inner, list):
                            yield from _all_ids(inner)

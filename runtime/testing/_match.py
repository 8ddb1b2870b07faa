"""Comparing payloads (equal or subset) and showing the difference as a readable diff."""

from __future__ import annotations

import difflib
import json
from typing import Any

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "<missing>"})()


def same_value(expected: Any, actual: Any) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return expected == actual
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            same_value(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(
            same_value(e, a) for e, a in zip(expected, actual, strict=True)
        )
    return type(expected) is type(actual) and expected == actual


def matches(expected: Any, actual: Any, mode: str) -> bool:
    """`equal`: the same JSON value. `subset`: mappings need the expected keys (recursively),
    lists the same length with each item matching; scalars are equal."""
    if mode == "equal":
        return same_value(expected, actual)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k], mode) for k, v in expected.items()
        )
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a, mode) for e, a in zip(expected, actual, strict=True))
        )
    return same_value(expected, actual)


def project(expected: Any, actual: Any) -> Any:
    """`actual` cut down to the shape of `expected`, so a subset diff shows only what matters
    (keys the expectation names; a missing one stays missing)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {k: project(v, actual[k]) for k, v in expected.items() if k in actual}
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [project(e, a) for e, a in zip(expected, actual, strict=True)]
    return actual


def dump(value: Any) -> str:
    if value is MISSING:
        return "<missing>"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def diff(expected: Any, actual: Any, mode: str = "equal") -> str:
    """A unified diff, `-` for expected and `+` for actual."""
    shown = project(expected, actual) if mode == "subset" else actual
    lines = difflib.unified_diff(
        dump(expected).splitlines(),
        dump(shown).splitlines(),
        fromfile="expected",
        tofile="actual" + (" (keys not expected are left out)" if mode == "subset" else ""),
        lineterm="",
        n=3,
    )
    return "\n".join(lines)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out

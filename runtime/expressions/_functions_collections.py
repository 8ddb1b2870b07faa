"""Collection functions: de-duplicate, index and group arrays, pick and omit object keys.

JMESPath's built-ins (`sort_by`, `max_by`, `merge`, `keys`, `values`, `map`, ...) are not redefined.
"""

from __future__ import annotations

import json
from typing import Any

from jmespath.functions import signature

from ._functions_base import FunctionArgumentError, FunctionDoc, arg, key_text
from ._functions_base import FunctionExample as Ex


def _canonical(value: Any) -> Any:
    """A form in which JSON-equal values are equal (1 == 1.0, key order ignored)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    return value


def _keyed(function: str, items: list[dict[str, Any]], key: str) -> list[tuple[str, Any]]:
    """(key text, item) for every item whose `key` is not null."""
    out = []
    for item in items:
        value = item.get(key)
        try:
            text = key_text(value)
        except TypeError:
            raise FunctionArgumentError(
                function, f"{key!r} must be a string, number or boolean, not {json.dumps(value)}"
            ) from None
        if text is not None:
            out.append((text, item))
    return out


class CollectionFunctions:
    """JMESPath `_func_` methods for arrays and objects; mixed into IntegrationFunctions."""

    @signature(arg("array"))
    def _func_unique(self, values: list[Any]) -> list[Any]:
        seen: set[str] = set()
        out = []
        for value in values:
            fingerprint = json.dumps(_canonical(value), sort_keys=True)
            if fingerprint not in seen:
                seen.add(fingerprint)
                out.append(value)
        return out

    @signature(arg("array-object"), arg("string"))
    def _func_index_by(self, items: list[dict[str, Any]], key: str) -> dict[str, Any]:
        return dict(_keyed("index_by", items, key))

    @signature(arg("array-object"), arg("string"))
    def _func_group_by(self, items: list[dict[str, Any]], key: str) -> dict[str, list[Any]]:
        groups: dict[str, list[Any]] = {}
        for text, item in _keyed("group_by", items, key):
            groups.setdefault(text, []).append(item)
        return groups

    @signature(arg("object"), arg("array-string"))
    def _func_pick(self, obj: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        return {k: obj[k] for k in keys if k in obj}

    @signature(arg("object"), arg("array-string"))
    def _func_omit(self, obj: dict[str, Any], keys: list[str]) -> dict[str, Any]:
        drop = set(keys)
        return {k: v for k, v in obj.items() if k not in drop}


_PEOPLE = [
    {"id": "P1", "team": "Data", "rate": 120},
    {"id": "P2", "team": "Cloud", "rate": 140},
    {"id": "P3", "team": "Data", "rate": 110},
]

COLLECTION_DOCS: tuple[FunctionDoc, ...] = (
    FunctionDoc(
        "unique",
        "unique(values: array) -> array",
        "collections",
        "Removes duplicates, keeping the first occurrence and the order. Objects and arrays are "
        "compared by JSON equality (key order does not matter, `1` equals `1.0`).",
        (
            Ex("unique(@)", ["EUR", "USD", "EUR"], ["EUR", "USD"]),
            Ex(
                "unique(@)",
                [{"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 2}],
                [{"a": 1, "b": 2}, {"a": 2}],
            ),
            Ex("unique(lines[].project)", {"lines": [{"project": 7}, {"project": 7.0}]}, [7]),
        ),
    ),
    FunctionDoc(
        "index_by",
        "index_by(items: array, key: string) -> object",
        "collections",
        "An object from the value of `key` (as a string) to the item; a later item with the same "
        "key replaces an earlier one, and items whose key is missing or null are left out.",
        (
            Ex("index_by(@, 'id')", _PEOPLE[:2], {"P1": _PEOPLE[0], "P2": _PEOPLE[1]}),
            Ex("index_by(@, 'no').\"7\".name", [{"no": 7, "name": "Ada"}], "Ada"),
        ),
    ),
    FunctionDoc(
        "group_by",
        "group_by(items: array, key: string) -> object",
        "collections",
        "An object from the value of `key` (as a string) to the array of items with that value, in "
        "their original order; items whose key is missing or null are left out.",
        (
            Ex(
                "group_by(@, 'team')",
                _PEOPLE,
                {"Data": [_PEOPLE[0], _PEOPLE[2]], "Cloud": [_PEOPLE[1]]},
            ),
            Ex("group_by(@, 'team').Data[].id", _PEOPLE, ["P1", "P3"]),
        ),
    ),
    FunctionDoc(
        "pick",
        "pick(obj: object, keys: array) -> object",
        "collections",
        "Only the listed keys, in the order listed; keys the object lacks are skipped.",
        (
            Ex(
                'pick(@, `["id", "name"]`)',
                {"name": "ACME", "id": 1, "secret": "x"},
                {"id": 1, "name": "ACME"},
            ),
            Ex("pick(@, ['missing'])", {"id": 1}, {}),
        ),
    ),
    FunctionDoc(
        "omit",
        "omit(obj: object, keys: array) -> object",
        "collections",
        "Everything except the listed keys.",
        (
            Ex("omit(@, ['secret'])", {"id": 1, "secret": "x"}, {"id": 1}),
            Ex("omit(@, ['missing'])", {"id": 1}, {"id": 1}),
        ),
    ),
)

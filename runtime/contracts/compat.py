"""Contract compatibility, decided by what each schema version accepts.

BACKWARD means the newer version reads all data valid under the older one (consumers upgrade
first); FORWARD means the older version reads all data valid under the newer one (producers
upgrade first); FULL is both. The `_TRANSITIVE` forms check a version against every earlier
one, the plain forms against its immediate predecessor; NONE checks nothing (as in Confluent
Schema Registry). Each difference names a JSON pointer and a rule; anything the checker cannot
decide counts as breaking, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.contracts._compat_git import RevisionError, contracts_at
from runtime.contracts._compat_rules import Comparer, Difference
from runtime.contracts.registry import Contract, ContractRegistry
from runtime.errors import Diagnostic
from runtime.loader.source import SourceMap, YamlLoadError, parse_yaml

DIRECTIONS: dict[str, tuple[tuple[str, ...], bool]] = {
    "BACKWARD": (("backward",), False),
    "BACKWARD_TRANSITIVE": (("backward",), True),
    "FORWARD": (("forward",), False),
    "FORWARD_TRANSITIVE": (("forward",), True),
    "FULL": (("backward", "forward"), False),
    "FULL_TRANSITIVE": (("backward", "forward"), True),
    "NONE": ((), False),
}

_HINTS = {
    "compat.required": "make the property optional; a breaking change needs a new event type",
    "compat.undecidable": "keep this keyword identical to the earlier version, or publish a new event type",
    "compat.pattern": "keep the pattern identical, or publish a new event type",
    "compat.conditional": "keep the if/then/else identical, or publish a new event type",
    "compat.version_removed": "restore the version file: published versions are never deleted",
}
_DEFAULT_HINT = (
    "a breaking change needs a new event type (or a compatibility mode in contract.yaml "
    "that allows it)"
)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a contract as the check sees it: the working tree's or a revision's."""

    number: int
    label: str  # `v2`, or `v2@main` for a published version
    file: str  # workspace-relative path of the file the version lives in (today)
    schema: Any


@dataclass(frozen=True)
class CompatCheck:
    """One required relation between two versions, and what breaks it."""

    contract: str
    mode: str
    direction: str  # backward | forward
    newer: SchemaVersion
    older: SchemaVersion
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        return not self.differences

    @property
    def name(self) -> str:
        return f"{self.direction} {self.newer.label} vs {self.older.label}"

    def summary(self) -> str:
        if self.direction == "backward":
            relation = f"{self.newer.label} must read all data valid under {self.older.label}"
        else:
            relation = f"{self.older.label} must read all data valid under {self.newer.label}"
        return f"{self.contract} ({self.mode}): {relation}"


def compare(
    older: Any, newer: Any, direction: str, labels: tuple[str, str] = ("old", "new")
) -> list[Difference]:
    """Differences that break `direction` between two schemas; pointers are into `newer`."""
    old_label, new_label = labels
    if direction == "backward":
        comparer = Comparer(older, newer, labels=(old_label, new_label), report_in="reader")
    elif direction == "forward":
        comparer = Comparer(newer, older, labels=(new_label, old_label), report_in="writer")
    else:
        raise ValueError(f"direction is backward or forward, not {direction!r}")
    return comparer.run()


def required_pairs(
    mode: str, versions: list[SchemaVersion], history: list[SchemaVersion] | None = None
) -> list[tuple[str, SchemaVersion, SchemaVersion]]:
    """(direction, newer, older) for every relation `mode` requires among `versions`
    (ascending), plus, when `history` (published versions) is given, against those."""
    directions, transitive = DIRECTIONS[mode]
    out: list[tuple[str, SchemaVersion, SchemaVersion]] = []
    seen: set[tuple[str, str, str]] = set()
    for index, newer in enumerate(versions):
        earlier = list(versions[:index])
        if history is not None:
            earlier += [
                h
                for h in history
                if h.number < newer.number
                or (h.number == newer.number and h.schema != newer.schema)
            ]
        candidates = earlier if transitive else _immediate(newer, earlier)
        for older in candidates:
            for direction in directions:
                key = (direction, _digest(newer.schema), _digest(older.schema))
                if key not in seen:
                    seen.add(key)
                    out.append((direction, newer, older))
    return out


def _immediate(newer: SchemaVersion, earlier: list[SchemaVersion]) -> list[SchemaVersion]:
    """The predecessor(s) a non-transitive mode compares with: the published text of this
    very version when it was edited, else the highest earlier number (working tree and
    published text both, when they differ)."""
    same = [v for v in earlier if v.number == newer.number]
    if same:
        return same
    lower = [v for v in earlier if v.number < newer.number]
    if not lower:
        return []
    top = max(v.number for v in lower)
    return [v for v in lower if v.number == top]


def _digest(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True)


def current_versions(contract: Contract) -> list[SchemaVersion]:
    return [SchemaVersion(v.version, f"v{v.version}", v.file, v.schema) for v in contract.versions]


def check_contract(
    contract: Contract, history: list[SchemaVersion] | None = None
) -> list[CompatCheck]:
    mode = contract.meta.compatibility
    versions = current_versions(contract)
    checks = []
    for direction, newer, older in required_pairs(mode, versions, history):
        found = compare(older.schema, newer.schema, direction, (older.label, newer.label))
        checks.append(CompatCheck(contract.type, mode, direction, newer, older, tuple(found)))
    if history is not None:
        numbers = {v.number for v in versions}
        for published in history:
            if published.number not in numbers:
                removed = Difference(
                    "#",
                    "$",
                    "compat.version_removed",
                    f"{published.label} was published and is gone from the working tree",
                )
                gone = SchemaVersion(published.number, f"v{published.number}", published.file, None)
                checks.append(
                    CompatCheck(contract.type, mode, "removed", gone, published, (removed,))
                )
    return checks


def check_registry(
    registry: ContractRegistry, root: Path | None = None, against: str | None = None
) -> list[CompatCheck]:
    """Every check the contracts' modes require; with `against`, also against that git
    revision's versions (RevisionError when it cannot be read)."""
    published = contracts_at(root or Path("."), against) if against else {}
    checks: list[CompatCheck] = []
    for event_type in sorted(registry.contracts):
        contract = registry.contracts[event_type]
        history = None
        if against:
            history = [
                SchemaVersion(number, f"v{number}@{against}", file, schema)
                for number, (file, schema) in sorted(published.get(event_type, {}).items())
            ]
        checks.extend(check_contract(contract, history))
    return checks


def check_diagnostics(root: Path, checks: Iterable[CompatCheck]) -> list[Diagnostic]:
    """Each difference of each failing check, located in the newer version's file."""
    out: list[Diagnostic] = []
    maps: dict[str, SourceMap] = {}
    for check in checks:
        for diff in check.differences:
            file = check.newer.file
            if file not in maps:
                maps[file] = _source_map(root, file)
            relation = (
                f"{check.newer.label} cannot read data valid under {check.older.label}"
                if check.direction == "backward"
                else f"{check.older.label} cannot read data valid under {check.newer.label}"
                if check.direction == "forward"
                else "published version removed"
            )
            located = maps[file].diagnostic(
                pointer_tokens(diff.pointer), diff.rule, "", _HINTS.get(diff.rule, _DEFAULT_HINT)
            )
            out.append(
                Diagnostic(
                    file,
                    located.line,
                    located.col,
                    diff.pointer,
                    diff.rule,
                    f"{check.contract} ({check.mode}): {relation}: {diff.message} (data at {diff.path})",
                    located.hint,
                )
            )
    return out


def pointer_tokens(pointer: str) -> tuple[str | int, ...]:
    """`#/properties/lines/items/0` -> ('properties', 'lines', 'items', 0)."""
    tokens: list[str | int] = []
    for raw in pointer.lstrip("#").split("/")[1:]:
        token = raw.replace("~1", "/").replace("~0", "~")
        tokens.append(int(token) if token.isdigit() else token)
    return tuple(tokens)


def _source_map(root: Path, file: str) -> SourceMap:
    path = root / file
    try:
        return parse_yaml(path.read_text(encoding="utf-8"), file).source_map
    except (OSError, YamlLoadError):
        return SourceMap(file)


def history_from(mapping: Mapping[int, tuple[str, Any]], label: str) -> list[SchemaVersion]:
    return [
        SchemaVersion(number, f"v{number}@{label}", file, schema)
        for number, (file, schema) in sorted(mapping.items())
    ]


__all__ = [
    "DIRECTIONS",
    "CompatCheck",
    "Difference",
    "RevisionError",
    "SchemaVersion",
    "check_contract",
    "check_diagnostics",
    "check_registry",
    "compare",
    "pointer_tokens",
    "required_pairs",
]

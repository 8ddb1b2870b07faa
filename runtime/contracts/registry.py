"""Contracts of a workspace: `contracts/<type>/vN.schema.json` plus examples and metadata."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs
from pydantic import ValidationError

from runtime.contracts.validate import SchemaValidator, Violation, check_envelope, check_schema
from runtime.errors import Diagnostic
from runtime.loader.source import SourceMap, YamlLoadError, parse_yaml
from runtime.spec.contract import ContractMeta

_VERSION_FILE = re.compile(r"^v([1-9][0-9]*)\.schema\.json$")
_DATASCHEMA_VERSION = re.compile(r"(?:^|[:/])v([1-9][0-9]*)(?:\.schema\.json)?/?$")
# `urn:seamline:contract:<type>:vN` or `…/contracts/<type>/vN.schema.json`
_DATASCHEMA_TYPE = re.compile(r"(?:contract:|contracts/)([a-z0-9_.]+)[:/]v[1-9][0-9]*")


@dataclass(frozen=True)
class ContractVersion:
    type: str
    version: int
    file: str
    schema: Mapping[str, Any]
    validator: SchemaValidator

    @property
    def uri(self) -> str:
        return str(self.schema.get("$id") or f"urn:seamline:contract:{self.type}:v{self.version}")


@dataclass(frozen=True)
class Contract:
    type: str
    meta: ContractMeta
    versions: tuple[ContractVersion, ...]  # ascending
    examples: tuple[tuple[str, bool], ...] = ()  # (file, should_be_valid)

    @property
    def latest(self) -> ContractVersion:
        return self.versions[-1]

    def version(self, number: int) -> ContractVersion | None:
        return next((v for v in self.versions if v.version == number), None)


@dataclass
class EventCheck:
    """The outcome of checking one event against the envelope and its contract."""

    contract: ContractVersion | None
    violations: list[Violation] = field(default_factory=list)
    problem: str | None = None  # envelope-level problem naming what is wrong

    @property
    def ok(self) -> bool:
        return not self.violations and self.problem is None

    def describe(self) -> str:
        if self.problem:
            return self.problem
        name = f"{self.contract.type} v{self.contract.version}" if self.contract else "event"
        return "; ".join(f"{name}: {path}: {msg}" for path, msg in self.violations)


class ContractRegistry:
    def __init__(self, contracts: Mapping[str, Contract]) -> None:
        self.contracts = dict(contracts)

    def __contains__(self, event_type: str) -> bool:
        return event_type in self.contracts

    def get(self, event_type: str) -> Contract | None:
        return self.contracts.get(event_type)

    def version_for(self, event: Mapping[str, Any]) -> ContractVersion | str:
        """The contract version named by `dataschema` (latest when absent), or why none fits."""
        contract = self.contracts.get(str(event.get("type")))
        if contract is None:
            known = ", ".join(sorted(self.contracts)) or "none"
            return f"no contract for event type {event.get('type')!r} (known: {known})"
        dataschema = event.get("dataschema")
        if not dataschema:
            return contract.latest
        by_id = next((v for v in contract.versions if v.uri == dataschema), None)
        if by_id is not None:
            return by_id
        named = _DATASCHEMA_TYPE.search(str(dataschema))
        if named and named.group(1) != contract.type:
            return f"dataschema {dataschema!r} names contract {named.group(1)}, but the event type is {contract.type}"
        match = _DATASCHEMA_VERSION.search(str(dataschema))
        found = contract.version(int(match.group(1))) if match else None
        if found is None:
            versions = ", ".join(f"v{v.version}" for v in contract.versions)
            return (
                f"dataschema {dataschema!r} names no version of {contract.type} (have {versions})"
            )
        return found

    def check_event(self, event: Any) -> EventCheck:
        envelope = check_envelope(event)
        if envelope:
            return EventCheck(None, [(p, m) for p, m in envelope], None)
        version = self.version_for(event)
        if isinstance(version, str):
            return EventCheck(None, [], version)
        data = event.get("data")
        if version.validator.is_valid(data):
            return EventCheck(version)
        violations = [("$.data" + p[1:], m) for p, m in version.validator.violations(data)]
        return EventCheck(version, violations)


def load_contracts(root: Path) -> tuple[ContractRegistry, list[Diagnostic]]:
    """Load every contract under `root/contracts`, collecting every problem."""
    problems: list[Diagnostic] = []
    contracts: dict[str, Contract] = {}
    base = root / "contracts"
    if not base.is_dir():
        return ContractRegistry({}), problems
    for folder in sorted(p for p in base.iterdir() if p.is_dir()):
        contract = _load_contract(root, folder, problems)
        if contract is not None:
            contracts[contract.type] = contract
    return ContractRegistry(contracts), problems


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _load_contract(root: Path, folder: Path, problems: list[Diagnostic]) -> Contract | None:
    event_type = folder.name
    meta = ContractMeta()
    meta_file = folder / "contract.yaml"
    if meta_file.is_file():
        from runtime.loader.diagnostics import pydantic_diagnostics

        try:
            doc = parse_yaml(meta_file.read_text(encoding="utf-8"), _rel(root, meta_file))
            meta = ContractMeta.model_validate(doc.data or {})
        except YamlLoadError as exc:
            problems.extend(exc.diagnostics)
        except ValidationError as exc:
            problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, ContractMeta))
    versions: list[ContractVersion] = []
    for stray in sorted(set(folder.glob("*.json")) - set(folder.glob("*.schema.json"))):
        problems.append(
            Diagnostic(
                _rel(root, stray),
                1,
                1,
                "",
                "contract.file_name",
                f"{stray.name} is not a schema version file and is ignored",
                "name versions v1.schema.json, v2.schema.json, …; examples go in examples/valid or examples/invalid",
            )
        )
    for file in sorted(folder.glob("*.schema.json")):
        rel = _rel(root, file)
        match = _VERSION_FILE.match(file.name)
        if not match:
            problems.append(
                Diagnostic(
                    rel,
                    1,
                    1,
                    "",
                    "contract.file_name",
                    f"schema file name {file.name!r} is not vN.schema.json",
                    "name versions v1.schema.json, v2.schema.json, …",
                )
            )
            continue
        version, found = _load_version(file, rel, event_type, int(match.group(1)))
        problems.extend(found)
        if version is not None:
            versions.append(version)
    if not versions:
        problems.append(
            Diagnostic(
                _rel(root, folder),
                1,
                1,
                "",
                "contract.no_versions",
                f"contract folder {event_type} has no usable vN.schema.json",
                "add v1.schema.json (JSON Schema draft 2020-12 for the event's data)",
            )
        )
        return None
    versions.sort(key=lambda v: v.version)
    examples: list[tuple[str, bool]] = []
    for kind, valid in (("valid", True), ("invalid", False)):
        examples += [
            (_rel(root, f), valid) for f in sorted((folder / "examples" / kind).glob("*.json"))
        ]
    return Contract(event_type, meta, tuple(versions), tuple(examples))


_VERSIONS: dict[tuple[str, str], tuple[ContractVersion | None, list[Diagnostic]]] = {}
"""Compiled schema files by (path, content hash): a reload recompiles only what changed."""


def _load_version(
    file: Path, rel: str, event_type: str, number: int
) -> tuple[ContractVersion | None, list[Diagnostic]]:
    content = file.read_bytes()
    key = (rel, hashlib.sha256(content).hexdigest())
    if key not in _VERSIONS:
        if len(_VERSIONS) > 4096:
            _VERSIONS.clear()
        _VERSIONS[key] = _compile_version(file, rel, event_type, number)
    version, problems = _VERSIONS[key]
    return version, list(problems)


def _compile_version(
    file: Path, rel: str, event_type: str, number: int
) -> tuple[ContractVersion | None, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    schema = _read_json(file, rel, problems)
    if schema is None:
        return None, problems
    source_map = _json_source_map(file, rel)
    bad = [] if _metaschema_accepts(schema) else check_schema(schema)
    for path, message in bad[:5]:
        problems.append(
            _at_json_path(
                source_map,
                path,
                "contract.schema_invalid",
                f"not a valid draft 2020-12 schema: {message}",
                "see https://json-schema.org/draft/2020-12/json-schema-validation",
            )
        )
    if bad:
        return None, problems
    declared = schema.get("$schema") if isinstance(schema, dict) else None
    if declared and "2020-12" not in str(declared):
        problems.append(
            _at_json_path(
                source_map,
                "$.$schema",
                "contract.draft",
                f"contracts are draft 2020-12, this one declares {declared}",
                'use "$schema": "https://json-schema.org/draft/2020-12/schema"',
            )
        )
        return None, problems
    try:
        validator = SchemaValidator(schema, name=f"{event_type} v{number}")
    except (jsonschema_rs.ValidationError, ValueError) as exc:
        # passes the metaschema but cannot be compiled: bad regex, dangling or remote $ref
        reason = str(exc).split("\n", 1)[0]
        problems.append(
            Diagnostic(
                rel,
                1,
                1,
                "",
                "contract.schema_invalid",
                f"schema cannot be compiled: {reason}",
                "check `pattern` regexes and that every $ref points inside this file",
            )
        )
        return None, problems
    return ContractVersion(event_type, number, rel, schema, validator), problems


_DRAFT_2020_12 = (
    "https://json-schema.org/draft/2020-12/schema",
    "https://json-schema.org/draft/2020-12/schema#",
)


def _metaschema_accepts(schema: Any) -> bool:
    """jsonschema-rs's metaschema check, for the common case of a valid schema: about 100x
    faster than check_schema, which still runs when it refuses (for its messages) or when the
    schema names another draft (jsonschema-rs would check against that draft's metaschema,
    check_schema always against 2020-12's)."""
    if not isinstance(schema, dict) or schema.get("$schema", _DRAFT_2020_12[0]) not in (
        _DRAFT_2020_12
    ):
        return False
    try:
        return bool(jsonschema_rs.meta.is_valid(schema))
    except (jsonschema_rs.ReferencingError, ValueError):
        return False


def _read_json(file: Path, rel: str, problems: list[Diagnostic]) -> Any:
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        problems.append(
            Diagnostic(
                rel,
                exc.lineno,
                exc.colno,
                "",
                "json.syntax",
                f"JSON syntax error: {exc.msg}",
                "check commas and quotes",
            )
        )
        return None


def _json_source_map(file: Path, rel: str) -> SourceMap:
    try:
        return parse_yaml(file.read_text(encoding="utf-8"), rel).source_map
    except YamlLoadError:
        return SourceMap(rel)


def _at_json_path(
    source_map: SourceMap, json_path: str, code: str, message: str, hint: str
) -> Diagnostic:
    return source_map.diagnostic(parse_json_path(json_path), code, message, hint)


def parse_json_path(json_path: str) -> tuple[str | int, ...]:
    """`$.lines[2].amount` -> ('lines', 2, 'amount')."""
    parts: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", json_path.lstrip("$")):
        parts.append(int(index) if index else name)
    return tuple(parts)


def check_examples(root: Path, registry: ContractRegistry) -> list[Diagnostic]:
    """Every valid example validates and every invalid one fails (envelope and data)."""
    problems: list[Diagnostic] = []
    for contract in registry.contracts.values():
        versions = tuple(id(v) for v in contract.versions)  # cached versions keep their identity
        for rel, should_be_valid in contract.examples:
            content = (root / rel).read_bytes()
            key = (rel, hashlib.sha256(content).hexdigest(), should_be_valid, versions)
            if key not in _EXAMPLES:
                if len(_EXAMPLES) > 8192:
                    _EXAMPLES.clear()
                _EXAMPLES[key] = _check_example(root, registry, rel, should_be_valid)
            problems.extend(_EXAMPLES[key])
    return problems


_EXAMPLES: dict[tuple[Any, ...], list[Diagnostic]] = {}
"""Example verdicts by (file, content hash, contract versions): a reload rechecks only changes."""


def _check_example(
    root: Path, registry: ContractRegistry, rel: str, should_be_valid: bool
) -> list[Diagnostic]:
    problems: list[Diagnostic] = []
    event = _read_json(root / rel, rel, problems)
    if event is None:
        return problems
    outcome = registry.check_event(event)
    if should_be_valid and not outcome.ok:
        source_map = _json_source_map(root / rel, rel)
        path = outcome.violations[0][0] if outcome.violations else "$"
        problems.append(
            _at_json_path(
                source_map,
                path,
                "contract.example_invalid",
                f"valid example does not validate: {outcome.describe()}",
                "fix the example or the schema; examples/valid must pass",
            )
        )
    elif not should_be_valid and outcome.ok:
        problems.append(
            Diagnostic(
                rel,
                1,
                1,
                "",
                "contract.example_valid",
                "invalid example validates against its contract",
                "an example under examples/invalid must violate the schema",
            )
        )
    return problems

"""Load and compile a whole workspace into one Plan; report every problem in one pass."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import Discriminator, TypeAdapter, ValidationError

import runtime.connectors  # noqa: F401 - registers connector kinds
from runtime.compiler._values import ValueCompiler, check_roots
from runtime.compiler.flow import DROPPED_PREFIX, FlowCompiler
from runtime.compiler.plan import FlowPlan, Plan
from runtime.connectors.base import CONNECTOR_KINDS, Connector
from runtime.contracts.registry import ContractRegistry, check_examples, load_contracts
from runtime.errors import Diagnostic, FlowError
from runtime.expressions.functions import IntegrationFunctions, jinja_helpers, jmespath_options
from runtime.expressions.jinja import TemplateEngine, TemplateProblem
from runtime.loader.diagnostics import did_you_mean, pydantic_diagnostics
from runtime.loader.source import SourceMap, YamlDocument, YamlLoadError, parse_yaml
from runtime.spec.flow import FlowSpec
from runtime.spec.settings import WorkspaceSettings
from runtime.steps import STEP_KINDS, AnyStep

_LOOKUP_CALL = re.compile(r"lookup\(\s*['\"]([A-Za-z0-9_.-]+)['\"]")


@dataclass
class WorkspaceReport:
    """What `seamline check` prints: the plan (if clean), every diagnostic, and counts."""

    root: Path
    plan: Plan | None
    diagnostics: list[Diagnostic]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def _connector_union() -> Any:
    members = tuple(k.config for k in CONNECTOR_KINDS.values())
    return Annotated[Union[members], Discriminator("kind")]  # noqa: UP007


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _parse(root: Path, file: Path, problems: list[Diagnostic]) -> YamlDocument | None:
    try:
        return parse_yaml(file.read_text(encoding="utf-8"), _rel(root, file))
    except YamlLoadError as exc:
        problems.extend(exc.diagnostics)
    except UnicodeDecodeError as exc:
        problems.append(
            Diagnostic(
                _rel(root, file),
                1,
                1,
                "",
                "file.encoding",
                f"not UTF-8 text: {exc.reason}",
                "save the file as UTF-8",
            )
        )
    return None


def _load_settings(root: Path, problems: list[Diagnostic]) -> WorkspaceSettings:
    file = root / "seamline.yaml"
    if not file.is_file():
        return WorkspaceSettings()
    doc = _parse(root, file, problems)
    if doc is None:
        return WorkspaceSettings()
    try:
        return WorkspaceSettings.model_validate(doc.data or {})
    except ValidationError as exc:
        problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, WorkspaceSettings))
        return WorkspaceSettings()


def load_lookups(
    root: Path, problems: list[Diagnostic]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Reference tables in flows/lookups: YAML mappings, or CSV files keyed by their first column."""
    tables: dict[str, dict[str, Any]] = {}
    files: dict[str, str] = {}
    folder = root / "flows" / "lookups"
    if not folder.is_dir():
        return tables, files
    for file in sorted(folder.iterdir()):
        name, rel = file.stem, _rel(root, file)
        if file.suffix in (".yaml", ".yml"):
            doc = _parse(root, file, problems)
            if doc is None:
                continue
            if not isinstance(doc.data, dict):
                problems.append(
                    doc.source_map.diagnostic(
                        (),
                        "lookup.not_mapping",
                        "a lookup table is a mapping of key: value",
                        "write one `KEY: value` line per entry",
                    )
                )
                continue
            tables[name] = {str(k): v for k, v in doc.data.items()}
        elif file.suffix == ".csv":
            with file.open(newline="", encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            if not rows:
                problems.append(
                    Diagnostic(
                        rel,
                        1,
                        1,
                        "",
                        "lookup.empty",
                        "CSV lookup table has no rows",
                        "the first row names the columns; the first column is the key",
                    )
                )
                continue
            key_column = next(iter(rows[0]))
            table: dict[str, Any] = {}
            for line, row in enumerate(rows, start=2):
                key = row[key_column]
                if key in table:
                    problems.append(
                        Diagnostic(
                            rel,
                            line,
                            1,
                            "",
                            "lookup.duplicate_key",
                            f"key {key!r} appears twice",
                            "keys in the first column must be unique",
                        )
                    )
                table[key] = row
            tables[name] = table
        else:
            continue
        files[name] = rel
    return tables, files


def _load_connectors(
    root: Path, values_for: Any, problems: list[Diagnostic]
) -> dict[str, Connector]:
    connectors: dict[str, Connector] = {}
    folder = root / "connectors"
    if not folder.is_dir():
        return connectors
    union = _connector_union()
    adapter: TypeAdapter[Any] = TypeAdapter(union)
    for file in sorted(folder.glob("*.yaml")):
        doc = _parse(root, file, problems)
        if doc is None:
            continue
        try:
            config = adapter.validate_python(doc.data)
        except ValidationError as exc:
            problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, union))
            continue
        if config.connector != file.stem:
            problems.append(
                doc.source_map.diagnostic(
                    ("connector",),
                    "spec.name_mismatch",
                    f"connector `{config.connector}` is in file {file.name}",
                    f"rename the file to {config.connector}.yaml or the connector to {file.stem}",
                )
            )
            continue
        compiler = _ConnectorCompiler(values_for(doc.source_map))
        connectors[config.connector] = CONNECTOR_KINDS[config.kind].create(config, compiler)
        problems.extend(compiler.values.diagnostics)
    return connectors


class _ConnectorCompiler:
    def __init__(self, values: ValueCompiler) -> None:
        self.values = values

    def value(
        self, raw: Any, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> Any:
        return self.values.value(raw, path, check_roots(roots))

    def expression(
        self, text: str | None, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> Any:
        return None if text is None else self.values.expression(text, path, check_roots(roots))

    def duration(self, text: str | None) -> float | None:
        from runtime.spec.common import parse_duration

        return parse_duration(text) if text else None

    def error(
        self, path: tuple[str | int, ...], code: str, message: str, hint: str | None = None
    ) -> None:
        self.values.error(path, code, message, hint)


def _hash(root: Path, files: set[str]) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        path = root / rel
        digest.update(path.read_bytes() if path.is_file() else b"")
    return digest.hexdigest()


def check_workspace(root: Path | str) -> WorkspaceReport:
    """Load, validate and compile every file of the workspace; never raises for bad input."""
    root = Path(root).resolve()
    problems: list[Diagnostic] = []
    settings = _load_settings(root, problems)
    lookups, lookup_files = load_lookups(root, problems)
    functions = IntegrationFunctions(lookups=lookups)
    options = jmespath_options(functions)
    function_names = frozenset(functions.FUNCTION_TABLE)
    signatures = {name: entry["signature"] for name, entry in functions.FUNCTION_TABLE.items()}
    jinja_globals, jinja_filters = jinja_helpers(functions)
    templates = TemplateEngine(root, jinja_globals, jinja_filters)

    def values_for(source_map: SourceMap) -> ValueCompiler:
        return ValueCompiler(source_map, options, templates, function_names, signatures)

    contracts, contract_problems = load_contracts(root)
    problems += contract_problems
    problems += check_examples(root, contracts)
    connectors = _load_connectors(root, values_for, problems)
    problems += _check_template_files(root, templates)

    specs: dict[str, tuple[FlowSpec, YamlDocument, frozenset[str]]] = {}
    flow_dir = root / "flows"
    problems += _misnamed_yaml(root)
    flow_files = sorted(flow_dir.glob("*.yaml")) if flow_dir.is_dir() else []
    for file in flow_files:
        doc = _parse(root, file, problems)
        if doc is None:
            continue
        spec, dropped = _validate_flow(doc, problems)
        if spec is None:
            continue
        if spec.flow != file.stem:
            problems.append(
                doc.source_map.diagnostic(
                    ("flow",),
                    "spec.name_mismatch",
                    f"flow `{spec.flow}` is in file {file.name}",
                    f"rename the file to {spec.flow}.yaml or the flow to {file.stem}",
                )
            )
            continue
        specs[spec.flow] = (spec, doc, dropped)

    flows: dict[str, FlowPlan] = {}
    subflow_paths: dict[str, dict[str, tuple[str | int, ...]]] = {}
    names = frozenset(specs)
    for name, (spec, doc, dropped) in specs.items():
        values = values_for(doc.source_map)
        compiler = FlowCompiler(
            spec, values, contracts, connectors, settings, names, dropped_steps=dropped
        )
        parts = compiler.compile()
        problems += values.diagnostics
        text = (root / doc.source_map.file).read_text(encoding="utf-8")
        used = {doc.source_map.file, *values.used_files, *compiler.used_contracts}
        if (root / "seamline.yaml").is_file():
            used.add("seamline.yaml")  # retry policies and defaults change behaviour too
        for template in values.used_files:
            text += (root / template).read_text(encoding="utf-8")
        used.update(lookup_files[t] for t in _LOOKUP_CALL.findall(text) if t in lookup_files)
        subflow_paths[name] = dict(compiler.subflows)
        flows[name] = FlowPlan(
            name=name,
            version=spec.version,
            description=spec.description,
            file=doc.source_map.file,
            content_hash=_hash(root, used),
            subflows=frozenset(compiler.subflows),
            **parts,
        )
    problems += _subflow_cycles(flows, specs, subflow_paths)
    flows = _fold_subflow_hashes(flows)

    by_event: dict[str, list[str]] = {}
    for flow in flows.values():
        if flow.event_type:
            by_event.setdefault(flow.event_type, []).append(flow.name)
    counts = {
        "flows": len(flow_files),
        "contracts": len(contracts.contracts),
        "contract_versions": sum(len(c.versions) for c in contracts.contracts.values()),
        "connectors": len(connectors),
        "lookups": len(lookups),
        "templates": len(list((root / "flows").rglob("*.j2"))) if flow_dir.is_dir() else 0,
    }
    problems = sorted(set(problems))
    plan = None
    if not any(d.severity == "error" for d in problems):
        workspace_files = {f.file for f in flows.values()} | set(lookup_files.values())
        plan = Plan(
            root=str(root),
            flows=flows,
            contracts=contracts,
            connectors=connectors,
            functions=functions,
            settings=settings,
            workspace_hash=_hash(
                root,
                workspace_files
                | {c.file for ct in contracts.contracts.values() for c in ct.versions},
            ),
            lookups=lookups,
            by_event={k: tuple(v) for k, v in by_event.items()},
        )
    return WorkspaceReport(root, plan, problems, counts)


def compile_workspace(root: Path | str) -> Plan:
    """The Plan of a clean workspace; raises FlowError with every diagnostic otherwise."""
    report = check_workspace(root)
    if report.plan is None:
        raise FlowError(report.diagnostics)
    return report.plan


def _validate_flow(
    doc: YamlDocument, problems: list[Diagnostic]
) -> tuple[FlowSpec | None, frozenset[str]]:
    """The flow's spec, or a salvaged one for further checks, plus ids of steps that were dropped.

    When some steps or top-level keys are invalid, they are reported and left out, and the rest
    of the flow is still compiled, so one run of `seamline check` reports expression and
    reference problems too. A salvaged flow is never put in the Plan.
    """
    if not isinstance(doc.data, dict):
        problems.append(
            doc.source_map.diagnostic(
                (),
                "spec.not_mapping",
                "a flow file is a mapping",
                "start with `flow: <name>` — see docs/language.md",
            )
        )
        return None, frozenset()
    try:
        return FlowSpec.model_validate(doc.data), frozenset()
    except ValidationError as exc:
        problems.extend(
            pydantic_diagnostics(
                exc, doc.data, doc.source_map, FlowSpec, kind_names=list(STEP_KINDS)
            )
        )
        bad_top = {err["loc"][0] for err in exc.errors() if err["loc"] and err["loc"][0] != "steps"}
    salvaged = {
        k: v for k, v in doc.data.items() if k not in bad_top or k in ("flow", "on", "steps")
    }
    dropped: set[str] = set()
    if isinstance(salvaged.get("steps"), list):
        step_adapter: TypeAdapter[Any] = TypeAdapter(AnyStep)
        kept = []
        for index, raw in enumerate(salvaged["steps"]):
            try:
                step_adapter.validate_python(raw)
                kept.append(raw)
            except ValidationError:
                dropped.update(_step_ids(raw))
                # a placeholder keeps the indices, so positions of later steps stay right
                kept.append({"id": f"{DROPPED_PREFIX}{index}", "set": {"dropped": None}})
        salvaged["steps"] = kept
    try:
        return FlowSpec.model_validate(salvaged), frozenset(dropped)
    except ValidationError:
        return None, frozenset()


def _step_ids(raw: Any) -> set[str]:
    """Every `id` of a raw step and of the steps nested in it."""
    found: set[str] = set()
    if isinstance(raw, dict):
        if isinstance(raw.get("id"), str):
            found.add(raw["id"])
        for value in raw.values():
            found |= _step_ids(value)
    elif isinstance(raw, list):
        for item in raw:
            found |= _step_ids(item)
    return found


def _check_template_files(root: Path, templates: TemplateEngine) -> list[Diagnostic]:
    out = []
    folder = root / "flows"
    for file in sorted(folder.rglob("*.j2")) if folder.is_dir() else []:
        compiled = templates.compile_file(str(file.relative_to(folder)))
        if isinstance(compiled, TemplateProblem):
            out.append(
                Diagnostic(
                    compiled.file or _rel(root, file),
                    compiled.line,
                    1,
                    "",
                    compiled.code,
                    compiled.message,
                    compiled.hint,
                )
            )
    return out


def _fold_subflow_hashes(flows: dict[str, FlowPlan]) -> dict[str, FlowPlan]:
    """A flow's version includes the versions of the subflows it runs (transitively)."""

    def closure(name: str, seen: frozenset[str]) -> list[str]:
        out = []
        for child in sorted(flows[name].subflows):
            if child in flows and child not in seen:
                out += [flows[child].content_hash, *closure(child, seen | {child})]
        return out

    folded = {}
    for name, flow in flows.items():
        parts = closure(name, frozenset({name}))
        if parts:
            digest = hashlib.sha256("\0".join([flow.content_hash, *parts]).encode()).hexdigest()
            flow = dataclasses.replace(flow, content_hash=digest)
        folded[name] = flow
    return folded


def _misnamed_yaml(root: Path) -> list[Diagnostic]:
    """`.yml` files where seamline reads `.yaml` would be silently ignored: say so."""
    out = []
    for folder in ("flows", "connectors"):
        for file in sorted((root / folder).glob("*.yml")) if (root / folder).is_dir() else []:
            out.append(
                Diagnostic(
                    _rel(root, file),
                    1,
                    1,
                    "",
                    "file.extension",
                    f"{file.name} is ignored: {folder} files end in .yaml",
                    f"rename it to {file.stem}.yaml",
                )
            )
    return out


def _subflow_cycles(
    flows: dict[str, FlowPlan],
    specs: dict[str, tuple[FlowSpec, YamlDocument, frozenset[str]]],
    subflow_paths: dict[str, dict[str, tuple[str | int, ...]]],
) -> list[Diagnostic]:
    """Each flow on a cycle of subflow calls, reported at its step that enters the cycle."""
    out = []
    for start in flows:
        stack = [(start, (start,))]
        while stack:
            name, trail = stack.pop()
            for child in sorted(flows[name].subflows) if name in flows else ():
                if child == start:
                    cycle = " -> ".join((*trail, child))
                    entry = trail[1] if len(trail) > 1 else child
                    out.append(
                        specs[start][1].source_map.diagnostic(
                            subflow_paths[start][entry],
                            "ref.subflow_cycle",
                            f"subflows call each other in a cycle: {cycle}",
                            "a flow may not (indirectly) run itself",
                        )
                    )
                    stack.clear()
                    break
                if child not in trail:
                    stack.append((child, (*trail, child)))
    return out


__all__ = [
    "ContractRegistry",
    "WorkspaceReport",
    "check_workspace",
    "compile_workspace",
    "did_you_mean",
]

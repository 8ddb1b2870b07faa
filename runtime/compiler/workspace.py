"""Load and compile a whole workspace into one Plan; report every problem in one pass."""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from runtime.compiler._gc import collector_paused
from runtime.compiler._values import ValueCompiler
from runtime.compiler.connectors import load_connectors
from runtime.compiler.flow import DROPPED_PREFIX, FlowCompiler
from runtime.compiler.plan import FlowPlan, Plan, VariantPlan
from runtime.compiler.variants import (
    compile_match,
    load_variant,
    order_variants,
    variant_files,
    variant_plan,
)
from runtime.contracts.registry import ContractRegistry, check_examples, load_contracts
from runtime.errors import Diagnostic, FlowError
from runtime.expressions.functions import IntegrationFunctions, jinja_helpers, jmespath_options
from runtime.expressions.jinja import TemplateEngine, TemplateProblem
from runtime.loader.diagnostics import did_you_mean, pydantic_diagnostics
from runtime.loader.files import parse_file, relative_name
from runtime.loader.lookups import load_lookups
from runtime.loader.source import SourceMap, YamlDocument
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


def _load_settings(root: Path, problems: list[Diagnostic]) -> WorkspaceSettings:
    file = root / "seamline.yaml"
    if not file.is_file():
        return WorkspaceSettings()
    doc = parse_file(root, file, problems)
    if doc is None:
        return WorkspaceSettings()
    try:
        return WorkspaceSettings.model_validate(doc.data or {})
    except ValidationError as exc:
        problems.extend(pydantic_diagnostics(exc, doc.data, doc.source_map, WorkspaceSettings))
        return WorkspaceSettings()


def _hash(root: Path, files: set[str], read: Callable[[str], bytes | None] | None = None) -> str:
    digest = hashlib.sha256()
    for rel in sorted(files):
        digest.update(rel.encode() + b"\0")
        content = read(rel) if read is not None else _read(root, rel)
        digest.update(content if content is not None else b"")
    return digest.hexdigest()


def _read(root: Path, rel: str) -> bytes | None:
    path = root / rel
    return path.read_bytes() if path.is_file() else None


def check_workspace(root: Path | str, *, reuse: bool = False) -> WorkspaceReport:
    """Load, validate and compile every file of the workspace; never raises for bad input.

    `reuse` (hot reload): connectors and flows whose inputs did not change are taken from the
    previous compile instead of being rebuilt, so the new Plan shares those objects with it."""
    with collector_paused():
        return _check_workspace(root, reuse=reuse)


def _check_workspace(root: Path | str, *, reuse: bool) -> WorkspaceReport:
    root = Path(root).resolve()
    problems: list[Diagnostic] = []
    settings = _load_settings(root, problems)
    lookups, lookup_files = load_lookups(root, problems)
    functions, templates = _expression_environment(root, lookups)
    options = jmespath_options(functions)
    function_names = frozenset(functions.FUNCTION_TABLE)
    signatures = {name: entry["signature"] for name, entry in functions.FUNCTION_TABLE.items()}

    def values_for(source_map: SourceMap) -> ValueCompiler:
        return ValueCompiler(source_map, options, templates, function_names, signatures)

    contracts, contract_problems = load_contracts(root)
    problems += contract_problems
    problems += check_examples(root, contracts)
    shared = _shared_fingerprint(root)
    cached_connectors = _CONNECTORS.get((str(root), shared)) if reuse else None
    if cached_connectors is None:
        found: list[Diagnostic] = []
        cached_connectors = (
            load_connectors(root, values_for, found, frozenset(contracts.contracts)),
            found,
        )
        _CONNECTORS.clear()  # one generation: older connectors (and their clients) are let go
        _CONNECTORS[(str(root), shared)] = cached_connectors
    connectors = cached_connectors[0]
    problems += cached_connectors[1]
    problems += _check_template_files(root, templates)

    specs: dict[str, tuple[FlowSpec, YamlDocument, frozenset[str]]] = {}
    flow_dir = root / "flows"
    problems += _misnamed_yaml(root)
    flow_files = sorted(flow_dir.glob("*.yaml")) if flow_dir.is_dir() else []
    for file in flow_files:
        doc = parse_file(root, file, problems)
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

    # flows share contracts, templates and lookups: each file is read once per compile
    contents: dict[str, bytes | None] = {}

    def read(rel: str) -> bytes | None:
        if rel not in contents:
            contents[rel] = _read(root, rel)
        return contents[rel]

    flows: dict[str, FlowPlan] = {}
    subflow_paths: dict[str, dict[str, tuple[str | int, ...]]] = {}
    names = frozenset(specs)

    def compile_flow(
        spec: FlowSpec, doc: YamlDocument, dropped: frozenset[str], extra: set[str]
    ) -> tuple[FlowPlan, dict[str, Any]]:
        # a flow whose file and whose shared inputs (contracts, connectors, templates, lookups,
        # settings, the set of flows) did not change compiles to the same plan: reuse it
        key = (str(root), doc.source_map.file, id(doc), shared, names, frozenset(extra), dropped)
        if reuse and key in _FLOWS:
            plan, subflows, found = _FLOWS[key]
            problems.extend(found)
            return plan, subflows
        compiled = _compile_flow(spec, doc, dropped, extra)
        if len(_FLOWS) > 4096:
            _FLOWS.clear()
        _FLOWS[key] = compiled
        problems.extend(compiled[2])
        return compiled[0], compiled[1]

    def _compile_flow(
        spec: FlowSpec, doc: YamlDocument, dropped: frozenset[str], extra: set[str]
    ) -> tuple[FlowPlan, dict[str, Any], list[Diagnostic]]:
        values = values_for(doc.source_map)
        compiler = FlowCompiler(
            spec, values, contracts, connectors, settings, names, dropped_steps=dropped
        )
        parts = compiler.compile()
        used = {doc.source_map.file, *extra, *values.used_files, *compiler.used_contracts}
        if (root / "seamline.yaml").is_file():
            used.add("seamline.yaml")  # retry policies and defaults change behaviour too
        text = "".join(
            content.decode("utf-8")
            for rel in sorted(used - compiler.used_contracts)
            if (content := read(rel)) is not None
        )
        used.update(lookup_files[t] for t in _LOOKUP_CALL.findall(text) if t in lookup_files)
        plan = FlowPlan(
            name=spec.flow,
            version=spec.version,
            description=spec.description,
            file=doc.source_map.file,
            content_hash=_hash(root, used, read),
            files=tuple(sorted(used)),
            subflows=frozenset(compiler.subflows),
            **parts,
        )
        return plan, dict(compiler.subflows), list(values.diagnostics)

    for name, (spec, doc, dropped) in specs.items():
        flows[name], subflow_paths[name] = compile_flow(spec, doc, dropped, set())

    found_variants: list[tuple[VariantPlan, SourceMap]] = []
    for file in variant_files(root):
        loaded = load_variant(root, file, {n: d for n, (_, d, _) in specs.items()}, problems)
        if loaded is None:
            continue
        vspec, vdoc, merged = loaded
        mspec, mdropped = _validate_flow(merged, problems)
        match = compile_match(vspec, vdoc.source_map, values_for, problems)
        if mspec is None or match is None:
            continue
        variant_name = vspec.variant or file.parent.name
        vflow, _ = compile_flow(
            mspec, merged, mdropped, {vdoc.source_map.file, specs[vspec.extends][1].source_map.file}
        )
        vflow = dataclasses.replace(vflow, variant=variant_name, file=vdoc.source_map.file)
        found_variants.append((variant_plan(vspec, variant_name, match, vflow), vdoc.source_map))
    variants = order_variants(found_variants, problems)
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
        plan = Plan(
            root=str(root),
            flows=flows,
            contracts=contracts,
            connectors=connectors,
            functions=functions,
            settings=settings,
            workspace_hash=_hash(root, _workspace_files(root), read),
            lookups=lookups,
            by_event={k: tuple(v) for k, v in by_event.items()},
            templates=templates,
            variants=variants,
        )
    return WorkspaceReport(root, plan, problems, counts)


def _workspace_files(root: Path) -> set[str]:
    """Every file the workspace is made of: flows, variants, templates, lookups, contracts,
    connectors and settings (what a reload compares)."""
    files = {"seamline.yaml"} if (root / "seamline.yaml").is_file() else set()
    for folder in ("flows", "contracts", "connectors"):
        if (root / folder).is_dir():
            files.update(relative_name(root, f) for f in (root / folder).rglob("*") if f.is_file())
    return files


_CONNECTORS: dict[tuple[str, str], tuple[dict[str, Any], list[Diagnostic]]] = {}
_FLOWS: dict[tuple[Any, ...], tuple[FlowPlan, dict[str, Any], list[Diagnostic]]] = {}


def _shared_fingerprint(root: Path) -> str:
    """Changes when anything a flow may use changes: contracts, connectors, templates, lookups,
    variants, settings (by name, size and modification time — cheap enough for every reload)."""
    digest = hashlib.sha256()
    for rel in sorted(_workspace_files(root)):
        if rel.startswith("flows/") and rel.count("/") == 1 and rel.endswith(".yaml"):
            continue  # flow files are keyed one by one
        stat = (root / rel).stat()
        digest.update(f"{rel}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


_ENVIRONMENTS: dict[tuple[str, str], tuple[IntegrationFunctions, TemplateEngine]] = {}


def _expression_environment(
    root: Path, lookups: dict[str, Any]
) -> tuple[IntegrationFunctions, TemplateEngine]:
    """Functions and the Jinja environment for these lookup tables: kept while the tables stay
    the same, so a reload reuses compiled templates (Jinja re-reads a template file that changed)."""
    key = (
        str(root),
        hashlib.sha256(orjson.dumps(lookups, option=orjson.OPT_SORT_KEYS)).hexdigest(),
    )
    if key not in _ENVIRONMENTS:
        if len(_ENVIRONMENTS) > 32:
            _ENVIRONMENTS.clear()
        functions = IntegrationFunctions(lookups=lookups)
        jinja_globals, jinja_filters = jinja_helpers(functions)
        _ENVIRONMENTS[key] = (functions, TemplateEngine(root, jinja_globals, jinja_filters))
    return _ENVIRONMENTS[key]


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
                    compiled.file or relative_name(root, file),
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
                    relative_name(root, file),
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

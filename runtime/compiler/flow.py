"""Compile one validated FlowSpec into a FlowPlan, checking every reference on the way."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, croniter

from runtime.compiler._values import Path, ValueCompiler
from runtime.connectors.base import Connector, Operation
from runtime.contracts.registry import Contract, ContractRegistry, ContractVersion
from runtime.expressions.compiled import CompiledValue
from runtime.expressions.jmes import CompiledExpression
from runtime.loader.diagnostics import did_you_mean
from runtime.spec.common import parse_duration
from runtime.spec.flow import EventTrigger, FlowSpec, ScheduleTrigger
from runtime.spec.retry import RetryPolicy
from runtime.spec.settings import WorkspaceSettings
from runtime.steps import STEP_KINDS, StepConfig
from runtime.steps.for_each import ForEachConfig
from runtime.steps.parallel import ParallelConfig
from runtime.steps.set import SetConfig
from runtime.steps.switch import ElseArm, SwitchConfig

RUN_ROOTS = ("event", "data", "vars", "steps", "run")


def schedule_problem(cron: str, timezone: str) -> tuple[str, str, str] | None:
    """(field, message, hint) when a schedule cannot fire as written."""
    if not croniter.is_valid(cron):
        return (
            "schedule",
            f"{cron!r} is not a valid cron expression",
            "five fields: minute hour day-of-month month day-of-week, e.g. 0 2 * * 1-5",
        )
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return (
            "timezone",
            f"unknown time zone {timezone!r}",
            "use an IANA name such as Europe/London or UTC",
        )
    try:
        croniter(cron).get_next(float)
    except (CroniterBadDateError, CroniterBadCronError, ValueError):
        return (
            "schedule",
            f"{cron!r} never fires (no date matches it)",
            "check the day-of-month and month fields",
        )
    return None


DROPPED_PREFIX = "dropped_step_"


@dataclass(frozen=True)
class DeclaredStep:
    id: str
    path: Path
    loops: tuple[str, ...]  # ids of the for_each steps it sits in, outermost first


def declared_steps(
    configs: Sequence[StepConfig], path: Path, loops: tuple[str, ...] = ()
) -> Iterator[DeclaredStep]:
    """Every step of a flow, nested ones included, in document order."""
    for index, config in enumerate(configs):
        here = (*path, index)
        yield DeclaredStep(config.id, here, loops)
        if isinstance(config, SwitchConfig):
            for arm_index, arm in enumerate(config.switch):
                if isinstance(arm, ElseArm):
                    yield from declared_steps(
                        arm.else_, (*here, "switch", arm_index, "else"), loops
                    )
                else:
                    yield from declared_steps(
                        arm.steps, (*here, "switch", arm_index, "steps"), loops
                    )
        elif isinstance(config, ForEachConfig):
            yield from declared_steps(config.steps, (*here, "steps"), (*loops, config.id))
        elif isinstance(config, ParallelConfig):
            for name, steps in config.parallel.items():
                yield from declared_steps(steps, (*here, "parallel", name), loops)


def declared_vars(spec: FlowSpec) -> set[str]:
    names = set(spec.vars)

    def walk(configs: Sequence[StepConfig]) -> None:
        for config in configs:
            if isinstance(config, SetConfig):
                names.update(config.set)
            for nested in _nested(config):
                walk(nested)

    walk(spec.steps)
    return names


def _nested(config: StepConfig) -> list[Sequence[StepConfig]]:
    if isinstance(config, SwitchConfig):
        return [arm.else_ if isinstance(arm, ElseArm) else arm.steps for arm in config.switch]
    if isinstance(config, ForEachConfig):
        return [config.steps]
    if isinstance(config, ParallelConfig):
        return list(config.parallel.values())
    return []


@dataclass
class FlowCompiler:
    """The CompileContext of one flow."""

    spec: FlowSpec
    values: ValueCompiler
    contracts: ContractRegistry
    connectors: Mapping[str, Connector]
    settings: WorkspaceSettings
    flow_names: frozenset[str]
    dropped_steps: frozenset[str] = frozenset()
    """Ids of steps left out because they did not validate; references to them are not errors."""
    subflows: dict[str, Path] = field(default_factory=dict)
    """Flows this flow runs as subflows -> where the first such step names them."""
    used_contracts: set[str] = field(default_factory=set)
    _steps: dict[str, DeclaredStep] = field(default_factory=dict)
    _vars: set[str] = field(default_factory=set)
    _started: set[str] = field(default_factory=set)  # steps compiled so far, in run order
    _loops: tuple[str, ...] = ()
    _loop_names: tuple[str, ...] = ()

    @property
    def flow_name(self) -> str:
        return self.spec.flow

    # -- reference checks --------------------------------------------------------------
    def _check(
        self, root: str, step: str | None, full: tuple[str, ...], path: Path
    ) -> tuple[str, str, str | None] | None:
        roots = (*RUN_ROOTS, *self._loop_names)
        if root in ("null", "true", "false"):
            return (
                "expr.bare_literal",
                f"`{root}` is read as a field name in JMESPath, not as a literal",
                f"put the literal in backticks, e.g. steps.x.output == `{root}`",
            )
        if root not in roots:
            hint = did_you_mean(root, list(roots)) or f"expressions see: {', '.join(roots)}"
            return "expr.unknown_name", f"unknown name `{root}`", hint
        if root == "steps" and step is not None:
            declared = self._steps.get(step)
            if declared is None and step in self.dropped_steps:
                return None
            if declared is None:
                names = sorted(s for s in self._steps if not s.startswith(DROPPED_PREFIX)) + sorted(
                    self.dropped_steps
                )
                hint = did_you_mean(step, names) or f"steps of this flow: {', '.join(names)}"
                return (
                    "expr.unknown_step",
                    f"no step with id `{step}` in flow {self.spec.flow}",
                    hint,
                )
            if step not in self._started:
                where = "the flow's vars" if path and path[0] == "vars" else "this point"
                return (
                    "expr.step_not_run_yet",
                    f"step `{step}` has not run at {where}, so its output is always null here",
                    "move the step above, or read it in a later step",
                )
            if self._loops[: len(declared.loops)] != declared.loops:
                loop = declared.loops[-1]
                return (
                    "expr.step_out_of_scope",
                    f"step `{step}` runs once per item inside for_each `{loop}`",
                    f"read its results from outside as steps.{loop}.output",
                )
        if root == "vars" and len(full) > 1 and full[1] not in self._vars:
            hint = (
                did_you_mean(full[1], sorted(self._vars))
                or "declare it under `vars:` or in a `set` step"
            )
            return "expr.unknown_var", f"unknown variable `vars.{full[1]}`", hint
        return None

    # -- CompileContext ----------------------------------------------------------------
    def value(self, raw: Any, path: Path) -> CompiledValue:
        return self.values.value(raw, path, self._check)

    def expression(self, text: str | None, path: Path) -> CompiledExpression | None:
        if text is None:
            return None
        return self.values.expression(text, path, self._check)

    def steps(self, configs: Sequence[StepConfig], path: Path) -> tuple[Any, ...]:
        nodes = []
        for index, config in enumerate(configs):
            node = self._step(config, (*path, index))
            if node is not None:
                nodes.append(node)
        return tuple(nodes)

    @contextmanager
    def loop(self, path: Path, names: Sequence[str]) -> Iterator[None]:
        """Inside: the for_each step at `path` is the innermost loop and `names` are bound."""
        saved = (self._loops, self._loop_names)
        owner = next((d.id for d in self._steps.values() if d.path == path), "")
        self._loops = (*self._loops, owner)
        self._loop_names = (*self._loop_names, *names)
        try:
            yield
        finally:
            self._loops, self._loop_names = saved

    def _step(self, config: StepConfig, path: Path) -> Any:
        kind = STEP_KINDS[config.kind_key]
        self._started.add(config.id)
        condition = self.expression(config.if_, (*path, "if"))
        node = kind.compile(config, self, path)
        if node is None:
            return None
        timeout = self.duration(config.timeout) if config.timeout_bounds_step else None
        if condition is None and timeout is None and config.description is None:
            return node  # the kind built it with these defaults: a copy would be the same
        return dataclasses.replace(
            node, condition=condition, timeout=timeout, description=config.description
        )

    def operation(self, ref: str, path: Path) -> Operation | None:
        connector_name, _, op_name = ref.partition(".")
        connector = self.connectors.get(connector_name)
        if connector is None:
            hint = (
                did_you_mean(connector_name, sorted(self.connectors))
                or f"connectors: {', '.join(sorted(self.connectors)) or 'none'} (add connectors/{connector_name}.yaml)"
            )
            self.values.error(
                path, "ref.unknown_connector", f"no connector named `{connector_name}`", hint
            )
            return None
        operation = connector.operation(op_name)
        if operation is None:
            names = connector.operation_names()
            hint = (
                did_you_mean(op_name, names)
                or f"operations of {connector_name}: {', '.join(names)}"
            )
            self.values.error(
                path,
                "ref.unknown_operation",
                f"connector `{connector_name}` has no operation `{op_name}`",
                hint,
            )
        return operation

    def contract(self, event_type: str, path: Path) -> Contract | None:
        contract = self.contracts.get(event_type)
        if contract is None:
            hint = (
                did_you_mean(event_type, sorted(self.contracts.contracts))
                or f"add contracts/{event_type}/v1.schema.json"
            )
            self.values.error(
                path, "ref.missing_contract", f"no contract for event type `{event_type}`", hint
            )
            return None
        self.used_contracts.update(v.file for v in contract.versions)
        return contract

    def contract_version(
        self, event_type: str, version: int | None, path: Path
    ) -> ContractVersion | None:
        contract = self.contract(event_type, path)
        if contract is None:
            return None
        if version is None:
            return contract.latest
        found = contract.version(version)
        if found is None:
            have = ", ".join(str(v.version) for v in contract.versions)
            self.values.error(
                (*path[:-1], "version"),
                "ref.missing_contract_version",
                f"contract `{event_type}` has no version {version}",
                f"versions: {have}",
            )
        return found

    def subflow(self, name: str, path: Path) -> None:
        if name not in self.flow_names:
            hint = did_you_mean(name, sorted(self.flow_names)) or (
                f"flows: {', '.join(sorted(self.flow_names))} (add flows/{name}.yaml)"
            )
            self.values.error(path, "ref.unknown_flow", f"no flow named `{name}`", hint)
        self.subflows.setdefault(name, path)

    def retry(
        self, policy: RetryPolicy | str | None, path: Path, *, default: RetryPolicy | None = None
    ) -> RetryPolicy:
        if policy is None:
            return default or self.settings.default_retry
        if isinstance(policy, RetryPolicy):
            return policy
        named = self.settings.retry_policies.get(policy)
        if named is None:
            names = sorted(self.settings.retry_policies)
            hint = (
                did_you_mean(policy, names)
                or f"define it under retry_policies in seamline.yaml (known: {', '.join(names) or 'none'})"
            )
            self.values.error(
                path, "ref.unknown_retry_policy", f"no retry policy named `{policy}`", hint
            )
            return self.settings.default_retry
        return named

    def duration(self, text: str | None) -> float | None:
        return parse_duration(text) if text else None

    def error(
        self, path: Path, code: str, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> None:
        self.values.error(path, code, message, hint, at_key=at_key)

    # -- the flow ------------------------------------------------------------------------
    def compile(self) -> dict[str, Any]:
        spec = self.spec
        for declared in declared_steps(spec.steps, ("steps",)):
            if declared.id in self._steps:
                first_path = (*self._steps[declared.id].path, "id")
                first = self.values.source_map.value_at(first_path)
                here, there = (
                    self.values.source_map.file_at((*declared.path, "id")),
                    self.values.source_map.file_at(first_path),
                )
                where = f"line {first.line}" if here == there else f"{there}:{first.line}"
                self.values.error(
                    (*declared.path, "id"),
                    "spec.duplicate_step_id",
                    f"step id `{declared.id}` is already used at {where}",
                    "step ids must be unique in a flow, nested steps included",
                )
                continue
            self._steps[declared.id] = declared
        self._vars = declared_vars(spec)
        event_type = schedule = None
        filter_expr = None
        if isinstance(spec.on, EventTrigger):
            event_type = spec.on.event
            self.contract(event_type, ("on", "event"))
            filter_expr = self.expression(spec.on.filter, ("on", "filter"))
        elif isinstance(spec.on, ScheduleTrigger):
            schedule = spec.on.schedule
            problem = schedule_problem(spec.on.schedule, spec.on.timezone)
            if problem is not None:
                field_name, message, hint = problem
                self.values.error(("on", field_name), "schedule.invalid", message, hint)
        key = self.expression(spec.key, ("key",))
        compiled_vars = []
        declared_so_far: set[str] = set()
        for name, raw in spec.vars.items():
            compiled_vars.append((name, self.value(raw, ("vars", name))))
            declared_so_far.add(name)
        steps = self.steps(spec.steps, ("steps",))
        output = self.value(spec.output, ("output",)) if spec.output is not None else None
        return {
            "event_type": event_type,
            "schedule": schedule,
            "timezone": spec.on.timezone if isinstance(spec.on, ScheduleTrigger) else "UTC",
            "misfire": spec.on.misfire if isinstance(spec.on, ScheduleTrigger) else "run_once",
            "filter": filter_expr,
            "key": key,
            "sla_seconds": self.duration(spec.sla),
            "vars": tuple(compiled_vars),
            "steps": steps,
            "compensate": spec.on_error.compensate,
            "then": spec.on_error.then,
            "output": output,
        }

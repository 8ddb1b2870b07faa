"""What a step kind may ask of the compiler and of the engine (implemented there)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from runtime.expressions.compiled import CompiledValue
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.retry import RetryPolicy

if TYPE_CHECKING:
    from runtime.connectors.base import Operation
    from runtime.contracts.registry import Contract, ContractVersion
    from runtime.steps._registry import StepConfig

Path = tuple[str | int, ...]


@dataclass(frozen=True, kw_only=True)
class StepNodeBase:
    """Fields every compiled step has; kinds subclass it with their own compiled parts."""

    id: str
    kind: str
    path: Path
    condition: CompiledExpression | None = None
    timeout: float | None = None
    description: str | None = None
    children: tuple[tuple[str, tuple[Any, ...]], ...] = field(default=(), repr=False)
    """Nested step lists (label, nodes), for graphs, coverage and traces."""

    nesting: int = field(init=False, repr=False, compare=False)
    """How many step lists the step is nested in (0 at the top of a flow), for the trace."""

    def __post_init__(self) -> None:
        # once per node rather than once per execution
        object.__setattr__(self, "nesting", sum(1 for p in self.path if p in _NESTING) - 1)


# the path segments that open a nested step list (for_each/switch `steps`, `else`, `parallel`)
_NESTING = ("steps", "else", "parallel")


class Suspend(Exception):  # noqa: N818 - a control signal, not an error
    """The run waits: for a timer (`wake_at`, unix seconds) and/or a correlated event (`wait`)."""

    def __init__(self, wake_at: float | None, wait: Any = None) -> None:
        super().__init__(f"suspended until {wake_at}")
        self.wake_at = wake_at
        self.wait = wait


def earliest(suspensions: list[Suspend]) -> Suspend:
    """Concurrent branches that all wait: the run wakes for the first timer among them."""
    return min(suspensions, key=lambda s: float("inf") if s.wake_at is None else s.wake_at)


def first_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error to report from a task group: the first step error, else the first error."""
    leaves: list[BaseException] = []

    def collect(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                collect(inner)
        else:
            leaves.append(exc)

    collect(group)
    from runtime.errors import StepError

    failure = next((e for e in leaves if isinstance(e, StepError)), None)
    if failure is not None:
        return failure
    waits = [e for e in leaves if isinstance(e, Suspend)]
    return earliest(waits) if waits else leaves[0]


class CompileContext(Protocol):
    flow_name: str

    def value(self, raw: Any, path: Path) -> CompiledValue: ...
    def expression(self, text: str | None, path: Path) -> CompiledExpression | None: ...
    def steps(self, configs: Sequence[StepConfig], path: Path) -> tuple[Any, ...]: ...
    def loop(self, path: Path, names: Sequence[str]) -> AbstractContextManager[None]: ...
    def operation(self, ref: str, path: Path) -> Operation | None: ...
    def contract(self, event_type: str, path: Path) -> Contract | None: ...
    def contract_version(
        self, event_type: str, version: int | None, path: Path
    ) -> ContractVersion | None: ...
    def subflow(self, name: str, path: Path) -> None: ...
    def retry(
        self, policy: RetryPolicy | str | None, path: Path, *, default: RetryPolicy | None = None
    ) -> RetryPolicy: ...
    def duration(self, text: str | None) -> float | None: ...
    def error(
        self, path: Path, code: str, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> None: ...


class RunContext(Protocol):
    flow: str
    run_id: str
    document: dict[str, Any]

    async def run_steps(self, nodes: Sequence[Any]) -> Any: ...
    async def call(
        self,
        node: Any,
        operation: Operation,
        payload: Any,
        retry: RetryPolicy,
        idempotency_key: str | None = None,
    ) -> Any: ...
    async def emit(
        self, node: Any, version: ContractVersion, data: Any, subject: Any
    ) -> dict[str, Any]: ...
    async def subflow(self, node: Any, flow: str, data: Any) -> Any: ...
    async def wait_for(
        self, node: Any, event_type: str, correlation: Any, timeout: float
    ) -> dict[str, Any] | None: ...
    async def sleep(self, node: Any, seconds: float) -> None: ...
    def fork(self, bindings: dict[str, Any], label: str) -> RunContext: ...
    def register_undo(self, node: Any) -> None: ...

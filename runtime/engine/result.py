"""What a run leaves behind: its status, output, error, step trace, calls and emitted events."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from runtime.connectors.secrets import redact_value


@dataclass(slots=True)
class StepRecord:
    """One executed (or skipped) step, as the trace shows it."""

    label: str  # `create_tasks[2].create_task` inside loops, else the step id
    id: str
    kind: str
    status: str  # succeeded | skipped | failed | cancelled | compensated | compensation_failed
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: str = ""
    duration_ms: float = 0.0
    detail: str | None = None  # e.g. which switch arm, how long a delay would wait
    depth: int = 0  # nesting level, for indenting the trace


@dataclass(slots=True)
class CallRecord:
    step: str
    operation: str
    input: Any
    idempotency_key: str
    attempts: int
    output: Any = None
    error: str | None = None
    mocked: bool = False


@dataclass
class RunResult:
    run_id: str
    flow: str
    version: str
    content_hash: str
    status: str  # succeeded | failed | dead_lettered | rejected
    key: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    trace: list[StepRecord] = field(default_factory=list)
    calls: list[CallRecord] = field(default_factory=list)
    emitted: list[dict[str, Any]] = field(default_factory=list)
    started_at: str = ""
    duration_ms: float = 0.0
    variant: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def to_dict(self) -> dict[str, Any]:
        """As JSON-able data, with every known secret value redacted."""
        return redact_value(asdict(self))  # type: ignore[no-any-return]

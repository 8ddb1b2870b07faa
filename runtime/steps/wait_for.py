"""`wait_for:` — pause until a correlated event arrives, or time out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from runtime.errors import SeamlineError
from runtime.expressions.compiled import CompiledValue
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.common import Duration, EventType, Expression, Value
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind


class WaitTimeout(SeamlineError):
    def __init__(self, step: str, event_type: str, seconds: float) -> None:
        super().__init__(f"no {event_type} event arrived within {seconds:g}s")
        self.step = step


class WaitForConfig(StepConfig):
    kind_key = "wait_for"
    timeout_bounds_step = False
    wait_for: EventType = Field(
        description="The event type to wait for; a contract must exist for it."
    )
    match: Expression = Field(
        description="JMESPath over the incoming event giving its correlation value.",
        examples=["data.project_id"],
    )
    equals: Value = Field(
        description="The value `match` must equal, computed from this run when the wait starts."
    )
    timeout: Duration = Field(
        description="How long to wait for the event; then `on_timeout` applies (not a step failure)."
    )
    on_timeout: Literal["fail", "continue"] = Field(
        default="fail", description="`continue` gives output null and goes on."
    )


@dataclass(frozen=True, kw_only=True)
class WaitForStep(StepNodeBase):
    event_type: str
    match: CompiledExpression
    equals: CompiledValue
    seconds: float
    continue_on_timeout: bool

    async def execute(self, rc: RunContext) -> Any:
        correlation = self.equals.evaluate(rc.document)
        event = await rc.wait_for(self, self.event_type, correlation, self.seconds)
        if event is None:
            if self.continue_on_timeout:
                return None
            raise WaitTimeout(self.id, self.event_type, self.seconds)
        return event


EXAMPLE = """\
- id: wait_for_acceptance
  wait_for: psa.milestone.completed
  match: data.project_id
  equals: "${ steps.create_project.output.id }"
  timeout: 30d
  on_timeout: fail
"""


@step_kind(
    WaitForConfig,
    summary="Wait for a correlated event (durable under `seamline serve`).",
    examples=(EXAMPLE,),
)
def compile_wait_for(
    config: WaitForConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> WaitForStep | None:
    cc.contract(config.wait_for, (*path, "wait_for"))
    match = cc.expression(config.match, (*path, "match"))
    equals = cc.value(config.equals, (*path, "equals"))
    if match is None:
        return None
    return WaitForStep(
        id=config.id,
        kind="wait_for",
        path=path,
        event_type=config.wait_for,
        match=match,
        equals=equals,
        seconds=cc.duration(config.timeout) or 0.0,
        continue_on_timeout=config.on_timeout == "continue",
    )

"""`fail:` — stop the run with a business error (which then follows `on_error`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.errors import SeamlineError
from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import Value
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind


class FlowFailure(SeamlineError):
    """Raised by a `fail` step: a permanent, deliberate failure."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


class FailConfig(StepConfig):
    kind_key = "fail"
    fail: Value = Field(description="The error message (a template or expression may build it).")
    code: str = Field(
        default="flow.failed",
        pattern=r"^[a-z][a-z0-9_.]*$",
        description="A stable error code, for dead-letter filters and dashboards.",
    )


@dataclass(frozen=True, kw_only=True)
class FailStep(StepNodeBase):
    message: CompiledValue
    code: str

    async def execute(self, rc: RunContext) -> Any:
        raise FlowFailure(self.code, str(self.message.evaluate(rc.document)))


EXAMPLE = """\
- id: reject_unknown_entity
  if: vars.entity == null
  fail: "legal entity {{ data.legal_entity }} is not set up in the ERP"
  code: validation.legal_entity
"""


@step_kind(
    FailConfig,
    summary="End the run with an error; `on_error` decides what happens next.",
    examples=(EXAMPLE,),
)
def compile_fail(config: FailConfig, cc: CompileContext, path: tuple[str | int, ...]) -> FailStep:
    return FailStep(
        id=config.id,
        kind="fail",
        path=path,
        message=cc.value(config.fail, (*path, "fail")),
        code=config.code,
    )

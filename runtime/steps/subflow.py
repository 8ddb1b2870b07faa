"""`subflow:` — run another flow in the same run; its `output` is this step's output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import Identifier, Value
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind


class SubflowConfig(StepConfig):
    kind_key = "subflow"
    subflow: Identifier = Field(
        description="Name of the flow to run; it sees `with` as its `data`."
    )
    with_: Value = Field(default=None, alias="with", description="The subflow's `data`.")


@dataclass(frozen=True, kw_only=True)
class SubflowStep(StepNodeBase):
    flow: str
    data: CompiledValue

    async def execute(self, rc: RunContext) -> Any:
        return await rc.subflow(self, self.flow, self.data.evaluate(rc.document))


EXAMPLE = """\
- id: sync_account
  subflow: account_sync
  with: "${ data.account }"
"""


@step_kind(
    SubflowConfig, summary="Run another flow as one step and use its output.", examples=(EXAMPLE,)
)
def compile_subflow(
    config: SubflowConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> SubflowStep:
    cc.subflow(config.subflow, (*path, "subflow"))
    return SubflowStep(
        id=config.id,
        kind="subflow",
        path=path,
        flow=config.subflow,
        data=cc.value(config.with_, (*path, "with")),
    )

"""`switch:` — run the steps of the first arm whose `if` holds, else the `else` arm."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Field, Tag

from runtime.expressions.jmes import CompiledExpression, is_truthy
from runtime.spec.common import Expression, SpecModel
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind

if TYPE_CHECKING:  # resolved by runtime.steps once every kind is registered
    from runtime.steps import AnyStep


class IfArm(SpecModel):
    """An arm taken when its condition holds."""

    if_: Expression = Field(alias="if", description="JMESPath condition of this arm.")
    steps: list[AnyStep] = Field(min_length=1, description="Steps run when the condition holds.")


class ElseArm(SpecModel):
    """The arm taken when no other arm matched; must come last."""

    else_: list[AnyStep] = Field(
        alias="else", min_length=1, description="Steps run when no arm matched."
    )


def _arm_kind(value: Any) -> str | None:
    if isinstance(value, SpecModel):
        return "<else>" if isinstance(value, ElseArm) else "<if>"
    if isinstance(value, dict):
        return "<else>" if "else" in value else "<if>"
    return None


SwitchArm = Annotated[
    Union[Annotated[IfArm, Tag("<if>")], Annotated[ElseArm, Tag("<else>")]],  # noqa: UP007
    Discriminator(_arm_kind),
]


class SwitchConfig(StepConfig):
    kind_key = "switch"
    switch: list[SwitchArm] = Field(
        min_length=1, description="Arms tried in order; at most one `else`, last."
    )


@dataclass(frozen=True, kw_only=True)
class SwitchStep(StepNodeBase):
    arms: tuple[tuple[CompiledExpression | None, tuple[Any, ...]], ...]

    async def execute(self, rc: RunContext) -> Any:
        for index, (condition, steps) in enumerate(self.arms):
            if condition is None or is_truthy(condition.evaluate(rc.document)):
                label = "else" if condition is None else index
                rc.document.setdefault("_arms", {})[self.id] = label
                return await rc.run_steps(steps)
        rc.document.setdefault("_arms", {})[self.id] = None
        return None


EXAMPLE = """\
- id: by_billing_model
  switch:
    - if: data.billing_model == 'milestone'
      steps:
        - id: milestone_schedule
          call: erp.create_billing_schedule
          with: { contract_id: "${ steps.create_contract.output.id }", milestones: "${ data.milestones }" }
    - else:
        - id: monthly_schedule
          call: erp.create_billing_schedule
          with: { contract_id: "${ steps.create_contract.output.id }", frequency: monthly }
"""


@step_kind(
    SwitchConfig, summary="Branch: the first arm whose condition holds runs.", examples=(EXAMPLE,)
)
def compile_switch(
    config: SwitchConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> SwitchStep:
    arms: list[tuple[CompiledExpression | None, tuple[Any, ...]]] = []
    for index, arm in enumerate(config.switch):
        arm_path = (*path, "switch", index)
        if isinstance(arm, ElseArm):
            if index != len(config.switch) - 1:
                cc.error(
                    arm_path,
                    "switch.else_not_last",
                    "the `else` arm must be the last arm",
                    "move it to the end; arms after it could never run",
                )
            arms.append((None, cc.steps(arm.else_, (*arm_path, "else"))))
        else:
            condition = cc.expression(arm.if_, (*arm_path, "if"))
            arms.append((condition, cc.steps(arm.steps, (*arm_path, "steps"))))
    children = tuple(("else" if c is None else f"arm {i}", s) for i, (c, s) in enumerate(arms))
    return SwitchStep(id=config.id, kind="switch", path=path, arms=tuple(arms), children=children)

"""`set:` — compute named values; the mapping is the step's output and is merged into `vars`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field

from runtime.expressions.compiled import CompiledValue, MappingValue
from runtime.spec.common import Identifier, Value
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind


class SetConfig(StepConfig):
    kind_key = "set"
    set: dict[Identifier, Value] = Field(
        min_length=1,
        description="Name -> value; later steps read them as `vars.<name>` or `steps.<id>.output.<name>`.",
    )


@dataclass(frozen=True, kw_only=True)
class SetStep(StepNodeBase):
    values: tuple[tuple[str, CompiledValue], ...]
    # the same values as one mapping: evaluated in order by one generated function
    mapping: MappingValue = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "mapping", MappingValue(self.values))

    async def execute(self, rc: RunContext) -> Any:
        out = self.mapping.evaluate(rc.document)
        rc.document["vars"] = {**rc.document.get("vars", {}), **out}
        return out


EXAMPLE = """\
- id: totals
  set:
    budget: "${ sum_money(data.lines[].amount, data.currency) }"
    label: "{{ data.account.name }} – {{ data.name }}"
"""


@step_kind(
    SetConfig,
    summary="Compute values; they become `vars.<name>` for later steps.",
    examples=(EXAMPLE,),
)
def compile_set(config: SetConfig, cc: CompileContext, path: tuple[str | int, ...]) -> SetStep:
    values = tuple((name, cc.value(raw, (*path, "set", name))) for name, raw in config.set.items())
    return SetStep(id=config.id, kind="set", path=path, values=values)

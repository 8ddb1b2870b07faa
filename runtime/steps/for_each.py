"""`for_each:` — run steps once per item of a list; the output is the list of results."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from runtime.errors import ExpressionError
from runtime.expressions.compiled import CompiledValue
from runtime.expressions.jmes import CompiledExpression
from runtime.spec.common import Expression, Identifier, Value
from runtime.steps._concurrent import run_concurrently
from runtime.steps._context import (
    CompileContext,
    RunContext,
    StepNodeBase,
    Suspend,
    earliest,
    first_error,
)
from runtime.steps._registry import StepConfig, step_kind

if TYPE_CHECKING:  # resolved by runtime.steps once every kind is registered
    from runtime.steps import AnyStep


class ForEachConfig(StepConfig):
    kind_key = "for_each"
    for_each: Expression = Field(
        description="JMESPath giving the list to iterate.", examples=["data.lines"]
    )
    as_: Identifier = Field(
        default="item",
        alias="as",
        description="Name of the current item inside the loop (`index` is its position).",
    )
    steps: list[AnyStep] = Field(
        min_length=1,
        description="Steps run for each item; their outputs are local to the iteration.",
    )
    concurrency: int = Field(default=1, ge=1, le=64, description="How many items run at once.")
    output: Value = Field(
        default=None, description="Each iteration's result; defaults to its last step's output."
    )


@dataclass(frozen=True, kw_only=True)
class ForEachStep(StepNodeBase):
    items: CompiledExpression
    name: str
    steps: tuple[Any, ...]
    concurrency: int
    output: CompiledValue | None

    async def execute(self, rc: RunContext) -> Any:
        items = self.items.evaluate(rc.document)
        if items is None:
            return []
        if not isinstance(items, list):
            raise ExpressionError(
                f"for_each `{self.items.source}` gave {type(items).__name__}, expected a list"
            )
        results: list[Any] = [None] * len(items)
        steps, output, name, prefix = self.steps, self.output, self.name, self.id

        async def iteration(index: int, item: Any) -> None:
            child = rc.fork({name: item, "index": index}, f"{prefix}[{index}]")
            last = await child.run_steps(steps)
            results[index] = output.evaluate(child.document) if output is not None else last

        if self.concurrency == 1 or len(items) <= 1:
            for index, item in enumerate(items):
                await iteration(index, item)
            return results
        limiter = asyncio.Semaphore(self.concurrency) if self.concurrency < len(items) else None
        waiting: list[Suspend] = []

        async def one_of_many(index: int, item: Any) -> None:
            try:
                if limiter is None:
                    await iteration(index, item)
                else:
                    async with limiter:
                        await iteration(index, item)
            except Suspend as suspended:  # the other items go on until they finish or wait
                waiting.append(suspended)

        try:
            await run_concurrently([one_of_many(i, item) for i, item in enumerate(items)])
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None
        if waiting:
            raise earliest(waiting)
        return results


EXAMPLE = """\
- id: create_tasks
  for_each: data.lines
  as: line
  concurrency: 4
  steps:
    - id: create_task
      call: psa.create_task
      with: { project_id: "${ steps.create_project.output.id }", name: "${ line.description }", hours: "${ line.hours }" }
  output: "${ steps.create_task.output.id }"
"""


@step_kind(ForEachConfig, summary="Repeat steps for each item of a list.", examples=(EXAMPLE,))
def compile_for_each(
    config: ForEachConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> ForEachStep | None:
    items = cc.expression(config.for_each, (*path, "for_each"))
    with cc.loop(path, (config.as_, "index")):
        steps = cc.steps(config.steps, (*path, "steps"))
        output = cc.value(config.output, (*path, "output")) if config.output is not None else None
    if items is None:
        return None
    return ForEachStep(
        id=config.id,
        kind="for_each",
        path=path,
        items=items,
        name=config.as_,
        steps=steps,
        concurrency=config.concurrency,
        output=output,
        children=(("each", steps),),
    )

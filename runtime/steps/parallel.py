"""`parallel:` — run named branches at the same time; the output maps branch -> last output."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from runtime.spec.common import Identifier
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


class ParallelConfig(StepConfig):
    kind_key = "parallel"
    parallel: dict[Identifier, list[AnyStep]] = Field(
        min_length=2,
        description="Branch name -> steps. Branches run concurrently; if one fails the others are cancelled.",
    )


@dataclass(frozen=True, kw_only=True)
class ParallelStep(StepNodeBase):
    branches: tuple[tuple[str, tuple[Any, ...]], ...]

    async def execute(self, rc: RunContext) -> Any:
        results: dict[str, Any] = {}
        waiting: list[Suspend] = []

        async def branch(name: str, steps: tuple[Any, ...]) -> None:
            try:
                results[name] = await rc.run_steps(steps)
            except Suspend as suspended:  # the other branches go on until they finish or wait too
                waiting.append(suspended)

        try:
            await run_concurrently([branch(name, steps) for name, steps in self.branches])
        except BaseExceptionGroup as failed:
            raise first_error(failed) from None
        if waiting:
            raise earliest(waiting)
        return {name: results.get(name) for name, _ in self.branches}


EXAMPLE = """\
- id: provision
  parallel:
    erp:
      - id: create_contract
        call: erp.create_contract
        with: { customer_id: "${ vars.customer_id }" }
    psa:
      - id: create_project
        call: psa.create_project
        with: { name: "${ data.name }" }
"""


@step_kind(
    ParallelConfig,
    summary="Run branches concurrently; later steps read each branch's step outputs.",
    examples=(EXAMPLE,),
)
def compile_parallel(
    config: ParallelConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> ParallelStep:
    branches = tuple(
        (name, cc.steps(steps, (*path, "parallel", name)))
        for name, steps in config.parallel.items()
    )
    return ParallelStep(
        id=config.id, kind="parallel", path=path, branches=branches, children=branches
    )

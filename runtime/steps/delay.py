"""`delay:` — pause the run (a durable timer under `seamline serve`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.spec.common import Duration
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind


class DelayConfig(StepConfig):
    kind_key = "delay"
    delay: Duration = Field(description="How long to wait, e.g. `2h` or `1d`.", examples=["2h"])


@dataclass(frozen=True, kw_only=True)
class DelayStep(StepNodeBase):
    seconds: float

    async def execute(self, rc: RunContext) -> Any:
        await rc.sleep(self, self.seconds)
        return {"waited_seconds": self.seconds}


EXAMPLE = """\
- id: cool_off
  delay: 2h
"""


@step_kind(DelayConfig, summary="Wait for a duration before the next step.", examples=(EXAMPLE,))
def compile_delay(
    config: DelayConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> DelayStep:
    return DelayStep(
        id=config.id, kind="delay", path=path, seconds=cc.duration(config.delay) or 0.0
    )

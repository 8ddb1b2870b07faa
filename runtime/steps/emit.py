"""`emit:` — publish an event; its data is validated against the contract before it leaves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.contracts.registry import ContractVersion
from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import EventType, Value
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind
from runtime.steps._shape import check_static_shape


class EmitConfig(StepConfig):
    kind_key = "emit"
    emit: EventType = Field(description="The event type to publish; a contract must exist for it.")
    data: Value = Field(description="The event's data; must satisfy the contract.")
    subject: Value = Field(
        default=None, description="The business key carried in the CloudEvents `subject`."
    )
    version: int | None = Field(
        default=None, ge=1, description="Contract version to publish; default the latest."
    )


@dataclass(frozen=True, kw_only=True)
class EmitStep(StepNodeBase):
    contract: ContractVersion
    data: CompiledValue
    subject: CompiledValue | None

    async def execute(self, rc: RunContext) -> Any:
        data = self.data.evaluate(rc.document)
        subject = self.subject.evaluate(rc.document) if self.subject is not None else None
        return await rc.emit(self, self.contract, data, subject)


EXAMPLE = """\
- id: notify
  emit: ps.project.activated
  subject: "${ data.opportunity_id }"
  data:
    project_id: "${ steps.create_project.output.id }"
    opportunity_id: "${ data.opportunity_id }"
"""


@step_kind(
    EmitConfig, summary="Publish a CloudEvent, validated against its contract.", examples=(EXAMPLE,)
)
def compile_emit(
    config: EmitConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> EmitStep | None:
    version = cc.contract_version(config.emit, config.version, (*path, "emit"))
    data = cc.value(config.data, (*path, "data"))
    subject = cc.value(config.subject, (*path, "subject")) if config.subject is not None else None
    if version is None:
        return None
    for sub_path, code, message, hint, at_key in check_static_shape(config.data, version.schema):
        cc.error(
            (*path, "data", *sub_path),
            code,
            f"{message} (contract {version.type} v{version.version})",
            hint,
            at_key=at_key,
        )
    return EmitStep(
        id=config.id, kind="emit", path=path, contract=version, data=data, subject=subject
    )

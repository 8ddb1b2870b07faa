"""`call:` — invoke a connector operation, with retries and an optional `undo`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.connectors.base import Operation
from runtime.errors import ExpressionError
from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import SpecModel, Value
from runtime.spec.retry import RetryPolicy, RetrySetting
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind

OperationRef = Field(
    pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
    description="`<connector>.<operation>`, e.g. `erp.find_customer`.",
    examples=["erp.find_customer"],
)


class UndoConfig(SpecModel):
    """The compensating call, run if a later step fails and `on_error.compensate` is set."""

    call: str = OperationRef
    with_: Value = Field(
        default=None,
        alias="with",
        description="The undo call's input; may read `steps.<this step>.output`.",
    )
    retry: RetrySetting | None = Field(default=None, description="Retry policy of the undo call.")


class CallConfig(StepConfig):
    kind_key = "call"
    call: str = OperationRef
    with_: Value = Field(
        default=None,
        alias="with",
        description="The operation's input: a mapping of values, or `{template: templates/x.json.j2}` for a file template.",
    )
    retry: RetrySetting | None = Field(
        default=None,
        description="A retry policy, or the name of one in seamline.yaml; default: the workspace's.",
    )
    undo: UndoConfig | None = Field(default=None, description="How to compensate this call.")
    idempotency_key: Value = Field(
        default=None,
        description="The call's idempotency key when it must be shared by every run that "
        "creates the same record (find-then-create of a record several runs may need at once), "
        "e.g. `draft-invoice:${ data.project_id }:${ vars.period }`; default: `<run>:<step>`, "
        "unique to this run. A run replayed from the start adds its generation (`<key>.1`).",
        examples=["draft-invoice:${ data.project_id }:${ vars.invoice_period }"],
    )


@dataclass(frozen=True, kw_only=True)
class UndoNode:
    id: str
    operation: Operation
    payload: CompiledValue
    retry: RetryPolicy


@dataclass(frozen=True, kw_only=True)
class CallStep(StepNodeBase):
    operation: Operation
    payload: CompiledValue
    retry: RetryPolicy
    undo: UndoNode | None
    idempotency_key: CompiledValue | None = None

    async def execute(self, rc: RunContext) -> Any:
        payload = self.payload.evaluate(rc.document)
        key = None
        if self.idempotency_key is not None:
            key = self.idempotency_key.evaluate(rc.document)
            if not isinstance(key, str | int) or isinstance(key, bool) or key == "":
                raise ExpressionError(
                    f"step {self.id}: idempotency_key must be a non-empty string, got {key!r}"
                )
        output = await rc.call(
            self, self.operation, payload, self.retry, str(key) if key is not None else None
        )
        if self.undo is not None:
            rc.register_undo(self)
        return output


EXAMPLE = """\
- id: create_customer
  if: steps.find_customer.output == `null`
  call: erp.create_customer
  with: { template: templates/erp_customer.json.j2 }
  retry: { attempts: 5, backoff: exponential, delay: 1s, max_delay: 1m }
  undo: { call: erp.archive_customer, with: { id: "${ steps.create_customer.output.id }" } }
"""


@step_kind(
    CallConfig,
    summary="Call a connector operation; its result is the step's output.",
    examples=(EXAMPLE,),
)
def compile_call(
    config: CallConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> CallStep | None:
    operation = cc.operation(config.call, (*path, "call"))
    payload = cc.value(config.with_, (*path, "with"))
    retry = cc.retry(config.retry, (*path, "retry"))
    undo = None
    if config.undo is not None:
        undo_op = cc.operation(config.undo.call, (*path, "undo", "call"))
        undo_payload = cc.value(config.undo.with_, (*path, "undo", "with"))
        if undo_op is not None:
            undo = UndoNode(
                id=f"{config.id}.undo",
                operation=undo_op,
                payload=undo_payload,
                retry=cc.retry(config.undo.retry, (*path, "undo", "retry")),
            )
    if operation is None:
        return None
    return CallStep(
        id=config.id,
        kind="call",
        path=path,
        operation=operation,
        payload=payload,
        retry=retry,
        undo=undo,
        idempotency_key=(
            cc.value(config.idempotency_key, (*path, "idempotency_key"))
            if config.idempotency_key is not None
            else None
        ),
    )

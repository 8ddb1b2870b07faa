"""Step kinds. Importing this package registers every kind and resolves the step union."""

from runtime.spec.flow import EventTrigger, FlowSpec, OnError, ScheduleTrigger
from runtime.steps import (  # noqa: F401 - registration order is the documentation order
    call,
    delay,
    emit,
    fail,
    for_each,
    parallel,
    reconcile,
    set,
    subflow,
    switch,
    wait_for,
)
from runtime.steps._registry import STEP_KINDS, StepConfig, build_step_union, kind_of

AnyStep = build_step_union()

_namespace = {"AnyStep": AnyStep}
for _model in (switch.IfArm, switch.ElseArm, *(k.config for k in STEP_KINDS.values()), FlowSpec):
    _model.model_rebuild(force=True, _types_namespace=_namespace)

__all__ = [
    "STEP_KINDS",
    "AnyStep",
    "EventTrigger",
    "FlowSpec",
    "OnError",
    "ScheduleTrigger",
    "StepConfig",
    "kind_of",
]

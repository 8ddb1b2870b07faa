"""The flow file: trigger, key, vars, steps, error policy. Step configs come from the registry."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag

from runtime.spec.common import Duration, EventType, Expression, Identifier, SpecModel, Value

if TYPE_CHECKING:  # resolved by runtime.steps once every kind is registered
    from runtime.steps import AnyStep


class EventTrigger(SpecModel):
    """Start a run for every accepted event of this type whose filter matches."""

    event: EventType = Field(description="The event type (= contract name) that starts the flow.")
    filter: Expression | None = Field(
        default=None,
        description="Only events for which this JMESPath expression is truthy start a run.",
        examples=["data.stage == 'Closed Won'"],
    )


class ScheduleTrigger(SpecModel):
    """Start a run on a cron schedule (runs durably in `seamline serve`)."""

    schedule: str = Field(
        pattern=r"^\s*(\S+\s+){4}\S+\s*$",
        description="A five-field cron expression (minute hour day-of-month month day-of-week).",
        examples=["0 2 * * *"],
    )
    timezone: str = Field(default="UTC", description="IANA time zone the schedule is read in.")
    misfire: Literal["run_once", "skip"] = Field(
        default="run_once",
        description="Fire times missed while no worker ran: `run_once` runs once for the latest of them, "
        "`skip` runs none and waits for the next.",
    )


class OnError(SpecModel):
    """What happens when a step fails for good (after its retries)."""

    compensate: bool = Field(
        default=False,
        description="Run the `undo` of every step that succeeded, in reverse order.",
    )
    then: Literal["dead_letter", "fail"] = Field(
        default="dead_letter",
        description="`dead_letter` parks the run for replay; `fail` ends it as failed.",
    )


def _trigger_kind(value: Any) -> str | None:
    """Which trigger a mapping means, by its keys (so errors speak about one kind only)."""
    if isinstance(value, EventTrigger | ScheduleTrigger):
        return "<event>" if isinstance(value, EventTrigger) else "<schedule>"
    if not isinstance(value, dict):
        return None
    if "schedule" in value or ("timezone" in value and "event" not in value):
        return "<schedule>"
    if "event" in value or "filter" in value:
        return "<event>"
    return None


Trigger = Annotated[
    Union[Annotated[EventTrigger, Tag("<event>")], Annotated[ScheduleTrigger, Tag("<schedule>")]],  # noqa: UP007
    Discriminator(
        _trigger_kind,
        custom_error_type="trigger_kind",
        custom_error_message="`on` needs `event` or `schedule`",
    ),
]


class FlowSpec(SpecModel):
    """One integration workflow: what starts it, what it does, what happens when it fails."""

    flow: Identifier = Field(description="The flow's name; must match its file name.")
    version: str = Field(
        default="0.1.0",
        pattern=r"^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$",
        description="Semantic version of the flow, shown in runs.",
    )
    description: str | None = Field(
        default=None, description="What the flow does, in one sentence."
    )
    on: Trigger = Field(description="What starts a run: an event type or a schedule.")
    key: Expression | None = Field(
        default=None,
        description="The business key: one run per key value; a duplicate event starts nothing.",
        examples=["data.opportunity_id"],
    )
    sla: Duration | None = Field(
        default=None, description="Runs taking longer are flagged as SLA breaches."
    )
    vars: dict[Identifier, Value] = Field(
        default_factory=dict,
        description="Named values computed once at the start of a run, in order; read as `vars.<name>`.",
    )
    steps: list[AnyStep] = Field(min_length=1, description="The steps, run in order.")
    on_error: OnError = Field(default_factory=OnError, description="Failure policy.")
    output: Value = Field(
        default=None,
        description="The run's result (what a `subflow` step returns); defaults to the last step's output.",
    )

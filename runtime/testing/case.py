"""Flow test case files (`tests/flows/*.yaml`): events in, mocked connectors, expectations out.

One file tests one flow. Its `cases` each give an event, the answers of the connector
operations (the same shape as a mocks file: `output`, `error`, `sequence`) and what must
happen: the status, the steps taken, the calls made with their payloads, the events emitted,
compensation. Payloads compare as a subset by default (`match: equal` for exact equality),
and `assert:` adds JMESPath conditions. `seamline schema test` gives the JSON Schema.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag

from runtime.connectors.mock import MockOperationConfig
from runtime.spec.common import Expression, Identifier, SpecModel

Match = Literal["subset", "equal"]
MATCH_DESCRIPTION = (
    "How payloads compare: `subset` (default) — every key given must be there with an equal "
    "value, lists item by item with the same length; `equal` — exactly equal."
)
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$"
Asserts = list[Expression]


def _assert_field(what: str) -> Any:
    return Field(
        default_factory=list,
        alias="assert",
        description=f"JMESPath conditions over {what}; each must be truthy.",
    )


class EventFile(SpecModel):
    """An event read from a JSON file, optionally changed by a merge patch."""

    file: str = Field(
        description="A CloudEvent JSON file, relative to the workspace root "
        "(e.g. an example under contracts/<type>/examples/valid/).",
    )
    patch: dict[str, Any] | None = Field(
        default=None,
        description="A JSON merge patch (RFC 7386) applied to the event: mappings merge, "
        "`null` removes a key, anything else replaces.",
        examples=[{"data": {"currency": "GBP"}}],
    )


class InlineEvent(SpecModel):
    """An event written out in the test; envelope attributes left out are filled in
    (`specversion` 1.0, `id` from the case, `source` /seamline/tests, `type` the flow's trigger)."""

    type: str | None = Field(default=None, description="Event type; default the flow's trigger.")
    data: Any = Field(description="The event's data (validated against its contract).")
    subject: str | None = Field(default=None, description="CloudEvents `subject`.")
    id: str | None = Field(default=None, description="CloudEvents `id`.")
    source: str | None = Field(default=None, description="CloudEvents `source`.")
    dataschema: str | None = Field(default=None, description="Contract version the data claims.")
    time: str | None = Field(default=None, description="CloudEvents `time`.")
    specversion: str | None = Field(default=None, description="Always 1.0.")


def _event_kind(value: Any) -> str:
    if isinstance(value, str):
        return "path"
    if isinstance(value, EventFile) or (isinstance(value, dict) and "file" in value):
        return "file"
    return "inline"


EventSource = Annotated[
    Union[  # noqa: UP007 - tagged union
        Annotated[str, Tag("path")],
        Annotated[EventFile, Tag("file")],
        Annotated[InlineEvent, Tag("inline")],
    ],
    Discriminator(_event_kind),
    Field(description="A JSON file path, `{file, patch}`, or the event written inline."),
]


class ErrorExpectation(SpecModel):
    """The run's error; only the fields given are compared."""

    step: str | None = Field(default=None, description="Label of the failed step.")
    code: str | None = Field(default=None, description="The stable error code (docs/errors.md).")
    message: str | None = Field(default=None, description="Text the error message contains.")
    attempt: int | None = Field(default=None, description="The attempt that failed.")
    transient: bool | None = Field(default=None, description="Whether the error was transient.")


class StepExpectation(SpecModel):
    """What one step of the trace (by label) did; only the fields given are compared."""

    status: str | None = Field(
        default=None,
        description="succeeded, skipped, failed, cancelled, compensated or compensation_failed.",
    )
    attempts: int | None = Field(default=None, description="How many attempts it took.")
    input: Any = Field(default=None, description="The step's input (a call's payload).")
    output: Any = Field(default=None, description="The step's output.")
    error: str | None = Field(default=None, description="Text its error message contains.")
    detail: str | None = Field(default=None, description="e.g. `took arm 0` for a switch.")
    match: Match = Field(default="subset", description=MATCH_DESCRIPTION)
    assert_: Asserts = _assert_field("the step record (`input`, `output`, `status` …)")


class CallExpectation(SpecModel):
    """One outbound call, in order; only the fields given are compared."""

    step: str | None = Field(default=None, description="Label of the calling step.")
    operation: str | None = Field(default=None, description="`connector.operation`.")
    input: Any = Field(default=None, description="The payload sent.")
    output: Any = Field(default=None, description="The answer received.")
    attempts: int | None = Field(default=None, description="Attempts made (retries + 1).")
    idempotency_key: str | None = Field(
        default=None, description="The key sent, `<run id>:<step label>`."
    )
    error: str | None = Field(default=None, description="Text of the last error it got.")
    match: Match = Field(default="subset", description=MATCH_DESCRIPTION)
    assert_: Asserts = _assert_field("the call (`input`, `output`, `attempts` …)")


class EventExpectation(SpecModel):
    """One emitted event, in order; every emitted event is also checked against its contract."""

    type: str | None = Field(default=None, description="Event type.")
    subject: str | None = Field(default=None, description="CloudEvents `subject`.")
    data: Any = Field(default=None, description="The event's data.")
    dataschema: str | None = Field(default=None, description="The contract version's $id.")
    match: Match = Field(default="subset", description=MATCH_DESCRIPTION)
    assert_: Asserts = _assert_field("the event")


class Expectation(SpecModel):
    """What the run must do. Lists are exact and ordered; payloads follow `match`."""

    status: Literal["succeeded", "failed", "dead_lettered", "rejected", "not_started"] = Field(
        description="Final status; `not_started` when the trigger's filter does not match."
    )
    error: ErrorExpectation | None = Field(default=None, description="The run's error.")
    key: Any = Field(default=None, description="The run's business key.")
    variant: str | None = Field(
        default=None, description="The variant that ran (null: the base flow)."
    )
    output: Any = Field(default=None, description="The flow's output (see `match`).")
    match: Match = Field(default="subset", description=MATCH_DESCRIPTION)
    taken: list[str] | None = Field(
        default=None, description="Labels of the steps that ran, in trace order (skipped ones not)."
    )
    skipped: list[str] | None = Field(
        default=None, description="Labels of the steps skipped by their `if`, in order."
    )
    steps: dict[str, StepExpectation] = Field(
        default_factory=dict, description="Step label -> what that step did."
    )
    calls: list[CallExpectation] | None = Field(
        default=None, description="Every outbound call, in order."
    )
    emitted: list[EventExpectation] | None = Field(
        default=None, description="Every emitted event, in order."
    )
    compensated: list[str] | None = Field(
        default=None, description="Labels of the steps whose `undo` ran, in the order they ran."
    )
    assert_: Asserts = _assert_field(
        "the run result (`status`, `key`, `output`, `error`, `trace`, `calls`, `emitted`)"
    )


class FlowTestCase(SpecModel):
    """One run of the flow and what must happen."""

    name: str = Field(min_length=1, description="The test's name (unique in the file).")
    description: str | None = Field(default=None, description="What the case shows.")
    event: EventSource
    events: list[EventSource] = Field(
        default_factory=list,
        description="Events that arrive later: each answers the next `wait_for` step "
        "waiting for its type.",
    )
    mocks: dict[str, MockOperationConfig] = Field(
        default_factory=dict,
        description="Step id or connector.operation -> answer; override the file's mocks.",
    )
    start: str | None = Field(
        default=None, pattern=ISO_TIME, description="Virtual clock start (`run.started_at`)."
    )
    ignore_filter: bool = Field(
        default=False, description="Run even when the trigger's filter does not match."
    )
    variant: str = Field(
        default="auto",
        description="Which version of the flow runs: `auto` (the variant the event selects, as "
        "in production), `base` (the base flow), or a variant's name (forced).",
    )
    check_contract: bool = Field(
        default=True,
        description="`false` runs the flow on an event its contract would reject: for "
        "defensive steps a valid event cannot reach today.",
    )
    expect: Expectation = Field(description="What the run must do.")


class FlowTestFile(SpecModel):
    """A flow test file: `tests/flows/<name>.yaml`."""

    flow: Identifier = Field(description="The flow under test (its file name in flows/).")
    description: str | None = Field(default=None, description="What these cases cover.")
    mocks_file: str | None = Field(
        default=None,
        description="A mocks file (e.g. tests/mocks/<flow>.yaml) every case starts from.",
    )
    mocks: dict[str, MockOperationConfig] = Field(
        default_factory=dict,
        description="Answers shared by all cases (over the mocks file's).",
    )
    start: str = Field(
        default="2026-11-02T09:00:00Z",
        pattern=ISO_TIME,
        description="Virtual clock start of every case, so `run.started_at` is fixed.",
    )
    run_id: str = Field(
        default="test-run", min_length=1, description="Run id of every case (idempotency keys)."
    )
    optional_reads: dict[str, str] = Field(
        default_factory=dict,
        description="Event fields the flow reads although some accepted contract versions "
        "lack them -> why that is safe. The consumer check fails when one is no longer needed.",
        examples=[{"data.purchase_order": "v2 only; absent in v1 events, passed on as null"}],
    )
    cases: list[FlowTestCase] = Field(min_length=1, description="The test cases.")

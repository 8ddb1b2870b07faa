"""What every polled source declares, whatever its kind: the event it emits and how often it polls.

A source turns records (rows of a table, rows of a dropped file) into CloudEvents of one
contract type and hands them to the inbox like HTTP ingress does: validated, de-duplicated on
`source`+`id`, routed to every flow that listens to the type. The kind-specific parts (which
rows, which files) live beside each connector kind.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runtime.connectors.base import ConnectorCompiler, SourceMapping
from runtime.spec.common import Duration, EventType, SpecModel, Value


class SourceConfig(SpecModel):
    """Fields every source has: the event it emits, the poll interval, the record → event mapping."""

    emit: EventType = Field(
        description="The event type (= contract name) every record becomes; each event is "
        "checked against that contract like an event posted over HTTP.",
        examples=["legacy.invoice.changed"],
    )
    every: Duration = Field(
        default="1m", description="How often to poll; the last poll time survives restarts."
    )
    data: Value = Field(
        default=None,
        description="The event's `data`, built from the record (`${ row.… }`); omitted: the "
        "record itself.",
    )
    id: Value = Field(
        default=None,
        description="The event id (with the source, the duplicate key): omitted, it is derived "
        "from the record's position (the watermark of a row, the file digest and line of a "
        "file row), so a record read twice is taken in once.",
    )
    subject: Value = Field(
        default=None,
        description="The event's `subject` (the business key), e.g. `${ row.invoice_no }`.",
    )


def compile_mapping(
    config: SourceConfig,
    cc: ConnectorCompiler,
    path: tuple[str | int, ...],
    roots: tuple[str, ...],
) -> SourceMapping:
    cc.event_type(config.emit, (*path, "emit"))

    def value(name: str) -> Any:
        raw = getattr(config, name)
        return None if raw is None else cc.value(raw, (*path, name), roots=roots)

    return SourceMapping(data=value("data"), id=value("id"), subject=value("subject"))

"""The connector interface: named operations that take a JSON payload and return JSON."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import Field

from runtime.spec.common import Identifier, SpecModel

if TYPE_CHECKING:
    from runtime.expressions.compiled import CompiledValue
    from runtime.expressions.jmes import CompiledExpression


class ConnectorConfig(SpecModel):
    """Fields every connector file has, whatever its kind."""

    kind_name: ClassVar[str] = ""

    connector: Identifier = Field(
        description="The connector's name, used in `call: <connector>.<operation>`; must match the file name."
    )
    description: str | None = Field(
        default=None, description="Which system this is and who owns it."
    )


@dataclass(frozen=True)
class CallRequest:
    payload: Any
    idempotency_key: str
    timeout: float | None
    correlation_id: str


class Operation(Protocol):
    connector: str
    name: str

    @property
    def ref(self) -> str: ...

    async def invoke(self, request: CallRequest) -> Any: ...


@dataclass(frozen=True)
class SourceRecord:
    """One record a source read: a table row or a file row, with where it came from."""

    location: str
    """For people: `timesheets.csv:14`, or the row's watermark values."""
    row: Any
    default_id: str
    """The event id when the source maps none: the record's position, stable across re-reads."""
    context: dict[str, Any] = field(default_factory=dict)
    """More names the source's `data`/`id`/`subject` values can read besides `row` (`file`)."""


@dataclass
class SourceRead:
    """One unit a source read, taken in (or not) as a whole in one store transaction.

    A record that could not be read at all is in `unreadable` as `(location, message, raw)`.
    `cursor` is the position after this read (SQL watermark sources); `item` names a whole
    input (a file and its digest) that is taken in once.
    """

    records: list[SourceRecord]
    unreadable: list[tuple[str, str, Any]] = field(default_factory=list)
    cursor: Any = None
    item: str | None = None
    label: str = ""
    """What was read, for logs (`timesheets-2026-11-21.csv`, `3 rows after {...}`)."""


class Source(Protocol):
    """A trigger besides HTTP: polled every `every` seconds, each read committed with its events."""

    ref: str
    """`<connector>.<source>`: the name in the store, in logs and in `seamline sources`."""
    event_type: str
    every: float
    uses_cursor: bool
    """True: reads follow a cursor kept in the store (SQL watermark); False: each read is an
    item recorded in the store's ledger (a dropped file)."""
    mapping: SourceMapping

    def reads(self, cursor: Any) -> AsyncIterator[SourceRead]:
        """Reads from `cursor` on, lazily: the engine commits each before asking for the next."""
        ...

    async def taken_in(self, read: SourceRead) -> None:
        """Called after the read's commit (or when the ledger shows it was taken in before):
        archive the file, for instance. Must be safe to call more than once."""
        ...

    def start_cursor(self) -> Any: ...


@dataclass(frozen=True)
class SourceMapping:
    """How a record becomes an event: compiled values over the record's document."""

    data: CompiledValue | None
    """None: the record itself is the event's data."""
    id: CompiledValue | None
    subject: CompiledValue | None


class Connector(Protocol):
    name: str
    kind: str

    def operation(self, name: str) -> Operation | None: ...
    def operation_names(self) -> list[str]: ...
    async def aclose(self) -> None: ...


class ConnectorCompiler(Protocol):
    """What a connector kind may ask of the compiler while it builds itself."""

    def value(
        self, raw: Any, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> CompiledValue: ...
    def expression(
        self, text: str | None, path: tuple[str | int, ...], *, roots: tuple[str, ...] = ("input",)
    ) -> CompiledExpression | None: ...
    def duration(self, text: str | None) -> float | None: ...
    def event_type(self, name: str, path: tuple[str | int, ...]) -> None:
        """Report a load error at `path` unless a contract of this event type exists."""
        ...

    def error(
        self, path: tuple[str | int, ...], code: str, message: str, hint: str | None = None
    ) -> None: ...
    def error_at(
        self,
        path: tuple[str | int, ...],
        text: str,
        offset: int,
        code: str,
        message: str,
        hint: str | None = None,
    ) -> None:
        """A problem at character `offset` of the scalar `text` at `path` (exact line:col)."""
        ...

    @property
    def root(self) -> Path:
        """The workspace root: relative folders and SQLite files are resolved against it."""
        ...


def connector_sources(connector: Connector) -> Mapping[str, Source]:
    """The sources a connector declares (kinds without sources have none)."""
    return getattr(connector, "sources", None) or {}


@dataclass(frozen=True)
class ConnectorKind:
    name: str
    config: type[ConnectorConfig]
    create: Callable[[Any, ConnectorCompiler], Connector]
    summary: str


CONNECTOR_KINDS: dict[str, ConnectorKind] = {}


def connector_kind(config: type[ConnectorConfig], *, summary: str) -> Callable[[Any], Any]:
    def register(create: Callable[[Any, ConnectorCompiler], Connector]) -> Any:
        if config.kind_name in CONNECTOR_KINDS:
            raise TypeError(f"connector kind {config.kind_name!r} registered twice")
        CONNECTOR_KINDS[config.kind_name] = ConnectorKind(config.kind_name, config, create, summary)
        return create

    return register

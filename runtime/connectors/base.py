"""The connector interface: named operations that take a JSON payload and return JSON."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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

"""`kind: mock` — canned responses, errors and sequences; for tests and `seamline run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, model_validator

from runtime.connectors.base import CallRequest, ConnectorCompiler, ConnectorConfig, connector_kind
from runtime.errors import ConnectorError
from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import Identifier, SpecModel, Value


class MockError(SpecModel):
    """A failure the mock raises instead of answering."""

    type: Literal["transient", "permanent"] = Field(
        description="Transient errors are retried; permanent ones are not."
    )
    message: str = Field(default="mocked failure", description="The error message.")
    status: int | None = Field(
        default=None, ge=100, le=599, description="An HTTP status to report with it."
    )


class MockResponse(SpecModel):
    """One answer: an `output` (may use `${ input.… }`), an `error`, or for `wait_for` an `event`."""

    output: Value = Field(
        default=None, description="The operation's result; `${ }` expressions see `input`."
    )
    error: MockError | None = Field(default=None, description="Fail instead of answering.")
    event: dict[str, Any] | None = Field(
        default=None, description="For a `wait_for` step: the event that arrives."
    )
    timeout: bool = Field(
        default=False, description="For a `wait_for` step: no event arrives in time."
    )


class MockOperationConfig(MockResponse):
    """An operation of a mock connector: one response, or a `sequence` played in order (the last repeats)."""

    sequence: list[MockResponse] | None = Field(
        default=None, description="Responses in call order; the last one repeats."
    )

    @model_validator(mode="after")
    def _one_answer(self) -> MockOperationConfig:
        if self.sequence is not None and (self.error or self.output is not None):
            raise ValueError("give either a sequence or a single output/error, not both")
        return self


class MockConnectorConfig(ConnectorConfig):
    """A connector that answers from its file; no network."""

    kind_name = "mock"
    kind: Literal["mock"] = Field(description="`mock`.")
    operations: dict[Identifier, MockOperationConfig] = Field(
        description="Operation name -> canned answer."
    )


@dataclass(frozen=True)
class CompiledResponse:
    output: CompiledValue | None
    error: MockError | None
    event: dict[str, Any] | None = None
    timeout: bool = False

    def answer(self, payload: Any) -> Any:
        if self.error is not None:
            transient = self.error.type == "transient"
            raise ConnectorError(self.error.message, transient=transient, status=self.error.status)
        return self.output.evaluate({"input": payload}) if self.output is not None else None


def compile_response(
    response: MockResponse, cc: ConnectorCompiler, path: tuple[str | int, ...]
) -> CompiledResponse:
    output = (
        cc.value(response.output, (*path, "output"), roots=("input",))
        if response.output is not None
        else None
    )
    return CompiledResponse(output, response.error, response.event, response.timeout)


@dataclass
class MockOperation:
    connector: str
    name: str
    responses: tuple[CompiledResponse, ...]
    calls: list[Any] = field(default_factory=list)
    _position: dict[str, int] = field(default_factory=dict, repr=False)
    """Calls so far per run (by correlation id): a sequence restarts for every run."""

    @property
    def ref(self) -> str:
        return f"{self.connector}.{self.name}"

    async def invoke(self, request: CallRequest) -> Any:
        seen = self._position.get(request.correlation_id, 0)
        self._position[request.correlation_id] = seen + 1
        index = min(seen, len(self.responses) - 1)
        self.calls.append(request.payload)
        return self.responses[index].answer(request.payload)


@dataclass
class MockConnector:
    name: str
    operations: dict[str, MockOperation]
    kind: str = "mock"

    def operation(self, name: str) -> MockOperation | None:
        return self.operations.get(name)

    def operation_names(self) -> list[str]:
        return sorted(self.operations)

    async def aclose(self) -> None:
        return None


def compile_operation(
    config: MockOperationConfig, cc: ConnectorCompiler, path: tuple[str | int, ...]
) -> tuple[CompiledResponse, ...]:
    if config.sequence is not None:
        return tuple(
            compile_response(r, cc, (*path, "sequence", i)) for i, r in enumerate(config.sequence)
        )
    return (compile_response(config, cc, path),)


@connector_kind(
    MockConnectorConfig,
    summary="Answers every operation from its file: outputs, errors or sequences.",
)
def create_mock(config: MockConnectorConfig, cc: ConnectorCompiler) -> MockConnector:
    operations = {
        name: MockOperation(config.connector, name, compile_operation(op, cc, ("operations", name)))
        for name, op in config.operations.items()
    }
    return MockConnector(config.connector, operations)

"""Run-level mocks: answers for call steps (by step id or `connector.operation`) and wait_for steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pydantic import Field, ValidationError

from runtime.compiler.connectors import RootedCompiler
from runtime.compiler.plan import Plan
from runtime.connectors.mock import CompiledResponse, MockOperationConfig, compile_operation
from runtime.errors import FlowError
from runtime.loader.diagnostics import pydantic_diagnostics
from runtime.loader.source import YamlLoadError, parse_yaml
from runtime.spec.common import SpecModel


class MocksFile(SpecModel):
    """A mocks file: `mocks:` maps a step id or `connector.operation` to an answer."""

    mocks: dict[str, MockOperationConfig] = Field(
        description="Step id or connector.operation -> answer."
    )


@dataclass
class RunMocks:
    responses: dict[str, tuple[CompiledResponse, ...]]
    calls: dict[str, int] = field(default_factory=dict)

    def answer_for(self, step_id: str, operation_ref: str | None) -> CompiledResponse | None:
        responses = self.responses
        if step_id is not None and step_id in responses:
            key = step_id
        elif operation_ref is not None and operation_ref in responses:
            key = operation_ref
        else:
            return None
        count = self.calls.get(key, 0)
        self.calls[key] = count + 1
        sequence = responses[key]
        return sequence[min(count, len(sequence) - 1)]


def load_mocks(plan: Plan, file: Path, display: str | None = None) -> RunMocks:
    """Compile a mocks file against the plan's functions and templates; FlowError if bad."""
    try:
        doc = parse_yaml(file.read_text(encoding="utf-8"), display or str(file))
    except YamlLoadError as exc:
        raise FlowError(exc.diagnostics) from exc
    try:
        spec = MocksFile.model_validate(doc.data)
    except ValidationError as exc:
        raise FlowError(pydantic_diagnostics(exc, doc.data, doc.source_map, MocksFile)) from exc
    compiler = RootedCompiler(plan.value_compiler(doc.source_map))
    responses = {
        key: compile_operation(op, compiler, ("mocks", key)) for key, op in spec.mocks.items()
    }
    if compiler.values.diagnostics:
        raise FlowError(compiler.values.diagnostics)
    return RunMocks(responses)

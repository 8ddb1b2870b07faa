"""The step-kind registry: each kind is one module that registers its config and its node.

A step's kind is the key it uses (`call:`, `switch:` …); the registry derives the pydantic
discriminator from those keys, so adding a kind means adding a module, not editing a union.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Protocol, Union

from pydantic import Discriminator, Field, Tag

from runtime.spec.common import Duration, Expression, Identifier, SpecModel

if TYPE_CHECKING:
    from runtime.steps._context import CompileContext, RunContext


class StepConfig(SpecModel):
    """Fields every step has, whatever its kind."""

    kind_key: ClassVar[str] = ""
    timeout_bounds_step: ClassVar[bool] = True
    """False for kinds whose own `timeout` field means something else (wait_for)."""

    id: Identifier = Field(
        description="Unique step id in the flow; `steps.<id>.output` reads its result."
    )
    description: str | None = Field(
        default=None, description="What the step is for, for readers and the dashboard."
    )
    if_: Expression | None = Field(
        default=None,
        alias="if",
        description="Run the step only when this JMESPath expression is truthy; otherwise it is skipped (output null).",
    )
    timeout: Duration | None = Field(
        default=None, description="Fail the attempt if it takes longer than this."
    )


class StepNode(Protocol):
    """A compiled step: immutable, built once at load, executed by the engine many times."""

    id: str
    kind: str
    path: tuple[str | int, ...]

    async def execute(self, rc: RunContext) -> Any: ...


@dataclass(frozen=True)
class StepKind:
    name: str
    config: type[StepConfig]
    compile: Callable[..., StepNode | None]
    summary: str
    examples: tuple[str, ...]


STEP_KINDS: dict[str, StepKind] = {}


def step_kind(
    config: type[StepConfig], *, summary: str, examples: tuple[str, ...] = ()
) -> Callable[
    [Callable[[Any, CompileContext], StepNode]], Callable[[Any, CompileContext], StepNode]
]:
    """Register a step kind: `config` is its pydantic model, the decorated function compiles it."""
    name = config.kind_key
    if (
        not name
        or name not in config.model_fields
        and name not in {f.alias for f in config.model_fields.values()}
    ):
        raise TypeError(f"{config.__name__}.kind_key must name one of its fields")

    def register(
        fn: Callable[[Any, CompileContext], StepNode],
    ) -> Callable[[Any, CompileContext], StepNode]:
        if name in STEP_KINDS:
            raise TypeError(f"step kind {name!r} registered twice")
        STEP_KINDS[name] = StepKind(name, config, fn, summary, examples)
        return fn

    return register


def kind_of(value: Any) -> str | None:
    """The step kind of a raw mapping or a config object; None if it has none or several."""
    if isinstance(value, StepConfig):
        return value.kind_key
    if not isinstance(value, dict):
        return None
    found = [k for k in STEP_KINDS if k in value]
    return found[0] if len(found) == 1 else None


def _tag(name: str) -> str:
    # distinct from the YAML key, so a pydantic error location never mistakes the tag for a key
    return f"<{name}>"


def _tag_of(value: Any) -> str | None:
    kind = kind_of(value)
    return _tag(kind) if kind else None


def build_step_union() -> Any:
    """`Annotated[Union[Tagged configs], Discriminator(kind_of)]`, built from the registry."""
    tagged = tuple(Annotated[k.config, Tag(_tag(k.name))] for k in STEP_KINDS.values())
    return Annotated[
        Union[tagged],  # noqa: UP007 - a runtime-built union needs the subscript form
        Discriminator(
            _tag_of,
            custom_error_type="step_kind",
            custom_error_message="a step needs exactly one kind key",
        ),
    ]

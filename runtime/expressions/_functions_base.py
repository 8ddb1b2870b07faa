"""Shared pieces of the function registry: errors, the doc records, signatures, JSON numbers.

Private helper of `runtime.expressions.functions`; import the public names from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jmespath import exceptions as jmespath_exceptions

from runtime.errors import SeamlineError

__all__ = [
    "FunctionArgumentError",
    "FunctionDoc",
    "FunctionError",
    "FunctionExample",
    "OptionalArityError",
    "arg",
    "json_number",
    "key_text",
]


class FunctionError(SeamlineError, ValueError):
    """Base of the errors the integration functions raise on purpose (bad input, missing keys)."""


class FunctionArgumentError(FunctionError):
    """An argument has the right JSON type but a value the function cannot use."""

    def __init__(self, function: str, message: str) -> None:
        self.function = function
        self.message = message
        super().__init__(f"{function}(): {message}")


class OptionalArityError(jmespath_exceptions.ArityError):
    """Wrong number of arguments for a function with optional parameters."""

    def __init__(self, minimum: int, maximum: int, actual: int, name: str) -> None:
        super().__init__(minimum, actual, name)
        self.maximum_arity = maximum

    def __str__(self) -> str:
        return (
            f"Expected {self.expected_arity} to {self.maximum_arity} arguments "
            f"for function {self.function_name}(), received {self.actual_arity}"
        )


@dataclass(frozen=True)
class FunctionExample:
    """`expression` evaluated against `given` yields `result` (checked by the test suite)."""

    expression: str
    given: Any
    result: Any


@dataclass(frozen=True)
class FunctionDoc:
    """The documentation of one function; the single source for docs/functions.md and tests."""

    name: str
    signature: str
    category: str
    summary: str
    examples: tuple[FunctionExample, ...]


def arg(*types: str, optional: bool = False, variadic: bool = False) -> dict[str, Any]:
    """One parameter of a jmespath `@signature`; no types means any type.

    `optional` is our extension (checked by `IntegrationFunctions._validate_arguments`);
    optional parameters come last.
    """
    spec: dict[str, Any] = {"types": list(types)}
    if optional:
        spec["optional"] = True
    if variadic:
        spec["variadic"] = True
    return spec


def json_number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when whole, else a float read from its decimal text."""
    if value == value.to_integral_value():
        return int(value)
    return float(str(value))


def key_text(value: Any) -> str | None:
    """The string form a key is compared by (`42` and `"42"` are the same key); None for null."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, Decimal):
        return str(json_number(value))
    raise TypeError(f"a key must be a string, number or boolean, not {type(value).__name__}")

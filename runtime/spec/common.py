"""Shared vocabulary of the spec models: the base model, durations, names and expressions."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

DURATION_PATTERN = r"^\s*(\d+(\.\d+)?\s*(ms|s|m|h|d|w)\s*)+$"
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_DURATION_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@lru_cache(maxsize=1024)  # policies re-read their few durations on every retry
def parse_duration(text: str) -> float:
    """`1h30m` -> 5400.0 seconds. The model's pattern has already checked the form."""
    parts = _DURATION_PART.findall(text)
    if not parts or not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"cannot read duration {text!r} (expected e.g. 500ms, 30s, 5m, 1h30m, 2d)")
    return sum(float(n) * _DURATION_SECONDS[unit] for n, unit in parts)


class SpecModel(BaseModel):
    """Base of every spec model: frozen, unknown keys are errors, YAML names are field names."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=True,
        validate_default=False,
        use_attribute_docstrings=True,
    )


Duration = Annotated[
    str,
    Field(
        pattern=DURATION_PATTERN,
        description="A duration: a number and a unit (ms, s, m, h, d, w), combinable as `1h30m`.",
        examples=["30s", "5m", "1h30m", "2d"],
    ),
]

Identifier = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*$",
        description="A name in snake_case: lower-case letters, digits and underscores.",
    ),
]

EventType = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$",
        description="A CloudEvents `type`, which is also the contract name (`crm.opportunity.closed_won`).",
        examples=["crm.opportunity.closed_won"],
    ),
]

Expression = Annotated[
    str,
    Field(
        min_length=1,
        description="A bare JMESPath expression over the run document "
        "(`event`, `data`, `vars`, `steps.<id>.output`, `run`).",
        json_schema_extra={"x-seamline-expression": "jmespath"},
    ),
]

Value = Annotated[
    Any,
    Field(
        description="A value: `${ expr }` is JMESPath keeping its JSON type, a string with `{{ … }}` "
        "is a Jinja template, anything else is a literal; mappings and lists are walked.",
    ),
]

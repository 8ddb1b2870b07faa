"""`contracts/<type>/contract.yaml`: the metadata beside a contract's schema versions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtime.spec.common import SpecModel

CompatibilityMode = Literal[
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
    "NONE",
]


class ContractMeta(SpecModel):
    """Who owns an event type and how its versions may change."""

    description: str | None = Field(
        default=None, description="What the event means, in business terms."
    )
    owner: str | None = Field(default=None, description="The system or team that publishes it.")
    compatibility: CompatibilityMode = Field(
        default="BACKWARD_TRANSITIVE",
        description="How each version must relate to earlier ones (as in Confluent Schema Registry).",
    )

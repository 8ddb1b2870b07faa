"""A variant: an overlay of a base flow for one entity, addressed by step id — never a copy."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from runtime.spec.common import Expression, Identifier, SpecModel, Value


class VariantPatch(SpecModel):
    """Changes to the base flow's steps; every step id named here must exist in the base."""

    replace: dict[Identifier, dict[str, Any]] = Field(
        default_factory=dict,
        description="Step id -> fields that replace the step's fields (null removes a field; a new kind key "
        "replaces the step's kind and its kind-specific fields).",
    )
    remove: list[Identifier] = Field(default_factory=list, description="Step ids to remove.")
    insert_before: dict[Identifier, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Step id -> steps inserted just before it."
    )
    insert_after: dict[Identifier, list[dict[str, Any]]] = Field(
        default_factory=dict, description="Step id -> steps inserted just after it."
    )


class VariantSpec(SpecModel):
    """`flows/variants/<entity>/<flow>.yaml`: when it applies, and how it differs from the base."""

    extends: Identifier = Field(description="The base flow; the file is named after it too.")
    variant: Identifier | None = Field(
        default=None,
        description="The variant's name; defaults to its folder (the entity), e.g. northwind_uk.",
    )
    description: str | None = Field(
        default=None, description="What is different for this entity, and why."
    )
    match: Expression = Field(
        description="JMESPath over the event: the variant applies when it is truthy. Conditions joined with && "
        "make a variant more specific; the most specific matching variant wins.",
        examples=["data.legal_entity == 'UK02'"],
    )
    vars: dict[Identifier, Value] = Field(
        default_factory=dict, description="Vars added or overridden."
    )
    patch: VariantPatch = Field(default_factory=VariantPatch, description="Step changes.")

"""The step-kind registry: every kind documented, every example valid, every kind in the schema."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from runtime.schema import json_schema
from runtime.spec.flow import FlowSpec
from runtime.steps import STEP_KINDS, kind_of

PRODUCT_KINDS = {"call", "set", "switch", "for_each", "parallel", "emit", "wait_for", "delay", "fail", "subflow"}


def kinds() -> list[Any]:
    return [pytest.param(name, id=name) for name in STEP_KINDS]


def examples() -> list[Any]:
    return [pytest.param(name, i, text, id=f"{name}[{i}]")
            for name, kind in STEP_KINDS.items() for i, text in enumerate(kind.examples)]


def wrap(steps: Any) -> dict[str, Any]:
    return {"flow": "example", "on": {"event": "shop.order.placed"}, "steps": steps}


def test_every_kind_of_the_product_is_registered() -> None:
    assert set(STEP_KINDS) >= PRODUCT_KINDS


@pytest.mark.parametrize("name", kinds())
def test_kind_has_a_summary_and_an_example(name: str) -> None:
    kind = STEP_KINDS[name]
    assert kind.name == name == kind.config.kind_key
    assert kind.summary.strip()
    assert kind.examples, f"{name} has no example"


@pytest.mark.parametrize(("name", "index", "text"), examples())
def test_example_parses_and_validates_as_steps(name: str, index: int, text: str) -> None:
    steps = yaml.safe_load(text)
    assert isinstance(steps, list) and steps, "an example is a YAML list of steps"
    spec = FlowSpec.model_validate(wrap(steps))
    assert [kind_of(s) for s in spec.steps][0] == name
    assert isinstance(spec.steps[0], STEP_KINDS[name].config)


@pytest.mark.parametrize(("name", "index", "text"), examples())
def test_example_is_valid_under_the_generated_json_schema(name: str, index: int, text: str) -> None:
    schema = json_schema("flow")
    errors = list(Draft202012Validator(schema).iter_errors(wrap(yaml.safe_load(text))))
    assert errors == [], [e.message for e in errors]


def _step_defs(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    defs = schema["$defs"]
    refs = [item["$ref"] for item in schema["properties"]["steps"]["items"]["oneOf"]]
    return {ref.rsplit("/", 1)[1]: defs[ref.rsplit("/", 1)[1]] for ref in refs}


@pytest.mark.parametrize("name", kinds())
def test_kind_appears_in_the_flow_schema(name: str) -> None:
    step_defs = _step_defs(json_schema("flow"))
    config = STEP_KINDS[name].config
    assert config.__name__ in step_defs
    definition = step_defs[config.__name__]
    assert name in definition["properties"]
    assert name in definition["required"]
    assert definition.get("additionalProperties") is False


def test_schema_lists_exactly_the_registered_kinds() -> None:
    step_defs = _step_defs(json_schema("flow"))
    assert set(step_defs) == {k.config.__name__ for k in STEP_KINDS.values()}


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    """The model and every spec model reachable from its fields (undo, arms, retry …)."""
    if model in seen:
        return
    seen.add(model)
    for field in model.model_fields.values():
        stack = [field.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation is not FlowSpec:
                _models(annotation, seen)
            stack.extend(getattr(annotation, "__args__", ()) or ())
            origin = getattr(annotation, "__origin__", None)
            if origin is not None and origin is not annotation:
                stack.append(origin)


@pytest.mark.parametrize("name", kinds())
def test_every_config_field_has_a_description(name: str) -> None:
    models: set[type[BaseModel]] = set()
    _models(STEP_KINDS[name].config, models)
    missing = [f"{m.__name__}.{field}" for m in models for field, info in m.model_fields.items()
               if not (info.description or "").strip()]
    assert missing == []
    names = {m.__name__ for m in models}
    assert STEP_KINDS[name].config.__name__ in names

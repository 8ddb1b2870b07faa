"""JSON Schemas for editors, generated from the spec models (never written by hand)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

import runtime.steps  # noqa: F401 - resolves the step union
from runtime.compiler.connectors import connector_union
from runtime.engine.mocks import MocksFile
from runtime.spec.contract import ContractMeta
from runtime.spec.flow import FlowSpec
from runtime.spec.settings import WorkspaceSettings
from runtime.spec.variant import VariantSpec
from runtime.testing.case import FlowTestFile

SCHEMA_NAMES = ("flow", "variant", "connector", "settings", "mocks", "contract", "test")


def json_schema(name: str) -> dict[str, Any]:
    if name == "flow":
        schema = FlowSpec.model_json_schema(by_alias=True)
        title = "seamline flow"
    elif name == "variant":
        schema = VariantSpec.model_json_schema(by_alias=True)
        title = "seamline variant overlay"
    elif name == "connector":
        schema = TypeAdapter(connector_union()).json_schema(by_alias=True)
        title = "seamline connector"
    elif name == "settings":
        schema = WorkspaceSettings.model_json_schema(by_alias=True)
        title = "seamline.yaml"
    elif name == "mocks":
        schema = MocksFile.model_json_schema(by_alias=True)
        title = "seamline mocks file"
    elif name == "contract":
        schema = ContractMeta.model_json_schema(by_alias=True)
        title = "seamline contract.yaml"
    elif name == "test":
        schema = FlowTestFile.model_json_schema(by_alias=True)
        title = "seamline flow test file"
    else:
        raise KeyError(name)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def render_schema(name: str) -> str:
    return json.dumps(json_schema(name), indent=2, ensure_ascii=False) + "\n"

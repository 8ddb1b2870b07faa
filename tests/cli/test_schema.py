"""`seamline schema NAME`: valid draft 2020-12 JSON Schemas that accept real workspace files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from runtime.cli.main import cli
from runtime.loader.source import parse_yaml
from runtime.schema import SCHEMA_NAMES
from tests.conftest import MINI_WORKSPACE, write_files

NAMES = list(SCHEMA_NAMES)

FULL_FLOW = """\
flow: opportunity_to_project
version: 1.3.0
description: Closed-won opportunity to ERP customer and PSA project
on:
  event: crm.opportunity.closed_won
  filter: data.stage == 'Closed Won'
key: data.opportunity_id
sla: 30m
vars:
  entity: ${ lookup('legal_entities', data.legal_entity) }
steps:
  - id: find_customer
    call: erp.find_customer
    with: { tax_id: "${ data.account.tax_id }" }
  - id: create_customer
    if: steps.find_customer.output == null
    call: erp.create_customer
    with: { template: templates/erp_customer.json.j2 }
    retry: { attempts: 5, backoff: exponential, delay: 1s, max_delay: 1m }
    undo: { call: erp.archive_customer, with: { id: "${ steps.create_customer.output.id }" } }
  - id: patient_call
    call: erp.sync
    retry: patient
  - id: by_billing_model
    switch:
      - if: data.billing_model == 'milestone'
        steps: [ { id: milestones, call: erp.create_billing_schedule } ]
      - else: [ { id: monthly, call: erp.create_billing_schedule } ]
  - id: tasks
    for_each: data.lines
    as: line
    concurrency: 4
    steps:
      - id: remember
        set: { last: "${ line }" }
  - id: notify
    emit: ps.project.activated
    data: { project_id: "${ steps.create_project.output.id }", opportunity: "{{ data.name }}" }
on_error: { compensate: true, then: dead_letter }
"""

SCHEDULED = "flow: nightly\non: { schedule: '0 2 * * *', timezone: Europe/Berlin }\nsteps:\n  - id: sweep\n    call: wms.release\n"


def schema_of(name: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["schema", name])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def schemas() -> dict[str, dict[str, Any]]:
    return {name: schema_of(name) for name in NAMES}


def errors(schema: dict[str, Any], yaml_text: str) -> list[str]:
    data = json.loads(json.dumps(parse_yaml(yaml_text, "x.yaml").data))  # YAML -> JSON
    return [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft202012Validator(schema).iter_errors(data)
    ]


@pytest.mark.parametrize("name", NAMES)
def test_each_schema_is_a_valid_draft_2020_12_schema(
    schemas: dict[str, dict[str, Any]], name: str
) -> None:
    schema = schemas[name]
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]


def test_flow_schema_accepts_real_flows(schemas: dict[str, dict[str, Any]]) -> None:
    assert errors(schemas["flow"], FULL_FLOW) == []
    assert errors(schemas["flow"], SCHEDULED) == []


def test_flow_schema_uses_yaml_names_and_describes_fields(
    schemas: dict[str, dict[str, Any]],
) -> None:
    flow = schemas["flow"]
    assert {"flow", "on", "steps", "on_error"} <= set(flow["properties"])
    assert set(flow["required"]) == {"flow", "on", "steps"}
    assert flow["additionalProperties"] is False
    text = json.dumps(flow)
    for yaml_key in ('"if"', '"with"', '"else"', '"as"', '"for_each"', '"wait_for"'):
        assert yaml_key in text
    assert '"if_"' not in text and '"with_"' not in text and '"else_"' not in text


@pytest.mark.parametrize(
    "bad",
    [
        "flow: x\non: { event: a.b }\nsteps:\n  - id: r\n    cal: wms.reserve\n",
        "flow: x\non: { event: a.b }\nsteps:\n  - id: r\n    call: wms.reserve\n    emit: a.b\n",
        "flow: x\non: { event: a.b }\nsteps:\n  - id: r\n    call: wms.reserve\n    retry: { backoff: exponentail }\n",
        "flow: x\non: { event: a.b }\nsteps: []\n",
        "flow: x\non: { event: a.b }\nsteps:\n  - id: r\n    call: wms.reserve\nextra: 1\n",
    ],
)
def test_flow_schema_rejects_what_the_loader_rejects(
    schemas: dict[str, dict[str, Any]], bad: str
) -> None:
    assert errors(schemas["flow"], bad) != []


def test_connector_schema_accepts_the_mini_workspace_connector(
    schemas: dict[str, dict[str, Any]],
) -> None:
    import textwrap

    assert (
        errors(schemas["connector"], textwrap.dedent(MINI_WORKSPACE["connectors/wms.yaml"])) == []
    )
    assert errors(schemas["connector"], "connector: erp\nkind: htp\n") != []


def test_settings_schema(schemas: dict[str, dict[str, Any]]) -> None:
    good = "port: 9000\nretry_policies:\n  patient: { attempts: 8, backoff: linear }\ndefault_retry: { attempts: 4 }\n"
    assert errors(schemas["settings"], good) == []
    assert errors(schemas["settings"], "port: 0\n") == ["['port']: 0 is less than the minimum of 1"]


def test_mocks_schema(schemas: dict[str, dict[str, Any]]) -> None:
    good = (
        "mocks:\n  send: { output: { tracking: T-1 } }\n"
        "  wms.reserve: { sequence: [ { error: { type: transient } }, { output: 1 } ] }\n"
    )
    assert errors(schemas["mocks"], good) == []
    assert errors(schemas["mocks"], "mocks:\n  send: { outptu: 1 }\n") != []


def test_contract_schema(schemas: dict[str, dict[str, Any]]) -> None:
    assert errors(schemas["contract"], "owner: shop\ncompatibility: FULL\n") == []
    assert errors(schemas["contract"], "compatibility: SOMETIMES\n") != []


def test_every_file_of_the_mini_workspace_validates(
    schemas: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    root = write_files(tmp_path, {**MINI_WORKSPACE, "flows/nightly.yaml": SCHEDULED})
    for rel, name in [("connectors/wms.yaml", "connector"), ("flows/nightly.yaml", "flow")]:
        assert errors(schemas[name], (root / rel).read_text()) == [], rel


def test_output_option_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "schemas" / "flow.schema.json"
    result = CliRunner().invoke(cli, ["schema", "flow", "-o", str(target)])
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text()) == schema_of("flow")


def test_unknown_schema_name_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["schema", "nope"])
    assert result.exit_code == 2
    assert "'nope' is not one of " + ", ".join(f"'{n}'" for n in NAMES) in result.stderr

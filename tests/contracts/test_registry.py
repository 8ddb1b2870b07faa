"""Contracts of a workspace: versions, metadata, load problems with positions, events, examples."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from runtime.contracts.registry import (
    ContractRegistry,
    ContractVersion,
    check_examples,
    load_contracts,
    parse_json_path,
)
from runtime.errors import Diagnostic
from tests.conftest import ORDER_PLACED, REPO, WriteWorkspace, order_event

DRAFT = "https://json-schema.org/draft/2020-12/schema"
PLACED = "contracts/shop.order.placed"


def _v2() -> dict[str, Any]:
    schema = copy.deepcopy(ORDER_PLACED)
    schema["properties"]["note"] = {"type": "string"}
    return schema


def _v3() -> dict[str, Any]:
    schema = _v2()
    schema["properties"]["channel"] = {"enum": ["web", "store"]}
    return schema


def load(root: Path) -> tuple[ContractRegistry, list[Diagnostic]]:
    return load_contracts(root)


def codes(diagnostics: list[Diagnostic]) -> list[tuple[str, str]]:
    return [(d.file, d.code) for d in diagnostics]


# -- loading ---------------------------------------------------------------------------------


def test_mini_workspace_loads_cleanly(workspace: WriteWorkspace) -> None:
    registry, problems = load(workspace({}))
    assert problems == []
    assert sorted(registry.contracts) == ["shop.order.accepted", "shop.order.placed"]
    assert "shop.order.placed" in registry and "shop.order.shipped" not in registry
    placed = registry.get("shop.order.placed")
    assert placed is not None and registry.get("nope") is None
    assert [v.version for v in placed.versions] == [1]
    assert placed.latest.file == f"{PLACED}/v1.schema.json"
    assert placed.latest.uri == "urn:seamline:contract:shop.order.placed:v1"
    assert placed.examples == ()


def test_versions_are_ascending_by_number_not_by_name(workspace: WriteWorkspace) -> None:
    root = workspace({f"{PLACED}/v10.schema.json": _v3(), f"{PLACED}/v2.schema.json": _v2()})
    registry, problems = load(root)
    assert problems == []
    placed = registry.get("shop.order.placed")
    assert [v.version for v in placed.versions] == [1, 2, 10]
    assert placed.latest.version == 10
    assert placed.version(2).schema == _v2()
    assert placed.version(3) is None
    assert [v.validator.name for v in placed.versions] == [
        "shop.order.placed v1", "shop.order.placed v2", "shop.order.placed v10"]


def test_schema_id_is_the_version_uri(workspace: WriteWorkspace) -> None:
    schema = {**_v2(), "$id": "https://schemas.example/shop.order.placed/v2.schema.json"}
    registry, _ = load(workspace({f"{PLACED}/v2.schema.json": schema}))
    assert registry.get("shop.order.placed").version(2).uri == schema["$id"]


def test_contract_metadata(workspace: WriteWorkspace) -> None:
    root = workspace({f"{PLACED}/contract.yaml": """
        description: An order was placed in the web shop.
        owner: shop
        compatibility: FULL
    """})
    registry, problems = load(root)
    assert problems == []
    meta = registry.get("shop.order.placed").meta
    assert (meta.description, meta.owner, meta.compatibility) == ("An order was placed in the web shop.", "shop", "FULL")


def test_compatibility_defaults_to_backward_transitive(workspace: WriteWorkspace) -> None:
    registry, problems = load(workspace({f"{PLACED}/contract.yaml": "owner: shop\n"}))
    assert problems == []
    assert registry.get("shop.order.placed").meta.compatibility == "BACKWARD_TRANSITIVE"
    assert registry.get("shop.order.accepted").meta.compatibility == "BACKWARD_TRANSITIVE"  # no contract.yaml


def test_invalid_compatibility_mode_is_a_diagnostic(workspace: WriteWorkspace) -> None:
    registry, problems = load(workspace({f"{PLACED}/contract.yaml": "owner: shop\ncompatibility: SOMETIMES\n"}))
    assert len(problems) == 1
    problem = problems[0]
    assert (problem.file, problem.line, problem.code) == (f"{PLACED}/contract.yaml", 2, "spec.literal_error")
    assert problem.col == len("compatibility: ") + 1
    assert "SOMETIMES" in problem.message and "BACKWARD_TRANSITIVE" in problem.message
    assert "shop.order.placed" in registry  # the schemas still load


def test_unknown_metadata_key_is_a_diagnostic(workspace: WriteWorkspace) -> None:
    _, problems = load(workspace({f"{PLACED}/contract.yaml": "owner: shop\ncompatability: FULL\n"}))
    assert [(p.file, p.line) for p in problems] == [(f"{PLACED}/contract.yaml", 2)]


def test_bad_schema_file_name(workspace: WriteWorkspace) -> None:
    registry, problems = load(workspace({f"{PLACED}/version2.schema.json": _v2(),
                                         f"{PLACED}/v02.schema.json": _v2()}))
    assert sorted(codes(problems)) == [(f"{PLACED}/v02.schema.json", "contract.file_name"),
                                       (f"{PLACED}/version2.schema.json", "contract.file_name")]
    assert all("vN.schema.json" in p.message for p in problems)
    assert [v.version for v in registry.get("shop.order.placed").versions] == [1]


def test_json_syntax_error_has_line_and_column(workspace: WriteWorkspace) -> None:
    text = '{\n  "type": "object",\n  "required": ["a"]\n  "properties": {}\n}\n'
    registry, problems = load(workspace({"contracts/shop.broken/v1.schema.json": text}))
    syntax = [p for p in problems if p.code == "json.syntax"]
    assert len(syntax) == 1
    assert (syntax[0].file, syntax[0].line, syntax[0].col) == ("contracts/shop.broken/v1.schema.json", 4, 3)
    assert "JSON syntax error" in syntax[0].message
    assert ("contracts/shop.broken", "contract.no_versions") in codes(problems)
    assert "shop.broken" not in registry


def test_invalid_schema_is_located_in_its_file(workspace: WriteWorkspace) -> None:
    text = (
        "{\n"
        f'  "$schema": "{DRAFT}",\n'
        '  "type": "object",\n'
        '  "properties": {\n'
        '    "amount": {"type": "numbr"}\n'
        "  }\n"
        "}\n"
    )
    registry, problems = load(workspace({"contracts/shop.bad/v1.schema.json": text}))
    invalid = [p for p in problems if p.code == "contract.schema_invalid"]
    assert len(invalid) == 1
    problem = invalid[0]
    assert (problem.file, problem.line) == ("contracts/shop.bad/v1.schema.json", 5)
    assert problem.col == text.splitlines()[4].index('"numbr"') + 1
    assert problem.yaml_path == "properties.amount.type"
    assert "draft 2020-12" in problem.message
    assert "shop.bad" not in registry


def test_schema_of_another_draft_is_refused(workspace: WriteWorkspace) -> None:
    text = '{\n  "$schema": "http://json-schema.org/draft-07/schema#",\n  "type": "object"\n}\n'
    registry, problems = load(workspace({"contracts/shop.old/v1.schema.json": text}))
    draft = [p for p in problems if p.code == "contract.draft"]
    assert len(draft) == 1
    assert (draft[0].file, draft[0].line, draft[0].col) == ("contracts/shop.old/v1.schema.json", 2, 14)
    assert "draft-07" in draft[0].message
    assert "shop.old" not in registry


def test_folder_without_schema(workspace: WriteWorkspace) -> None:
    registry, problems = load(workspace({"contracts/shop.empty/README.md": "todo\n"}))
    assert codes(problems) == [("contracts/shop.empty", "contract.no_versions")]
    assert "shop.empty" not in registry


def test_every_problem_is_collected(workspace: WriteWorkspace) -> None:
    _, problems = load(workspace({
        f"{PLACED}/contract.yaml": "compatibility: nope\n",
        f"{PLACED}/v2.json": _v2(),
        "contracts/shop.broken/v1.schema.json": "{",
        "contracts/shop.bad/v1.schema.json": {"type": 3},
    }))
    assert {p.code for p in problems} >= {"spec.literal_error", "json.syntax", "contract.schema_invalid",
                                          "contract.no_versions"}


def test_no_contracts_folder(tmp_path: Path) -> None:
    registry, problems = load(tmp_path)
    assert registry.contracts == {} and problems == []


@pytest.mark.parametrize("schema", [
    {"$schema": DRAFT, "type": "string", "pattern": "["},
    {"$schema": DRAFT, "$ref": "#/$defs/missing"},
], ids=["bad-regex", "dangling-ref"])
def test_uncompilable_schema_is_a_diagnostic(workspace: WriteWorkspace, schema: dict[str, Any]) -> None:
    registry, problems = load(workspace({"contracts/shop.bad/v1.schema.json": schema}))
    assert [p.file for p in problems][:1] == ["contracts/shop.bad/v1.schema.json"]
    assert "shop.bad" not in registry


# -- which version an event names --------------------------------------------------------------


@pytest.fixture
def versioned(workspace: WriteWorkspace) -> ContractRegistry:
    registry, problems = load(workspace({f"{PLACED}/v2.schema.json": _v2(), f"{PLACED}/v3.schema.json": _v3()}))
    assert problems == []
    return registry


@pytest.mark.parametrize(("dataschema", "version"), [
    ("urn:seamline:contract:shop.order.placed:v2", 2),
    ("urn:seamline:contract:shop.order.placed:v1", 1),
    ("https://schemas.example/contracts/shop.order.placed/v1.schema.json", 1),
    ("https://schemas.example/contracts/shop.order.placed/v2.schema.json", 2),
    ("contracts/shop.order.placed/v3.schema.json", 3),
    ("https://schemas.example/shop.order.placed/v2/", 2),
    ("", 3),
    (None, 3),
])
def test_version_for_dataschema(versioned: ContractRegistry, dataschema: str | None, version: int) -> None:
    event = order_event(**({} if dataschema is None else {"dataschema": dataschema}))
    found = versioned.version_for(event)
    assert isinstance(found, ContractVersion), found
    assert (found.type, found.version) == ("shop.order.placed", version)


@pytest.mark.parametrize("dataschema", [
    "urn:seamline:contract:shop.order.placed:v4",
    "urn:seamline:contract:shop.order.placed:v0",
    "urn:seamline:contract:shop.order.placed:v02",
    "https://schemas.example/shop.order.placed.json",
    "v2.json",
])
def test_version_for_unknown_version(versioned: ContractRegistry, dataschema: str) -> None:
    found = versioned.version_for(order_event(dataschema=dataschema))
    assert found == f"dataschema {dataschema!r} names no version of shop.order.placed (have v1, v2, v3)"


def test_version_for_unknown_type(versioned: ContractRegistry) -> None:
    found = versioned.version_for({"type": "shop.order.shipped"})
    assert found == "no contract for event type 'shop.order.shipped' (known: shop.order.accepted, shop.order.placed)"


# -- checking events ---------------------------------------------------------------------------


def test_check_event_valid(versioned: ContractRegistry) -> None:
    outcome = versioned.check_event(order_event())
    assert outcome.ok and outcome.violations == [] and outcome.problem is None
    assert outcome.contract.version == 3


def test_check_event_uses_the_named_version(versioned: ContractRegistry) -> None:
    event = order_event()
    event["data"]["note"] = "gift"
    assert not versioned.check_event({**event, "dataschema": "urn:seamline:contract:shop.order.placed:v1"}).ok
    outcome = versioned.check_event({**event, "dataschema": "urn:seamline:contract:shop.order.placed:v2"})
    assert outcome.ok and outcome.contract.version == 2


def test_check_event_data_violation_has_a_data_path(versioned: ContractRegistry) -> None:
    event = order_event(lines=[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 0}])
    outcome = versioned.check_event(event)
    assert not outcome.ok and outcome.problem is None
    assert outcome.contract.version == 3
    assert outcome.violations == [("$.data.lines[1].qty", "0 is less than the minimum of 1")]
    assert outcome.describe() == "shop.order.placed v3: $.data.lines[1].qty: 0 is less than the minimum of 1"


def test_check_event_missing_data_field(versioned: ContractRegistry) -> None:
    event = order_event()
    del event["data"]["currency"]
    outcome = versioned.check_event(event)
    assert outcome.violations == [("$.data", "'currency' is a required property")]


def test_check_event_format_is_asserted_for_contracts(workspace: WriteWorkspace) -> None:
    schema = {"$schema": DRAFT, "type": "object", "properties": {"on": {"type": "string", "format": "date"}}}
    registry, _ = load(workspace({"contracts/shop.dated/v1.schema.json": schema}))
    event = {"specversion": "1.0", "id": "1", "source": "/s", "type": "shop.dated", "data": {"on": "2026-02-30"}}
    assert registry.check_event(event).violations == [("$.data.on", "'2026-02-30' is not a 'date'")]


def test_check_event_envelope_problem(versioned: ContractRegistry) -> None:
    event = order_event()
    del event["source"]
    outcome = versioned.check_event(event)
    assert not outcome.ok
    assert outcome.contract is None
    assert outcome.violations == [("$", "'source' is a required property")]


def test_check_event_without_contract_or_version(versioned: ContractRegistry) -> None:
    outcome = versioned.check_event({**order_event(), "type": "shop.order.shipped"})
    assert not outcome.ok and outcome.contract is None and outcome.violations == []
    assert outcome.describe().startswith("no contract for event type 'shop.order.shipped'")
    outcome = versioned.check_event(order_event(dataschema="urn:seamline:contract:shop.order.placed:v9"))
    assert not outcome.ok and "names no version" in outcome.problem


# -- examples ----------------------------------------------------------------------------------


def test_examples_are_discovered_and_checked(workspace: WriteWorkspace) -> None:
    root = workspace({
        f"{PLACED}/examples/valid/two_lines.json": order_event(),
        f"{PLACED}/examples/invalid/zero_qty.json": order_event(lines=[{"sku": "A", "qty": 0}]),
    })
    registry, problems = load(root)
    assert problems == []
    assert registry.get("shop.order.placed").examples == (
        (f"{PLACED}/examples/valid/two_lines.json", True),
        (f"{PLACED}/examples/invalid/zero_qty.json", False),
    )
    assert check_examples(root, registry) == []


def test_a_valid_example_that_fails(workspace: WriteWorkspace) -> None:
    example = order_event(lines=[{"sku": "A", "qty": 1}, {"sku": "B", "qty": "2"}])
    text = json.dumps(example, indent=2)
    root = workspace({f"{PLACED}/examples/valid/string_qty.json": text})
    registry, _ = load(root)
    problems = check_examples(root, registry)
    assert len(problems) == 1
    problem = problems[0]
    assert problem.code == "contract.example_invalid"
    assert problem.file == f"{PLACED}/examples/valid/string_qty.json"
    assert problem.line == next(i for i, line in enumerate(text.splitlines(), 1) if '"2"' in line)
    assert "$.data.lines[1].qty" in problem.message and "'2' is not of type 'integer'" in problem.message


def test_a_valid_example_with_a_bad_envelope(workspace: WriteWorkspace) -> None:
    root = workspace({f"{PLACED}/examples/valid/no_id.json": {k: v for k, v in order_event().items() if k != "id"}})
    registry, _ = load(root)
    problems = check_examples(root, registry)
    assert [(p.code, p.line) for p in problems] == [("contract.example_invalid", 1)]
    assert "'id' is a required property" in problems[0].message


def test_an_invalid_example_that_passes(workspace: WriteWorkspace) -> None:
    root = workspace({f"{PLACED}/examples/invalid/actually_fine.json": order_event()})
    registry, _ = load(root)
    problems = check_examples(root, registry)
    assert [(p.file, p.code) for p in problems] == [
        (f"{PLACED}/examples/invalid/actually_fine.json", "contract.example_valid")]


def test_an_example_with_broken_json(workspace: WriteWorkspace) -> None:
    root = workspace({f"{PLACED}/examples/valid/broken.json": '{\n  "id": \n}\n'})
    registry, _ = load(root)
    problems = check_examples(root, registry)
    assert [(p.code, p.line) for p in problems] == [("json.syntax", 3)]


@pytest.mark.parametrize(("path", "parts"), [
    ("$", ()),
    ("$.data", ("data",)),
    ("$.lines[2].amount", ("lines", 2, "amount")),
    ("$[0][1]", (0, 1)),
])
def test_parse_json_path(path: str, parts: tuple[str | int, ...]) -> None:
    assert parse_json_path(path) == parts


# -- the repository's own contracts ------------------------------------------------------------


@pytest.fixture(scope="module")
def repo_contracts() -> ContractRegistry:
    registry, problems = load_contracts(REPO)
    assert [str(p) for p in problems] == []
    return registry


def test_repository_contracts_load_cleanly(repo_contracts: ContractRegistry) -> None:
    folders = sorted(p.name for p in (REPO / "contracts").iterdir() if p.is_dir())
    assert sorted(repo_contracts.contracts) == folders
    for contract in repo_contracts.contracts.values():
        assert contract.versions, contract.type
        assert any(valid for _, valid in contract.examples), f"{contract.type} has no valid example"
        assert any(not valid for _, valid in contract.examples), f"{contract.type} has no invalid example"


def test_repository_examples_pass_check_examples(repo_contracts: ContractRegistry) -> None:
    assert [str(p) for p in check_examples(REPO, repo_contracts)] == []


REPO_EXAMPLES = sorted(REPO.glob("contracts/*/examples/*/*.json"))


@pytest.mark.parametrize("file", REPO_EXAMPLES, ids=[p.relative_to(REPO / "contracts").as_posix() for p in REPO_EXAMPLES])
def test_repository_example_behaves(repo_contracts: ContractRegistry, file: Path) -> None:
    kind = file.parent.name
    assert kind in ("valid", "invalid")
    outcome = repo_contracts.check_event(json.loads(file.read_text(encoding="utf-8")))
    if kind == "valid":
        assert outcome.ok, outcome.describe()
    else:
        # invalid because of its data, not because of the envelope or an unknown version
        assert not outcome.ok
        assert outcome.problem is None and outcome.contract is not None, outcome.describe()
        assert all(path.startswith("$.data") for path, _ in outcome.violations), outcome.violations

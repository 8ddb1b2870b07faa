"""runtime.compiler.workspace: the whole workspace compiled in one pass into one Plan."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.compiler.workspace import check_workspace, compile_workspace
from runtime.errors import FlowError
from runtime.spec.retry import RetryPolicy
from tests.conftest import ORDER_ACCEPTED, ORDER_PLACED, WriteWorkspace

PLACE = """\
flow: place
version: 1.2.0
description: Reserve stock and accept the order.
on: { event: shop.order.placed, filter: "data.currency != 'GBP'" }
key: data.order_id
sla: 5m
vars:
  vat: ${ lookup('rates', data.currency).vat }
steps:
  - id: reserve
    call: wms.reserve
    with: { template: templates/reserve.json.j2 }
  - id: accept
    emit: shop.order.accepted
    data: { order_id: "${ data.order_id }", count: "${ length(data.lines) }" }
on_error: { compensate: true, then: fail }
"""

AUDIT = """\
flow: audit
on: { event: shop.order.placed }
steps:
  - id: log
    call: wms.release
"""

NIGHTLY = """\
flow: nightly
on: { schedule: "0 2 * * *" }
steps:
  - id: sweep
    call: wms.release
"""

FILES: dict[str, Any] = {
    "flows/place.yaml": PLACE,
    "flows/audit.yaml": AUDIT,
    "flows/nightly.yaml": NIGHTLY,
    "flows/templates/reserve.json.j2": '{"sku": {{ data.lines[0].sku | tojson }}}\n',
    "flows/lookups/countries.csv": "code,name,region\nDE,Germany,EU\nUS,United States,NA\n",
}


@pytest.fixture
def root(workspace: WriteWorkspace) -> Path:
    return workspace(FILES)


def test_counts(root: Path) -> None:
    (root / "contracts/shop.order.accepted/v2.schema.json").write_text(json.dumps(ORDER_ACCEPTED))
    report = check_workspace(root)
    assert report.diagnostics == []
    assert report.ok
    assert report.counts == {
        "flows": 3,
        "contracts": 2,
        "contract_versions": 3,
        "connectors": 1,
        "lookups": 2,
        "templates": 1,
    }


def test_plan_holds_every_flow_compiled(root: Path) -> None:
    plan = compile_workspace(root)
    assert plan.root == str(root.resolve())
    assert sorted(plan.flows) == ["audit", "nightly", "place"]
    place = plan.flows["place"]
    assert (place.name, place.version, place.description) == (
        "place",
        "1.2.0",
        "Reserve stock and accept the order.",
    )
    assert place.file == "flows/place.yaml"
    assert (place.event_type, place.schedule) == ("shop.order.placed", None)
    assert place.filter is not None and place.filter.source == "data.currency != 'GBP'"
    assert place.key is not None and place.key.source == "data.order_id"
    assert place.sla_seconds == 300.0
    assert [name for name, _ in place.vars] == ["vat"]
    assert [step.id for step in place.steps] == ["reserve", "accept"]
    assert [step.kind for step in place.steps] == ["call", "emit"]
    assert (place.compensate, place.then) == (True, "fail")
    nightly = plan.flows["nightly"]
    assert (nightly.event_type, nightly.schedule, nightly.key) == (None, "0 2 * * *", None)
    assert (nightly.compensate, nightly.then) == (False, "dead_letter")
    assert sorted(plan.connectors) == ["wms"]
    assert sorted(plan.contracts.contracts) == ["shop.order.accepted", "shop.order.placed"]


def test_by_event_routes_each_event_type_to_its_flows(root: Path) -> None:
    plan = compile_workspace(root)
    assert dict(plan.by_event) == {"shop.order.placed": ("audit", "place")}
    assert [f.name for f in plan.flows_for("shop.order.placed")] == ["audit", "place"]
    assert plan.flows_for("shop.order.accepted") == []


# -- content hashes --------------------------------------------------------------------------------


def _hashes(root: Path) -> dict[str, str]:
    return {name: flow.content_hash for name, flow in compile_workspace(root).flows.items()}


def _append(rel: str, text: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        path = root / rel
        path.write_text(path.read_text() + text)

    return edit


def _write_json(rel: str, value: Any) -> Callable[[Path], None]:
    return lambda root: (root / rel).write_text(json.dumps(value))


def _widen(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "properties": {**schema["properties"], "extra": {"type": "string"}}}


@pytest.mark.parametrize(
    ("edit", "changed"),
    [
        pytest.param(
            _append("flows/place.yaml", "# a comment is a change\n"), {"place"}, id="the flow file"
        ),
        pytest.param(
            _append("flows/templates/reserve.json.j2", " "), {"place"}, id="a template it uses"
        ),
        pytest.param(
            _append("flows/lookups/rates.yaml", "GBP: { vat: 0.2 }\n"),
            {"place"},
            id="a lookup it uses",
        ),
        pytest.param(
            _write_json("contracts/shop.order.placed/v1.schema.json", _widen(ORDER_PLACED)),
            {"place", "audit"},
            id="the contract of its trigger",
        ),
        pytest.param(
            _write_json("contracts/shop.order.accepted/v1.schema.json", _widen(ORDER_ACCEPTED)),
            {"place"},
            id="the contract it emits",
        ),
        pytest.param(
            _append("flows/audit.yaml", "description: unrelated\n"),
            {"audit"},
            id="an unrelated flow",
        ),
        pytest.param(
            _append("flows/lookups/countries.csv", "FR,France,EU\n"), set(), id="an unused lookup"
        ),
        pytest.param(
            _append("connectors/wms.yaml", "description: warehouse\n"), set(), id="a connector"
        ),
    ],
)
def test_content_hash_follows_exactly_what_a_flow_uses(
    root: Path, edit: Callable[[Path], None], changed: set[str]
) -> None:
    before = _hashes(root)
    edit(root)
    after = _hashes(root)
    assert {name for name in before if before[name] != after[name]} == changed


def test_content_hash_is_a_sha256_independent_of_where_the_workspace_lives(
    root: Path, tmp_path: Path
) -> None:
    copy = shutil.copytree(root, tmp_path / "elsewhere")
    first, second = _hashes(root), _hashes(copy)
    assert first == second
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in first.values())
    assert len(set(first.values())) == 3
    assert _hashes(root) == first  # stable across compiles


def test_workspace_hash_changes_with_any_flow(root: Path) -> None:
    before = compile_workspace(root).workspace_hash
    _append("flows/audit.yaml", "\n")(root)
    assert compile_workspace(root).workspace_hash != before


# -- errors ------------------------------------------------------------------------------------------


def test_compile_workspace_raises_one_flow_error_with_every_diagnostic(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            **FILES,
            "flows/audit.yaml": AUDIT.replace("wms.release", "wms.relase"),
            "flows/nightly.yaml": NIGHTLY.replace("sweep", "Sweep"),
        }
    )
    report = check_workspace(root)
    assert report.plan is None and not report.ok
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    lines = [
        "flows/audit.yaml:5:11: steps[0].call: connector `wms` has no operation `relase` "
        "(hint: did you mean `release`?) [ref.unknown_operation]",
        "flows/nightly.yaml:4:9: steps[0].id: 'Sweep' is not a snake_case name (lower-case letters, digits, "
        "underscores; starts with a letter) [spec.string_pattern_mismatch]",
    ]
    assert [str(d) for d in caught.value.diagnostics] == lines
    assert caught.value.diagnostics == report.diagnostics
    assert str(caught.value) == "2 problems found\n  " + "\n  ".join(lines)


def test_a_clean_workspace_has_a_plan_and_no_diagnostics(root: Path) -> None:
    report = check_workspace(root)
    assert report.plan is not None and report.ok and report.diagnostics == []
    assert report.root == root.resolve()


def test_an_empty_folder_is_an_empty_but_valid_workspace(tmp_path: Path) -> None:
    report = check_workspace(tmp_path)
    assert report.ok and report.plan is not None
    assert report.counts == {
        "flows": 0,
        "contracts": 0,
        "contract_versions": 0,
        "connectors": 0,
        "lookups": 0,
        "templates": 0,
    }


# -- lookups -------------------------------------------------------------------------------------------


def test_lookups_from_yaml_and_csv(root: Path) -> None:
    plan = compile_workspace(root)
    assert plan.lookups["rates"] == {"EUR": {"vat": 0.2}, "USD": {"vat": 0.0}}
    assert plan.lookups["countries"] == {
        "DE": {"code": "DE", "name": "Germany", "region": "EU"},
        "US": {"code": "US", "name": "United States", "region": "NA"},
    }


def test_yaml_lookup_keys_become_strings(workspace: WriteWorkspace) -> None:
    plan = compile_workspace(workspace({"flows/lookups/codes.yaml": "100: hundred\n7: seven\n"}))
    assert plan.lookups["codes"] == {"100": "hundred", "7": "seven"}


def test_csv_lookup_duplicate_key(workspace: WriteWorkspace) -> None:
    root = workspace(
        {"flows/lookups/countries.csv": "code,name\nDE,Germany\nUS,United States\nDE,Deutschland\n"}
    )
    assert [str(d) for d in check_workspace(root).diagnostics] == [
        "flows/lookups/countries.csv:4:1: key 'DE' appears twice "
        "(hint: keys in the first column must be unique) [lookup.duplicate_key]"
    ]


def test_csv_lookup_without_rows(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/lookups/countries.csv": "code,name\n"})
    assert [str(d) for d in check_workspace(root).diagnostics] == [
        "flows/lookups/countries.csv:1:1: CSV lookup table has no rows "
        "(hint: the first row names the columns; the first column is the key) [lookup.empty]"
    ]


def test_yaml_lookup_must_be_a_mapping(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/lookups/rates.yaml": "- EUR\n- USD\n"})
    assert [str(d) for d in check_workspace(root).diagnostics] == [
        "flows/lookups/rates.yaml:1:1: (document): a lookup table is a mapping of key: value "
        "(hint: write one `KEY: value` line per entry) [lookup.not_mapping]"
    ]


def test_yaml_lookup_syntax_error(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/lookups/rates.yaml": "EUR: { vat: 0.2\n"})
    [diagnostic] = check_workspace(root).diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.code) == (
        "flows/lookups/rates.yaml",
        2,
        "yaml.syntax",
    )


# -- settings ------------------------------------------------------------------------------------------


def test_settings_default_without_seamline_yaml(root: Path) -> None:
    settings = compile_workspace(root).settings
    assert (settings.host, settings.port, settings.store) == (
        "127.0.0.1",
        8080,
        "sqlite:///.seamline/seamline.db",
    )
    assert settings.retry_policies == {}
    assert settings.default_retry == RetryPolicy()


def test_settings_from_seamline_yaml(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "seamline.yaml": """\
            store: postgresql://db/seamline
            port: 9000
            retry_policies:
              patient: { attempts: 8, backoff: linear, delay: 2s, max_delay: 30s }
            default_retry: { attempts: 4 }
        """,
            "flows/place.yaml": AUDIT.replace("flow: audit", "flow: place")
            + "    retry: patient\n",
        }
    )
    plan = compile_workspace(root)
    assert plan.settings.port == 9000
    assert plan.settings.store == "postgresql://db/seamline"
    assert plan.settings.retry_policies["patient"] == RetryPolicy(
        attempts=8, backoff="linear", delay="2s", max_delay="30s"
    )
    assert plan.settings.default_retry.attempts == 4
    assert plan.flows["place"].steps[0].retry == plan.settings.retry_policies["patient"]


def test_call_steps_without_retry_take_the_default_retry(workspace: WriteWorkspace) -> None:
    root = workspace(
        {"seamline.yaml": "default_retry: { attempts: 7 }\n", "flows/audit.yaml": AUDIT}
    )
    assert compile_workspace(root).flows["audit"].steps[0].retry.attempts == 7


def test_empty_seamline_yaml_means_defaults(workspace: WriteWorkspace) -> None:
    assert compile_workspace(workspace({"seamline.yaml": "# nothing yet\n"})).settings.port == 8080


def test_bad_settings_are_reported_with_positions(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "seamline.yaml": """\
            port: 70000
            retry_policies:
              fast: { attempts: 2, delay: 10s, max_delay: 1s }
              Slow: { attempts: 2 }
            max_event_byte: 10
        """,
        }
    )
    assert [str(d) for d in check_workspace(root).diagnostics] == [
        "seamline.yaml:1:7: port: must be less than or equal to 65535, got the number 70000 [spec.less_than_equal]",
        "seamline.yaml:3:9: retry_policies.fast: max_delay must not be shorter than delay [spec.value_error]",
        "seamline.yaml:4:3: retry_policies.Slow: 'Slow' is not a snake_case name (lower-case letters, digits, "
        "underscores; starts with a letter) [spec.string_pattern_mismatch]",
        "seamline.yaml:5:1: max_event_byte: unknown key `max_event_byte` (hint: did you mean `max_event_bytes`?) "
        "[spec.unknown_key]",
    ]


def test_settings_that_are_not_a_mapping(workspace: WriteWorkspace) -> None:
    root = workspace({"seamline.yaml": "- port\n"})
    [diagnostic] = check_workspace(root).diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == ("seamline.yaml", 1, 1)

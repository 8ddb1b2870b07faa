"""`seamline test` (pytest with the plugin, pytest's exit code) and `seamline catalog`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.catalog import build_catalog
from runtime.catalog._pages import field_rows
from runtime.cli.main import cli
from runtime.compiler.workspace import compile_workspace
from tests.conftest import REPO
from tests.testing._run import EURO_CASE, shop

FILE = "tests/flows/reserve_order.yaml"


def test_seamline_test_is_pytest_with_junit_and_the_coverage_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + EURO_CASE})
    monkeypatch.chdir(root)
    junit = tmp_path / "out" / "junit.xml"
    args = [
        "test",
        "--junit",
        str(junit),
        "--cov-fail-under",
        "90",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:unraisableexception",
    ]
    with pytest.raises(SystemExit) as exited:
        cli.main(args, standalone_mode=False)
    assert exited.value.code == 1  # every item passed; the coverage did not
    out = capsys.readouterr().out
    names = {c.get("name") for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"euro order", "loads"} <= names
    assert "reserve_order  cases   1  steps     3/4  switch arms   1/2   66.7 %" in out
    assert "FAIL: flow coverage 66.7 % is below --flow-cov-fail-under 90" in out


def test_seamline_test_passes_paths_and_pytest_options_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + EURO_CASE})
    monkeypatch.chdir(root)
    args = ["test", FILE, "-p", "no:cacheprovider", "-p", "no:unraisableexception"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert CliRunner().invoke(cli, [*args, "-k", "nothing"]).exit_code == 5  # no tests ran


def test_the_catalog_describes_events_flows_and_versions() -> None:
    catalog = build_catalog(compile_workspace(REPO))
    won = catalog.event("crm.opportunity.closed_won")
    assert won is not None
    assert [v.number for v in won.versions][:2] == [1, 2]
    assert won.consumers == ["opportunity_to_project"]
    activated = catalog.event("ps.project.activated")
    assert activated is not None and activated.emitters == [
        ("opportunity_to_project", "project_activated", 1)
    ]
    polled = catalog.event("legacy.invoice.changed")
    assert polled is not None and polled.sources == [("legacy_erp.invoice_changes", "SQL watermark")]
    assert polled.consumers == ["legacy_invoice_status"]
    rows = field_rows(won.versions[-1].schema)
    assert [
        "`account.tax_id`",
        "string (pattern `^[A-Z0-9][A-Z0-9-]{4,19}$`)",
        "yes",
        "Customer tax registration number; the key used to find the ERP customer.",
    ] in rows
    assert any(r[0] == "`lines[].amount`" for r in rows)


def test_seamline_catalog_writes_asyncapi_markdown_and_html(tmp_path: Path) -> None:
    out = tmp_path / "catalog"
    result = CliRunner().invoke(cli, ["catalog", str(REPO), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "asyncapi.json").read_text())
    assert (
        doc["asyncapi"] == "3.0.0" and doc["defaultContentType"] == "application/cloudevents+json"
    )
    channel = doc["channels"]["crm.opportunity.closed_won"]
    assert channel["address"] == "crm.opportunity.closed_won"
    assert {"crm.opportunity.closed_won.v1", "crm.opportunity.closed_won.v2"} <= set(
        channel["messages"]
    )
    receive = doc["operations"]["opportunity_to_project.receive.crm.opportunity.closed_won"]
    assert receive["action"] == "receive"
    assert len(receive["messages"]) == len(channel["messages"])  # a flow accepts every version
    send = doc["operations"]["opportunity_to_project.project_activated.send.ps.project.activated"]
    assert send["action"] == "send"
    polled = doc["operations"]["legacy_erp.invoice_changes.send.legacy.invoice.changed"]
    assert polled["action"] == "send" and polled["x-seamline-source"] == "legacy_erp.invoice_changes"
    message = doc["components"]["messages"]["ps.project.activated.v1"]
    envelope = message["payload"]["schema"]
    assert message["payload"]["schemaFormat"] == "application/schema+json;version=draft-2020-12"
    assert envelope["properties"]["type"] == {"const": "ps.project.activated"}
    assert envelope["properties"]["data"]["$id"] == "urn:seamline:contract:ps.project.activated:v1"
    assert {e["name"] for e in message["examples"]} == {
        "fixed_fee_us",
        "milestone_uk",
        "time_and_materials_de_no_tasks_yet",
    }
    # every AsyncAPI reference resolves inside the document (contract schemas keep their own
    # `#/$defs/…` references, relative to their `$id`)
    text = json.dumps(doc)
    refs = {r.split('"')[0] for r in text.split('"$ref": "')[1:]}
    for ref in {r for r in refs if r.startswith(("#/channels/", "#/components/"))}:
        target: object = doc
        for part in ref.lstrip("#/").split("/"):
            assert isinstance(target, dict) and part in target, ref
            target = target[part]
    readme = (out / "README.md").read_text()
    assert "| [`crm.opportunity.closed_won`](#crmopportunityclosed_won) | crm | v1, v2" in readme
    assert "`` length(data.entries[?billable]) > `0` ``" in readme
    page = (out / "index.html").read_text()
    assert page.startswith("<!doctype html>") and '<h2 id="crmopportunityclosed_won">' in page
    again = CliRunner().invoke(cli, ["catalog", str(REPO), "--out", str(out), "--check"])
    assert again.exit_code == 0 and "catalog is up to date" in again.output
    (out / "README.md").write_text("stale")
    stale = CliRunner().invoke(cli, ["catalog", str(REPO), "--out", str(out), "--check"])
    assert stale.exit_code == 1 and "out of date" in stale.output


def test_the_test_file_schema_accepts_every_reference_test_file() -> None:
    from jsonschema import Draft202012Validator

    from runtime.loader.source import parse_yaml
    from runtime.schema import json_schema

    validator = Draft202012Validator(json_schema("test"))
    files = sorted((REPO / "tests" / "flows").glob("*.yaml"))
    assert len(files) >= 6
    for file in files:
        data = json.loads(json.dumps(parse_yaml(file.read_text(encoding="utf-8"), "t").data))
        assert [e.message for e in validator.iter_errors(data)] == [], file.name
    assert not validator.is_valid(
        {"flow": "x", "cases": [{"name": "n", "event": "e.json", "expect": {"status": "done"}}]}
    )

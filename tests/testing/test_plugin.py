"""The pytest plugin end to end: collection, failure messages, JUnit XML, coverage gate."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.testing._run import EURO_CASE, run_pytest, shop

FILE = "tests/flows/reserve_order.yaml"

WRONG_CASE = """\
  - name: dollar order
    event: { data: { order_id: O2, currency: USD, lines: [ { sku: B, qty: 1 } ] } }
    expect:
      status: succeeded
      output: { reservation: R-X }
      calls:
        - { step: reserve_other, input: { sku: B, currency: EUR } }
"""


def test_the_plugin_is_registered_as_a_pytest11_entry_point() -> None:
    found = list(entry_points(group="pytest11", name="seamline"))
    assert [e.value for e in found] == ["runtime.testing.plugin"]


def test_cases_pass_and_failures_point_at_the_test_file_with_a_diff(tmp_path: Path) -> None:
    root = shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + EURO_CASE + WRONG_CASE})
    out = run_pytest(root)
    assert out.code == 1
    assert f"{FILE}::euro order" in out.passed
    text = out.failed[f"{FILE}::dollar order"]
    assert text.startswith(
        f"{FILE}:12:15: cases[1].expect.output: flow output does not match (subset)\n"
        "    --- expected\n"
        "    +++ actual (keys not expected are left out)\n"
        "    @@ -1,3 +1,3 @@\n"
        "     {\n"
        '    -  "reservation": "R-X"\n'
        '    +  "reservation": "R-B"\n'
        "     }\n"
        f"{FILE}:14:41: cases[1].expect.calls[0].input: calls[0] (reserve_other -> wms.reserve): "
        "input does not match (subset)\n"
    )
    assert '    -  "currency": "EUR",\n    +  "currency": "USD",' in text
    assert "the run: reserve_order succeeded\n  check [switch] succeeded (took arm else)" in text


def test_junit_xml_names_each_case_and_carries_the_failure(tmp_path: Path) -> None:
    root = shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + EURO_CASE + WRONG_CASE})
    junit = tmp_path / "junit.xml"
    run_pytest(root, "--junitxml", str(junit))
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert {"euro order", "dollar order", "loads"} <= set(cases)
    failure = cases["dollar order"].find("failure")
    assert failure is not None and f"{FILE}:12:15: cases[1].expect.output" in (failure.text or "")
    assert cases["euro order"].find("failure") is None


def test_coverage_is_reported_and_gates_the_session(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + EURO_CASE})
    report = tmp_path / "cov.json"
    out = run_pytest(root, "--flow-cov-fail-under", "100", "--flow-cov-report", str(report))
    text = capsys.readouterr().out
    assert out.failed == {}
    assert out.code == 1  # every test passed, but the else arm never ran
    assert "reserve_order  cases   1  steps     3/4  switch arms   1/2   66.7 %" in text
    assert "not covered: step reserve_other, arm check[else]" in text
    assert "FAIL: flow coverage 66.7 % is below --flow-cov-fail-under 100" in text
    data = json.loads(report.read_text())
    assert data["percent"] == 66.67
    assert data["flows"]["reserve_order"]["switch_arms"] == {
        "check[0] if data.currency == 'EUR'": True,
        "check[else]": False,
    }
    dollars = EURO_CASE.replace("euro order", "dollar order").replace("EUR", "USD")
    (root / FILE).write_text("flow: reserve_order\ncases:\n" + EURO_CASE + dollars)
    assert run_pytest(root, "--flow-cov-fail-under", "100").code == 0


def test_a_test_file_that_does_not_load_fails_with_its_positions(tmp_path: Path) -> None:
    bad = "flow: reserve_order\ncases:\n  - name: x\n    event: a.json\n    expect: { status: done }\n"
    out = run_pytest(shop(tmp_path, {FILE: bad}))
    assert out.code == 1
    text = out.failed[f"{FILE}::load"]
    assert text.startswith(f"{FILE}:5:23: cases[0].expect.status:")
    assert "[spec.literal_error]" in text


def test_file_and_case_problems_are_reported_where_they_are(tmp_path: Path) -> None:
    content = "flow: reserve_order\nmocks:\n  wms.reserv: { output: 1 }\ncases:\n" + EURO_CASE
    out = run_pytest(shop(tmp_path, {FILE: content}))
    assert out.failed[f"{FILE}::euro order"] == (
        f"{FILE}:3:3: mocks.wms.reserv: mock 'wms.reserv' answers no step id or connector.operation"
        " of flow reserve_order (hint: did you mean `wms.reserve`?) [test.unknown_mock]"
    )
    case = EURO_CASE.replace("event: {", "event: missing.json\n    x: {").replace(
        "    x: {", "    # {"
    )
    broken = case + "    events: [ missing2.json ]\n"
    out = run_pytest(shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + broken}))
    text = out.failed[f"{FILE}::euro order"]
    assert f"{FILE}:4:12: cases[0].event: event file missing.json does not exist" in text
    assert "[test.missing_file]" in text


def test_assert_expressions_are_checked_at_load_and_at_run(tmp_path: Path) -> None:
    case = EURO_CASE + '      assert:\n        - "length(calls) == `2`"\n        - "calls[0"\n'
    out = run_pytest(shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + case}))
    assert out.failed[f"{FILE}::euro order"].startswith(
        f"{FILE}:10:19: cases[0].expect.assert[1]: JMESPath syntax error: the expression ends too early"
    )
    case = EURO_CASE + '      assert:\n        - "length(calls) == `2`"\n'
    text = run_pytest(shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + case})).failed[
        f"{FILE}::euro order"
    ]
    assert text.startswith(
        f"{FILE}:9:11: cases[0].expect.assert[0]: assert `length(calls) == `2`` is not truthy\n"
        "    expected: true\n    actual:   false"
    )


def test_emitted_events_are_checked_against_their_contract(tmp_path: Path) -> None:
    case = EURO_CASE + (
        "      emitted:\n"
        "        - { type: shop.order.accepted, data: { order_id: O1, count: 1 }, match: equal }\n"
    )
    out = run_pytest(shop(tmp_path, {FILE: "flow: reserve_order\ncases:\n" + case}))
    assert out.code == 0, out.failed


def test_contract_examples_schemas_and_compatibility_are_test_items(tmp_path: Path) -> None:
    placed = "contracts/shop.order.placed"
    files = {
        f"{placed}/examples/valid/one_line.json": {
            "specversion": "1.0",
            "id": "1",
            "source": "/shop",
            "type": "shop.order.placed",
            "dataschema": "urn:seamline:contract:shop.order.placed:v1",
            "data": {"order_id": "O1", "currency": "EUR", "lines": [{"sku": "A", "qty": 1}]},
        },
        f"{placed}/examples/invalid/lower_case.json": {
            "specversion": "1.0",
            "id": "2",
            "source": "/shop",
            "type": "shop.order.placed",
            "dataschema": "urn:seamline:contract:shop.order.placed:v1",
            "data": {"order_id": "O1", "currency": "EUR", "lines": [{"sku": "A", "qty": 1}]},
        },
        f"{placed}/v2.schema.json": {
            **json.loads(json.dumps(__import__("tests.conftest").conftest.ORDER_PLACED)),
            "required": ["order_id", "currency", "lines", "channel"],
        },
    }
    out = run_pytest(shop(tmp_path, files))
    assert f"{placed}/examples/valid/one_line.json::valid" in out.passed
    assert f"{placed}/v1.schema.json::loads" in out.passed
    assert out.failed[f"{placed}/examples/invalid/lower_case.json::invalid"] == (
        f"{placed}/examples/invalid/lower_case.json:1:1: invalid example validates against its "
        "contract (an example under examples/invalid must violate the schema) [contract.example_valid]"
    )
    text = out.failed[f"{placed}/v2.schema.json::backward[v1]"]
    assert text.splitlines()[0] == (
        "shop.order.placed (BACKWARD_TRANSITIVE): v2 must read all data valid under v1"
    )
    assert text.splitlines()[1].startswith(f"{placed}/v2.schema.json:4:15: #/required: ")
    assert '"channel"' in text and "[compat.required]" in text


def test_a_bare_pytest_adds_the_contracts_to_its_testpaths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = shop(
        tmp_path,
        {
            FILE: "flow: reserve_order\ncases:\n" + EURO_CASE,
            "pyproject.toml": '[tool.pytest.ini_options]\ntestpaths = ["tests"]\n',
        },
    )
    monkeypatch.chdir(root)
    from tests.testing._run import Outcome, _Recorder

    outcome = Outcome(0)
    code = pytest.main(
        ["-p", "no:cacheprovider", "-p", "no:unraisableexception", "-q"],
        plugins=[_Recorder(outcome)],
    )
    assert int(code) == 0
    assert "contracts/shop.order.placed/v1.schema.json::loads" in outcome.passed
    assert f"{FILE}::euro order" in outcome.passed


def test_outside_a_workspace_the_plugin_does_nothing(tmp_path: Path) -> None:
    (tmp_path / "tests" / "flows").mkdir(parents=True)
    (tmp_path / "tests" / "flows" / "x.yaml").write_text("not: a test\n")
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert True\n")
    out = run_pytest(tmp_path)
    assert out.code == 0 and out.passed == {"test_one.py::test_one"}

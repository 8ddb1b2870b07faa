"""`seamline run FLOW --event FILE`: one in-process run with a step-by-step trace."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from tests.conftest import WriteWorkspace, order_event

PLACE = """\
flow: place
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: reserve_all
    for_each: data.lines
    as: line
    steps:
      - id: reserve_line
        call: wms.reserve
        with: { sku: "${ line.sku }" }
  - id: accept
    emit: shop.order.accepted
    subject: "${ data.order_id }"
    data: { order_id: "${ data.order_id }", count: "${ length(steps.reserve_all.output) }" }
output: { reservations: "${ steps.reserve_all.output[].reservation }" }
"""

SHIP = """\
flow: ship
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
  - id: send
    call: wms.ship
    with: { reservation: "${ steps.reserve.output.reservation }" }
"""


@pytest.fixture
def root(workspace: WriteWorkspace) -> Path:
    return workspace({"flows/place.yaml": PLACE, "flows/ship.yaml": SHIP})


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(order_event()))
    return path


def write_json(path: Path, value: Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def invoke(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["run", "--workspace", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def run_json(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    code, out = invoke(root, *args, "--json")
    return code, json.loads(out)


def normalise(text: str) -> list[str]:
    text = re.sub(r"\brun [0-9a-f]{20}\b", "run RUN", text)
    text = re.sub(r"\bhash [0-9a-f]{12}\b", "hash HASH", text)
    text = re.sub(r"\b\d+\.\d ms\b", "N ms", text)
    return text.splitlines()


# -- the trace ----------------------------------------------------------------------------------------


def test_successful_run_prints_each_step_with_input_and_output(
    root: Path, event_file: Path
) -> None:
    code, out = invoke(root, "place", "--event", str(event_file))
    assert code == 0
    lines = normalise(out)
    assert lines[:10] == [
        'place v0.1.0  run RUN  key "O1"  hash HASH',
        "  ✓ reserve_all for_each N ms",
        '      out: [{"reservation": "R-A"}, {"reservation": "R-B"}]',
        "    ✓ reserve_all[0].reserve_line call N ms",
        '        in:  {"sku": "A"}',
        '        out: {"reservation": "R-A"}',
        "    ✓ reserve_all[1].reserve_line call N ms",
        '        in:  {"sku": "B"}',
        '        out: {"reservation": "R-B"}',
        "  ✓ accept emit N ms",
    ]
    assert lines[10].startswith('      out: {"specversion": "1.0", "id": ')
    assert lines[11:] == [
        'emitted shop.order.accepted subject=O1 data={"order_id": "O1", "count": 2}',
        lines[12],  # the summary line, pinned below
        'output: {"reservations": ["R-A", "R-B"]}',
    ]
    assert re.fullmatch(r"succeeded in N ms, 2 calls, 1 events? emitted", lines[12])


def test_summary_line_counts_read_well(root: Path, event_file: Path) -> None:
    code, out = invoke(root, "place", "--event", str(event_file))
    assert code == 0
    assert "succeeded in N ms, 2 calls, 1 event emitted" in normalise(out)


def test_flow_may_be_named_by_its_file(root: Path, event_file: Path) -> None:
    code, out = invoke(root, "flows/place.yaml", "--event", str(event_file))
    assert code == 0
    assert normalise(out)[0] == 'place v0.1.0  run RUN  key "O1"  hash HASH'


def test_failing_run_exits_1_and_shows_the_error_code(root: Path, event_file: Path) -> None:
    code, out = invoke(root, "ship", "--event", str(event_file))
    assert code == 1
    assert normalise(out) == [
        'ship v0.1.0  run RUN  key "O1"  hash HASH',
        "  ✓ reserve call N ms",
        '      in:  {"sku": "A"}',
        '      out: {"reservation": "R-A"}',
        "  ✗ send call failed N ms",
        '      in:  {"reservation": "R-A"}',
        "      err: no carrier",
        "dead_lettered in N ms, 2 calls, 0 events emitted",
        "error at step send [connector.permanent]: no carrier",
    ]


def test_invalid_event_is_rejected_with_contract_and_json_path(root: Path, tmp_path: Path) -> None:
    event = order_event(lines=[{"sku": "A", "qty": 0}])
    event["data"]["colour"] = "red"
    bad = write_json(tmp_path / "bad.json", event)
    code, out = invoke(root, "place", "--event", str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"event rejected (contract.violation): {bad}",
        "  contract: shop.order.placed v1",
        "  $.data: Additional properties are not allowed ('colour' was unexpected)",
        "  $.data.lines[0].qty: 0 is less than the minimum of 1",
    ]


def test_event_of_another_type_is_rejected_without_an_empty_path(
    root: Path, tmp_path: Path
) -> None:
    event = {**order_event(), "type": "shop.order.accepted", "data": {"order_id": "O1", "count": 1}}
    other = write_json(tmp_path / "accepted.json", event)
    code, out = invoke(root, "place", "--event", str(other))
    assert code == 1
    assert out.splitlines() == [
        f"event rejected (route.wrong_type): {other}",
        "  flow place is triggered by 'shop.order.placed', not 'shop.order.accepted'",
    ]


def test_envelope_problems_are_reported_once(root: Path, tmp_path: Path) -> None:
    event = order_event()
    del event["specversion"]
    bad = write_json(tmp_path / "bad.json", event)
    code, out = invoke(root, "place", "--event", str(bad))
    assert code == 1
    assert out.splitlines() == [
        f"event rejected (envelope.invalid): {bad}",
        "  $: 'specversion' is a required property",
    ]


def test_rejected_run_as_json(root: Path, tmp_path: Path) -> None:
    bad = write_json(tmp_path / "bad.json", order_event(currency="CHF"))
    code, result = run_json(root, "place", "--event", str(bad))
    assert code == 1
    assert result["status"] == "rejected"
    assert result["trace"] == [] and result["calls"] == [] and result["emitted"] == []
    assert result["error"]["code"] == "contract.violation"
    assert result["error"]["contract"] == "shop.order.placed v1"
    assert result["error"]["violations"] == [
        {"path": "$.data.currency", "message": "'CHF' is not one of ['EUR', 'USD', 'GBP']"}
    ]


# -- --json -------------------------------------------------------------------------------------------


def test_json_result_structure(root: Path, event_file: Path) -> None:
    code, result = run_json(root, "place", "--event", str(event_file))
    assert code == 0
    run_id = result["run_id"]
    assert re.fullmatch(r"[0-9a-f]{20}", run_id)
    assert (result["flow"], result["version"], result["status"], result["key"]) == (
        "place",
        "0.1.0",
        "succeeded",
        "O1",
    )
    assert re.fullmatch(r"[0-9a-f]{64}", result["content_hash"])
    assert result["output"] == {"reservations": ["R-A", "R-B"]}
    assert result["error"] is None
    assert [(s["label"], s["id"], s["kind"], s["status"], s["depth"]) for s in result["trace"]] == [
        ("reserve_all", "reserve_all", "for_each", "succeeded", 0),
        ("reserve_all[0].reserve_line", "reserve_line", "call", "succeeded", 1),
        ("reserve_all[1].reserve_line", "reserve_line", "call", "succeeded", 1),
        ("accept", "accept", "emit", "succeeded", 0),
    ]
    assert result["trace"][1]["input"] == {"sku": "A"} and result["trace"][1]["output"] == {
        "reservation": "R-A"
    }
    assert result["calls"] == [
        {
            "step": "reserve_all[0].reserve_line",
            "operation": "wms.reserve",
            "input": {"sku": "A"},
            "idempotency_key": f"{run_id}:reserve_all[0].reserve_line",
            "attempts": 1,
            "output": {"reservation": "R-A"},
            "error": None,
            "mocked": False,
        },
        {
            "step": "reserve_all[1].reserve_line",
            "operation": "wms.reserve",
            "input": {"sku": "B"},
            "idempotency_key": f"{run_id}:reserve_all[1].reserve_line",
            "attempts": 1,
            "output": {"reservation": "R-B"},
            "error": None,
            "mocked": False,
        },
    ]
    [emitted] = result["emitted"]
    assert (emitted["type"], emitted["subject"], emitted["data"]) == (
        "shop.order.accepted",
        "O1",
        {"order_id": "O1", "count": 2},
    )
    assert emitted["specversion"] == "1.0"


def test_json_of_a_failing_run(root: Path, event_file: Path) -> None:
    code, result = run_json(root, "ship", "--event", str(event_file))
    assert code == 1
    assert result["status"] == "dead_lettered"
    assert (result["error"]["step"], result["error"]["code"], result["error"]["message"]) == (
        "send",
        "connector.permanent",
        "no carrier",
    )
    assert [c["idempotency_key"] for c in result["calls"]] == [
        f"{result['run_id']}:reserve",
        f"{result['run_id']}:send",
    ]
    assert [(s["id"], s["status"]) for s in result["trace"]] == [
        ("reserve", "succeeded"),
        ("send", "failed"),
    ]


# -- mocks ---------------------------------------------------------------------------------------------


def test_mocks_file_by_step_id_and_by_connector_operation(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    mocks = tmp_path / "mocks.yaml"
    mocks.write_text(
        "mocks:\n"
        "  send: { output: { tracking: T-1 } }\n"
        '  wms.reserve: { output: { reservation: "M-${ input.sku }" } }\n'
    )
    code, result = run_json(root, "ship", "--event", str(event_file), "--mocks", str(mocks))
    assert code == 0
    assert result["status"] == "succeeded"
    assert [(c["step"], c["output"], c["mocked"]) for c in result["calls"]] == [
        ("reserve", {"reservation": "M-A"}, True),
        ("send", {"tracking": "T-1"}, True),
    ]
    assert result["calls"][1]["input"] == {"reservation": "M-A"}
    assert result["output"] == {"tracking": "T-1"}


def test_step_id_mock_wins_over_connector_operation_mock(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    mocks = tmp_path / "mocks.yaml"
    mocks.write_text("mocks:\n  wms.ship: { output: by-operation }\n  send: { output: by-step }\n")
    code, result = run_json(root, "ship", "--event", str(event_file), "--mocks", str(mocks))
    assert code == 0
    assert result["output"] == "by-step"


def test_mock_sequence_error_then_output_is_retried(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    mocks = tmp_path / "mocks.yaml"
    mocks.write_text(
        "mocks:\n  send:\n    sequence:\n      - { error: { type: transient, message: busy } }\n"
        "      - { output: { tracking: T-2 } }\n"
    )
    code, result = run_json(root, "ship", "--event", str(event_file), "--mocks", str(mocks))
    assert code == 0
    assert (result["calls"][1]["attempts"], result["calls"][1]["output"]) == (
        2,
        {"tracking": "T-2"},
    )


def test_mock_option_by_step_id(root: Path, event_file: Path, tmp_path: Path) -> None:
    answer = write_json(tmp_path / "send.json", {"tracking": "T-9"})
    code, out = invoke(root, "ship", "--event", str(event_file), "--mock", f"send={answer}")
    assert code == 0
    lines = normalise(out)
    assert "  ✓ send call N ms" in lines
    assert '      out: {"tracking": "T-9"}' in lines
    assert lines[-1] == 'output: {"tracking": "T-9"}'


def test_mock_option_by_connector_operation_and_repeated(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    ship = write_json(tmp_path / "ship.json", {"tracking": "T-3"})
    reserve = write_json(tmp_path / "reserve.json", {"reservation": "X"})
    code, result = run_json(
        root,
        "ship",
        "--event",
        str(event_file),
        "--mock",
        f"wms.ship={ship}",
        "--mock",
        f"reserve={reserve}",
    )
    assert code == 0
    assert [(c["step"], c["output"], c["mocked"]) for c in result["calls"]] == [
        ("reserve", {"reservation": "X"}, True),
        ("send", {"tracking": "T-3"}, True),
    ]


def test_mock_option_without_equals_is_a_usage_error(root: Path, event_file: Path) -> None:
    code, out = invoke(root, "ship", "--event", str(event_file), "--mock", "send")
    assert code == 2
    assert "Error: --mock 'send': expected STEP=FILE" in out


def test_mock_option_with_unreadable_json_is_a_usage_error(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    code, out = invoke(root, "ship", "--event", str(event_file), "--mock", f"send={bad}")
    assert code == 2
    assert f"Error: --mock send={bad}: cannot read JSON from {bad}" in out


def test_bad_mocks_file_prints_diagnostics_and_exits_1(
    root: Path, event_file: Path, tmp_path: Path
) -> None:
    mocks = tmp_path / "mocks.yaml"
    mocks.write_text("mocks:\n  send: { outptu: 1 }\n")
    code, out = invoke(root, "ship", "--event", str(event_file), "--mocks", str(mocks))
    assert code == 1
    assert out.splitlines()[0] == (
        f"{mocks}:2:11: mocks.send.outptu: unknown key `outptu` (hint: did you mean `output`?) [spec.unknown_key]"
    )


# -- usage and workspace errors ------------------------------------------------------------------------


def test_unknown_flow_is_a_usage_error(root: Path, event_file: Path) -> None:
    code, out = invoke(root, "nope", "--event", str(event_file))
    assert code == 2
    assert "Error: no flow named 'nope'; flows: place, ship" in out


def test_event_file_that_is_not_json(root: Path, tmp_path: Path) -> None:
    bad = tmp_path / "event.json"
    bad.write_text('{"type": \n')
    code, out = invoke(root, "place", "--event", str(bad))
    assert code == 2
    assert f"Error: {bad}:2:1: not JSON: Expecting value" in out


def test_missing_event_option(root: Path) -> None:
    code, out = invoke(root, "place")
    assert code == 2
    assert "give --event FILE" in out


def test_broken_workspace_prints_its_diagnostics_and_exits_1(
    workspace: WriteWorkspace, event_file: Path
) -> None:
    root = workspace({"flows/place.yaml": PLACE.replace("line.sku", "lin.sku")})
    code, out = invoke(root, "place", "--event", str(event_file))
    assert code == 1
    assert out.splitlines() == [
        "flows/place.yaml:11:26: steps[0].steps[0].with.sku: unknown name `lin` (hint: did you mean `line`?) "
        "[expr.unknown_name]",
        "the workspace has 1 problem(s); fix them first (seamline check)",
    ]


def test_subprocess_run_smoke(root: Path, event_file: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.cli.main",
            "run",
            "ship",
            "--event",
            str(event_file),
            "--json",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "NO_COLOR": "1"},
    )
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert (result["status"], result["error"]["code"]) == ("dead_lettered", "connector.permanent")

"""`seamline check [WORKSPACE]`: exit 0 clean, 1 problems found, 2 usage error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from tests.conftest import ORDER_ACCEPTED, WriteWorkspace

FLOW = """\
flow: {name}
on: {{ event: shop.order.placed }}
steps:
  - id: reserve
    call: wms.reserve
    with: {{ template: templates/reserve.json.j2 }}
"""

CLEAN: dict[str, object] = {
    "flows/place.yaml": FLOW.format(name="place"),
    "flows/audit.yaml": FLOW.format(name="audit"),
    "flows/templates/reserve.json.j2": '{"sku": {{ data.lines[0].sku | tojson }}}\n',
    "flows/templates/unused.txt.j2": "hello\n",
    "flows/lookups/countries.csv": "code,name\nDE,Germany\n",
    "connectors/erp.yaml": "connector: erp\nkind: mock\noperations: { ping: { output: pong } }\n",
    "contracts/shop.order.accepted/v2.schema.json": ORDER_ACCEPTED,
}

BROKEN_LINES = [
    "flows/audit.yaml:5:11: steps[0].call: connector `wms` has no operation `reserv` "
    "(hint: did you mean `reserve`?) [ref.unknown_operation]",
    "flows/place.yaml:6:22: steps[0].with.sku: unknown name `dta` (hint: did you mean `data`?) [expr.unknown_name]",
]


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def clean(workspace: WriteWorkspace) -> Path:
    return workspace(CLEAN)


@pytest.fixture
def broken(workspace: WriteWorkspace) -> Path:
    return workspace(
        {
            **CLEAN,
            "flows/place.yaml": FLOW.format(name="place").replace(
                "{ template: templates/reserve.json.j2 }", '{ sku: "${ dta.lines[0].sku }" }'
            ),
            "flows/audit.yaml": "flow: audit\non: { event: shop.order.placed }\nsteps:\n  - id: r\n    call: wms.reserv\n",
        }
    )


def test_clean_workspace_exits_0_and_prints_the_counts(clean: Path) -> None:
    code, out, err = invoke("check", str(clean))
    assert code == 0
    assert (
        out
        == "ok: 2 flows, 2 contracts (3 versions), 2 connectors, 2 lookup tables, 2 templates; no problems\n"
    )
    assert err == ""


def test_counts_of_one_are_singular(workspace: WriteWorkspace) -> None:
    code, out, _ = invoke(
        "check",
        str(
            workspace(
                {
                    "flows/place.yaml": FLOW.format(name="place").replace(
                        "{ template: templates/reserve.json.j2 }", "{ sku: A }"
                    )
                }
            )
        ),
    )
    assert code == 0
    assert (
        out
        == "ok: 1 flow, 2 contracts (2 versions), 1 connector, 1 lookup table, 0 templates; no problems\n"
    )


def test_workspace_defaults_to_the_current_directory(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(clean)
    code, out, _ = invoke("check")
    assert code == 0
    assert out.startswith("ok: 2 flows,")


def test_broken_workspace_exits_1_with_every_diagnostic(broken: Path) -> None:
    code, out, err = invoke("check", str(broken))
    assert code == 1
    assert out.splitlines() == [
        *BROKEN_LINES,
        "2 problems in 2 flows, 2 contracts (3 versions), 2 connectors, 2 lookup tables, 2 templates",
    ]
    assert err == ""


def test_printed_lines_are_exactly_the_diagnostics_even_with_brackets(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            "flows/place.yaml": "flow: place\non: { event: shop.order.placed }\nsteps:\n  - id: r\n    call: wms.reserve\n"
            '    with: { "[bold]": "${ dta.x }", "[/x]": "${ dta.y }" }\n',
        }
    )
    code, out, _ = invoke("check", str(root))
    hint = "(hint: did you mean `data`?) [expr.unknown_name]"
    assert code == 1
    assert out.splitlines()[:2] == [
        f"flows/place.yaml:6:27: steps[0].with.[bold]: unknown name `dta` {hint}",
        f"flows/place.yaml:6:49: steps[0].with.[/x]: unknown name `dta` {hint}",
    ]


def test_json_output(broken: Path) -> None:
    code, out, _ = invoke("check", "--json", str(broken))
    assert code == 1
    document = json.loads(out)
    assert document == {
        "ok": False,
        "counts": {
            "flows": 2,
            "contracts": 2,
            "contract_versions": 3,
            "connectors": 2,
            "lookups": 2,
            "templates": 2,
        },
        "diagnostics": [
            {
                "file": "flows/audit.yaml",
                "line": 5,
                "col": 11,
                "yaml_path": "steps[0].call",
                "code": "ref.unknown_operation",
                "message": "connector `wms` has no operation `reserv`",
                "hint": "did you mean `reserve`?",
                "severity": "error",
            },
            {
                "file": "flows/place.yaml",
                "line": 6,
                "col": 22,
                "yaml_path": "steps[0].with.sku",
                "code": "expr.unknown_name",
                "message": "unknown name `dta`",
                "hint": "did you mean `data`?",
                "severity": "error",
            },
        ],
    }


def test_json_output_of_a_clean_workspace(clean: Path) -> None:
    code, out, _ = invoke("check", str(clean), "--json")
    assert code == 0
    assert json.loads(out) == {
        "ok": True,
        "counts": {
            "flows": 2,
            "contracts": 2,
            "contract_versions": 3,
            "connectors": 2,
            "lookups": 2,
            "templates": 2,
        },
        "diagnostics": [],
    }


def test_a_file_is_not_a_workspace(tmp_path: Path) -> None:
    file = tmp_path / "flow.yaml"
    file.write_text("flow: x\n")
    code, out, err = invoke("check", str(file))
    assert code == 2
    assert out == ""
    assert f"Error: Invalid value for '[WORKSPACE]': Directory '{file}' is a file." in err


def test_a_missing_directory_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke("check", str(tmp_path / "nowhere"))
    assert code == 2
    assert f"Error: workspace {tmp_path / 'nowhere'} is not a directory" in err


def test_unknown_option_is_a_usage_error(clean: Path) -> None:
    code, _, err = invoke("check", "--bogus", str(clean))
    assert code == 2
    assert "Error: No such option '--bogus'." in err


def test_help_names_the_exit_codes() -> None:
    code, out, _ = invoke("check", "--help")
    assert code == 0
    assert "Exit code 0 when clean, 1 when problems were found, 2 on a usage error." in out


# -- the real command, in a subprocess ---------------------------------------------------------------


def _env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "CLICOLOR_FORCE", "TERM")
    }
    return {**env, "NO_COLOR": "1"}


def test_subprocess_check_prints_plain_lines_and_exits_1(broken: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli.main", "check", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[:2] == BROKEN_LINES
    assert "\x1b[" not in done.stdout


def test_subprocess_entry_point_exit_codes(clean: Path, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "seamline"
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "runtime.cli.main"]
    ok = subprocess.run(
        [*command, "check", str(clean)], capture_output=True, text=True, timeout=60, env=_env()
    )
    assert (ok.returncode, ok.stdout.split(";")[0]) == (
        0,
        "ok: 2 flows, 2 contracts (3 versions), 2 connectors, 2 lookup tables, 2 templates",
    )
    usage = subprocess.run(
        [*command, "check", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(),
    )
    assert usage.returncode == 2

"""Compatibility modes, the checks they require, and `seamline contracts check [--against REV]`
on real files and real git repositories."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from runtime.contracts.compat import (
    RevisionError,
    SchemaVersion,
    check_diagnostics,
    check_registry,
    compare,
    required_pairs,
)
from runtime.contracts.registry import load_contracts
from tests.conftest import REPO, write_files

CLOSED_WON = "contracts/crm.opportunity.closed_won"


def versions(n: int) -> list[SchemaVersion]:
    return [SchemaVersion(i, f"v{i}", f"v{i}.schema.json", {"const": i}) for i in range(1, n + 1)]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("BACKWARD", [("backward", 2, 1), ("backward", 3, 2)]),
        ("BACKWARD_TRANSITIVE", [("backward", 2, 1), ("backward", 3, 1), ("backward", 3, 2)]),
        ("FORWARD", [("forward", 2, 1), ("forward", 3, 2)]),
        ("FULL", [("backward", 2, 1), ("forward", 2, 1), ("backward", 3, 2), ("forward", 3, 2)]),
        (
            "FULL_TRANSITIVE",
            [
                ("backward", 2, 1),
                ("forward", 2, 1),
                ("backward", 3, 1),
                ("forward", 3, 1),
                ("backward", 3, 2),
                ("forward", 3, 2),
            ],
        ),
        ("NONE", []),
    ],
)
def test_each_mode_requires_its_pairs(mode: str, expected: list[tuple[str, int, int]]) -> None:
    pairs = [(d, n.number, o.number) for d, n, o in required_pairs(mode, versions(3))]
    assert pairs == expected


def test_an_edited_published_version_is_checked_against_its_published_text() -> None:
    current = versions(2)
    published = [
        SchemaVersion(1, "v1@main", "v1.schema.json", {"const": 0}),
        SchemaVersion(2, "v2@main", "v2.schema.json", {"const": 2}),
    ]
    pairs = [(n.label, o.label) for _, n, o in required_pairs("BACKWARD", current, published)]
    # v2 is unchanged (no pair with its own published text); its predecessor has two texts
    assert pairs == [("v1", "v1@main"), ("v2", "v1"), ("v2", "v1@main")]
    pairs = [
        (n.label, o.label) for _, n, o in required_pairs("BACKWARD_TRANSITIVE", current, published)
    ]
    assert pairs == [("v1", "v1@main"), ("v2", "v1"), ("v2", "v1@main")]


def test_the_reference_contracts_are_compatible_and_messages_are_exact() -> None:
    registry, problems = load_contracts(REPO)
    assert problems == []
    checks = check_registry(registry, REPO)
    assert all(c.ok for c in checks), [str(d) for c in checks for d in c.differences]
    assert ("crm.opportunity.closed_won", "backward v2 vs v1") in [
        (c.contract, c.name) for c in checks
    ]
    v1 = json.loads((REPO / CLOSED_WON / "v1.schema.json").read_text())
    v2 = json.loads((REPO / CLOSED_WON / "v2.schema.json").read_text())
    assert [str(d) for d in compare(v1, v2, "forward", ("v1", "v2"))] == [
        '#/properties/payment_terms: v2 allows property "payment_terms", v1 does not '
        "(additionalProperties: false) (at $.payment_terms) [compat.additional_properties]",
        '#/properties/purchase_order: v2 allows property "purchase_order", v1 does not '
        "(additionalProperties: false) (at $.purchase_order) [compat.additional_properties]",
    ]


# -- real files and real git repositories --------------------------------------------------
def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def frozen_closed_won(root: Path) -> None:
    """The reference crm.opportunity.closed_won as v1 and v2 (later versions and their
    examples are left out, so these tests do not move when the reference contract grows)."""
    target = root / CLOSED_WON
    shutil.copytree(REPO / CLOSED_WON, target)
    for schema in target.glob("v*.schema.json"):
        if int(schema.name[1:].split(".")[0]) > 2:
            schema.unlink()
    for example in target.glob("examples/*/*.json"):
        named = json.loads(example.read_text()).get("dataschema", "")
        if not named.endswith((":v1", ":v2")):
            example.unlink()


def init_repo(root: Path) -> Path:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "contracts")
    return root


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository holding crm.opportunity.closed_won v1 and v2, committed."""
    root = tmp_path / "repo"
    frozen_closed_won(root)
    return init_repo(root)


def edit(root: Path, rel: str, change: Any) -> None:
    path = root / rel
    schema = json.loads(path.read_text())
    change(schema)
    path.write_text(json.dumps(schema, indent=2) + "\n")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_an_optional_field_made_required_in_place_fails_against_the_revision(repo: Path) -> None:
    """The issue's bar. On its own the working tree only shows the examples that no longer
    validate (v2 still reads the narrower v1); `--against HEAD` names the breaking change."""
    edit(
        repo,
        f"{CLOSED_WON}/v1.schema.json",
        lambda s: s["$defs"]["address"]["required"].append("region"),
    )
    code, out = run("contracts", "check", str(repo))
    assert code == 1 and "[contract.example_invalid]" in out and "[compat." not in out
    code, out = run("contracts", "check", str(repo), "--against", "HEAD")
    assert code == 1
    lines = out.splitlines()
    assert (
        f"{CLOSED_WON}/v1.schema.json:224:19: #/$defs/address/required: crm.opportunity.closed_won "
        '(BACKWARD_TRANSITIVE): v1 cannot read data valid under v1@HEAD: v1 requires "region", '
        "v1@HEAD does not: data without it is rejected (data at $.account.billing_address.region) "
        "(hint: make the property optional; a breaking change needs a new event type) [compat.required]"
    ) in lines
    # the valid examples without a region fail too, each at its own file
    assert any(
        "examples/valid/milestone_uk.json:19:26" in line
        and "'region' is a required property" in line
        for line in lines
    )
    assert lines[-1].startswith("breaking: ")
    assert lines[-1].startswith(
        "breaking: 1 contract (2 versions): 3 compatibility checks and against HEAD, 1 failed;"
    )


def test_a_compatible_change_passes_against_the_revision(repo: Path) -> None:
    def add_optional(schema: dict[str, Any]) -> None:
        schema["$defs"]["address"]["properties"]["line3"] = {"type": "string", "maxLength": 200}
        schema["description"] = "edited"

    edit(repo, f"{CLOSED_WON}/v2.schema.json", add_optional)
    code, out = run("contracts", "check", str(repo), "--against", "HEAD")
    assert code == 0, out
    assert out.startswith("ok: ")
    assert out.startswith(
        "ok: 1 contract (2 versions): 2 compatibility checks and against HEAD, 0 failed;"
    )


def test_a_new_breaking_version_fails_without_a_revision(repo: Path) -> None:
    v3 = json.loads((repo / CLOSED_WON / "v2.schema.json").read_text())
    v3["$id"] = "urn:seamline:contract:crm.opportunity.closed_won:v3"
    v3["properties"]["amount"] = {"type": "integer", "minimum": 1}
    (repo / CLOSED_WON / "v3.schema.json").write_text(json.dumps(v3, indent=2))
    code, out = run("contracts", "check", str(repo), "--json")
    assert code == 1
    data = json.loads(out)
    failing = [(c["newer"], c["older"]) for c in data["checks"] if not c["ok"]]
    assert failing == [("v3", "v1"), ("v3", "v2")]
    assert {d["code"] for d in data["diagnostics"]} == {"compat.type"}
    assert data["checks"][1]["differences"][0]["pointer"] == "#/properties/amount/type"


def test_a_deleted_published_version_fails(repo: Path) -> None:
    (repo / CLOSED_WON / "v2.schema.json").unlink()
    registry, _ = load_contracts(repo)
    checks = check_registry(registry, repo, "HEAD")
    removed = [c for c in checks if c.direction == "removed"]
    assert [c.differences[0].rule for c in removed] == ["compat.version_removed"]
    assert check_diagnostics(repo, removed)[0].message.endswith(
        "published version removed: v2@HEAD was published and is gone from the working tree (data at $)"
    )


def test_the_mode_of_contract_yaml_decides(repo: Path) -> None:
    (repo / CLOSED_WON / "contract.yaml").write_text("compatibility: FULL\n")
    code, out = run("contracts", "check", str(repo))
    assert code == 1 and "[compat.additional_properties]" in out
    (repo / CLOSED_WON / "contract.yaml").write_text("compatibility: NONE\n")
    assert run("contracts", "check", str(repo))[0] == 0


def test_revisions_that_cannot_be_read_are_usage_errors(repo: Path, tmp_path: Path) -> None:
    code, out = run("contracts", "check", str(repo), "--against", "no-such-branch")
    assert code == 2 and "unknown git revision 'no-such-branch'" in out
    write_files(tmp_path / "plain", {"contracts/a.b/v1.schema.json": {"type": "object"}})
    with pytest.raises(RevisionError, match="is not inside a git repository"):
        check_registry(load_contracts(tmp_path / "plain")[0], tmp_path / "plain", "HEAD")
    with pytest.raises(RevisionError, match="is not a revision"):
        check_registry(load_contracts(repo)[0], repo, "--all")


def test_a_workspace_in_a_subfolder_of_the_repository(repo: Path) -> None:
    inner = repo / "integration"
    inner.mkdir()
    shutil.move(str(repo / "contracts"), str(inner / "contracts"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "move")
    before = git(repo, "rev-parse", "HEAD").strip()
    edit(inner, f"{CLOSED_WON}/v2.schema.json", lambda s: s["required"].append("purchase_order"))
    code, out = run("contracts", "check", str(inner), "--against", before)
    assert code == 1
    assert f"v2@{before}" in out and "[compat.required]" in out


def test_consumer_problems_fail_the_check(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    for folder in ("contracts", "flows", "connectors"):
        shutil.copytree(REPO / folder, root / folder)
    code, out = run("contracts", "check", str(root))
    assert code == 1  # no tests/flows files: nothing lists the v2-only reads as optional
    assert re.search(
        r"flows/opportunity_to_project.yaml:\d+:\d+: flow opportunity_to_project reads "
        r"data.purchase_order, but crm.opportunity.closed_won v1 does not declare it",
        out,
    )
    shutil.copytree(REPO / "tests" / "flows", root / "tests" / "flows")
    code, out = run("contracts", "check", str(root))
    assert code == 0, out
    assert re.search(r"event reads of \d+ flows: 0 problems\n$", out)


def test_pytest_items_honour_against(repo: Path) -> None:
    from tests.testing._run import run_pytest

    edit(
        repo, f"{CLOSED_WON}/v1.schema.json", lambda s: s["properties"]["name"].update(maxLength=20)
    )
    out = run_pytest(repo, "--seamline-against", "HEAD", paths=(CLOSED_WON,))
    text = out.failed[f"{CLOSED_WON}/v1.schema.json::backward[v1@HEAD]"]
    assert "v1 cannot read data valid under v1@HEAD" in text and "[compat.max_length]" in text
    assert f"{CLOSED_WON}/v2.schema.json::backward[v1]" in out.passed


def test_every_rule_and_test_code_is_documented() -> None:
    import ast
    import re

    pattern = re.compile(r"^(compat|consumer|test)\.[a-z_]+$")
    found = set()
    for folder in ("contracts", "testing", "cli"):
        for path in (REPO / "runtime" / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    found |= {node.value} if pattern.match(node.value) else set()
    documented = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    found |= {"compat.enum", "compat.const", "compat.minimum", "compat.maximum"}  # f-strings
    assert len(found) > 25
    assert sorted(c for c in found if f"`{c}`" not in documented) == []

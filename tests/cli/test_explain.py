"""`seamline explain FLOW [--variant V]`: a flow's variants, and the merged flow one resolves to."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from runtime.cli.main import cli
from runtime.compiler.variants import load_variant
from runtime.compiler.workspace import check_workspace, compile_workspace
from runtime.errors import Diagnostic
from runtime.loader.files import parse_file
from tests.conftest import WriteWorkspace, order_event, write_files
from tests.steps import run

BASE = """\
flow: orders
description: Reserve the first line.
on: { event: shop.order.placed }
key: data.order_id
vars:
  region: EU
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
  - id: route
    switch:
      - if: data.currency == 'EUR'
        steps:
          - id: euro
            set: { zone: eu }
          - id: euro_too
            set: { zone2: eu }
      - else:
          - id: other
            set: { zone: other }
  - id: done
    set: { by: base, region: "${ vars.region }" }
"""
UK = """\
extends: orders
description: UK orders are reserved in the UK warehouse.
match: data.currency == 'GBP'
vars:
  region: UK
  vat: 20
patch:
  replace:
    reserve: { with: { sku: "GB-${ data.lines[0].sku }" } }
    done: { set: { by: uk, region: "${ vars.region }", vat: "${ vars.vat }" } }
  remove: [euro]
  insert_before:
    other: [ { id: uk_zone, set: { zone: uk } } ]
"""
UK_O7 = """\
extends: orders
match: data.currency == 'GBP' && data.order_id == 'O7'
patch:
  replace:
    done: { set: { by: uk_o7 } }
"""
US = """\
extends: orders
variant: acme_us
match: data.currency == 'USD'
"""
AUDIT = """\
flow: audit
on: { event: shop.order.placed }
steps:
  - id: log
    call: wms.release
"""
FILES: dict[str, Any] = {
    "flows/orders.yaml": BASE,
    "flows/audit.yaml": AUDIT,
    "flows/variants/uk/orders.yaml": UK,
    "flows/variants/uk_o7/orders.yaml": UK_O7,
    "flows/variants/acme/orders.yaml": US,
}


@pytest.fixture
def root(workspace: WriteWorkspace) -> Path:
    return workspace(FILES)


def explain(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["explain", "--workspace", str(root), *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_without_variant_it_lists_the_variants_most_specific_first_then_by_file(root: Path) -> None:
    plan = compile_workspace(root)
    version = {v.name: v.flow.content_hash[:12] for v in plan.variants["orders"]}
    code, out = explain(root, "orders")
    assert code == 0
    assert out.splitlines() == [
        "uk_o7  (specificity 2)  match: data.currency == 'GBP' && data.order_id == 'O7'  "
        f"file: flows/variants/uk_o7/orders.yaml  version {version['uk_o7']}",
        "acme_us  (specificity 1)  match: data.currency == 'USD'  "
        f"file: flows/variants/acme/orders.yaml  version {version['acme_us']}",
        "uk  (specificity 1)  match: data.currency == 'GBP'  "
        f"file: flows/variants/uk/orders.yaml  version {version['uk']}",
    ]


def test_a_flow_without_variants(root: Path) -> None:
    assert explain(root, "audit") == (0, "audit has no variants\n")


def merge_of(root: Path, file: str) -> Any:
    problems: list[Diagnostic] = []
    base = parse_file(root, root / "flows/orders.yaml", problems)
    assert base is not None
    loaded = load_variant(root, root / file, {"orders": base}, problems)
    assert loaded is not None and not problems
    return loaded[2].data


def test_with_variant_it_prints_the_merged_flow_as_yaml(root: Path) -> None:
    code, out = explain(root, "orders", "--variant", "uk")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == [
        "# orders as variant uk runs it: flows/orders.yaml + flows/variants/uk/orders.yaml",
        "# match: data.currency == 'GBP'",
    ]
    printed = yaml.safe_load(out)
    assert printed == merge_of(root, "flows/variants/uk/orders.yaml")
    assert printed == {
        "flow": "orders",
        "description": "Reserve the first line.",
        "on": {"event": "shop.order.placed"},
        "key": "data.order_id",
        "vars": {"region": "UK", "vat": 20},
        "steps": [
            {
                "id": "reserve",
                "call": "wms.reserve",
                "with": {"sku": "GB-${ data.lines[0].sku }"},
            },
            {
                "id": "route",
                "switch": [
                    {
                        "if": "data.currency == 'EUR'",
                        "steps": [{"id": "euro_too", "set": {"zone2": "eu"}}],
                    },
                    {
                        "else": [
                            {"id": "uk_zone", "set": {"zone": "uk"}},
                            {"id": "other", "set": {"zone": "other"}},
                        ]
                    },
                ],
            },
            {
                "id": "done",
                "set": {"by": "uk", "region": "${ vars.region }", "vat": "${ vars.vat }"},
            },
        ],
    }


def test_the_short_option_and_an_explicitly_named_variant(root: Path) -> None:
    code, out = explain(root, "orders", "-v", "acme_us")
    assert code == 0
    assert out.splitlines()[0] == (
        "# orders as variant acme_us runs it: flows/orders.yaml + flows/variants/acme/orders.yaml"
    )
    base = parse_file(root, root / "flows/orders.yaml", [])
    assert base is not None
    assert yaml.safe_load(out) == base.data  # no patch: the base, unchanged


def test_the_printed_flow_runs_like_the_variant(root: Path, tmp_path: Path) -> None:
    _, out = explain(root, "orders", "--variant", "uk_o7")
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    shutil.rmtree(copy / "flows/variants")
    write_files(copy, {"flows/orders.yaml": out})
    report = check_workspace(copy)
    assert report.plan is not None, "\n".join(map(str, report.diagnostics))
    event = order_event("O7", currency="GBP")
    as_variant = run(compile_workspace(root), "orders", event)
    as_printed = run(report.plan, "orders", event)
    assert as_variant.variant == "uk_o7" and as_printed.variant is None
    assert as_variant.output == as_printed.output == {"by": "uk_o7"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("nope",), "no flow named 'nope'; flows: audit, orders"),
        (("nope", "--variant", "uk"), "no flow named 'nope'; flows: audit, orders"),
        (
            ("orders", "--variant", "fr"),
            "orders has no variant 'fr' (variants: uk_o7, acme_us, uk)",
        ),
        (("audit", "--variant", "uk"), "audit has no variant 'uk' (variants: none)"),
    ],
)
def test_an_unknown_flow_or_variant_is_a_usage_error(
    root: Path, args: tuple[str, ...], message: str
) -> None:
    code, out = explain(root, *args)
    assert code == 2
    assert f"Error: {message}" in out


def test_a_broken_workspace_is_reported_and_exits_1(root: Path) -> None:
    write_files(
        root, {"flows/variants/uk/orders.yaml": UK.replace("remove: [euro]", "remove: [eur]")}
    )
    code, out = explain(root, "orders", "--variant", "uk")
    assert code == 1
    assert (
        "flows/variants/uk/orders.yaml:11:12: patch.remove[0]: the base flow has no step `eur`"
        in out
    )
    assert "[variant.unknown_step]" in out

"""Variants: `flows/variants/<entity>/<flow>.yaml` overlays merged into their base flow at load.

Each patch operation on top-level and nested steps, vars, the positions of problems in the merged
flow (the variant's file for what it wrote, the base's for the rest), every load error with its
exact text, precedence between variants, and the content hash of a variant version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runtime.compiler.plan import FlowPlan, Plan
from runtime.compiler.variants import load_variant
from runtime.compiler.workspace import WorkspaceReport, check_workspace
from runtime.engine.executor import select_variant
from runtime.errors import Diagnostic
from runtime.loader.files import parse_file
from runtime.loader.merge import CompositeSourceMap
from tests.conftest import WriteWorkspace, order_event, write_files

BASE = """\
flow: orders
on: { event: shop.order.placed }
key: data.order_id
vars:
  rate: ${ lookup('rates', data.currency).vat }
  region: EU
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
    timeout: 5s
    description: reserve the first line
  - id: route
    switch:
      - if: data.currency == 'EUR'
        steps:
          - id: euro
            set: { zone: eu }
      - else:
          - id: other
            set: { zone: other }
          - id: other_too
            set: { zone2: other }
  - id: each
    for_each: data.lines
    as: line
    steps:
      - id: line_set
        set: { sku: "${ line.sku }" }
  - id: both
    parallel:
      left:
        - id: left_set
          set: { side: left }
      right:
        - id: right_set
          set: { side: right }
  - id: done
    set: { ok: "${ steps.reserve.output.reservation }" }
"""
BASE_FILE = "flows/orders.yaml"
UK = "flows/variants/uk/orders.yaml"
ALL_IDS = "both, done, each, euro, left_set, line_set, other, other_too, reserve, right_set, route"


def variant(patch: str = "", *, match: str = "data.currency == 'GBP'", head: str = "") -> str:
    return f"extends: orders\n{head}match: {match}\n{patch}"


def report(workspace: WriteWorkspace, files: dict[str, Any], base: str = BASE) -> WorkspaceReport:
    return check_workspace(workspace({BASE_FILE: base, **files}))


def clean(workspace: WriteWorkspace, files: dict[str, Any], base: str = BASE) -> Plan:
    found = report(workspace, files, base)
    assert found.plan is not None, "\n".join(map(str, found.diagnostics))
    assert found.diagnostics == []
    return found.plan


def problems(workspace: WriteWorkspace, files: dict[str, Any], base: str = BASE) -> list[str]:
    found = report(workspace, files, base)
    assert found.plan is None
    return [str(d) for d in found.diagnostics]


def only(workspace: WriteWorkspace, files: dict[str, Any], base: str = BASE) -> Diagnostic:
    found = report(workspace, files, base)
    assert found.plan is None
    assert len(found.diagnostics) == 1, "\n".join(map(str, found.diagnostics))
    return found.diagnostics[0]


def merged(plan: Plan, file: str = UK) -> dict[str, Any]:
    """The merged document of a variant, exactly as the compiler built it."""
    root = Path(plan.root)
    diagnostics: list[Diagnostic] = []
    base = parse_file(root, root / BASE_FILE, diagnostics)
    assert base is not None
    loaded = load_variant(root, root / file, {"orders": base}, diagnostics)
    assert loaded is not None and diagnostics == []
    _, _, doc = loaded
    assert isinstance(doc.source_map, CompositeSourceMap)
    return doc.data  # type: ignore[no-any-return]


def variant_flow(plan: Plan, name: str = "uk") -> FlowPlan:
    [found] = [v.flow for v in plan.variants["orders"] if v.name == name]
    return found


def step_ids(steps: Any) -> list[str]:
    return [s["id"] for s in steps]


def base_data(plan: Plan) -> dict[str, Any]:
    doc = parse_file(Path(plan.root), Path(plan.root) / BASE_FILE, [])
    assert doc is not None
    return doc.data  # type: ignore[no-any-return]


# -- replace ---------------------------------------------------------------------------------
def test_replace_sets_the_named_fields_and_keeps_the_others(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {UK: variant("patch:\n  replace:\n    reserve: { with: { sku: GB-1 }, timeout: 9s }\n")},
    )
    data = merged(plan)
    assert data["steps"][0] == {
        "id": "reserve",
        "call": "wms.reserve",
        "with": {"sku": "GB-1"},
        "timeout": "9s",
        "description": "reserve the first line",
    }
    assert data["steps"][1:] == base_data(plan)["steps"][1:]
    step = variant_flow(plan).steps[0]
    assert (step.kind, step.timeout) == ("call", 9.0)
    assert plan.flows["orders"].steps[0].timeout == 5.0  # the base is untouched


def test_replace_with_another_kind_drops_the_old_kinds_fields(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {UK: variant("patch:\n  replace:\n    reserve: { set: { reservation: GB-R } }\n")},
    )
    assert merged(plan)["steps"][0] == {
        "id": "reserve",
        "timeout": "5s",  # fields every kind has stay
        "description": "reserve the first line",
        "set": {"reservation": "GB-R"},
    }
    assert variant_flow(plan).steps[0].kind == "set"
    assert plan.flows["orders"].steps[0].kind == "call"


def test_replace_with_null_removes_a_field(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {UK: variant("patch:\n  replace:\n    reserve: { timeout: null, description: null }\n")},
    )
    assert merged(plan)["steps"][0] == {
        "id": "reserve",
        "call": "wms.reserve",
        "with": {"sku": "${ data.lines[0].sku }"},
    }
    assert variant_flow(plan).steps[0].timeout is None


def test_replace_reaches_nested_steps(workspace: WriteWorkspace) -> None:
    patch = """\
patch:
  replace:
    euro: { set: { zone: euro } }
    other_too: { if: "data.currency == 'USD'" }
    line_set: { set: { code: "GB-${ line.sku }" } }
    right_set: { set: { side: droite } }
"""
    plan = clean(workspace, {UK: variant(patch)})
    steps = merged(plan)["steps"]
    assert steps[1]["switch"][0]["steps"] == [{"id": "euro", "set": {"zone": "euro"}}]
    assert steps[1]["switch"][1]["else"][1] == {
        "id": "other_too",
        "set": {"zone2": "other"},
        "if": "data.currency == 'USD'",
    }
    assert steps[2]["steps"] == [{"id": "line_set", "set": {"code": "GB-${ line.sku }"}}]
    assert steps[3]["parallel"]["right"] == [{"id": "right_set", "set": {"side": "droite"}}]


# -- remove ----------------------------------------------------------------------------------
def test_remove_takes_steps_out_at_any_depth(workspace: WriteWorkspace) -> None:
    patch = "patch:\n  remove: [done, other, line_set, left_set]\n"
    base = BASE.replace(
        "      left:\n        - id: left_set\n          set: { side: left }\n",
        "      left:\n        - id: left_set\n          set: { side: left }\n"
        "        - id: left_too\n          set: { side: left2 }\n",
    ).replace(
        '      - id: line_set\n        set: { sku: "${ line.sku }" }\n',
        '      - id: line_set\n        set: { sku: "${ line.sku }" }\n'
        "      - id: line_too\n        set: { n: 1 }\n",
    )
    plan = clean(workspace, {UK: variant(patch)}, base)
    steps = merged(plan)["steps"]
    assert step_ids(steps) == ["reserve", "route", "each", "both"]
    assert step_ids(steps[1]["switch"][1]["else"]) == ["other_too"]
    assert step_ids(steps[2]["steps"]) == ["line_too"]
    assert step_ids(steps[3]["parallel"]["left"]) == ["left_too"]
    assert [s.id for s in variant_flow(plan).steps] == ["reserve", "route", "each", "both"]
    assert len(plan.flows["orders"].steps) == 5


# -- insert ----------------------------------------------------------------------------------
def test_insert_before_and_after_top_level_steps_in_order(workspace: WriteWorkspace) -> None:
    patch = """\
patch:
  insert_before:
    reserve:
      - { id: first, set: { n: 1 } }
      - { id: second, set: { n: 2 } }
  insert_after:
    reserve:
      - { id: after_reserve, set: { n: 3 } }
    done:
      - { id: last, set: { n: 4 } }
"""
    plan = clean(workspace, {UK: variant(patch)})
    assert step_ids(merged(plan)["steps"]) == [
        "first",
        "second",
        "reserve",
        "after_reserve",
        "route",
        "each",
        "both",
        "done",
        "last",
    ]
    assert [s.id for s in variant_flow(plan).steps][:4] == [
        "first",
        "second",
        "reserve",
        "after_reserve",
    ]


def test_insert_reaches_nested_steps(workspace: WriteWorkspace) -> None:
    patch = """\
patch:
  insert_before:
    euro: [ { id: before_euro, set: { n: 1 } } ]
    other: [ { id: before_other, set: { n: 2 } } ]
    line_set: [ { id: before_line, set: { sku0: "${ line.sku }" } } ]
  insert_after:
    other_too: [ { id: after_other, set: { n: 3 } } ]
    right_set: [ { id: after_right, set: { n: 4 } } ]
    left_set: [ { id: after_left, set: { n: 5 } } ]
"""
    plan = clean(workspace, {UK: variant(patch)})
    steps = merged(plan)["steps"]
    assert step_ids(steps) == ["reserve", "route", "each", "both", "done"]
    assert step_ids(steps[1]["switch"][0]["steps"]) == ["before_euro", "euro"]
    assert step_ids(steps[1]["switch"][1]["else"]) == [
        "before_other",
        "other",
        "other_too",
        "after_other",
    ]
    assert step_ids(steps[2]["steps"]) == ["before_line", "line_set"]
    assert step_ids(steps[3]["parallel"]["left"]) == ["left_set", "after_left"]
    assert step_ids(steps[3]["parallel"]["right"]) == ["right_set", "after_right"]
    loop = variant_flow(plan).steps[2]
    assert [s.id for s in loop.steps] == ["before_line", "line_set"]


def test_all_operations_together_in_one_variant(workspace: WriteWorkspace) -> None:
    patch = """\
patch:
  replace:
    reserve: { with: { sku: GB } }
  remove: [both]
  insert_before:
    done: [ { id: vat, set: { vat: "${ vars.rate }" } } ]
  insert_after:
    each: [ { id: counted, set: { lines: "${ length(data.lines) }" } } ]
"""
    plan = clean(workspace, {UK: variant(patch)})
    steps = merged(plan)["steps"]
    assert step_ids(steps) == ["reserve", "route", "each", "counted", "vat", "done"]
    assert steps[0]["with"] == {"sku": "GB"}


# -- vars ------------------------------------------------------------------------------------
def test_vars_are_overridden_in_place_and_added_at_the_end(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {UK: variant(head='vars:\n  region: UK\n  vat_code: "GB-{{ vars.region }}"\n')},
    )
    assert merged(plan)["vars"] == {
        "rate": "${ lookup('rates', data.currency).vat }",
        "region": "UK",
        "vat_code": "GB-{{ vars.region }}",
    }
    assert [name for name, _ in variant_flow(plan).vars] == ["rate", "region", "vat_code"]
    assert [name for name, _ in plan.flows["orders"].vars] == ["rate", "region"]


def test_vars_of_a_variant_work_when_the_base_has_none(workspace: WriteWorkspace) -> None:
    base = BASE.replace(
        "vars:\n  rate: ${ lookup('rates', data.currency).vat }\n  region: EU\n", ""
    )
    plan = clean(workspace, {UK: variant(head="vars:\n  region: UK\n")}, base)
    assert merged(plan)["vars"] == {"region": "UK"}
    assert "vars" not in base_data(plan)


# -- where problems of the merged flow point ------------------------------------------------
def test_a_replaced_field_that_breaks_the_flow_is_reported_in_the_variant(
    workspace: WriteWorkspace,
) -> None:
    text = variant("patch:\n  replace:\n    reserve: { call: wms.nope }\n")
    assert problems(workspace, {UK: text}) == [
        f"{UK}:5:22: steps[0].call: connector `wms` has no operation `nope` (hint: operations of "
        "wms: flaky, release, reserve, ship) [ref.unknown_operation]"
    ]


def test_an_unknown_key_given_by_replace_is_reported_in_the_variant(
    workspace: WriteWorkspace,
) -> None:
    text = variant("patch:\n  replace:\n    reserve: { retries: 3 }\n")
    assert problems(workspace, {UK: text}) == [
        f"{UK}:5:16: steps[0].retries: unknown key `retries` (hint: did you mean `retry`?) "
        "[spec.unknown_key]"
    ]


def test_a_bad_duration_given_by_replace_is_reported_in_the_variant(
    workspace: WriteWorkspace,
) -> None:
    text = variant("patch:\n  replace:\n    reserve: { timeout: 5 minutes }\n")
    assert problems(workspace, {UK: text}) == [
        f"{UK}:5:25: steps[0].timeout: '5 minutes' is not a duration such as 30s, 5m, 1h30m or 2d "
        "[spec.string_pattern_mismatch]"
    ]


def test_an_inserted_nested_step_that_is_broken_is_reported_in_the_variant(
    workspace: WriteWorkspace,
) -> None:
    text = variant(
        "patch:\n"
        "  insert_before:\n"
        "    euro:\n"
        "      - id: pre\n"
        "        call: wms.nope\n"
        "      - id: pre2\n"
        '        set: { x: "${ data.( }" }\n'
    )
    found = problems(workspace, {UK: text})
    assert found[0] == (
        f"{UK}:7:15: steps[1].switch[0].steps[0].call: connector `wms` has no operation `nope` "
        "(hint: operations of wms: flaky, release, reserve, ship) [ref.unknown_operation]"
    )
    assert found[1].startswith(f"{UK}:9:") and "steps[1].switch[0].steps[1].set.x" in found[1]
    assert len(found) == 2


def test_a_broken_var_override_is_reported_in_the_variant(workspace: WriteWorkspace) -> None:
    text = variant(head='vars:\n  region: "${ data.nope."\n')
    assert problems(workspace, {UK: text}) == [
        f"{UK}:3:12: vars.region: `${{` is never closed by `}}` (hint: close the expression with "
        "`}`) [expr.unclosed]"
    ]


def test_a_problem_in_an_unpatched_base_step_is_reported_in_the_base(
    workspace: WriteWorkspace,
) -> None:
    # removing `reserve` breaks `done`, which the variant did not touch: it is shown where it is
    text = variant("patch:\n  remove: [reserve]\n")
    assert problems(workspace, {UK: text}) == [
        f"{BASE_FILE}:39:20: steps[3].set.ok: no step with id `reserve` in flow orders (hint: "
        "steps of this flow: both, done, each, euro, left_set, line_set, other, other_too, "
        "right_set, route) [expr.unknown_step]"
    ]


def test_base_positions_of_steps_after_an_insert_are_still_right(
    workspace: WriteWorkspace,
) -> None:
    # two steps inserted in front, `reserve` removed: the base's `done` is steps[5] of the
    # merged flow, still shown at its own line 39 of the base file
    text = variant(
        "patch:\n  insert_before:\n    route:\n      - { id: a, set: { n: 1 } }\n"
        "      - { id: b, set: { n: 2 } }\n  remove: [reserve]\n"
    )
    [found] = problems(workspace, {UK: text})
    assert found.startswith(f"{BASE_FILE}:39:20: steps[5].set.ok: no step with id `reserve`")


def test_insert_next_to_a_removed_step_replaces_it_by_several(workspace: WriteWorkspace) -> None:
    text = variant(
        "patch:\n  insert_before:\n    reserve:\n      - { id: a, set: { n: 1 } }\n"
        "      - { id: b, set: { n: 2 } }\n  remove: [reserve]\n"
    )
    plan = clean(workspace, {UK: text}, BASE.replace("steps.reserve.output.reservation", "'x'"))
    assert step_ids(merged(plan)["steps"])[:3] == ["a", "b", "route"]


def test_a_step_id_inserted_twice_is_reported_at_the_variant(workspace: WriteWorkspace) -> None:
    text = variant(
        "patch:\n  insert_after:\n    reserve:\n      - id: done\n        set: { n: 1 }\n"
    )
    found = only(workspace, {UK: text})
    assert found.code == "spec.duplicate_step_id"
    # the problem is the variant's line 6 (`- id: done`); wherever it is shown, the variant
    # file must be named, not only "line 6" of a base file whose line 6 is `region: EU`
    assert UK in f"{found.file} {found.message}"


def test_a_remove_that_empties_a_step_list_is_reported_at_the_variant(
    workspace: WriteWorkspace,
) -> None:
    found = only(workspace, {UK: variant("patch:\n  remove: [euro]\n")})
    assert found.code == "variant.empty_steps"
    assert UK in f"{found.file} {found.message} {found.hint}"


# -- load errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            "patch:\n  replace:\n    reserv: { timeout: 1s }\n",
            f"{UK}:5:5: patch.replace.reserv: the base flow has no step `reserv` (hint: did you "
            "mean `reserve`?) [variant.unknown_step]",
        ),
        (
            "patch:\n  remove: [done, resrve]\n",
            f"{UK}:4:18: patch.remove[1]: the base flow has no step `resrve` (hint: did you mean "
            "`reserve`?) [variant.unknown_step]",
        ),
        (
            "patch:\n  insert_before:\n    line_sett: [ { id: a, set: { x: 1 } } ]\n",
            f"{UK}:5:5: patch.insert_before.line_sett: the base flow has no step `line_sett` "
            "(hint: did you mean `line_set`?) [variant.unknown_step]",
        ),
        (
            "patch:\n  insert_after:\n    rigth_set: [ { id: a, set: { x: 1 } } ]\n",
            f"{UK}:5:5: patch.insert_after.rigth_set: the base flow has no step `rigth_set` "
            "(hint: did you mean `right_set`?) [variant.unknown_step]",
        ),
        (
            "patch:\n  insert_after:\n    zzz: [ { id: a, set: { x: 1 } } ]\n",
            f"{UK}:5:5: patch.insert_after.zzz: the base flow has no step `zzz` (hint: steps of "
            f"the base flow: {ALL_IDS}) [variant.unknown_step]",
        ),
    ],
    ids=["replace", "remove", "insert_before", "insert_after", "no-close-match"],
)
def test_a_patch_naming_an_unknown_step_is_a_load_error(
    workspace: WriteWorkspace, patch: str, expected: str
) -> None:
    assert problems(workspace, {UK: variant(patch)}) == [expected]


def test_every_unknown_step_of_a_patch_is_reported(workspace: WriteWorkspace) -> None:
    patch = (
        "patch:\n  replace:\n    a1: { timeout: 1s }\n  remove: [b1]\n"
        "  insert_before:\n    c1: []\n  insert_after:\n    d1: []\n"
    )
    found = report(workspace, {UK: variant(patch)}).diagnostics
    assert [(d.line, d.yaml_path, d.code) for d in found] == [
        (5, "patch.replace.a1", "variant.unknown_step"),
        (6, "patch.remove[0]", "variant.unknown_step"),
        (8, "patch.insert_before.c1", "variant.unknown_step"),
        (10, "patch.insert_after.d1", "variant.unknown_step"),
    ]


@pytest.mark.parametrize(
    ("name", "hint"),
    [("order", "did you mean `orders`?"), ("billing", "flows: orders")],
)
def test_an_unknown_base_flow(workspace: WriteWorkspace, name: str, hint: str) -> None:
    text = f"extends: {name}\nmatch: data.currency == 'GBP'\n"
    assert problems(workspace, {f"flows/variants/uk/{name}.yaml": text}) == [
        f"flows/variants/uk/{name}.yaml:1:10: extends: no flow `{name}` to extend (hint: {hint}) "
        "[variant.unknown_base]"
    ]


def test_a_variant_file_named_after_another_flow(workspace: WriteWorkspace) -> None:
    assert problems(workspace, {"flows/variants/uk/billing.yaml": variant()}) == [
        "flows/variants/uk/billing.yaml:1:10: extends: a variant of `orders` is in file "
        "billing.yaml (hint: name the file orders.yaml) [spec.name_mismatch]"
    ]


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (
            "data.currency ==",
            f"{UK}:2:24: match: JMESPath syntax error: the expression ends too early in "
            "`data.currency ==` (hint: see docs/language.md#expressions; literals: 'text', `10`, "
            "`true`, `null`) [expr.syntax]",
        ),
        (
            "vars.region == 'UK'",
            f"{UK}:2:8: match: unknown name `vars` (hint: available here: data, event) "
            "[expr.unknown_name]",
        ),
    ],
    ids=["syntax", "unknown-root"],
)
def test_a_bad_match_expression(workspace: WriteWorkspace, match: str, expected: str) -> None:
    assert problems(workspace, {UK: variant(match=match)}) == [expected]


def test_a_variant_without_match(workspace: WriteWorkspace) -> None:
    [found] = problems(workspace, {UK: "extends: orders\n"})
    assert found.startswith(f"{UK}:1:1: (document): missing required key `match`")
    assert found.endswith("(hint: add `match:`) [spec.missing_key]")


def test_an_unknown_key_in_a_variant_file(workspace: WriteWorkspace) -> None:
    assert problems(workspace, {UK: variant("patches: {}\n")}) == [
        f"{UK}:3:1: patches: unknown key `patches` (hint: did you mean `patch`?) [spec.unknown_key]"
    ]


@pytest.mark.parametrize("text", ["- extends: orders\n", "just text\n", "42\n"])
def test_a_variant_file_that_is_not_a_mapping(workspace: WriteWorkspace, text: str) -> None:
    assert problems(workspace, {UK: text}) == [
        f"{UK}:1:1: (document): a variant file is a mapping (hint: start with `extends: <flow>` "
        "and `match: <expression>`) [spec.not_mapping]"
    ]


def test_variants_of_equal_specificity_that_could_both_match_are_ambiguous(
    workspace: WriteWorkspace,
) -> None:
    files = {
        "flows/variants/aa/orders.yaml": variant(match="data.currency == 'GBP'"),
        "flows/variants/bb/orders.yaml": variant(match="data.order_id == 'O1'"),
    }
    assert problems(workspace, files) == [
        "flows/variants/bb/orders.yaml:2:8: match: variants `aa` and `bb` of orders could both "
        "match with the same specificity (1 condition) (hint: make one match more specific (add "
        "a condition with &&) or make them exclusive (e.g. different values of the same field)) "
        "[variant.ambiguous]"
    ]


def test_ambiguity_is_checked_at_every_specificity(workspace: WriteWorkspace) -> None:
    files = {
        "flows/variants/aa/orders.yaml": variant(
            match="data.currency == 'GBP' && data.order_id == 'O1'"
        ),
        "flows/variants/bb/orders.yaml": variant(
            match="data.currency == 'GBP' && data.subject == 'x'"
        ),
    }
    [found] = problems(workspace, files)
    assert found.startswith(
        "flows/variants/bb/orders.yaml:2:8: match: variants `aa` and `bb` of orders could both "
        "match with the same specificity (2 conditions)"
    )


def test_two_variants_with_the_same_name(workspace: WriteWorkspace) -> None:
    files = {
        "flows/variants/aa/orders.yaml": variant(head="variant: north\n"),
        "flows/variants/bb/orders.yaml": variant(
            head="variant: north\n", match="data.currency == 'USD' && data.order_id == 'O1'"
        ),
    }
    assert problems(workspace, files) == [
        "flows/variants/bb/orders.yaml:2:10: variant: two variants of orders are named `north` "
        "(hint: give each variant its own name) [variant.duplicate]"
    ]


def test_a_variant_named_like_another_variants_folder(workspace: WriteWorkspace) -> None:
    files = {
        "flows/variants/aa/orders.yaml": variant(head="variant: bb\n"),
        "flows/variants/bb/orders.yaml": variant(match="data.currency == 'USD'"),
    }
    [found] = report(workspace, files).diagnostics
    assert (found.file, found.code, found.message) == (
        "flows/variants/bb/orders.yaml",
        "variant.duplicate",
        "two variants of orders are named `bb`",
    )


def test_every_broken_variant_is_reported_in_one_pass(workspace: WriteWorkspace) -> None:
    files = {
        "flows/variants/aa/orders.yaml": variant("patch:\n  remove: [nope]\n"),
        "flows/variants/bb/orders.yaml": variant(match="data.currency =="),
        "flows/variants/cc/orders.yaml": "[1]\n",
    }
    found = report(workspace, files).diagnostics
    assert [(d.file, d.code) for d in found] == [
        ("flows/variants/aa/orders.yaml", "variant.unknown_step"),
        ("flows/variants/bb/orders.yaml", "expr.syntax"),
        ("flows/variants/cc/orders.yaml", "spec.not_mapping"),
    ]


# -- precedence ------------------------------------------------------------------------------
PRECEDENCE = {
    "flows/variants/uk/orders.yaml": variant(
        "patch:\n  replace:\n    done: { set: { by: uk } }\n", match="data.currency == 'GBP'"
    ),
    "flows/variants/uk_o7/orders.yaml": variant(
        "patch:\n  replace:\n    done: { set: { by: uk_o7 } }\n",
        match="data.currency == 'GBP' && data.order_id == 'O7'",
    ),
    "flows/variants/us/orders.yaml": variant(
        "patch:\n  replace:\n    done: { set: { by: us } }\n", match="\"'USD' == data.currency\""
    ),
}


def test_variants_are_ordered_most_specific_first(workspace: WriteWorkspace) -> None:
    plan = clean(workspace, PRECEDENCE)
    assert [(v.name, v.specificity) for v in plan.variants["orders"]] == [
        ("uk_o7", 2),
        ("uk", 1),
        ("us", 1),
    ]
    assert {v.flow.variant for v in plan.variants["orders"]} == {"uk", "uk_o7", "us"}
    assert plan.flows["orders"].variant is None


def test_the_most_specific_matching_variant_wins(workspace: WriteWorkspace) -> None:
    plan = clean(workspace, PRECEDENCE)

    def chosen(order_id: str, currency: str) -> str | None:
        return select_variant(plan, "orders", order_event(order_id, currency=currency)).variant

    assert chosen("O7", "GBP") == "uk_o7"  # uk matches too, with fewer conditions
    assert chosen("O8", "GBP") == "uk"
    assert chosen("O7", "USD") == "us"  # disjoint from uk: same specificity is fine
    assert chosen("O7", "EUR") is None  # nothing matches: the base flow
    assert select_variant(plan, "orders", order_event("O1")) is plan.flows["orders"]


def test_a_match_that_cannot_read_the_event_does_not_apply(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {UK: variant(match="contains(data.order_id, 'GB')")},
    )
    event = order_event("O1")
    event["data"]["order_id"] = 12  # contains() on a number fails: not this variant
    assert select_variant(plan, "orders", event) is plan.flows["orders"]
    assert select_variant(plan, "orders", order_event("OGB1")).variant == "uk"


def test_the_variant_name_defaults_to_its_folder(workspace: WriteWorkspace) -> None:
    plan = clean(
        workspace,
        {
            "flows/variants/northwind_uk/orders.yaml": variant(),
            "flows/variants/acme/orders.yaml": variant(
                head="variant: acme_us\n", match="data.currency == 'USD'"
            ),
        },
    )
    assert sorted(v.name for v in plan.variants["orders"]) == ["acme_us", "northwind_uk"]
    flow = variant_flow(plan, "northwind_uk")
    assert (flow.name, flow.variant, flow.file) == (
        "orders",
        "northwind_uk",
        "flows/variants/northwind_uk/orders.yaml",
    )


# -- versions --------------------------------------------------------------------------------
def test_a_variant_version_covers_the_variant_and_the_base(workspace: WriteWorkspace) -> None:
    plan = clean(workspace, {UK: variant("patch:\n  remove: [both]\n")})
    base, uk = plan.flows["orders"], variant_flow(plan)
    assert uk.content_hash != base.content_hash
    assert {BASE_FILE, UK, "flows/lookups/rates.yaml"} <= set(uk.files)
    assert UK not in base.files
    root = Path(plan.root)

    write_files(root, {UK: variant("patch:\n  remove: [done]\n")})
    changed = clean_at(root)
    assert changed.flows["orders"].content_hash == base.content_hash  # the base did not change
    assert variant_flow(changed).content_hash != uk.content_hash

    write_files(root, {UK: variant("patch:\n  remove: [both]\n")})
    assert variant_flow(clean_at(root)).content_hash == uk.content_hash  # same files, same hash

    write_files(root, {BASE_FILE: BASE.replace("timeout: 5s", "timeout: 6s")})
    rebased = clean_at(root)
    assert rebased.flows["orders"].content_hash != base.content_hash
    assert variant_flow(rebased).content_hash not in (uk.content_hash, base.content_hash)


def test_a_lookup_used_only_by_the_variant_is_part_of_its_version(
    workspace: WriteWorkspace,
) -> None:
    base = BASE.replace("  rate: ${ lookup('rates', data.currency).vat }\n", "")
    plan = clean(
        workspace,
        {
            UK: variant(head="vars:\n  code: \"${ lookup('uk.codes', data.order_id) }\"\n"),
            "flows/lookups/uk/codes.yaml": "O1: GB-1\n",
        },
        base,
    )
    assert "flows/lookups/uk/codes.yaml" in variant_flow(plan).files
    assert "flows/lookups/uk/codes.yaml" not in plan.flows["orders"].files
    before = variant_flow(plan).content_hash
    write_files(Path(plan.root), {"flows/lookups/uk/codes.yaml": "O1: GB-2\n"})
    after = clean_at(Path(plan.root))
    assert variant_flow(after).content_hash != before
    assert after.flows["orders"].content_hash == plan.flows["orders"].content_hash


def test_plan_by_hash_finds_base_flows_and_variants(workspace: WriteWorkspace) -> None:
    plan = clean(workspace, PRECEDENCE)
    base = plan.flows["orders"]
    assert plan.by_hash("orders", base.content_hash) is base
    for v in plan.variants["orders"]:
        assert plan.by_hash("orders", v.flow.content_hash) is v.flow
    assert plan.by_hash("orders", "0" * 64) is None
    assert plan.by_hash("other", base.content_hash) is None
    assert len(plan.all_versions()) == 4
    assert len({f.content_hash for f in plan.all_versions()}) == 4


def clean_at(root: Path) -> Plan:
    found = check_workspace(root)
    assert found.plan is not None, "\n".join(map(str, found.diagnostics))
    return found.plan

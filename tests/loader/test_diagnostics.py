"""runtime.loader.diagnostics, seen through `check_workspace`: every spec problem names
file:line:col, the YAML path, what is wrong and how to fix it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.compiler.workspace import check_workspace
from runtime.connectors.base import CONNECTOR_KINDS
from tests.conftest import WriteWorkspace

KINDS = ", ".join(repr(k) for k in sorted(CONNECTOR_KINDS))  # every registered connector kind

HEAD = "flow: orders\non: { event: shop.order.placed }\n"


def problems(root: Path) -> list[str]:
    report = check_workspace(root)
    assert report.ok is (not report.diagnostics)
    return [str(d) for d in report.diagnostics]


def flow_problems(workspace: WriteWorkspace, text: str, **extra: str) -> list[str]:
    return problems(workspace({"flows/orders.yaml": text, **extra}))


# -- unknown keys -------------------------------------------------------------------------------


def test_unknown_step_key_with_did_you_mean(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n    retyr: 3\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:5: steps[0].retyr: unknown key `retyr` (hint: did you mean `retry`?) [spec.unknown_key]"
    ]


def test_unknown_step_key_lists_the_allowed_keys(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n    zzzz: 1\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:5: steps[0].zzzz: unknown key `zzzz` "
        "(hint: allowed keys: id, description, if, timeout, call, with, retry, undo, idempotency_key) [spec.unknown_key]"
    ]


def test_unknown_top_level_key_near_a_required_one(workspace: WriteWorkspace) -> None:
    text = HEAD + "stepz:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:1:1: (document): missing required key `steps` (the steps, run in order) "
        "(hint: add `steps:`) [spec.missing_key]",
        "flows/orders.yaml:3:1: stepz: unknown key `stepz` (hint: did you mean `steps`?) [spec.unknown_key]",
    ]


def test_unknown_key_in_a_nested_step_of_an_if_arm(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: s\n    switch:\n      - if: data.currency == 'EUR'\n        steps:\n"
        "          - id: a\n            call: wms.reserve\n            retyr: 3\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:10:13: steps[0].switch[0].steps[0].retyr: unknown key `retyr` "
        "(hint: did you mean `retry`?) [spec.unknown_key]"
    ]


def test_unknown_key_in_a_nested_step_of_an_else_arm(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: s\n    switch:\n      - if: data.currency == 'EUR'\n        steps:\n"
        "          - id: a\n            call: wms.reserve\n      - else:\n          - id: b\n"
        "            call: wms.release\n            retyr: 3\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:13:13: steps[0].switch[1].else[0].retyr: unknown key `retyr` "
        "(hint: did you mean `retry`?) [spec.unknown_key]"
    ]


# -- missing keys -------------------------------------------------------------------------------


def test_missing_required_key_quotes_the_field_description(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: n\n    emit: shop.order.accepted\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:4:5: steps[0]: missing required key `data` "
        "(the event's data; must satisfy the contract) (hint: add `data:`) [spec.missing_key]"
    ]


def test_missing_steps_of_an_if_arm(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: s\n    switch:\n      - if: data.currency == 'EUR'\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:9: steps[0].switch[0]: missing required key `steps` "
        "(steps run when the condition holds) (hint: add `steps:`) [spec.missing_key]"
    ]


def test_missing_if_of_an_arm_keeps_the_description_capitalised(workspace: WriteWorkspace) -> None:
    text = (
        HEAD
        + "steps:\n  - id: s\n    switch:\n      - steps:\n          - id: a\n            call: wms.reserve\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:9: steps[0].switch[0]: missing required key `if` "
        "(JMESPath condition of this arm) (hint: add `if:`) [spec.missing_key]"
    ]


# -- step kinds ---------------------------------------------------------------------------------


def test_misspelt_step_kind(workspace: WriteWorkspace) -> None:
    text = (
        HEAD
        + "steps:\n  - id: loop\n    for_eachh: data.lines\n    steps:\n      - id: r\n        call: wms.reserve\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:5:5: steps[0].for_eachh: unknown step kind `for_eachh` "
        "(hint: did you mean `for_each`?) [spec.unknown_kind]"
    ]


def test_misspelt_step_kind_inside_an_if_arm(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: s\n    switch:\n      - if: data.currency == 'EUR'\n        steps:\n"
        "          - id: a\n            emitt: shop.order.accepted\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:9:13: steps[0].switch[0].steps[0].emitt: unknown step kind `emitt` "
        "(hint: did you mean `emit`?) [spec.unknown_kind]"
    ]


def test_misspelt_step_kind_inside_an_else_arm(workspace: WriteWorkspace) -> None:
    text = (
        HEAD
        + "steps:\n  - id: s\n    switch:\n      - else:\n          - id: b\n            cal: wms.reserve\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:8:13: steps[0].switch[0].else[0].cal: unknown step kind `cal` "
        "(hint: did you mean `call`?) [spec.unknown_kind]"
    ]


def test_a_step_with_two_kind_keys(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n    emit: shop.order.accepted\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:5: steps[0].emit: a step has exactly one kind; this one has call, emit "
        "(hint: split it into one step per kind) [spec.two_kinds]"
    ]


def test_a_step_with_no_kind_key(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    with: { a: 1 }\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:4:5: steps[0]: this step has no kind key (hint: add one of: call, delay, emit, "
        "fail, for_each, parallel, reconcile, set, subflow, switch, wait_for) [spec.no_kind]"
    ]


def test_a_step_that_is_not_a_mapping(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - call wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:4:5: steps[0]: a step must be a mapping (hint: write `- id: my_step` followed by "
        "its kind key, e.g. `call: erp.find_customer`) [spec.step_not_mapping]"
    ]


def test_a_flow_file_that_is_not_a_mapping(workspace: WriteWorkspace) -> None:
    assert flow_problems(workspace, "- a\n- b\n") == [
        "flows/orders.yaml:1:1: (document): a flow file is a mapping "
        "(hint: start with `flow: <name>` — see docs/language.md) [spec.not_mapping]"
    ]


# -- types, patterns, enums, bounds -------------------------------------------------------------


def test_wrong_type_integer(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: loop\n    for_each: data.lines\n    concurrency: many\n    steps:\n"
        "      - id: r\n        call: wms.reserve\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:18: steps[0].concurrency: expected an integer, got the string 'many' [spec.int_parsing]"
    ]


def test_wrong_type_list(workspace: WriteWorkspace) -> None:
    assert flow_problems(workspace, HEAD + "steps: { id: r }\n") == [
        "flows/orders.yaml:3:8: steps: expected a list, got a mapping [spec.list_type]"
    ]


def test_wrong_type_boolean(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\non_error: { compensate: maybe }\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:25: on_error.compensate: expected a boolean, got the string 'maybe' [spec.bool_parsing]"
    ]


def test_bad_duration(workspace: WriteWorkspace) -> None:
    text = HEAD + "sla: 30 minutes\nsteps:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:3:6: sla: '30 minutes' is not a duration such as 30s, 5m, 1h30m or 2d "
        "[spec.string_pattern_mismatch]"
    ]


def test_bad_snake_case_step_id(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: Reserve-Line\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:4:9: steps[0].id: 'Reserve-Line' is not a snake_case name (lower-case letters, "
        "digits, underscores; starts with a letter) [spec.string_pattern_mismatch]"
    ]


def test_bad_snake_case_var_name_points_at_the_key(workspace: WriteWorkspace) -> None:
    text = HEAD + "vars:\n  Bad-Name: 1\nsteps:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:4:3: vars.Bad-Name: 'Bad-Name' is not a snake_case name (lower-case letters, "
        "digits, underscores; starts with a letter) [spec.string_pattern_mismatch]"
    ]


def test_bad_operation_reference_is_explained_not_shown_as_a_regex(
    workspace: WriteWorkspace,
) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:5:11: steps[0].call: 'wms' is not a connector operation such as "
        "erp.find_customer [spec.string_pattern_mismatch]"
    ]


def test_bad_event_type_reports_only_the_event_branch(workspace: WriteWorkspace) -> None:
    text = "flow: orders\non: { event: Shop-Order }\nsteps:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:2:14: on.event: 'Shop-Order' is not a dotted event type such as "
        "crm.opportunity.closed_won [spec.string_pattern_mismatch]"
    ]


def test_bad_schedule_reports_only_the_schedule_branch(workspace: WriteWorkspace) -> None:
    text = "flow: orders\non: { schedule: every day }\nsteps:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:2:17: on.schedule: 'every day' is not a five-field cron expression such as "
        "0 2 * * * [spec.string_pattern_mismatch]"
    ]


def test_enum_error_with_did_you_mean(workspace: WriteWorkspace) -> None:
    text = (
        HEAD
        + "steps:\n  - id: r\n    call: wms.reserve\n    retry: { attempts: 3, backoff: exponentail }\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:36: steps[0].retry.backoff: 'exponentail' is not allowed; expected 'constant', "
        "'linear' or 'exponential' (hint: did you mean `exponential`?) [spec.literal_error]"
    ]


def test_enum_error_at_the_top_level(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\non_error: { then: dead_leter }\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:19: on_error.then: 'dead_leter' is not allowed; expected 'dead_letter' or 'fail' "
        "(hint: did you mean `dead_letter`?) [spec.literal_error]"
    ]


@pytest.mark.parametrize(
    ("retry", "expected"),
    [
        (
            "{ attempts: 0 }",
            "flows/orders.yaml:6:24: steps[0].retry.attempts: must be greater than or equal to 1, "
            "got the number 0 [spec.greater_than_equal]",
        ),
        (
            "{ attempts: 3, jitter: 1.5 }",
            "flows/orders.yaml:6:35: steps[0].retry.jitter: must be less than or equal to 1, "
            "got the number 1.5 [spec.less_than_equal]",
        ),
    ],
)
def test_number_bounds(workspace: WriteWorkspace, retry: str, expected: str) -> None:
    text = HEAD + f"steps:\n  - id: r\n    call: wms.reserve\n    retry: {retry}\n"
    assert flow_problems(workspace, text) == [expected]


def test_empty_list_below_min_length(workspace: WriteWorkspace) -> None:
    assert flow_problems(workspace, HEAD + "steps: []\n") == [
        "flows/orders.yaml:3:8: steps: must have at least 1 item, got 0 items [spec.too_short]"
    ]


def test_model_validator_error_keeps_a_clean_yaml_path(workspace: WriteWorkspace) -> None:
    text = (
        HEAD
        + "steps:\n  - id: r\n    call: wms.reserve\n    retry: { delay: 10s, max_delay: 1s }\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:12: steps[0].retry: max_delay must not be shorter than delay [spec.value_error]"
    ]


# -- the trigger --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("on", "expected"),
    [
        (
            "{}",
            "on: missing required key `event` or `schedule` "
            '(hint: add `event: <event type>` or `schedule: "<cron>"`) [spec.missing_key]',
        ),
        # a key of one trigger kind picks that kind, as best_match would
        (
            "{ filter: data.x }",
            "on: missing required key `event` (the event type (= contract name) that "
            "starts the flow) (hint: add `event:`) [spec.missing_key]",
        ),
        (
            "{ timezone: UTC }",
            "on: missing required key `schedule` (a five-field cron expression (minute hour "
            "day-of-month month day-of-week)) (hint: add `schedule:`) [spec.missing_key]",
        ),
    ],
    ids=["empty", "filter_only", "timezone_only"],
)
def test_on_with_neither_event_nor_schedule(
    workspace: WriteWorkspace, on: str, expected: str
) -> None:
    text = f"flow: orders\non: {on}\nsteps:\n  - id: r\n    call: wms.reserve\n"
    assert flow_problems(workspace, text) == [f"flows/orders.yaml:2:1: {expected}"]


# -- connectors ---------------------------------------------------------------------------------


def test_unknown_connector_kind(workspace: WriteWorkspace) -> None:
    root = workspace(
        {"connectors/erp.yaml": "connector: erp\nkind: htp\nbase_url: http://erp.local\n"}
    )
    assert problems(root) == [
        f"connectors/erp.yaml:2:7: kind: unknown kind 'htp'; expected one of {KINDS} "
        "(hint: did you mean `http`?) [spec.unknown_kind]"
    ]


def test_missing_connector_kind_lists_the_kinds(workspace: WriteWorkspace) -> None:
    root = workspace({"connectors/erp.yaml": "connector: erp\nbase_url: http://erp.local\n"})
    assert problems(root) == [
        f"connectors/erp.yaml:1:1: (document): missing `kind` (one of {KINDS}) "
        "(hint: add `kind: http`) [spec.missing_kind]"
    ]


def test_connector_name_must_match_its_file(workspace: WriteWorkspace) -> None:
    root = workspace(
        {"connectors/erp.yaml": "connector: erpx\nkind: mock\noperations: { a: { output: 1 } }\n"}
    )
    assert problems(root) == [
        "connectors/erp.yaml:1:12: connector: connector `erpx` is in file erp.yaml "
        "(hint: rename the file to erpx.yaml or the connector to erp) [spec.name_mismatch]"
    ]


# -- flow-level checks --------------------------------------------------------------------------


def test_flow_name_must_match_its_file(workspace: WriteWorkspace) -> None:
    text = (
        "flow: other\non: { event: shop.order.placed }\nsteps:\n  - id: r\n    call: wms.reserve\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:1:7: flow: flow `other` is in file orders.yaml "
        "(hint: rename the file to other.yaml or the flow to orders) [spec.name_mismatch]"
    ]


def test_duplicate_step_id(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n  - id: r\n    call: wms.release\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:9: steps[1].id: step id `r` is already used at line 4 "
        "(hint: step ids must be unique in a flow, nested steps included) [spec.duplicate_step_id]"
    ]


def test_duplicate_step_id_nested_in_a_for_each(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: r\n    call: wms.reserve\n  - id: loop\n    for_each: data.lines\n    steps:\n"
        "      - id: r\n        call: wms.release\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:9:13: steps[1].steps[0].id: step id `r` is already used at line 4 "
        "(hint: step ids must be unique in a flow, nested steps included) [spec.duplicate_step_id]"
    ]


def test_subflow_cycle_points_at_each_subflow_step(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "flows/a.yaml": "flow: a\non: { event: shop.order.placed }\nsteps:\n  - id: x\n    subflow: b\n",
            "flows/b.yaml": "flow: b\non: { schedule: '0 2 * * *' }\nsteps:\n  - id: y\n    subflow: a\n",
        }
    )
    hint = "(hint: a flow may not (indirectly) run itself) [ref.subflow_cycle]"
    assert problems(root) == [
        f"flows/a.yaml:5:14: steps[0].subflow: subflows call each other in a cycle: a -> b -> a {hint}",
        f"flows/b.yaml:5:14: steps[0].subflow: subflows call each other in a cycle: b -> a -> b {hint}",
    ]


def test_unknown_subflow_with_did_you_mean(workspace: WriteWorkspace) -> None:
    root = workspace(
        {
            "flows/orders.yaml": HEAD + "steps:\n  - id: r\n    subflow: shiping\n",
            "flows/shipping.yaml": "flow: shipping\non: { schedule: '0 2 * * *' }\nsteps:\n  - id: y\n    call: wms.ship\n",
        }
    )
    assert problems(root) == [
        "flows/orders.yaml:5:14: steps[0].subflow: no flow named `shiping` (hint: did you mean `shipping`?) "
        "[ref.unknown_flow]"
    ]


def test_unknown_subflow_without_a_close_name(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    subflow: invoicing\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:5:14: steps[0].subflow: no flow named `invoicing` "
        "(hint: flows: orders (add flows/invoicing.yaml)) [ref.unknown_flow]"
    ]


def test_unknown_retry_policy(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n    retry: agressive\n"
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:12: steps[0].retry: no retry policy named `agressive` "
        "(hint: define it under retry_policies in seamline.yaml (known: none)) [ref.unknown_retry_policy]"
    ]


def test_unknown_retry_policy_with_did_you_mean(workspace: WriteWorkspace) -> None:
    text = HEAD + "steps:\n  - id: r\n    call: wms.reserve\n    retry: agressive\n"
    settings = "retry_policies:\n  aggressive: { attempts: 10 }\n"
    assert flow_problems(workspace, text, **{"seamline.yaml": settings}) == [
        "flows/orders.yaml:6:12: steps[0].retry: no retry policy named `agressive` "
        "(hint: did you mean `aggressive`?) [ref.unknown_retry_policy]"
    ]


def test_else_arm_must_be_last(workspace: WriteWorkspace) -> None:
    text = HEAD + (
        "steps:\n  - id: s\n    switch:\n      - else:\n          - id: a\n            call: wms.reserve\n"
        "      - if: data.currency == 'EUR'\n        steps:\n          - id: b\n            call: wms.release\n"
    )
    assert flow_problems(workspace, text) == [
        "flows/orders.yaml:6:9: steps[0].switch[0]: the `else` arm must be the last arm "
        "(hint: move it to the end; arms after it could never run) [switch.else_not_last]"
    ]


# -- one pass -----------------------------------------------------------------------------------


def test_every_problem_of_every_file_in_one_pass_sorted_by_file_line_col(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            "seamline.yaml": "port: 0\n",
            "connectors/erp.yaml": "connector: erp\nkind: htp\n",
            "flows/b.yaml": (
                "flow: b\non: { event: shop.order.placed }\nsteps:\n  - id: x\n    call: wms.reservee\n"
                "  - id: y\n    call: wms.release\n    retry: { attempts: 0 }\n"
            ),
            "flows/a.yaml": "flow: a\non: { event: shop.order.placed }\nsteps:\n  - id: x\n    call: wms.reserve\n    retyr: 1\n",
            "flows/c.yaml": "flow: c\non: [oops\n",
        }
    )
    assert problems(root) == [
        f"connectors/erp.yaml:2:7: kind: unknown kind 'htp'; expected one of {KINDS} "
        "(hint: did you mean `http`?) [spec.unknown_kind]",
        "flows/a.yaml:6:5: steps[0].retyr: unknown key `retyr` (hint: did you mean `retry`?) [spec.unknown_key]",
        "flows/b.yaml:5:11: steps[0].call: connector `wms` has no operation `reservee` "
        "(hint: did you mean `reserve`?) [ref.unknown_operation]",
        "flows/b.yaml:8:24: steps[1].retry.attempts: must be greater than or equal to 1, got the number 0 "
        "[spec.greater_than_equal]",
        "flows/c.yaml:3:1: YAML syntax error: expected ',' or ']', but got '<stream end>' (while parsing a flow "
        "sequence) (hint: check indentation and quoting; a value containing ': ' or '#' needs quotes) [yaml.syntax]",
        "seamline.yaml:1:7: port: must be greater than or equal to 1, got the number 0 [spec.greater_than_equal]",
    ]
    diagnostics = check_workspace(root).diagnostics
    assert diagnostics == sorted(diagnostics, key=lambda d: (d.file, d.line, d.col))

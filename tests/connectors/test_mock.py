"""`kind: mock` connectors and run-level mocks: outputs from input, errors, sequences."""

from __future__ import annotations

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.engine import VirtualClock
from runtime.errors import FlowError
from tests.conftest import order_event
from tests.steps import compile_flows, run, steps_by_label

SHOP = """
connector: shop
kind: mock
operations:
  quote:
    output: { sku: "${ input.sku }", qty: "${ input.qty }", total: "${ input.qty }", label: "{{ input.sku }}-{{ input.qty }}" }
  counter:
    sequence:
      - { output: first }
      - { output: second }
      - { output: last }
  down:
    error: { type: permanent, message: "shop is closed", status: 410 }
  busy:
    error: { type: transient, message: "try later", status: 503 }
  nothing: {}
"""

THREE = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}, {"sku": "C", "qty": 3}]


def flow(steps: str) -> dict[str, str]:
    return {"connectors/shop.yaml": SHOP, "flows/orders.yaml": f"flow: orders\non: {{ event: shop.order.placed }}\nsteps:\n{steps}"}


def test_output_expressions_see_the_input_and_keep_types(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: quote
    call: shop.quote
    with: "${ data.lines[1] }"
"""))
    result = run(plan, "orders", order_event(lines=THREE))

    assert result.output == {"sku": "B", "qty": 2, "total": 2, "label": "B-2"}
    assert result.calls[0].mocked is False  # answered by the connector itself, not by run mocks


def test_sequence_plays_in_order_and_the_last_answer_repeats(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: "[`1`, `2`, `3`, `4`, `5`]"
    steps:
      - id: count
        call: shop.counter
"""))
    result = run(plan, "orders")
    assert result.output == ["first", "second", "last", "last", "last"]


def test_an_operation_without_output_answers_null(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: nothing, call: shop.nothing }\n"))
    result = run(plan, "orders")
    assert (result.status, result.output) == ("succeeded", None)


def test_permanent_error(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: down, call: shop.down, retry: { attempts: 3 } }\n"))
    clock = VirtualClock()
    result = run(plan, "orders", clock=clock)

    assert result.status == "dead_lettered"
    assert (result.error["code"], result.error["message"], result.error["transient"]) == ("connector.permanent", "shop is closed", False)
    assert result.calls[0].attempts == 1
    assert clock.slept == []


def test_transient_error_is_retried(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: busy, call: shop.busy, retry: { attempts: 3 } }\n"))
    clock = VirtualClock()
    result = run(plan, "orders", clock=clock)

    assert (result.error["code"], result.error["transient"], result.error["attempt"]) == ("connector.transient", True, 3)
    assert len(clock.slept) == 2
    assert result.calls[0].error == "try later"


def test_the_mini_workspace_connector(workspace) -> None:
    plan = compile_flows(workspace, {"flows/orders.yaml": """
        flow: orders
        on: { event: shop.order.placed }
        steps:
          - { id: reserve, call: wms.reserve, with: { sku: Q } }
          - { id: flaky, call: wms.flaky, retry: { attempts: 2, delay: 1s } }
          - { id: release, call: wms.release }
    """})
    result = run(plan, "orders")
    records = steps_by_label(result)
    assert records["reserve"].output == {"reservation": "R-Q"}
    assert (records["flaky"].output, records["flaky"].attempts) == ({"ok": True}, 2)
    assert records["release"].output == {"released": True}


def test_sequence_and_output_together_is_a_load_error(workspace) -> None:
    root = workspace({"connectors/bad.yaml": """
        connector: bad
        kind: mock
        operations:
          op: { output: 1, sequence: [ { output: 2 } ] }
    """})
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    assert "either a sequence or a single output" in str(caught.value)


# -- run-level mocks (seamline run --mocks) -----------------------------------------------------


STEPS = """
  - id: first
    call: wms.reserve
    with: { sku: A }
  - id: second
    call: wms.reserve
    with: { sku: B }
"""


def test_run_mock_by_step_id_overrides_the_connector(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS))
    result = run(plan, "orders", mocks={"second": {"output": {"mocked": "${ input.sku }"}}})

    assert [c.output for c in result.calls] == [{"reservation": "R-A"}, {"mocked": "B"}]
    assert [c.mocked for c in result.calls] == [False, True]


def test_run_mock_by_operation_answers_every_step_calling_it(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS))
    result = run(plan, "orders", mocks={"wms.reserve": {"sequence": [{"output": 1}, {"output": 2}]}})

    assert [c.output for c in result.calls] == [1, 2]
    assert all(c.mocked for c in result.calls)


def test_run_mock_step_id_wins_over_operation(workspace) -> None:
    plan = compile_flows(workspace, flow(STEPS))
    result = run(plan, "orders", mocks={"wms.reserve": {"output": "by-op"}, "first": {"output": "by-step"}})
    assert [c.output for c in result.calls] == ["by-step", "by-op"]


def test_run_mock_errors_and_sequences_are_per_run(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: first, call: wms.reserve, retry: { attempts: 3, delay: 1s } }\n"))
    answers = {"first": {"sequence": [{"error": {"type": "transient"}}, {"output": "ok"}]}}

    for _ in range(2):  # a fresh mocks object per run starts the sequence again
        result = run(plan, "orders", mocks=answers)
        assert (result.output, result.calls[0].attempts) == ("ok", 2)
        assert result.calls[0].mocked is True


def test_connector_sequence_starts_again_for_each_run(workspace) -> None:
    plan = compile_flows(workspace, flow("  - { id: count, call: shop.counter }\n"))

    assert [run(plan, "orders").output for _ in range(2)] == ["first", "first"]

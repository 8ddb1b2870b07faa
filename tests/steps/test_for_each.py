"""`for_each:` — items, `as`, `index`, `output`, concurrency, iteration-local outputs, keys."""

from __future__ import annotations

import time

import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.engine import Clock
from runtime.errors import FlowError
from tests.conftest import order_event
from tests.steps import compile_flows, labels, run, steps_by_label

THREE = [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 2}, {"sku": "C", "qty": 3}]


def flow(steps: str) -> dict[str, str]:
    return {"flows/orders.yaml": f"flow: orders\non: {{ event: shop.order.placed }}\nsteps:\n{steps}"}


def test_items_as_index_and_output(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: create_tasks
    for_each: data.lines
    as: line
    steps:
      - id: create_task
        call: wms.reserve
        with: { sku: "${ line.sku }", qty: "${ line.qty }", position: "${ index }" }
    output: { sku: "${ line.sku }", at: "${ index }", reservation: "${ steps.create_task.output.reservation }" }
"""))
    result = run(plan, "orders", order_event(lines=THREE))

    assert result.status == "succeeded", result.error
    assert result.output == [
        {"sku": "A", "at": 0, "reservation": "R-A"},
        {"sku": "B", "at": 1, "reservation": "R-B"},
        {"sku": "C", "at": 2, "reservation": "R-C"},
    ]
    assert [c.input for c in result.calls] == [
        {"sku": "A", "qty": 1, "position": 0},
        {"sku": "B", "qty": 2, "position": 1},
        {"sku": "C", "qty": 3, "position": 2},
    ]
    assert labels(result) == ["create_tasks", "create_tasks[0].create_task", "create_tasks[1].create_task",
                              "create_tasks[2].create_task"]
    loop = steps_by_label(result)["create_tasks"]
    assert (loop.kind, loop.output) == ("for_each", result.output)


def test_idempotency_keys_are_distinct_per_iteration(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: create_tasks
    for_each: data.lines
    steps:
      - id: create_task
        call: wms.reserve
        with: { sku: "${ item.sku }" }
"""))
    result = run(plan, "orders", order_event(lines=THREE))

    keys = [c.idempotency_key for c in result.calls]
    assert keys == [f"{result.run_id}:create_tasks[{i}].create_task" for i in range(3)]
    assert [c.step for c in result.calls] == [f"create_tasks[{i}].create_task" for i in range(3)]


def test_default_name_is_item_and_default_output_is_the_last_step(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: data.lines
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ item.sku }" }
      - id: summary
        set: { sku: "${ item.sku }", n: "${ index }" }
"""))
    result = run(plan, "orders")

    assert result.output == [{"sku": "A", "n": 0}, {"sku": "B", "n": 1}]


def test_step_outputs_are_local_to_their_iteration(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: before
    set: { marker: outer }
  - id: each
    for_each: data.lines
    as: line
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ line.sku }" }
      - id: pair
        set:
          mine: "${ steps.reserve.output.reservation }"
          outer: "${ steps.before.output.marker }"
"""))
    result = run(plan, "orders", order_event(lines=THREE))

    assert result.output == [{"mine": f"R-{s}", "outer": "outer"} for s in "ABC"]


def test_iteration_steps_cannot_be_read_outside_the_loop(workspace) -> None:
    root = workspace(flow("""
  - id: each
    for_each: data.lines
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ item.sku }" }
  - id: after
    set: { last: "${ steps.reserve.output }" }
"""))
    with pytest.raises(FlowError) as caught:
        compile_workspace(root)
    [problem] = caught.value.diagnostics
    assert problem.code == "expr.step_out_of_scope"
    assert "steps.each.output" in (problem.hint or "")


SLOW_FIRST = """
  - id: each
    for_each: data.lines
    as: line
    concurrency: {concurrency}
    steps:
      - id: slow_down
        switch:
          - if: "line.qty < `3`"
            steps: [ {{ id: pause, delay: 300ms }} ]
      - id: reserve
        call: wms.reserve
        with: {{ sku: "${{ line.sku }}" }}
    output: "${{ steps.reserve.output.reservation }}"
"""


def test_concurrency_keeps_the_output_in_item_order(workspace) -> None:
    plan = compile_flows(workspace, flow(SLOW_FIRST.format(concurrency=3)))
    started = time.perf_counter()
    result = run(plan, "orders", order_event(lines=THREE), clock=Clock())
    elapsed = time.perf_counter() - started

    assert result.status == "succeeded", result.error
    assert result.output == ["R-A", "R-B", "R-C"]
    # the items really ran at once: the fast third item called first, and the two pauses overlapped
    assert [c.input["sku"] for c in result.calls][0] == "C"
    assert elapsed < 0.55  # one after the other would take 0.6 s


def test_concurrency_limits_how_many_items_run_at_once(workspace) -> None:
    plan = compile_flows(workspace, flow(SLOW_FIRST.format(concurrency=2)))
    result = run(plan, "orders", order_event(lines=THREE), clock=Clock())

    assert result.output == ["R-A", "R-B", "R-C"]
    # the two slow items hold both slots, so the fast third one waits for one of them
    assert [c.input["sku"] for c in result.calls][0] != "C"


def test_concurrency_one_runs_items_in_order(workspace) -> None:
    plan = compile_flows(workspace, flow(SLOW_FIRST.format(concurrency=1)))
    result = run(plan, "orders", order_event(lines=THREE))

    assert [c.input["sku"] for c in result.calls] == ["A", "B", "C"]


@pytest.mark.parametrize("items", ["data.lines[?qty > `100`]", "data.no_such_field"])
def test_empty_or_null_list_runs_nothing_and_gives_an_empty_list(workspace, items: str) -> None:
    plan = compile_flows(workspace, flow(f"""
  - id: each
    for_each: "{items}"
    steps:
      - id: reserve
        call: wms.reserve
        with: {{ sku: "${{ item.sku }}" }}
  - id: after
    set: {{ out: "${{ steps.each.output }}" }}
"""))
    result = run(plan, "orders")

    assert result.status == "succeeded", result.error
    assert result.calls == []
    assert labels(result) == ["each", "after"]
    assert result.output == {"out": []}


def test_a_non_list_is_an_expression_error(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: data.order_id
    steps:
      - id: reserve
        call: wms.reserve
"""))
    result = run(plan, "orders")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "expression.failed"
    assert result.error["step"] == "each"
    assert "data.order_id" in result.error["message"] and "expected a list" in result.error["message"]
    assert result.calls == []


def test_a_failing_iteration_fails_the_loop(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: data.lines
    steps:
      - id: pick
        switch:
          - if: "index == `1`"
            steps: [ { id: ship, call: wms.ship } ]
          - else: [ { id: reserve, call: wms.reserve, with: { sku: "${ item.sku }" } } ]
"""))
    result = run(plan, "orders", order_event(lines=THREE))

    assert result.status == "dead_lettered"
    assert result.error["step"] == "each[1].ship"
    assert result.error["code"] == "connector.permanent"
    records = steps_by_label(result)
    assert records["each"].status == "failed"
    assert records["each[0].reserve"].status == "succeeded"
    assert "each[2].pick" not in records  # a sequential loop stops at the failing item


def test_a_failing_iteration_of_a_concurrent_loop_keeps_its_error(workspace) -> None:
    plan = compile_flows(workspace, flow("""
  - id: each
    for_each: data.lines
    concurrency: 4
    steps:
      - id: ship
        call: wms.ship
        retry: { attempts: 1 }
"""))
    result = run(plan, "orders", order_event(lines=THREE[:1]))

    assert result.status == "dead_lettered"
    assert result.error["code"] == "connector.permanent"
    assert result.error["step"] == "each[0].ship"
    assert result.error["message"] == "no carrier"

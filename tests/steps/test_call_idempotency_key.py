"""`idempotency_key:` on a call step: a key the flow chooses, shared by every run that creates
the same record, so two runs racing through find-then-create make one record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest

from runtime.compiler.workspace import compile_workspace
from runtime.engine.context import VirtualClock
from runtime.engine.executor import run_flow
from tests.conftest import MINI_WORKSPACE, order_event, write_files
from tests.engine.test_crash import CountingErp, _serve
from tests.steps import compile_flows, run

FLOW = """
    flow: book
    on: { event: shop.order.placed }
    key: data.order_id
    steps:
      - id: reserve
        call: wms.reserve
        with: { sku: "${ data.lines[0].sku }" }
        idempotency_key: "reserve:${ data.lines[0].sku }:${ data.currency }"
      - id: release
        call: wms.release
"""


def test_the_flow_key_replaces_run_and_step_and_the_default_stays(workspace: Any) -> None:
    plan = compile_flows(workspace, {"flows/book.yaml": FLOW})
    first = run(plan, "book", order_event("O1"))
    second = run(plan, "book", order_event("O2"))
    keys = [[c.idempotency_key for c in r.calls] for r in (first, second)]
    assert keys[0][0] == keys[1][0] == "reserve:A:EUR"
    assert keys[0][1] == f"{first.run_id}:release" and keys[1][1] == f"{second.run_id}:release"


def test_a_key_that_is_not_a_string_fails_the_step(workspace: Any) -> None:
    plan = compile_flows(
        workspace,
        {"flows/book.yaml": FLOW.replace('"reserve:${ data.lines[0].sku }:${ data.currency }"', '"${ data.nothing }"')},
    )
    result = run(plan, "book", order_event("O1"))
    assert result.status == "dead_lettered"
    assert result.error["code"] == "expression.failed"
    assert "idempotency_key must be a non-empty string, got None" in result.error["message"]


def test_an_unknown_name_in_the_key_is_a_load_error(workspace: Any) -> None:
    from runtime.compiler.workspace import check_workspace

    root = workspace({"flows/book.yaml": FLOW.replace("data.currency", "vars.nope")})
    [problem] = check_workspace(root).diagnostics
    assert problem.yaml_path == "steps[0].idempotency_key"


@pytest.mark.slow
def test_two_runs_racing_to_create_one_record_make_one(tmp_path: Path) -> None:
    """Over real HTTP: an ERP that honours Idempotency-Key and otherwise creates a record per
    POST; ten orders of one customer run at once, each 'creating the customer'."""
    erp = CountingErp()
    server, port, thread = _serve(erp.app())
    try:
        root = write_files(tmp_path / "ws", {
            **MINI_WORKSPACE,
            "connectors/erp.yaml": f"""
                connector: erp
                kind: http
                base_url: http://127.0.0.1:{port}
                operations:
                  create_order: {{ method: POST, path: /orders }}
            """,
            "flows/book.yaml": """
                flow: book
                on: { event: shop.order.placed }
                key: data.order_id
                steps:
                  - id: create_customer_record
                    call: erp.create_order
                    with: { order_id: "customer-${ data.currency }" }
                    idempotency_key: "customer:${ data.currency }"
            """,
        })
        plan = compile_workspace(root)

        async def main() -> list[Any]:
            results: list[Any] = []

            async def one(n: int) -> None:
                results.append(await run_flow(plan, "book", order_event(f"O{n}"), clock=VirtualClock()))

            async with anyio.create_task_group() as group:
                for n in range(10):
                    group.start_soon(one, n)
            return results

        results = anyio.run(main)
    finally:
        server.should_exit = True
        thread.join(timeout=5)
    assert {r.status for r in results} == {"succeeded"}
    assert erp.records == [("order", "customer-EUR")]
    assert erp.replayed == 9
    assert len({r.output["id"] if isinstance(r.output, dict) else None for r in results}) == 1

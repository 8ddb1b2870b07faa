"""Running cases through the library: later events for wait_for, real connectors never reached,
variants chosen by the event or forced, and the coverage of each variant."""

from __future__ import annotations

from pathlib import Path

from runtime.compiler.workspace import compile_workspace
from runtime.testing import (
    CoverageRecorder,
    execute,
    load_test_file,
    prepare_case,
    prepare_file,
    verify,
)
from tests.testing._run import RESERVE_FLOW, shop

FILES = {
    "connectors/erp.yaml": """
        connector: erp
        kind: http
        base_url: http://127.0.0.1:9
        operations:
          notify: { method: POST, path: /notify }
    """,
    "flows/await_acceptance.yaml": """
        flow: await_acceptance
        version: 1.0.0
        on: { event: shop.order.placed }
        steps:
          - id: reserve
            call: wms.reserve
            with: { sku: "${ data.lines[0].sku }" }
          - id: accepted
            wait_for: shop.order.accepted
            match: data.order_id
            equals: "${ data.order_id }"
            timeout: 1h
          - id: notify
            call: erp.notify
            with: { order: "${ data.order_id }", count: "${ steps.accepted.output.data.count }" }
        output: "${ steps.accepted.output.data }"
    """,
    "flows/variants/eu/reserve_order.yaml": """
        extends: reserve_order
        match: data.currency == 'EUR'
        patch:
          insert_after:
            accepted:
              - id: eu_audit
                set: { audited: true }
    """,
}

ORDER = "{ data: { order_id: O7, currency: EUR, lines: [ { sku: A, qty: 1 } ] } }"


def run_file(root: Path, name: str) -> list[tuple[str, list[str], object]]:
    plan = compile_workspace(root)
    test = load_test_file(root, root / "tests" / "flows" / f"{name}.yaml")
    flow, shared, problems = prepare_file(plan, test)
    assert flow is not None and not problems, problems
    out = []
    recorder = CoverageRecorder(plan)
    for index, spec in enumerate(test.spec.cases):
        case = prepare_case(plan, flow, test, index)
        if case.problems:
            out.append((spec.name, [str(p) for p in case.problems], recorder))
            continue
        case.responses = {**shared, **case.responses}
        run = execute(plan, flow, case, test.spec.start, test.spec.run_id)
        if run.result is not None:
            recorder.record(run.result)
        out.append((spec.name, [f.message for f in verify(plan, case, run)], recorder))
    return out


def test_later_events_answer_wait_for_and_real_connectors_are_never_called(tmp_path: Path) -> None:
    accepted = "{ type: shop.order.accepted, data: { order_id: O7, count: 1 } }"
    cases = f"""\
flow: await_acceptance
cases:
  - name: accepted, notify mocked
    event: {ORDER}
    events: [ {accepted} ]
    mocks: {{ erp.notify: {{ output: {{ sent: true }} }} }}
    expect:
      status: succeeded
      output: {{ order_id: O7, count: 1 }}
      steps: {{ notify: {{ input: {{ order: O7, count: 1 }} }} }}
  - name: notify not mocked
    event: {ORDER}
    events: [ {accepted} ]
    expect: {{ status: succeeded }}
  - name: an event nobody waits for
    event: {ORDER}
    events: [ {accepted}, {accepted} ]
    expect: {{ status: succeeded }}
"""
    root = shop(tmp_path, {**FILES, "tests/flows/await_acceptance.yaml": cases})
    results = {name: failures for name, failures, _ in run_file(root, "await_acceptance")}
    assert results["accepted, notify mocked"] == []
    assert results["notify not mocked"] == [
        "step notify called erp.notify, which no mock answers: flow tests never reach real "
        "systems; add `erp.notify: { output: … }` to the case's or file's mocks",
        "status dead_lettered, expected succeeded\n  error at step notify [connector.permanent]: "
        "erp.notify is not mocked in this test case",
    ]
    assert results["an event nobody waits for"] == [
        "tests/flows/await_acceptance.yaml:17:80: cases[2].events[1]: no (further) wait_for step "
        "of flow await_acceptance waits for 'shop.order.accepted' (hint: `events` answer the "
        "flow's wait_for steps in order; it waits for: shop.order.accepted) [test.no_wait_for]"
    ]


def test_variants_are_chosen_by_the_event_or_forced_and_covered_apart(tmp_path: Path) -> None:
    cases = f"""\
flow: reserve_order
cases:
  - name: the EU variant runs for a euro order
    event: {ORDER}
    expect: {{ status: succeeded, variant: eu, taken: [check, reserve_eur, accepted, eu_audit] }}
  - name: the base flow, forced
    event: {ORDER}
    variant: base
    expect: {{ status: succeeded, variant: null, taken: [check, reserve_eur, accepted] }}
  - name: the wrong variant expected
    event: {ORDER.replace("EUR", "USD")}
    expect: {{ status: succeeded, variant: eu }}
  - name: no such variant
    event: {ORDER}
    variant: apac
    expect: {{ status: succeeded }}
"""
    root = shop(
        tmp_path,
        {
            **FILES,
            "flows/reserve_order.yaml": RESERVE_FLOW,
            "tests/flows/reserve_order.yaml": cases,
        },
    )
    results = run_file(root, "reserve_order")
    assert [failures for _, failures, _ in results] == [
        [],
        [],
        ["a different variant ran"],
        [
            "tests/flows/reserve_order.yaml:15:14: cases[3].variant: flow reserve_order has no "
            "variant 'apac' (hint: use auto, base, eu) [test.unknown_variant]"
        ],
    ]
    recorder = results[-1][2]
    assert recorder.flows["reserve_order[eu]"].steps == {
        "check": True,
        "reserve_eur": True,
        "reserve_other": False,
        "accepted": True,
        "eu_audit": True,
    }
    assert recorder.flows["reserve_order"].steps["reserve_other"] is True

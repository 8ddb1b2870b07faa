"""The reference workspace's flow tests: every flow has some, and together they cover every
step and every switch arm (the issue's bar). Runs the cases through the library, not pytest."""

from __future__ import annotations

from runtime.compiler.workspace import compile_workspace
from runtime.testing import CoverageRecorder, execute, load_test_file, prepare_case, prepare_file
from tests.conftest import REPO


def test_every_reference_flow_has_cases_and_full_step_and_arm_coverage() -> None:
    plan = compile_workspace(REPO)
    recorder = CoverageRecorder(plan)
    tested = set()
    for file in sorted((REPO / "tests" / "flows").glob("*.yaml")):
        test = load_test_file(REPO, file)
        flow, shared, problems = prepare_file(plan, test)
        assert not problems and flow is not None
        tested.add(flow.name)
        for index in range(len(test.spec.cases)):
            case = prepare_case(plan, flow, test, index)
            assert not case.problems
            case.responses = {**shared, **case.responses}
            run = execute(plan, flow, case, test.spec.start, test.spec.run_id)
            recorder.add_case(flow.name, run.result.variant if run.result is not None else None)
            if run.result is not None:
                recorder.record(run.result)
    assert tested == set(plan.flows)
    missing = {name: f.missing for name, f in recorder.flows.items() if f.missing}
    assert missing == {}
    assert recorder.percent() == 100.0
    assert all(f.cases >= 1 for f in recorder.flows.values())

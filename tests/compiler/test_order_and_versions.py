"""Load-time checks of step order, ignored files, and what a flow's version covers."""

from __future__ import annotations

from runtime.compiler.workspace import check_workspace
from tests.conftest import WriteWorkspace

HEAD = "flow: orders\non: { event: shop.order.placed }\n"


def problems(root) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(d) for d in check_workspace(root).diagnostics]


def test_reading_a_step_that_runs_later_is_an_error(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/orders.yaml": HEAD + (
        "steps:\n"
        "  - id: first\n    set: { r: \"${ steps.second.output.reservation }\" }\n"
        "  - id: second\n    call: wms.reserve\n    with: { sku: A }\n"
    )})
    assert problems(root) == [
        "flows/orders.yaml:5:19: steps[0].set.r: step `second` has not run at this point, so its output is "
        "always null here (hint: move the step above, or read it in a later step) [expr.step_not_run_yet]"
    ]


def test_vars_cannot_read_steps(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/orders.yaml": HEAD + (
        "vars: { r: \"${ steps.second.output }\" }\n"
        "steps:\n  - id: second\n    call: wms.reserve\n"
    )})
    assert [p.split(": ", 2)[1] for p in problems(root)] == ["vars.r"]
    assert "has not run at the flow's vars" in problems(root)[0]


def test_undo_loop_output_and_flow_output_may_read_their_steps(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/orders.yaml": HEAD + (
        "steps:\n"
        "  - id: each\n    for_each: data.lines\n    steps:\n"
        "      - id: reserve\n        call: wms.reserve\n        with: { sku: \"${ item.sku }\" }\n"
        "        undo: { call: wms.release, with: { r: \"${ steps.reserve.output.reservation }\" } }\n"
        "    output: \"${ steps.reserve.output }\"\n"
        "output: \"${ steps.each.output }\"\n"
    )})
    assert problems(root) == []


def test_yml_files_are_reported_not_ignored(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/orders.yml": HEAD + "steps:\n  - id: a\n    call: wms.reserve\n"})
    assert problems(root) == [
        "flows/orders.yml:1:1: orders.yml is ignored: flows files end in .yaml "
        "(hint: rename it to orders.yaml) [file.extension]"
    ]


def test_flow_count_includes_files_that_do_not_parse(workspace: WriteWorkspace) -> None:
    root = workspace({"flows/broken.yaml": "flow: [\n", "flows/orders.yaml": HEAD + "steps:\n  - id: a\n    call: wms.reserve\n"})
    assert check_workspace(root).counts["flows"] == 2


def _hashes(root) -> dict[str, str]:  # type: ignore[no-untyped-def]
    plan = check_workspace(root).plan
    assert plan is not None
    return {name: flow.content_hash for name, flow in plan.flows.items()}


def test_a_flow_version_covers_its_subflows_and_the_settings(workspace: WriteWorkspace) -> None:
    root = workspace({
        "flows/parent.yaml": HEAD.replace("orders", "parent") + "steps:\n  - id: child\n    subflow: child\n",
        "flows/child.yaml": "flow: child\non: { schedule: '0 2 * * *' }\nsteps:\n  - id: a\n    call: wms.reserve\n",
        "flows/other.yaml": HEAD.replace("orders", "other") + "steps:\n  - id: a\n    call: wms.reserve\n",
    })
    before = _hashes(root)
    child = root / "flows" / "child.yaml"
    child.write_text(child.read_text() + "    description: changed\n")
    after_child = _hashes(root)
    assert after_child["child"] != before["child"]
    assert after_child["parent"] != before["parent"], "a subflow change is a new parent version"
    assert after_child["other"] == before["other"]

    (root / "seamline.yaml").write_text("default_retry: { attempts: 7 }\n")
    after_settings = _hashes(root)
    assert all(after_settings[name] != after_child[name] for name in after_child)

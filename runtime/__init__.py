"""seamline: a declarative integration runtime.

Data flows one way: load (YAML with positions) -> validate (spec) -> compile (Plan) ->
execute (engine) -> record. The public entry points:
"""

from runtime.compiler.plan import FlowPlan, Plan
from runtime.compiler.workspace import WorkspaceReport, check_workspace, compile_workspace
from runtime.engine import RunResult, VirtualClock, route, run_flow
from runtime.errors import Diagnostic, FlowError, StepError

__all__ = [
    "Diagnostic",
    "FlowError",
    "FlowPlan",
    "Plan",
    "RunResult",
    "StepError",
    "VirtualClock",
    "WorkspaceReport",
    "check_workspace",
    "compile_workspace",
    "route",
    "run_flow",
]

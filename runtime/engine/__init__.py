"""The interpreter: executes a compiled Plan; never sees YAML."""

from runtime.engine.context import Clock, VirtualClock
from runtime.engine.executor import route, run_flow
from runtime.engine.result import CallRecord, RunResult, StepRecord

__all__ = ["CallRecord", "Clock", "RunResult", "StepRecord", "VirtualClock", "route", "run_flow"]

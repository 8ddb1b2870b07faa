"""Flow tests, contract checks and coverage: the pytest plugin behind `seamline test`.

`runtime.testing.plugin` is registered as a pytest11 entry point; the rest is usable on its
own (`load_test_file`, `prepare_case`, `execute`, `verify`, `CoverageRecorder`, the consumer
checks).
"""

from runtime.testing._prepare import (
    PreparedCase,
    TestFile,
    load_test_file,
    prepare_case,
    prepare_file,
)
from runtime.testing.case import FlowTestCase, FlowTestFile
from runtime.testing.consumers import check_consumer, check_workspace_consumers
from runtime.testing.coverage import CoverageRecorder, FlowCoverage
from runtime.testing.runner import CaseRun, Failure, execute, verify

__all__ = [
    "CaseRun",
    "CoverageRecorder",
    "Failure",
    "FlowCoverage",
    "FlowTestCase",
    "FlowTestFile",
    "PreparedCase",
    "TestFile",
    "check_consumer",
    "check_workspace_consumers",
    "execute",
    "load_test_file",
    "prepare_case",
    "prepare_file",
    "verify",
]

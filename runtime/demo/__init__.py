"""`seamline demo`: the simulated CRM, PSA, ERP and legacy ERP, the runtime on the reference
workspace, and a realistic business day played through them (docs/demo.md)."""

from runtime.demo._api import ApiError
from runtime.demo._scale import SCALES, Scale
from runtime.demo._summary import next_steps
from runtime.demo._world import DataDirError
from runtime.demo.day import Demo, DemoError, DemoOptions

__all__ = [
    "SCALES",
    "ApiError",
    "DataDirError",
    "Demo",
    "DemoError",
    "DemoOptions",
    "Scale",
    "next_steps",
]

"""seamline's benchmarks: `python -m bench` runs them all and writes BENCHMARKS.md.

One module per benchmark (flow, expressions, contracts, compile, memory, profile), each with a
`run(quick) -> Section`; `baseline.py` is the hand-written Python the flow is compared with.
"""

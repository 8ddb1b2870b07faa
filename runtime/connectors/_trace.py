"""W3C Trace Context for outbound calls: one trace per run, one span per request.

The trace id is derived from the run id (the call's correlation id), so every request a run
makes — across retries, resumes and workers — lands in the same trace without any state being
kept; the span id is new for every request.
"""

from __future__ import annotations

import hashlib
import secrets

VERSION = "00"
SAMPLED = "01"


def trace_id_for(run_id: str) -> str:
    """32 lower-case hex digits, stable for a run id, never all zeros."""
    digest = hashlib.sha256(f"seamline-trace:{run_id}".encode()).hexdigest()[:32]
    return digest if digest.strip("0") else "0" * 31 + "1"


def new_span_id() -> str:
    """16 lower-case hex digits, random, never all zeros."""
    while True:
        span = secrets.token_hex(8)
        if span.strip("0"):
            return span


def traceparent(run_id: str, span_id: str | None = None) -> str:
    """`00-<trace id>-<span id>-01` for a new span of the run's trace."""
    return f"{VERSION}-{trace_id_for(run_id)}-{span_id or new_span_id()}-{SAMPLED}"

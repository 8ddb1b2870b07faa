"""Contract validation per event: the fast path (jsonschema-rs) against python-jsonschema.

Events: every example under `contracts/*/examples/` (all event types, CloudEvents envelopes).
Fast path: `ContractRegistry.check_event(event)`, what the runtime calls before a run starts:
the CloudEvents envelope and the `data` of the contract version `dataschema` names, both with
jsonschema-rs (draft-07 and draft 2020-12, formats asserted for contracts). Reference: the same
two schemas with python-jsonschema's `is_valid`. For invalid events `check_event` also collects
readable violations (python-jsonschema's `best_match`); that cost is shown on its own line.
"""

from __future__ import annotations

import json
from typing import Any

from bench._timing import Row, Sample, Section, per_call
from bench._workspace import REPO, reference
from runtime.contracts.registry import ContractRegistry, ContractVersion
from runtime.contracts.validate import envelope_validator


def _events(valid: bool) -> list[dict[str, Any]]:
    folder = "valid" if valid else "invalid"
    files = sorted((REPO / "contracts").glob(f"*/examples/{folder}/*.json"))
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def _reference_check(registry: ContractRegistry, event: dict[str, Any]) -> bool:
    if not envelope_validator()._reference.is_valid(event):  # noqa: SLF001
        return False
    version = registry.version_for(event)
    if not isinstance(version, ContractVersion):
        return False
    return version.validator.reference_is_valid(event.get("data"))


def run(quick: bool = False) -> Section:
    registry = reference().plan.contracts
    valid, invalid = _events(True), _events(False)
    assert all(registry.check_event(e).ok for e in valid)
    assert all(_reference_check(registry, e) for e in valid)
    runs, number = (3, 20) if quick else (5, 50)
    fast, slow, rejections = [], [], []
    for _ in range(runs):  # interleaved
        fast.append(per_call(lambda: [registry.check_event(e) for e in valid], number) / len(valid))
        slow.append(
            per_call(lambda: [_reference_check(registry, e) for e in valid], number) / len(valid)
        )
        rejections.append(
            per_call(lambda: [registry.check_event(e) for e in invalid], max(2, number // 4))
            / len(invalid)
        )
    fast_s, slow_s = Sample(tuple(fast)), Sample(tuple(slow))
    section = Section("Contract validation per event", __doc__.split("\n\n", 1)[1].strip())
    section.rows.append(
        Row(
            f"valid event, fast path (jsonschema-rs), {len(valid)} examples",
            fast_s,
            "us",
            slow_s,
            "python-jsonschema (reference path)",
            slow_s.median / fast_s.median,
            "x faster",
        )
    )
    section.rows.append(
        Row(
            f"invalid event, rejection with messages, {len(invalid)} examples",
            Sample(tuple(rejections)),
            "us",
            note="jsonschema-rs says no, python-jsonschema explains why",
        )
    )
    return section

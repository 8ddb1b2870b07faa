"""The day's summary: what the runtime did (from its store), what the systems hold (from their
databases), what the ingress refused or recognised as duplicates — and where to look next."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anyio

from runtime.demo._player import Played
from runtime.demo._runtime import DemoRuntime
from runtime.demo._scale import Scale
from runtime.sandbox import Sandbox
from runtime.store import open_store

FINISHED = ("succeeded", "dead_lettered", "failed", "discarded")


async def _store_facts(store_url: str, root: Path) -> dict[str, Any]:
    store = open_store(store_url, root)
    try:
        runs = await store.runs(limit=10_000_000)
        counts = await store.counts()
    finally:
        await store.aclose()
    by_flow: dict[str, Counter[str]] = defaultdict(Counter)
    dead: Counter[str] = Counter()
    dead_flows: dict[str, set[str]] = defaultdict(set)
    night: tuple[str, Any] = ("", None)  # the latest reconciliation (02:00 may fire as well)
    for run in runs:
        name = f"{run.flow}[{run.variant}]" if run.variant else run.flow
        by_flow[name][run.status] += 1
        if run.status == "dead_lettered":
            code = str((run.error or {}).get("code") or "unknown")
            dead[code] += 1
            dead_flows[code].add(run.flow)
        if run.flow == "nightly_reconciliation" and run.status == "succeeded":
            night = max(night, (run.created_at, run.output), key=lambda n: n[0])
    return {
        "runs": {flow: dict(sorted(c.items())) for flow, c in sorted(by_flow.items())},
        "runs_total": len(runs),
        "dead_letters": {
            code: {"runs": n, "flows": sorted(dead_flows[code])} for code, n in dead.most_common()
        },
        "events_stored": counts.get("events", 0),
        "reconciliation": night[1],
    }


def build_summary(
    *,
    scale: Scale,
    seed: int,
    data_dir: Path,
    workspace: Path,
    store_url: str,
    sandbox: Sandbox,
    baseline: dict[str, dict[str, int]],
    runtime: DemoRuntime,
    played: Played,
    user_key_prefix: str,
    elapsed: float,
) -> dict[str, Any]:
    facts = anyio.run(_store_facts, store_url, workspace)
    records = sandbox.counts()
    created = {
        system: {t: n - baseline.get(system, {}).get(t, 0) for t, n in tables.items()}
        for system, tables in records.items()
    }
    tally = runtime.tally()
    replays = sandbox.replays(exclude_prefix=user_key_prefix)
    return {
        "scale": scale.name,
        "seed": seed,
        "elapsed_seconds": round(elapsed, 1),
        "runtime": runtime.kind,
        "data_dir": str(data_dir),
        "workspace": str(workspace),
        "played": asdict(played),
        "faults": {
            "crm_psa_error_rate": scale.error_rate,
            "erp_error_rate": scale.erp_error_rate,
            "erp_timeout_rate": scale.timeout_rate,
            "latency_seconds": scale.latency,
        },
        **facts,
        "ingress": {
            "accepted": tally.accepted,
            "duplicates": tally.duplicates,
            "rejected": dict(tally.rejected.most_common()),
        },
        "step_retries": tally.retries,
        "records": records,
        "created": created,
        "duplicates_prevented": {
            "ingress_duplicates": tally.duplicates,
            "idempotent_replays": sum(replays.values()),
            "idempotent_replays_by_system": replays,
        },
    }


def next_steps(summary: dict[str, Any], runtime_url: str | None) -> list[tuple[str, str]]:
    ws, data = summary["workspace"], summary["data_dir"]
    steps = [
        (f"seamline runs list -w {ws} --status dead_lettered", "the runs that need a person"),
        (
            f"seamline dlq list -w {ws}",
            "dead letters with their step and error; then `dlq show`/`replay`",
        ),
        (
            f"seamline runs list -w {ws} --flow opportunity_to_project",
            "then `seamline runs show RUN -w …`",
        ),
        (
            f'sqlite3 {data}/sandbox/northwind_uk.db "SELECT * FROM SALES_CONTRACT '
            'ORDER BY LAST_UPD_TS DESC LIMIT 5"',
            "Northwind's contracts, in pence",
        ),
        (
            f'sqlite3 {data}/sandbox/erp.db "SELECT id, name, status FROM customers LIMIT 5"',
            "the group ERP's customers",
        ),
    ]
    report = (summary.get("reconciliation") or {}).get("report")
    if report:
        steps.append((f"cat {ws}/.seamline/reports/{report}", "the nightly reconciliation report"))
    if runtime_url:
        steps.append(
            (f"curl {runtime_url}/api/status", "the running server's ops API (and /metrics)")
        )
    else:
        steps.append(
            ("seamline demo --keep-running", "keep the systems and the runtime up to explore")
        )
    return steps

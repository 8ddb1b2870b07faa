"""Status and health: /api/status, POST /api/reload, /healthz, /readyz and /metrics."""

from __future__ import annotations

import os
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import Response

from runtime.server._problem import json_response
from runtime.server._routes import OBJECT, Endpoint, query
from runtime.server.metrics import CONTENT_TYPE, backlog_of

if TYPE_CHECKING:
    from runtime.server.state import ServerState

READY_TIMEOUT = 2.0


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def server_version() -> str:
    try:
        return metadata.version("seamline")
    except metadata.PackageNotFoundError:  # pragma: no cover - always installed in practice
        return "unknown"


def status_document(state: ServerState, history: int = 20) -> dict[str, Any]:
    plan, reloads = state.plan, state.reloads
    last = reloads.last
    counts = state.backlog.counts
    return {
        "workspace": {
            "root": str(state.root),
            "hash": plan.workspace_hash,
            "loaded_at": _iso(reloads.loaded_at),
            "flows": len(plan.flows),
            "contracts": len(plan.contracts.contracts),
            "connectors": len(plan.connectors),
            "watching": state.options.watch,
        },
        "last_reload": last.to_dict() if last else None,
        "errors": reloads.errors,
        "reloads": [r.to_dict() for r in list(reloads.records)[-history:]][::-1],
        "reloads_total": reloads.total,
        "server": {
            "version": server_version(),
            "pid": os.getpid(),
            "started_at": _iso(state.started_at),
            "uptime_seconds": round(time.time() - state.started_at, 1),
            "ready": state.ready,
            "draining": state.draining,
            "auth": state.auth.describe(),
            "hooks": sorted(state.hook_keys),
        },
        "workers": {
            "concurrency": state.pool.concurrency,
            "runs_executed": state.pool.worker.runs_executed,
        },
        "store": counts,
        "backlog": backlog_of(counts),
        "max_backlog": state.settings.max_backlog,
    }


def endpoints(state: ServerState) -> list[Endpoint]:
    async def get_status(request: Request) -> Response:
        text = request.query_params.get("history", "20")
        await state.backlog.refresh()
        return json_response(status_document(state, int(text) if text.isdigit() else 20))

    async def post_reload(request: Request) -> Response:
        record = await state.reloader.reload(trigger="api")
        return json_response(record.to_dict(), 200 if record.ok else 422)

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def readyz(request: Request) -> Response:
        problems = []
        if not state.ready:
            problems.append("starting")
        if state.draining:
            problems.append("draining")
        try:
            with anyio.fail_after(READY_TIMEOUT):
                await state.backlog.refresh()
        except Exception as exc:  # noqa: BLE001 - any store failure means not ready
            problems.append(f"store unreachable: {type(exc).__name__}: {exc}")
        if problems:
            return json_response({"status": "unavailable", "problems": problems}, 503)
        return json_response({"status": "ready", "workspace_hash": state.plan.workspace_hash})

    async def metrics(request: Request) -> Response:
        state.metrics.store_counts(await state.backlog.refresh())
        return Response(state.metrics.render(), media_type=CONTENT_TYPE)

    return [
        Endpoint("GET", "/api/status", get_status, "viewer", "Workspace version, last reload and its errors, reload history, workers, backlog", "status", params=(query("history", "How many reloads to list (newest first).", type="integer", minimum=0),), result=OBJECT),
        Endpoint("POST", "/api/reload", post_reload, "admin", "Compile the workspace now and publish it if clean", "status", responses={200: "Reloaded", 422: "Rejected: the workspace has problems (old plan keeps serving)"}, result=OBJECT),
        Endpoint("GET", "/healthz", healthz, "open", "Liveness: the process answers", "health", result=OBJECT),
        Endpoint("GET", "/readyz", readyz, "open", "Readiness: plan loaded, store reachable, not draining", "health", responses={200: "Ready", 503: "Not ready (the reasons are listed)"}, result=OBJECT),
        Endpoint("GET", "/metrics", metrics, "viewer", "Prometheus metrics (text format 0.0.4)", "status", result={"type": "string"}, result_type="text/plain"),
    ]  # fmt: skip


__all__ = ["endpoints", "server_version", "status_document"]

"""The ops API under /api: flows and their versions, runs and their steps, dead letters (replay,
discard), contracts and accepted events — the operations `seamline runs` and `seamline dlq` offer.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from runtime.compiler.plan import FlowPlan
from runtime.engine.dlq import ReplayRefused, replay_dead_letter
from runtime.engine.sources import source_table
from runtime.server._problem import json_response, problem
from runtime.server._routes import OBJECT, Endpoint, path, query
from runtime.store.base import DEAD_LETTERED, RUN_STATUSES, RunRecord, Store

if TYPE_CHECKING:
    from runtime.server.state import ServerState

LIMIT = query("limit", "At most this many (newest first).", type="integer", minimum=1, maximum=1000)
FILTERS = (
    query("flow", "Only runs of this flow."),
    query("status", "Only runs in this status.", type="string", enum=list(RUN_STATUSES)),
    query("key", "Only the run with this business key."),
    query("error", "Only runs that failed with this error code (e.g. connector.http_422)."),
    LIMIT,
)


def _limit(request: Request, default: int = 100) -> int | Response:
    text = request.query_params.get("limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= 1000:
        return problem(400, "api.bad_query", "limit must be an integer from 1 to 1000")
    return int(text)


def _outline(steps: tuple[Any, ...]) -> list[dict[str, Any]]:
    out = []
    for node in steps:
        item: dict[str, Any] = {"id": getattr(node, "id", "?"), "kind": getattr(node, "kind", "?")}
        children = getattr(node, "children", ())
        if children:
            item["children"] = [
                {"label": label, "steps": _outline(nodes)} for label, nodes in children
            ]
        out.append(item)
    return out


def flow_summary(state: ServerState, flow: FlowPlan) -> dict[str, Any]:
    return {
        "name": flow.name,
        "version": flow.version,
        "hash": flow.content_hash,
        "description": flow.description,
        "file": flow.file,
        "event": flow.event_type,
        "schedule": flow.schedule,
        "sla_seconds": flow.sla_seconds,
        "files": list(flow.files),
        "versions": list(state.versions.get(flow.name, {}).values()),
    }


async def _run_detail(store: Store, run: RunRecord) -> dict[str, Any]:
    journal = [asdict(e) for e in await store.journal(run.id)]
    failed = next(
        (
            e
            for e in reversed(journal)
            if e["generation"] == run.generation and e["status"] == "failed"
        ),
        None,
    )
    return {
        "run": asdict(run),
        "steps": journal,
        "audit": [asdict(a) for a in await store.audit(run.id)],
        "failed_step": failed,
    }


async def _json_body(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return problem(400, "api.bad_body", f"the body is not JSON: {exc}")
    if not isinstance(body, dict):
        return problem(400, "api.bad_body", "the body is a JSON object")
    return body


def endpoints(state: ServerState) -> list[Endpoint]:
    store = state.store

    async def list_flows(request: Request) -> Response:
        plan = state.plan
        flows = [flow_summary(state, f) for _, f in sorted(plan.flows.items())]
        return json_response({"workspace_hash": plan.workspace_hash, "flows": flows})

    async def get_flow(request: Request) -> Response:
        flow = state.plan.flows.get(request.path_params["name"])
        if flow is None:
            return problem(404, "api.not_found", f"no flow {request.path_params['name']!r}")
        return json_response({**flow_summary(state, flow), "steps": _outline(flow.steps)})

    async def list_runs(request: Request) -> Response:
        return await _runs(request, request.query_params.get("status"))

    async def list_dead_letters(request: Request) -> Response:
        return await _runs(request, DEAD_LETTERED)

    async def _runs(request: Request, status: str | None) -> Response:
        limit = _limit(request)
        if isinstance(limit, Response):
            return limit
        if status is not None and status not in RUN_STATUSES:
            return problem(400, "api.bad_query", f"status is one of {', '.join(RUN_STATUSES)}")
        params = request.query_params
        runs = await store.runs(
            flow=params.get("flow"),
            status=status,
            key=params.get("key"),
            error_code=params.get("error"),
            limit=limit,
        )
        return json_response({"runs": [asdict(r) for r in runs]})

    async def _find(request: Request) -> RunRecord | Response:
        run = await store.run(request.path_params["run_id"])
        if run is None:
            return problem(404, "api.not_found", f"no run {request.path_params['run_id']!r}")
        return run

    async def get_run(request: Request) -> Response:
        run = await _find(request)
        if isinstance(run, Response):
            return run
        return json_response(await _run_detail(store, run))

    async def get_run_steps(request: Request) -> Response:
        run = await _find(request)
        if isinstance(run, Response):
            return run
        return json_response({"steps": [asdict(e) for e in await store.journal(run.id)]})

    async def replay(request: Request) -> Response:
        run = await _find(request)
        if isinstance(run, Response):
            return run
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        try:
            replayed = await replay_dead_letter(
                store,
                run.id,
                latest=state.plan if body.get("latest") else None,
                from_start=bool(body.get("from_start")),
            )
        except ReplayRefused as exc:
            return problem(409, "api.conflict", str(exc))
        state.pool.wake()
        return json_response(
            {
                "run": asdict(replayed.run),
                "replaying": replayed.how,
                "by": getattr(request.state, "principal", None),
            },
            202,
        )

    async def discard(request: Request) -> Response:
        run = await _find(request)
        if isinstance(run, Response):
            return run
        body = await _json_body(request)
        if isinstance(body, Response):
            return body
        reason = body.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            return problem(
                400, "api.bad_body", 'say why: {"reason": "…"} (kept in the audit trail)'
            )
        principal = getattr(request.state, "principal", None)
        try:
            await store.discard(run.id, f"{reason} (by {principal})" if principal else reason)
        except (ValueError, KeyError) as exc:
            return problem(409, "api.conflict", str(exc))
        discarded = await store.run(run.id)
        return json_response({"run": asdict(discarded) if discarded else None})

    async def list_contracts(request: Request) -> Response:
        return json_response({"contracts": [_contract(c, False) for c in _contracts(state)]})

    async def get_contract(request: Request) -> Response:
        contract = state.plan.contracts.get(request.path_params["type"])
        if contract is None:
            return problem(404, "api.not_found", f"no contract {request.path_params['type']!r}")
        return json_response(_contract(contract, True))

    async def get_event(request: Request) -> Response:
        text = request.path_params["seq"]
        event = await store.event(int(text)) if text.isdigit() else None
        if event is None:
            return problem(404, "api.not_found", f"no event {text!r} in the inbox")
        return json_response(asdict(event))

    async def list_sources(request: Request) -> Response:
        return json_response({"sources": await source_table(store, state.plan)})

    async def list_source_rejects(request: Request) -> Response:
        limit = _limit(request)
        if isinstance(limit, Response):
            return limit
        name = request.path_params["name"]
        rejects = await store.source_rejects(name, limit)
        return json_response({"source": name, "rejects": [asdict(r) for r in rejects]})

    run_id = path("run_id", "The run's id.")
    return [
        Endpoint("GET", "/api/flows", list_flows, "viewer", "Flows of the current plan, with the versions this server has served", "flows", result=OBJECT),
        Endpoint("GET", "/api/flows/{name}", get_flow, "viewer", "One flow: version, hash, files, steps, versions", "flows", params=(path("name", "The flow's name."),), responses={200: "OK", 404: "No such flow"}, result=OBJECT),
        Endpoint("GET", "/api/runs", list_runs, "viewer", "Runs, newest first, with filters", "runs", params=FILTERS, responses={200: "OK", 400: "Bad filter"}, result=OBJECT),
        Endpoint("GET", "/api/runs/{run_id}", get_run, "viewer", "A run with its steps (the journal) and its audit trail", "runs", params=(run_id,), responses={200: "OK", 404: "No such run"}, result=OBJECT),
        Endpoint("GET", "/api/runs/{run_id}/steps", get_run_steps, "viewer", "A run's journal: every step's input, output, status, attempts and timing", "runs", params=(run_id,), responses={200: "OK", 404: "No such run"}, result=OBJECT),
        Endpoint("GET", "/api/dead-letters", list_dead_letters, "viewer", "Dead letters, newest first", "dead letters", params=(FILTERS[0], FILTERS[3], LIMIT), responses={200: "OK", 400: "Bad filter"}, result=OBJECT),
        Endpoint("GET", "/api/dead-letters/{run_id}", get_run, "viewer", "A dead letter: the failed step's input and error, the journal and the audit trail", "dead letters", params=(run_id,), responses={200: "OK", 404: "No such run"}, result=OBJECT),
        Endpoint("POST", "/api/dead-letters/{run_id}/replay", replay, "operator", "Replay from the failed step (or from the start), on the pinned or the latest version", "dead letters", params=(run_id,), body={"application/json": {"type": "object", "properties": {"latest": {"type": "boolean"}, "from_start": {"type": "boolean"}}}}, responses={202: "Queued for replay", 404: "No such run", 409: "Not a dead letter"}, result=OBJECT),
        Endpoint("POST", "/api/dead-letters/{run_id}/discard", discard, "operator", "Give up on a dead letter, with a reason kept in the audit trail", "dead letters", params=(run_id,), body={"application/json": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}}}}, responses={200: "Discarded", 400: "No reason", 404: "No such run", 409: "Not a dead letter"}, result=OBJECT),
        Endpoint("GET", "/api/contracts", list_contracts, "viewer", "Event contracts and their versions", "contracts", result=OBJECT),
        Endpoint("GET", "/api/contracts/{type}", get_contract, "viewer", "One contract with the JSON Schema of every version", "contracts", params=(path("type", "The event type."),), responses={200: "OK", 404: "No such contract"}, result=OBJECT),
        Endpoint("GET", "/api/sources", list_sources, "viewer", "Polled sources: kind, event type, watermark or files taken in, counts, last and next poll, last error", "sources", result=OBJECT),
        Endpoint("GET", "/api/sources/{name}/rejects", list_source_rejects, "viewer", "Records a source could not take in, newest first: location, reason, raw record", "sources", params=(path("name", "The source, `<connector>.<source>`."), LIMIT), responses={200: "OK", 400: "Bad limit"}, result=OBJECT),
        Endpoint("GET", "/api/events/{seq}", get_event, "viewer", "An accepted event, by inbox sequence number", "events", params=(path("seq", "The inbox sequence number."),), responses={200: "OK", 404: "No such event"}, result=OBJECT),
    ]  # fmt: skip


def _contracts(state: ServerState) -> list[Any]:
    return [c for _, c in sorted(state.plan.contracts.contracts.items())]


def _contract(contract: Any, schemas: bool) -> dict[str, Any]:
    versions = []
    for v in contract.versions:
        item = {"version": v.version, "uri": v.uri, "file": v.file}
        if schemas:
            item["schema"] = v.schema
        versions.append(item)
    return {
        "type": contract.type,
        "description": contract.meta.description,
        "owner": contract.meta.owner,
        "compatibility": contract.meta.compatibility,
        "latest": contract.latest.version,
        "versions": versions,
    }


__all__ = ["endpoints", "flow_summary"]

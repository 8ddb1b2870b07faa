"""`POST /events`: CloudEvents in, 202 only after the durable commit.

Order of checks: draining (503) → backlog over `max_backlog` (429 + Retry-After) → body larger
than `max_event_bytes` (413, read with the limit, never loaded whole) → not events at all (400,
415) → envelope (400) and contract (422), each naming the JSON path of the violation → commit.
A single event joins the store's group commit (concurrent requests share one fsync); a batch is
committed in one transaction and answered per event. The answer names the inbox sequence number
and the runs the event will start (a preview on the current plan: the worker routes it after
the commit, on the plan current then).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from runtime.compiler.plan import Plan
from runtime.engine.executor import event_document, select_variant
from runtime.engine.ingest import Rejection, accept, check
from runtime.expressions.jmes import is_truthy
from runtime.server._cloudevents import BATCH, STRUCTURED, RequestError, parse_events
from runtime.server._problem import json_response, problem, problem_body
from runtime.server._routes import Endpoint
from runtime.store.base import Accepted

if TYPE_CHECKING:
    from runtime.server.state import ServerState

RETRY_AFTER_BACKLOG = 2  # seconds
RETRY_AFTER_DRAINING = 5
STATUS = {
    "envelope.invalid": 400,
    "contract.violation": 422,
    "contract.unknown": 422,
    "envelope.unstorable": 422,
}

EVENT_BODIES = {
    STRUCTURED: {"type": "object", "description": "One CloudEvent (structured mode)."},
    "application/json": {"type": "object", "description": "One CloudEvent (structured mode)."},
    BATCH: {"type": "array", "items": {"type": "object"}, "description": "A batch of CloudEvents."},
    "*/*": {"description": "Binary mode: the data, with the attributes as `ce-*` headers."},
}
INGEST_RESPONSES = {
    202: "Durably accepted (a batch: every event accepted)",
    207: "A batch with accepted and rejected events (see `results`)",
    400: "Not a CloudEvent: bad JSON or envelope (with the JSON path)",
    413: "Body larger than `max_event_bytes`",
    415: "Unsupported Content-Type",
    422: "Contract violation (names the contract and the JSON path), or no contract for the type",
    429: "Backlog over `max_backlog`; retry after `Retry-After` seconds",
    503: "Draining for shutdown; retry elsewhere or later",
}


async def read_body(request: Request, limit: int) -> bytes | Response:
    """The body, or a 413 answer as soon as it is known to exceed `limit` bytes."""
    too_large = problem(
        413,
        "ingress.too_large",
        f"the body is larger than max_event_bytes ({limit} bytes)",
        limit=limit,
    )
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    return b"".join(chunks)


def preview(plan: Plan, event: dict[str, Any]) -> list[dict[str, Any]]:
    """The runs the event will start on `plan`: matching type, truthy filter, the variant the
    event selects, and the run key.

    Mirrors the worker's router (engine.worker.EventRouter, which `engine.route` also follows):
    a flow whose filter or key cannot read the event is left out.
    """
    out = []
    document = event_document(event)
    for base in plan.flows_for(str(event.get("type"))):
        try:
            if base.filter is not None and not is_truthy(base.filter.evaluate(document)):
                continue
            key = base.key.evaluate(document) if base.key is not None else None
        except Exception:  # noqa: BLE001 - the router skips such flows too
            continue
        flow = select_variant(plan, base.name, event)
        out.append(
            {
                "flow": flow.name,
                "version": flow.version,
                "hash": flow.content_hash,
                "variant": flow.variant,
                "key": key,
            }
        )
    return out


def _rejection_body(rejection: Rejection, index: int | None = None) -> dict[str, Any]:
    status = STATUS.get(rejection.code, 422)
    body = problem_body(
        status,
        rejection.code,
        rejection.message,
        contract=rejection.contract,
        violations=[{"path": p, "message": m} for p, m in rejection.violations],
    )
    if index is not None:
        body["index"] = index
    return body


def _accepted_body(
    plan: Plan, event: dict[str, Any], verdict: Accepted, index: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": "accepted",
        "seq": verdict.seq,
        "duplicate": verdict.duplicate,
        "id": event.get("id"),
        "source": event.get("source"),
        "type": event.get("type"),
        "runs": preview(plan, event),
        "href": f"/api/events/{verdict.seq}",
    }
    if index is not None:
        body["index"] = index
    return body


async def ingest(state: ServerState, request: Request, body: bytes | None, via: str) -> Response:
    """The ingest path shared by /events and /hooks: `body` None means: read it here."""
    started = time.perf_counter()
    metrics = state.metrics
    if state.draining:
        metrics.events_rejected.inc(via, "ingress.draining")
        return problem(
            503,
            "ingress.draining",
            "the server is shutting down",
            headers={"Retry-After": str(RETRY_AFTER_DRAINING)},
        )
    settings = state.settings
    backlog = await state.backlog.current()
    if backlog > settings.max_backlog:
        metrics.events_rejected.inc(via, "ingress.backlog")
        return problem(
            429,
            "ingress.backlog",
            f"{backlog} events and runs are waiting (max_backlog {settings.max_backlog})",
            headers={"Retry-After": str(RETRY_AFTER_BACKLOG)},
            backlog=backlog,
        )
    if body is None:
        read = await read_body(request, settings.max_event_bytes)
        if isinstance(read, Response):
            metrics.events_rejected.inc(via, "ingress.too_large")
            return read
        body = read
    try:
        events, is_batch = parse_events(request.headers, body)
    except RequestError as exc:
        metrics.events_rejected.inc(via, exc.code)
        extra = {"hint": exc.hint} if exc.hint else {}
        return problem(exc.status, exc.code, exc.detail, **extra)
    plan = state.plan
    if is_batch:
        answer = await _batch(state, plan, events, via)
    else:
        answer = await _single(state, plan, events[0], via)
    metrics.ingest_latency.observe(time.perf_counter() - started, via)
    return answer


async def _single(state: ServerState, plan: Plan, event: Any, via: str) -> Response:
    rejection = check(plan, event)
    if rejection is not None:
        state.metrics.events_rejected.inc(via, rejection.code)
        body = _rejection_body(rejection)
        return json_response(body, body["status"], {"content-type": "application/problem+json"})
    verdict = await state.store.accept(event)  # group commit: returns after the fsync
    _count(state, via, [verdict])
    body = _accepted_body(plan, event, verdict)
    return json_response(body, 202, {"Location": body["href"]})


async def _batch(state: ServerState, plan: Plan, events: list[Any], via: str) -> Response:
    verdicts = await accept(plan, state.store, events) if events else []
    results: list[dict[str, Any]] = []
    accepted: list[Accepted] = []
    for index, (event, verdict) in enumerate(zip(events, verdicts, strict=True)):
        if isinstance(verdict, Rejection):
            state.metrics.events_rejected.inc(via, verdict.code)
            results.append(_rejection_body(verdict, index))
        else:
            accepted.append(verdict)
            results.append(_accepted_body(plan, event, verdict, index))
    _count(state, via, accepted)
    rejected = len(results) - len(accepted)
    if not rejected:
        status = 202
    elif accepted:
        status = 207
    else:
        status = max(r["status"] for r in results)
    return json_response(
        {"accepted": len(accepted), "rejected": rejected, "results": results}, status
    )


def _count(state: ServerState, via: str, verdicts: list[Accepted]) -> None:
    if not verdicts:
        return
    state.metrics.events_accepted.inc(via, amount=len(verdicts))
    duplicates = sum(1 for v in verdicts if v.duplicate)
    if duplicates:
        state.metrics.events_duplicate.inc(via, amount=duplicates)
    fresh = len(verdicts) - duplicates
    state.backlog.added(fresh)
    if fresh:
        state.pool.wake()


def endpoints(state: ServerState) -> list[Endpoint]:
    async def post_events(request: Request) -> Response:
        return await ingest(state, request, None, "events")

    return [
        Endpoint(
            "POST",
            "/events",
            post_events,
            "ingress",
            "Accept CloudEvents (structured, binary mode, or a batch)",
            "ingress",
            body=EVENT_BODIES,
            responses=INGEST_RESPONSES,
            result={"type": "object"},
            description="Answers 202 only after the events are durably committed; the answer "
            "names each event's inbox sequence number and the runs it will start.",
        )
    ]


__all__ = ["EVENT_BODIES", "INGEST_RESPONSES", "ingest", "preview", "read_body"]

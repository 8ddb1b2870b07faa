"""The runtime the demo drives: `seamline serve`'s app in a thread of this process, receiving the
systems' signed webhooks on `/hooks/{source}` and invalid events on `/events` — durable on the
store in the demo's workspace.

If the server package cannot be imported (a stripped install), a small in-process stand-in is
used instead: the same two endpoints, HMAC checked with `runtime.sandbox.verify`, events handed
to `runtime.engine.ingest.accept` and run by an engine `Worker` on the same store.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runtime.compiler.plan import Plan
from runtime.engine.ingest import Rejection, accept
from runtime.engine.plans import PlanProvider
from runtime.engine.worker import Worker
from runtime.store import Store


@dataclass
class IngressTally:
    """What the ingress answered: accepted, duplicates, rejections by problem code."""

    accepted: int = 0
    duplicates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    retries: int = 0  # step retries (server metrics; not counted by the stand-in)


class Hosted:
    """An ASGI app served by uvicorn in a daemon thread on a free loopback port."""

    def __init__(self, app: Any, name: str) -> None:
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            log_config=None,
            timeout_graceful_shutdown=5,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=name, daemon=True
        )

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the seamline runtime did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=60)
        self._sock.close()


class DemoRuntime:
    """What the player and the summary need from whichever runtime is running."""

    kind = "?"
    url = ""

    def hook_url(self, source: str) -> str:
        return f"{self.url}/hooks/{source}"

    def tally(self) -> IngressTally:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class ServerRuntime(DemoRuntime):
    """`seamline serve` in-process: ServerState + create_app on uvicorn."""

    kind = "seamline serve (in-process)"

    def __init__(self, plan: Plan, store: Store, workers: int) -> None:
        from runtime.server import ServerOptions, ServerState, create_app

        options = ServerOptions(host="127.0.0.1", port=0, concurrency=workers, poll_interval=0.2)
        self.state = ServerState(PlanProvider(plan, store), store, options)
        self._hosted = Hosted(create_app(self.state), "seamline-serve")
        self.url = self._hosted.url
        self._hosted.start()

    def tally(self) -> IngressTally:
        metrics = self.state.metrics
        rejected: Counter[str] = Counter()
        for (_via, code), n in metrics.events_rejected.values.items():
            rejected[code] += int(n)
        return IngressTally(
            accepted=int(sum(metrics.events_accepted.values.values())),
            duplicates=int(sum(metrics.events_duplicate.values.values())),
            rejected=rejected,
            retries=int(sum(metrics.retries.values.values())),
        )

    def stop(self) -> None:
        self._hosted.stop()  # lifespan shutdown drains: runs in flight finish


class StandInRuntime(DemoRuntime):
    """The fallback: signed webhooks and /events into `accept`, an engine Worker running them."""

    kind = "in-process receiver and worker (fallback)"

    def __init__(self, plan: Plan, store: Store, workers: int, secrets: dict[str, str]) -> None:
        from runtime.sandbox import SIGNATURE_HEADER, verify

        self.counts = IngressTally()
        plans = PlanProvider(plan, store)
        worker = Worker(store, plans, concurrency=workers, poll_interval=0.1)
        stop = anyio.Event()

        async def take(request: Request, body: bytes) -> Response:
            try:
                event = json.loads(body)
            except ValueError:
                self.counts.rejected["envelope.not_json"] += 1
                return JSONResponse({"code": "envelope.not_json"}, status_code=400)
            (verdict,) = await accept(plans.current, store, [event])
            if isinstance(verdict, Rejection):
                self.counts.rejected[verdict.code] += 1
                status = 422 if verdict.code.startswith("contract") else 400
                return JSONResponse({"code": verdict.code, "detail": verdict.message}, status)
            self.counts.accepted += 1
            self.counts.duplicates += int(verdict.duplicate)
            return JSONResponse(
                {"status": "accepted", "seq": verdict.seq, "duplicate": verdict.duplicate},
                status_code=202,
            )

        async def hook(request: Request) -> Response:
            secret = secrets.get(request.path_params["source"])
            body = await request.body()
            if secret is None or not verify(secret, body, request.headers.get(SIGNATURE_HEADER)):
                self.counts.rejected["hook.invalid_signature"] += 1
                return JSONResponse({"code": "hook.invalid_signature"}, status_code=401)
            return await take(request, body)

        async def events(request: Request) -> Response:
            return await take(request, await request.body())

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await plans.publish(plan)
            async with anyio.create_task_group() as group:
                group.start_soon(worker.serve, stop)
                yield
                stop.set()

        app = Starlette(
            routes=[
                Route("/hooks/{source}", hook, methods=["POST"]),
                Route("/events", events, methods=["POST"]),
            ],
            lifespan=lifespan,
        )
        self._hosted = Hosted(app, "seamline-demo-runtime")
        self.url = self._hosted.url
        self._hosted.start()

    def tally(self) -> IngressTally:
        return self.counts

    def stop(self) -> None:
        self._hosted.stop()


def start_runtime(
    plan: Plan, store: Store, workers: int, secrets: dict[str, str], *, prefer_server: bool = True
) -> DemoRuntime:
    """`seamline serve`'s app when it can be imported (and `prefer_server`), else the stand-in."""
    if prefer_server:
        try:
            return ServerRuntime(plan, store, workers)
        except ImportError:
            pass
    return StandInRuntime(plan, store, workers, secrets)

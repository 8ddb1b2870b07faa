"""HTTP ingest and hot-reload latency of `seamline serve`.

**Ingest.** The reference flow's event (`crm.opportunity.closed_won`, example `fixed_fee_us`,
with a fresh `id` per request) is posted to a real `seamline serve` process on a copy of the
reference workspace: envelope and contract checked, committed to the SQLite inbox (WAL,
`synchronous=FULL`, group commit) and answered 202 with the inbox seq and the runs it will start.
Workers are off (`--concurrency 0`): this measures acceptance, the part a sender waits for (the
reference connectors point at the sandbox systems, which do not run here). The baseline is a
bare Starlette app on the same stack (uvicorn with the same defaults, its own process) that parses
the JSON body and answers 202. Both get the same load generator, in its own process: asyncio with
`--connections` keep-alive HTTP/1.1 connections, each sending its next request when the answer
to the last arrives, for `--duration` seconds after a warm-up. The client writes requests and
reads answers on raw asyncio streams, not httpx: httpx's per-request overhead would cap both
servers at the client's speed and hide the difference being measured. Runs alternate
(bare, seamline, bare, …) and the medians are reported; ratio = seamline / bare req/s.

**Reload.** `seamline serve --watch` on a generated workspace of 50 mid-sized flows
(`bench/compile.py`'s generator: the reference contracts, connectors, lookups and templates plus
50 flows of ~75 lines). One flow file is changed; the latency is from just before the write to
the moment the server's reload record says the new plan is serving (its `at`, same clock; polled
every 50 ms, then checked: `GET /api/flows/<name>` reports the new content hash) — debounce,
compiling the whole workspace, saving the versions and the swap. The record's `duration_ms`
gives the compile-and-publish part.

Run alone: `python -m bench.ingest [--quick] [--json]`; the harness calls `run(quick)`.
"""

from __future__ import annotations

import argparse
import calendar
import json
import os
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/ingest.py`
    sys.path[0] = str(Path(__file__).resolve().parent.parent)

import httpx  # noqa: E402

from bench._timing import Row, Sample, Section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
EVENT = REPO / "contracts/crm.opportunity.closed_won/examples/valid/fixed_fee_us.json"
INGEST_TARGET = 0.5
RELOAD_TARGET = 0.300  # seconds, p50
RELOAD_FLOWS = 50

BARE_APP = """
import socket, sys
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

async def events(request: Request) -> Response:
    await request.json()
    return Response(b'{"status":"accepted"}', 202, media_type="application/json")

async def healthz(request: Request) -> Response:
    return Response(b"ok")

sock = socket.socket()
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
print(f"serving http://127.0.0.1:{sock.getsockname()[1]}", flush=True)
app = Starlette(routes=[Route("/events", events, methods=["POST"]), Route("/healthz", healthz)])
uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False)).run(sockets=[sock])
"""


# -- processes ------------------------------------------------------------------------------
class Process:
    """A server process that prints `… http://host:port …` on its first line of output."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - lives as long as the server
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        assert self.process.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(self.process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout=60):
            self.stop()
            raise RuntimeError(f"{args[:4]} did not start: {self.logs()}")
        line = self.process.stdout.readline()
        url = next((w for w in line.split() if w.startswith("http://")), None)
        if url is None:
            self.stop()
            raise RuntimeError(f"{args[:4]} printed {line!r}: {self.logs()}")
        self.url = url.rstrip("/")
        host, port = self.url.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def logs(self) -> str:
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


def _seamline(*args: str) -> list[str]:
    return [sys.executable, "-m", "runtime.cli.main", *args]


def _wait_ready(url: str, path: str = "/healthz") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} not ready")


# -- the load generator ---------------------------------------------------------------------
LOAD = """
import asyncio, json, sys, time
host, port, connections, warmup, duration, template = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6].encode()
head = (b"POST /events HTTP/1.1\\r\\nHost: %s\\r\\nContent-Type: application/cloudevents+json\\r\\n"
        b"Content-Length: %d\\r\\n\\r\\n")
latencies, statuses, counter = [], {}, [0]
nonce = b"%d" % time.time_ns()

async def connection(start, stop):
    reader, writer = await asyncio.open_connection(host, port)
    while True:
        counter[0] += 1
        body = template.replace(b"__ID__", b"%s-%d" % (nonce, counter[0]))
        t0 = time.perf_counter()
        if t0 >= stop:
            break
        writer.write(head % (host.encode(), len(body)) + body)
        status = int((await reader.readline()).split()[1])
        length = 0
        while (line := await reader.readline()) not in (b"\\r\\n", b""):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        if t0 >= start:
            latencies.append(time.perf_counter() - t0)
            statuses[status] = statuses.get(status, 0) + 1
    writer.close()

async def main():
    start = time.perf_counter() + warmup
    stop = start + duration
    await asyncio.gather(*(connection(start, stop) for _ in range(connections)))
    latencies.sort()
    n = len(latencies)
    print(json.dumps({"requests": n, "rps": n / duration, "statuses": statuses,
                      "p50_ms": latencies[n // 2] * 1000 if n else None,
                      "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else None}))

asyncio.run(main())
"""


def _event_template() -> str:
    event = json.loads(EVENT.read_text(encoding="utf-8"))
    event["id"] = "bench-__ID__"
    return json.dumps(event, separators=(",", ":"))


def load(server: Process, connections: int, warmup: float, duration: float) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", LOAD, server.host, str(server.port), str(connections),
         str(warmup), str(duration), _event_template()],
        capture_output=True, text=True, timeout=warmup + duration + 60, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _reference_copy(root: Path) -> Path:
    for folder in ("flows", "contracts", "connectors"):
        shutil.copytree(REPO / folder, root / folder)
    # no tokens on loopback; the backlog never refuses: workers are off, events pile up
    (root / "seamline.yaml").write_text("max_backlog: 1000000000\n", encoding="utf-8")
    return root


def measure_ingest(connections: int, duration: float, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seamline-bench-") as tmp:
        root = _reference_copy(Path(tmp) / "ws")
        seamline = Process(_seamline("serve", str(root), "--port", "0", "--concurrency", "0"), root)
        bare = Process([sys.executable, "-c", BARE_APP], root)
        try:
            _wait_ready(seamline.url, "/readyz")
            _wait_ready(bare.url, "/healthz")
            results: dict[str, list[dict[str, Any]]] = {"bare": [], "seamline": []}
            for _ in range(rounds):
                for name, server in (("bare", bare), ("seamline", seamline)):
                    results[name].append(load(server, connections, 1.0, duration))
        finally:
            seamline.stop()
            bare.stop()
    return summarise(results, connections, duration)


def summarise(
    results: dict[str, list[dict[str, Any]]], connections: int, duration: float
) -> dict[str, Any]:
    out: dict[str, Any] = {"connections": connections, "duration_s": duration, "rounds": results}
    for name, runs in results.items():
        statuses: Counter[str] = Counter()
        for run in runs:
            statuses.update({str(k): v for k, v in run["statuses"].items()})
        out[name] = {
            "rps": statistics.median(r["rps"] for r in runs),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs),
            "statuses": dict(statuses),
        }
    out["ratio"] = out["seamline"]["rps"] / out["bare"]["rps"]
    out["target"] = INGEST_TARGET
    out["met"] = out["ratio"] >= INGEST_TARGET and set(out["seamline"]["statuses"]) == {"202"}
    return out


# -- reload latency -------------------------------------------------------------------------
def measure_reload(samples: int) -> dict[str, Any]:
    from bench.compile import write_workspace

    with tempfile.TemporaryDirectory(prefix="seamline-bench-") as tmp:
        root = write_workspace(Path(tmp) / "ws", RELOAD_FLOWS)
        server = Process(
            _seamline("serve", str(root), "--port", "0", "--concurrency", "0", "--watch"), root
        )
        latencies, compile_ms = [], []
        try:
            _wait_ready(server.url, "/readyz")
            client = httpx.Client(base_url=server.url, timeout=10)
            time.sleep(0.5)  # the watchers start with the app
            for i in range(samples):
                name = f"generated_{i % RELOAD_FLOWS:04d}"
                before = client.get(f"/api/flows/{name}").json()["hash"]
                reloads = client.get("/api/status").json()["reloads_total"]
                file = root / "flows" / f"{name}.yaml"
                text = file.read_text(encoding="utf-8") + f"# edit {i}\n"
                written = time.time()
                file.write_text(text, encoding="utf-8")
                # poll gently (a busy poller would take the GIL from the compiling server);
                # the server's reload record says when the new plan started serving
                while (status := client.get("/api/status").json())["reloads_total"] == reloads:
                    if time.time() - written > 30:
                        raise RuntimeError("the change was not served: " + server.logs())
                    time.sleep(0.05)
                record = status["last_reload"]
                if not record["ok"] or client.get(f"/api/flows/{name}").json()["hash"] == before:
                    raise RuntimeError(f"reload did not serve the change: {record}")
                latencies.append(_epoch(record["at"]) - written)
                compile_ms.append(float(record["duration_ms"]))
                time.sleep(0.3)
            client.close()
        finally:
            server.stop()
    p50 = statistics.median(latencies)
    return {
        "flows": RELOAD_FLOWS,
        "samples_ms": [round(x * 1000, 1) for x in latencies],
        "p50_ms": round(p50 * 1000, 1),
        "compile_p50_ms": round(statistics.median(compile_ms), 1),
        "target_ms": RELOAD_TARGET * 1000,
        "met": p50 <= RELOAD_TARGET,
    }


def _epoch(iso: str) -> float:
    """`2026-11-22T01:08:27.735Z` -> unix seconds."""
    whole, _, fraction = iso.rstrip("Z").partition(".")
    return calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S")) + float(f"0.{fraction or 0}")


# -- reporting ------------------------------------------------------------------------------
def measure(
    quick: bool = False, connections: int = 32, duration: float | None = None
) -> dict[str, Any]:
    duration = duration or (3.0 if quick else 8.0)
    return {
        "ingest": measure_ingest(connections, duration, rounds=1 if quick else 3),
        "reload": measure_reload(samples=3 if quick else 9),
    }


def markdown(result: dict[str, Any]) -> str:
    ingest, reload = result["ingest"], result["reload"]
    s, b = ingest["seamline"], ingest["bare"]
    met = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    return "\n".join([
        "| measurement | seamline | bare Starlette app | ratio | target | met |",
        "| --- | ---: | ---: | ---: | ---: | :---: |",
        f"| HTTP ingest, {ingest['connections']} connections (req/s) | {s['rps']:,.0f} | {b['rps']:,.0f} | "
        f"{ingest['ratio']:.2f}× | ≥ {ingest['target']}× | {met(ingest['met'])} |",
        f"| latency p50 | {s['p50_ms']:.1f} ms | {b['p50_ms']:.1f} ms | | | |",
        f"| latency p99 | {s['p99_ms']:.1f} ms | {b['p99_ms']:.1f} ms | | | |",
        f"| hot reload, {reload['flows']} flows: write → new version serving (p50) | "
        f"{reload['p50_ms']:.0f} ms (compile + publish {reload['compile_p50_ms']:.0f} ms) | | | "
        f"≤ {reload['target_ms']:.0f} ms | {met(reload['met'])} |",
    ])  # fmt: skip


def run(quick: bool = False) -> Section:
    """For bench/run.py: the same measurements as rows of the results table."""
    result = measure(quick)
    ingest, reload = result["ingest"], result["reload"]
    rounds = ingest["rounds"]
    seamline_rps = Sample(tuple(r["rps"] for r in rounds["seamline"]))
    bare_rps = Sample(tuple(r["rps"] for r in rounds["bare"]))
    section = Section(
        "HTTP ingest and hot reload (`seamline serve`)",
        (__doc__ or "").split("\n\n", 1)[1].split("\n\nRun alone")[0],
    )
    section.rows += [
        Row("HTTP ingest, durable (req/s)", seamline_rps, "events/s", bare_rps,
            "bare Starlette app, same stack", ingest["ratio"], "× bare", "≥ 0.5×", ingest["met"]),
        Row("HTTP ingest latency p50", Sample(tuple(r["p50_ms"] / 1000 for r in rounds["seamline"])), "ms",
            Sample(tuple(r["p50_ms"] / 1000 for r in rounds["bare"])), "bare app"),
        Row("HTTP ingest latency p99", Sample(tuple(r["p99_ms"] / 1000 for r in rounds["seamline"])), "ms",
            Sample(tuple(r["p99_ms"] / 1000 for r in rounds["bare"])), "bare app"),
        Row(f"hot reload, {reload['flows']} flows (write → new version serving)",
            Sample(tuple(x / 1000 for x in reload["samples_ms"])), "ms", target="p50 ≤ 300 ms",
            met=reload["met"], note=f"compile + publish p50 {reload['compile_p50_ms']:.0f} ms"),
    ]  # fmt: skip
    section.extra.append(markdown(result))
    return section


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="one short round, 3 reloads")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=None, help="seconds per round")
    args = parser.parse_args(argv)
    result = measure(args.quick, args.connections, args.duration)
    for rounds in (result["ingest"].pop("rounds"),):
        result["ingest"]["rounds_rps"] = {
            k: [round(r["rps"]) for r in v] for k, v in rounds.items()
        }
    print(json.dumps(result, indent=2))
    print()
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

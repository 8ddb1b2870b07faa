"""`seamline sandbox` — run the simulated CRM, PSA and ERP (and create the legacy ERP database)
until interrupted."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.markup import escape

from runtime.cli._output import console, err_console
from runtime.sandbox import DEFAULT_PORTS, FaultConfig, RateLimit, Sandbox, start_all


@click.command("sandbox")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".seamline/sandbox"),
    show_default=True,
    envvar="SEAMLINE_SANDBOX_DIR",
    help="Where the systems keep their SQLite databases (kept after exit).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--crm-port",
    type=int,
    default=DEFAULT_PORTS["crm"],
    show_default=True,
    help="CRM port (0: any free port).",
)
@click.option(
    "--psa-port",
    type=int,
    default=DEFAULT_PORTS["psa"],
    show_default=True,
    help="PSA port (0: any free port).",
)
@click.option(
    "--erp-port",
    type=int,
    default=DEFAULT_PORTS["erp"],
    show_default=True,
    help="ERP port (0: any free port).",
)
@click.option(
    "--token",
    default="sandbox-token",
    show_default=True,
    envvar="SEAMLINE_SANDBOX_TOKEN",
    help="Bearer token every system expects.",
)
@click.option(
    "--webhook-url",
    envvar="SEAMLINE_SANDBOX_WEBHOOK_URL",
    help="Where the systems POST their CloudEvents webhooks (none: kept in the outbox).",
)
@click.option(
    "--webhook-secret",
    default="sandbox-webhook-secret",
    show_default=True,
    envvar="SEAMLINE_SANDBOX_WEBHOOK_SECRET",
    help="HMAC-SHA256 key of the signatures.",
)
@click.option(
    "--rate-limit",
    type=float,
    default=100.0,
    show_default=True,
    envvar="SEAMLINE_SANDBOX_RATE_LIMIT",
    help="Requests per second per system (0: off).",
)
@click.option(
    "--burst",
    type=int,
    default=200,
    show_default=True,
    envvar="SEAMLINE_SANDBOX_BURST",
    help="Requests allowed at once (token bucket size).",
)
@click.option(
    "--error-rate",
    type=click.FloatRange(0, 1),
    envvar="SEAMLINE_SANDBOX_ERROR_RATE",
    help="Share of requests answered 503.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0),
    envvar="SEAMLINE_SANDBOX_LATENCY",
    help="Seconds added to every request.",
)
@click.option(
    "--jitter",
    type=click.FloatRange(0),
    envvar="SEAMLINE_SANDBOX_JITTER",
    help="Up to this many seconds more, per request.",
)
@click.option(
    "--timeout-rate",
    type=click.FloatRange(0, 1),
    envvar="SEAMLINE_SANDBOX_TIMEOUT_RATE",
    help="Share of requests that hang (writes are carried out, their answer hangs).",
)
@click.option(
    "--hang",
    type=click.FloatRange(0),
    envvar="SEAMLINE_SANDBOX_HANG",
    help="Seconds a timed-out request hangs before its 504 [default: 30].",
)
@click.option(
    "--seed", type=int, envvar="SEAMLINE_SANDBOX_SEED", help="Make fault injection deterministic."
)
@click.option("--reset", is_flag=True, help="Delete the databases first.")
@click.option("--no-legacy", is_flag=True, help="Do not create the legacy ERP database.")
@click.option("--json", "as_json", is_flag=True, help="Print the addresses as one JSON line.")
def sandbox_command(
    data_dir: Path,
    host: str,
    crm_port: int,
    psa_port: int,
    erp_port: int,
    token: str,
    webhook_url: str | None,
    webhook_secret: str,
    rate_limit: float,
    burst: int,
    error_rate: float | None,
    latency: float | None,
    jitter: float | None,
    timeout_rate: float | None,
    hang: float | None,
    seed: int | None,
    reset: bool,
    no_legacy: bool,
    as_json: bool,
) -> None:
    """Run the simulated CRM, PSA and ERP (and the legacy ERP's database) until Ctrl-C.

    Each system has its own SQLite database in --data-dir, bearer-token auth, a rate limit
    (429 + Retry-After), fault injection, Idempotency-Key support and signed CloudEvents
    webhooks. Point the reference connectors at it with the printed environment variables.
    """
    given = {
        "error_rate": error_rate,
        "latency": latency,
        "jitter": jitter,
        "timeout_rate": timeout_rate,
        "hang": hang,
        "seed": seed,
    }
    # flags (and SEAMLINE_SANDBOX_*) for all systems; SEAMLINE_SANDBOX_<SYSTEM>_* for one
    faults = {name: FaultConfig.from_env(name).with_changes(**given) for name in DEFAULT_PORTS}
    stop = threading.Event()
    previous = _on_signals(stop)  # before starting, so an early Ctrl-C also stops cleanly
    try:
        try:
            sandbox = start_all(
                data_dir,
                host=host,
                ports={"crm": crm_port, "psa": psa_port, "erp": erp_port},
                token=token,
                faults=faults,
                rate_limit=RateLimit(rate=rate_limit, burst=burst),
                webhook_url=webhook_url,
                webhook_secret=webhook_secret,
                legacy=not no_legacy,
                reset=reset,
            )
        except OSError as exc:
            err_console.print(f"[red]error[/red]: {escape(str(exc))}")
            sys.exit(1)
        try:
            _announce(sandbox, faults, webhook_url, as_json)
            while not stop.wait(0.5):
                pass
        finally:
            sandbox.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not as_json:
        console.print(f"stopped; the databases are in {escape(str(data_dir))}")


def _announce(
    sandbox: Sandbox, faults: dict[str, FaultConfig], webhook_url: str | None, as_json: bool
) -> None:
    if as_json:
        info = {"urls": sandbox.urls, "legacy_url": sandbox.legacy_url, "env": sandbox.env()}
        print(json.dumps(info), flush=True)
        return
    for name, server in sandbox.servers.items():
        db = sandbox.data_dir / f"{name}.db"
        console.print(f"[bold]{server.service.title:<4}[/bold] {server.url}   {escape(str(db))}")
    if sandbox.legacy_url:
        console.print(f"[bold]legacy ERP (northwind_uk)[/bold] {escape(sandbox.legacy_url)}")
    console.print(f"webhooks: {escape(webhook_url or 'kept in each outbox (no --webhook-url)')}")
    for name, config in faults.items():
        if config.active:
            console.print(
                f"faults {name}: error rate {config.error_rate:g}, latency {config.latency:g}s"
                f"+{config.jitter:g}s, timeout rate {config.timeout_rate:g}, seed {config.seed}"
            )
    console.print("environment for the reference connectors:")
    for key, value in sandbox.env().items():
        console.print(f"  export {key}={escape(value)}")
    console.print("[green]ready[/green] — Ctrl-C to stop", highlight=False)
    sys.stdout.flush()


def _on_signals(stop: threading.Event) -> dict[int, Any]:
    """Set `stop` on SIGINT and SIGTERM; the previous handlers, to restore."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    return {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}

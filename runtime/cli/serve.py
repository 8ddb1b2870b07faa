"""`seamline serve` (the runtime over HTTP) and `seamline status` (ask a running one)."""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import click
import httpx
from rich.markup import escape

from runtime.cli._output import console, err_console
from runtime.cli._runtime import STORE_OPTION, load_plan, open_workspace_store
from runtime.engine.plans import PlanProvider
from runtime.server import ServerOptions, ServerState, bind, serve
from runtime.server.auth import AuthConfigError

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


@click.command("serve")
@click.argument(
    "workspace", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option("--watch", is_flag=True, help="Hot-reload the workspace when its files change.")
@click.option(
    "--host", envvar="SEAMLINE_HOST", default=None, help="Bind address (default: `host` setting)."
)
@click.option(
    "--port",
    envvar="SEAMLINE_PORT",
    type=int,
    default=None,
    help="Port (default: `port` setting; 0 picks a free one).",
)
@STORE_OPTION
@click.option(
    "--concurrency",
    type=click.IntRange(min=0),
    default=None,
    help="Runs executed at once (default: `workers` setting; 0 only accepts events).",
)
@click.option(
    "--grace",
    type=float,
    default=None,
    help="Seconds runs in flight may take after SIGTERM (default: `shutdown_grace` setting).",
)
@click.option("--access-log", is_flag=True, help="Log every HTTP request.")
def serve_command(
    workspace: Path,
    watch: bool,
    host: str | None,
    port: int | None,
    store_url: str | None,
    concurrency: int | None,
    grace: float | None,
    access_log: bool,
) -> None:
    """Run the runtime: HTTP ingress (POST /events, POST /hooks/SOURCE), workers and the ops API.

    SIGTERM (or Ctrl-C) drains: ingress answers 503, runs in flight finish within the grace
    period, then the process exits 0. With --watch, a changed workspace is compiled whole and
    swapped in; a broken change is rejected and the last good version keeps serving.
    """
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    plan = load_plan(workspace)
    settings = plan.settings
    options = ServerOptions(
        host=host or settings.host,
        port=settings.port if port is None else port,
        concurrency=concurrency,
        watch=watch,
        grace=grace,
    )
    store = open_workspace_store(plan, store_url)
    try:
        try:
            state = ServerState(PlanProvider(plan, store), store, options)
        except AuthConfigError as exc:
            err_console.print(f"[red]{escape(str(exc))}[/red]")
            sys.exit(1)
        try:
            sock = bind(options.host, options.port)
        except OSError as exc:
            err_console.print(f"[red]cannot listen on {options.host}:{options.port}: {exc}[/red]")
            sys.exit(1)
        bound = sock.getsockname()[1]
        console.print(
            f"seamline serving http://{options.host}:{bound} "
            f"(workspace {plan.workspace_hash[:12]}{', watching' if watch else ''})"
        )
        sys.stdout.flush()
        serve(state, sock, access_log=access_log)
    finally:
        anyio.run(store.aclose)


@click.command("status")
@click.option(
    "--url",
    envvar="SEAMLINE_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The server (or $SEAMLINE_URL).",
)
@click.option(
    "--token", envvar="SEAMLINE_TOKEN", default=None, help="A viewer token (or $SEAMLINE_TOKEN)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the status document as JSON.")
@click.option("--history", default=5, show_default=True, help="How many reloads to list.")
def status_command(url: str, token: str | None, as_json: bool, history: int) -> None:
    """What a running server serves: workspace version, the last reload and its errors.

    Exit 0 when the last reload succeeded, 1 when it was rejected (the errors are printed as
    file:line:col) or the server cannot be reached.
    """
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(
            url.rstrip("/") + "/api/status",
            params={"history": history},
            headers=headers,
            timeout=10,
        )
    except httpx.HTTPError as exc:
        err_console.print(f"[red]cannot reach {escape(url)}: {escape(str(exc))}[/red]")
        sys.exit(1)
    if answer.status_code != 200:
        detail = answer.json().get("detail", answer.text) if answer.content else ""
        err_console.print(
            f"[red]{answer.status_code} from {escape(url)}: {escape(str(detail))}[/red]"
        )
        sys.exit(1)
    status = answer.json()
    if as_json:
        click.echo(json.dumps(status, indent=2))
    else:
        print_status(url, status)
    sys.exit(1 if status.get("errors") else 0)


def _ago(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        then = time.mktime(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    except ValueError:
        return ""
    seconds = max(time.time() - then, 0)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f" ({int(seconds // size)}{unit} ago)"
    return f" ({int(seconds)}s ago)"


def _reload_line(record: dict[str, Any]) -> str:
    verdict = "[green]ok[/green]" if record["ok"] else "[red]rejected[/red]"
    files = ", ".join(record["files"]) or "-"
    old = (record.get("old_hash") or "-")[:12]
    new = (record.get("new_hash") or "-")[:12]
    return (
        f"{record['at']}{_ago(record['at'])} {record['trigger']} {verdict} in "
        f"{record['duration_ms']:.0f} ms  {old} → {new}  files: {escape(files)}"
    )


def print_status(url: str, status: dict[str, Any]) -> None:
    server, workspace = status["server"], status["workspace"]
    state = "draining" if server["draining"] else "ready" if server["ready"] else "starting"
    console.print(
        f"[bold]seamline {server['version']}[/bold] at {escape(url)}  pid {server['pid']}  "
        f"{state}  up {server['uptime_seconds']:.0f}s  auth: {escape(server['auth'])}"
    )
    console.print(
        f"workspace {escape(workspace['root'])}  [bold]{workspace['hash'][:12]}[/bold]  "
        f"loaded {workspace['loaded_at']}{_ago(workspace['loaded_at'])}  "
        f"{workspace['flows']} flows, {workspace['contracts']} contracts"
        f"{'  (watching)' if workspace['watching'] else ''}"
    )
    last = status.get("last_reload")
    if last:
        console.print("last reload: " + _reload_line(last))
    errors = status.get("errors") or []
    if errors:
        console.print(
            f"[red]the last reload was rejected with {len(errors)} problem(s); "
            f"still serving {workspace['hash'][:12]}:[/red]"
        )
        for error in errors:
            console.print(f"  {escape(error['text'])}")
    history = status.get("reloads", [])[1:]
    if history:
        console.print("earlier reloads:")
        for record in history:
            console.print("  " + _reload_line(record))
    runs = ", ".join(
        f"{k.split('.', 1)[1]} {v}"
        for k, v in sorted(status["store"].items())
        if k.startswith("runs.")
    )
    console.print(
        f"backlog {status['backlog']}/{status['max_backlog']}  workers {status['workers']['concurrency']}"
        f"  runs: {runs or 'none'}"
    )

"""`seamline sandbox`: starts the systems, prints where they are, stops cleanly on a signal."""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from runtime.cli.main import cli


def test_help_lists_the_options() -> None:
    result = CliRunner().invoke(cli, ["sandbox", "--help"])
    assert result.exit_code == 0
    for option in ("--data-dir", "--crm-port", "--token", "--error-rate", "--latency",
                   "--timeout-rate", "--seed", "--rate-limit", "--webhook-url", "--reset"):
        assert option in result.output


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_starts_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """In process: a helper thread waits for the ERP to answer (the command has installed its
    signal handlers by then), checks it, and sends SIGTERM to this process."""
    ports = [free_port() for _ in range(3)]
    seen: dict[str, object] = {}

    def probe_then_stop() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"http://127.0.0.1:{ports[2]}/_admin/counts",
                                   headers={"Authorization": "Bearer cli-token"})
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            seen["counts"] = answer.json()
            os.kill(os.getpid(), signal.SIGTERM)
            return

    helper = threading.Thread(target=probe_then_stop, daemon=True)
    helper.start()
    result = CliRunner().invoke(cli, [
        "sandbox", "--data-dir", str(tmp_path), "--crm-port", str(ports[0]), "--psa-port",
        str(ports[1]), "--erp-port", str(ports[2]), "--token", "cli-token", "--seed", "1", "--json",
    ])
    helper.join(timeout=5)
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.splitlines()[0])
    assert info["urls"]["erp"] == f"http://127.0.0.1:{ports[2]}"
    assert info["env"]["SEAMLINE_ERP_TOKEN"] == "cli-token"
    assert info["legacy_url"].endswith("northwind_uk.db")
    counts = seen["counts"]
    assert isinstance(counts, dict) and (counts["subsidiaries"], counts["customers"]) == (4, 0)
    assert {p.name for p in tmp_path.glob("*.db")} == {"crm.db", "psa.db", "erp.db", "northwind_uk.db"}


def test_a_port_in_use_is_reported(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(cli, ["sandbox", "--data-dir", str(tmp_path), "--crm-port", str(port),
                                          "--psa-port", "0", "--erp-port", "0", "--no-legacy"])
    assert result.exit_code == 1
    assert f"CRM cannot listen on 127.0.0.1:{port}" in result.output

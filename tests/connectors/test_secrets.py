"""Secrets: `env:`/`file:` references, and redaction from errors, run results and `seamline run`.

The flows here fail on purpose against a system that echoes the credential it received in its
error body (as some real APIs do); the secret must appear nowhere a person or a store could see.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.connectors.secrets import (
    RedactedStream,
    connector_error,
    redact,
    redact_value,
    register_secret,
    resolve_secret,
)
from runtime.errors import ConnectorError
from tests.conftest import order_event
from tests.connectors._api_server import CLIENT_ID, CLIENT_SECRET, ApiState, api_server
from tests.connectors._calls import call
from tests.connectors._server import LiveServer, free_port
from tests.steps import compile_flows, run

SECRET = "sk-live-51Hc9-redact-me"
PASSWORD = "pw:with/odd&chars"


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = api_server()
    yield live
    live.stop()


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_TOKEN", SECRET)
    monkeypatch.setenv("ECHO_PASSWORD", PASSWORD)
    monkeypatch.setenv("ECHO_CLIENT_SECRET", CLIENT_SECRET)


# -- the facility -------------------------------------------------------------------------------------


def test_redact_removes_every_registered_form() -> None:
    value = "R3d4ct/me+now&then"
    register_secret(value)
    text = f"raw {value} quoted R3d4ct%2Fme%2Bnow%26then json {json.dumps(value)} b64 {base64.b64encode(value.encode()).decode()}"
    assert redact(text) == 'raw *** quoted *** json "***" b64 ***'
    assert redact_value({"k": [f"x{value}y", 1, None], value: True}) == {"k": ["x***y", 1, None], "***": True}


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    register_secret("")
    register_secret(None)
    assert redact("abc is fine") == "abc is fine"


def test_connector_errors_built_by_connectors_are_redacted() -> None:
    register_secret("tok-in-an-error-body")
    error = connector_error("401: bad token tok-in-an-error-body", transient=False, status=401)
    assert (str(error), error.status, error.transient) == ("401: bad token ***", 401, False)


def test_redacted_stream_for_consoles(capsys: pytest.CaptureFixture[str]) -> None:
    from rich.console import Console

    register_secret("console-secret-42")
    console = Console(file=RedactedStream("stdout"), highlight=False, soft_wrap=True)
    console.print("[red]err:[/red] token console-secret-42 refused")
    assert capsys.readouterr().out == "err: token *** refused\n"


def test_env_and_file_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("from-a-file-secret\n")
    assert resolve_secret(f"file:{secret_file}") == "from-a-file-secret"
    assert redact("x from-a-file-secret") == "x ***"
    monkeypatch.delenv("NOT_THERE_EITHER", raising=False)
    with pytest.raises(ConnectorError) as caught:
        resolve_secret("env:NOT_THERE_EITHER")
    assert (str(caught.value), caught.value.error_class) == ("secret env:NOT_THERE_EITHER is not set", "config")
    with pytest.raises(ConnectorError) as caught:
        resolve_secret(f"file:{tmp_path / 'missing'}")
    assert "cannot be read" in str(caught.value) and caught.value.transient is False


# -- end to end: a failing flow whose connector uses a secret ---------------------------------------------


def connector(url: str, auth: str) -> str:
    return f"""
connector: api
kind: http
base_url: {url}
auth: {auth}
operations:
  echo: {{ path: /echo-auth }}
"""


FLOW = """\
flow: leak
on: { event: shop.order.placed }
steps:
  - { id: echo, call: api.echo, with: { order: "${ data.order_id }" }, retry: { attempts: 2, delay: 10ms } }
"""

AUTHS = {
    "bearer": ("{ type: bearer, token: env:ECHO_TOKEN }", SECRET),
    "basic": ("{ type: basic, username: svc, password: env:ECHO_PASSWORD }", PASSWORD),
    "api_key": ("{ type: api_key, token: env:ECHO_TOKEN, header: X-Api-Key }", SECRET),
}


@pytest.mark.parametrize("kind", sorted(AUTHS))
def test_a_failed_run_never_contains_the_secret(workspace, server: LiveServer, kind: str) -> None:
    auth, secret = AUTHS[kind]
    plan = compile_flows(workspace, {"connectors/api.yaml": connector(server.url, auth), "flows/leak.yaml": FLOW})
    result = run(plan, "leak")

    assert result.status == "dead_lettered"
    assert result.error["code"] == "connector.http_401"
    if kind != "api_key":  # the echo repeats the Authorization header; an api key is in another one
        assert "***" in result.error["message"]
    everything = json.dumps(result.to_dict(), default=str)
    for form in (secret, base64.b64encode(f"svc:{secret}".encode()).decode()):
        assert form not in everything
    assert all(secret not in (c.error or "") for c in result.calls)


def test_an_oauth2_access_token_is_redacted_too(workspace, server: LiveServer) -> None:
    auth = json.dumps({"type": "oauth2", "token_url": "/oauth/token", "client_id": CLIENT_ID,
                       "client_secret": "env:ECHO_CLIENT_SECRET"})
    plan = compile_flows(workspace, {"connectors/api.yaml": connector(server.url, auth), "flows/leak.yaml": FLOW})
    result = run(plan, "leak")

    state = server.state
    assert isinstance(state, ApiState) and state.issued
    everything = json.dumps(result.to_dict(), default=str)
    assert result.error["code"] == "connector.http_401"
    for issued in state.issued:
        assert issued["token"] not in everything
    assert CLIENT_SECRET not in everything


def test_seamline_run_output_never_contains_the_secret(workspace, server: LiveServer, tmp_path: Path) -> None:
    root = workspace({"connectors/api.yaml": connector(server.url, AUTHS["bearer"][0]), "flows/leak.yaml": FLOW})
    event = tmp_path / "event.json"
    event.write_text(json.dumps(order_event()))
    env = {**os.environ, "ECHO_TOKEN": SECRET, "NO_COLOR": "1", "COLUMNS": "400"}
    base = [sys.executable, "-m", "runtime.cli.main", "run", "leak", "--event", str(event), "-w", str(root)]
    procs = [subprocess.Popen([*base, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for extra in (["--json"], [])]  # both at once: half the wall time
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err
        outputs.append(out + err)
    as_json = json.loads(outputs[0][: outputs[0].rindex("}") + 1])
    assert as_json["error"]["code"] == "connector.http_401"
    assert "***" in as_json["error"]["message"]
    for output in outputs:
        assert SECRET not in output
        assert "connector.http_401" in output


def test_a_database_password_is_redacted(workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("psycopg")
    password = "pg-Secr3t-for-redaction"
    monkeypatch.setenv("LEAKY_DB_URL", f"postgresql://svc:{password}@127.0.0.1:{free_port()}/nowhere")
    plan = compile_flows(workspace, {"connectors/db.yaml": (
        "connector: db\nkind: sql\nurl: env:LEAKY_DB_URL\n"
        "operations: { ping: { sql: SELECT 1, result: scalar } }\n")})
    with pytest.raises(ConnectorError) as caught:
        call(plan, "db.ping")
    assert caught.value.transient is True
    assert password not in str(caught.value)
    assert redact(f"postgresql://svc:{password}@host") == "postgresql://svc:***@host"

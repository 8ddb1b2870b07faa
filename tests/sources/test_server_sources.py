"""`seamline serve` polls sources beside its workers and shows them on the ops API."""

from __future__ import annotations

import os
import time
from pathlib import Path

from runtime.compiler.workspace import compile_workspace
from tests.server.conftest import MakeClient, empty_store, make_client, wait_for_runs  # noqa: F401
from tests.sources._workspace import LEDGER_CONNECTOR, set_invoice, source_workspace


def test_sources_feed_the_server_and_show_on_the_api(tmp_path: Path, make_client: MakeClient) -> None:  # noqa: F811
    ws = source_workspace(tmp_path / "ws", ledger=LEDGER_CONNECTOR.replace("every: 30s", "every: 50ms"))
    drop_yaml = ws / "connectors" / "drop.yaml"
    drop_yaml.write_text(drop_yaml.read_text().replace("every: 10s", "every: 50ms"))
    set_invoice(ws, 1, "P", 10, "2026-11-21 09:00:00")
    csv = ws / "inbox" / "hours-1.csv"
    csv.write_text("employee,day,hours\nE1,2026-11-20,7.5\nE2,2026-11-20,nope\n")
    os.utime(csv, (time.time() - 5, time.time() - 5))
    client = make_client(compile_workspace(ws))
    runs = wait_for_runs(client, 2)
    assert sorted(r["flow"] for r in runs) == ["hours_logged", "invoice_changed"]
    sources = {s["source"]: s for s in client.get("/api/sources").json()["sources"]}
    assert sorted(sources) == ["drop.hours", "drop.hours_jsonl", "ledger.invoice_changes"]
    ledger = sources["ledger.invoice_changes"]
    assert ledger["kind"] == "sql watermark" and ledger["emits"] == "ledger.invoice.changed"
    assert ledger["position"] == {"LAST_UPD_TS": "2026-11-21 09:00:00", "INV_NO": 1}
    assert (ledger["events"], ledger["last_error"]) == (1, None) and ledger["polls"] >= 1
    hours = sources["drop.hours"]
    assert (hours["files"], hours["events"], hours["rejects"]) == (1, 1, 1)
    rejects = client.get("/api/sources/drop.hours/rejects").json()["rejects"]
    assert [(r["location"], r["message"]) for r in rejects] == [
        ("hours-1.csv:3", "column hours: 'nope' is not a number")
    ]
    assert client.get("/api/sources/drop.hours/rejects", params={"limit": "0"}).status_code == 400
    metrics = client.get("/metrics").text
    assert 'seamline_source_records_total{source="drop.hours",outcome="event"} 1' in metrics
    assert 'seamline_source_records_total{source="drop.hours",outcome="reject"} 1' in metrics
    assert 'seamline_source_records_total{source="ledger.invoice_changes",outcome="event"} 1' in metrics
    assert 'seamline_source_polls_total{source="ledger.invoice_changes",result="ok"}' in metrics
    assert 'seamline_source_last_poll_timestamp_seconds{source="drop.hours"}' in metrics

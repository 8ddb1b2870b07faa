"""`seamline ingest`, `seamline worker`, `seamline runs list|show`, `seamline dlq list|show|replay|discard`.

The workspace has two flows on shop.order.placed: `orders` (a USD order dead-letters at `ship`, a
permanent connector error) and `billing` (GBP orders only: it reserves with an `undo`, then fails
with `billing.declined` and compensates). The store is the default `.seamline/seamline.db`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runtime.cli.main import cli
from tests.conftest import WriteWorkspace, order_event

ORDERS = """\
flow: orders
version: 1.0.0
on: { event: shop.order.placed }
key: data.order_id
steps:
  - id: reserve
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
  - id: ship
    if: data.currency == 'USD'
    call: wms.ship
    with: { order: "${ data.order_id }" }
"""

BILLING = """\
flow: billing
on: { event: shop.order.placed, filter: "data.currency == 'GBP'" }
key: data.order_id
steps:
  - id: hold
    call: wms.reserve
    with: { sku: "${ data.lines[0].sku }" }
    undo: { call: wms.release, with: { reservation: "${ steps.hold.output.reservation }" } }
  - id: charge
    fail: "card declined for {{ data.order_id }}"
    code: billing.declined
on_error: { compensate: true }
"""


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAMLINE_STORE", raising=False)


@pytest.fixture
def root(workspace: WriteWorkspace) -> Path:
    return workspace({"flows/orders.yaml": ORDERS, "flows/billing.yaml": BILLING})


def seamline(root: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, [*args, "--workspace", str(root)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def as_json(root: Path, *args: str) -> Any:
    code, out = seamline(root, *args, "--json")
    assert code == 0, out
    return json.loads(out)


def write_json(path: Path, value: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


@pytest.fixture
def events(tmp_path: Path) -> Path:
    """O1 (EUR, succeeds), O2 (USD, dead-letters in orders), O3 (GBP, dead-letters in billing)."""
    folder = tmp_path / "events"
    write_json(folder / "a.json", order_event("O1"))
    write_json(
        folder / "b.json", [order_event("O2", currency="USD"), order_event("O1")]
    )  # a duplicate
    write_json(folder / "nested" / "c.json", order_event("O3", currency="GBP"))
    return folder


@pytest.fixture
def worked(root: Path, events: Path) -> dict[str, dict[str, Any]]:
    """Events ingested and worked off: every run by `<flow>/<key>`."""
    assert seamline(root, "ingest", str(events))[0] == 0
    code, out = seamline(root, "worker", "--until-idle")
    assert code == 0, out
    return runs_by_name(root)


def runs_by_name(root: Path) -> dict[str, dict[str, Any]]:
    return {f"{r['flow']}/{r['key']}": r for r in as_json(root, "runs", "list")}


# -- ingest -------------------------------------------------------------------------------------
def test_ingest_accepts_files_and_folders_and_counts_duplicates(root: Path, events: Path) -> None:
    code, out = seamline(root, "ingest", str(events))
    assert (code, out.strip()) == (0, "3 events accepted, 1 duplicate, 0 rejected")
    assert (root / ".seamline" / "seamline.db").is_file()

    code, out = seamline(root, "ingest", str(events / "a.json"), str(events / "b.json"))
    assert (code, out.strip()) == (0, "0 events accepted, 3 duplicates, 0 rejected")


def test_ingest_rejects_invalid_events_naming_the_contract_and_path(
    root: Path, tmp_path: Path
) -> None:
    bad = order_event("O9", lines=[{"sku": "A", "qty": 0}])
    unknown = {**order_event("O8"), "type": "shop.order.cancelled"}
    no_envelope = {k: v for k, v in order_event("O7").items() if k != "specversion"}
    files = [
        write_json(tmp_path / name, body)
        for name, body in (
            ("good.json", order_event("O1")),
            ("bad.json", bad),
            ("unknown.json", unknown),
            ("envelope.json", no_envelope),
        )
    ]

    code, out = seamline(root, "ingest", *map(str, files))
    assert code == 1
    lines = out.strip().splitlines()
    assert lines[-1] == "1 event accepted, 0 duplicates, 3 rejected"
    bad_line = next(line for line in lines if "bad.json" in line)
    assert "shop.order.placed v1" in bad_line
    assert "$.data.lines[0].qty" in bad_line
    assert "[contract.violation]" in bad_line
    assert "[contract.unknown]" in next(line for line in lines if "unknown.json" in line)
    assert "[envelope.invalid]" in next(line for line in lines if "envelope.json" in line)
    assert len(as_json(root, "runs", "list")) == 0  # rejected events never reach the inbox
    code, out = seamline(root, "worker", "--until-idle")
    assert [r["key"] for r in as_json(root, "runs", "list")] == ["O1"]


def test_ingest_json_verdicts(root: Path, tmp_path: Path) -> None:
    good = write_json(tmp_path / "good.json", [order_event("O1"), order_event("O1")])
    bad = write_json(tmp_path / "bad.json", order_event("O9", currency="XYZ"))
    code, out = seamline(root, "ingest", str(good), str(bad), "--json")
    assert code == 1
    verdicts = [json.loads(line) for line in out.strip().splitlines()]
    assert verdicts[0] == {"file": str(good), "seq": 1, "duplicate": False}
    assert verdicts[1] == {"file": str(good), "seq": 1, "duplicate": True}
    assert verdicts[2]["file"] == str(bad) and verdicts[2]["rejected"] == "contract.violation"
    assert "$.data.currency" in verdicts[2]["message"]


def test_ingest_of_a_file_that_is_not_json_is_a_usage_error(root: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": 1,\n  oops}')
    code, out = seamline(root, "ingest", str(broken))
    assert code == 2
    assert f"{broken}:2:3" in out


# -- worker and runs ----------------------------------------------------------------------------
def test_worker_until_idle_works_everything_off(root: Path, events: Path) -> None:
    seamline(root, "ingest", str(events))
    code, out = seamline(root, "worker", "--until-idle")
    assert (code, out.strip()) == (0, "runs: dead_lettered 2, succeeded 2")
    code, out = seamline(root, "worker", "--until-idle")  # nothing left: nothing runs twice
    assert out.strip() == "runs: dead_lettered 2, succeeded 2"


def test_runs_list_filters(root: Path, worked: dict[str, dict[str, Any]]) -> None:
    assert sorted(worked) == ["billing/O3", "orders/O1", "orders/O2", "orders/O3"]
    assert {name: r["status"] for name, r in worked.items()} == {
        "billing/O3": "dead_lettered",
        "orders/O1": "succeeded",
        "orders/O2": "dead_lettered",
        "orders/O3": "succeeded",
    }
    o2 = worked["orders/O2"]
    assert (o2["flow_version"], o2["generation"], o2["error"]["code"], o2["error"]["step"]) == (
        "1.0.0",
        0,
        "connector.permanent",
        "ship",
    )

    def keys(*args: str) -> list[str]:
        return sorted(f"{r['flow']}/{r['key']}" for r in as_json(root, "runs", "list", *args))

    assert keys("--status", "succeeded") == ["orders/O1", "orders/O3"]
    assert keys("--flow", "billing") == ["billing/O3"]
    assert keys("--key", "O3") == ["billing/O3", "orders/O3"]
    assert keys("--error", "billing.declined") == ["billing/O3"]
    assert keys("--flow", "orders", "--status", "dead_lettered") == ["orders/O2"]
    assert keys("--flow", "nope") == []
    assert len(keys("--limit", "1")) == 1

    code, out = seamline(root, "runs", "list", "--status", "dead_lettered")
    assert code == 0
    line = next(line for line in out.splitlines() if o2["id"] in line)
    assert "orders v1.0.0" in line and 'key "O2"' in line and "connector.permanent at ship" in line
    assert seamline(root, "runs", "list", "--flow", "nope")[1].strip() == "no runs"
    assert seamline(root, "runs", "list", "--status", "bogus")[0] == 2


def test_runs_show_timeline_and_transitions(root: Path, worked: dict[str, dict[str, Any]]) -> None:
    o2 = worked["orders/O2"]
    code, out = seamline(root, "runs", "show", o2["id"])
    assert code == 0
    assert out.splitlines()[0].startswith(
        f"{o2['id']} orders v1.0.0 ({o2['flow_hash'][:12]})  dead_lettered"
    )
    timeline = out.split("timeline (journal):")[1].split("transitions (audit):")[0]
    assert "g0 reserve call succeeded" in timeline
    assert 'in:  {"sku": "A"}' in timeline and 'out: {"reservation": "R-A"}' in timeline
    assert "g0 ship call failed" in timeline and 'in:  {"order": "O2"}' in timeline
    assert '"code": "connector.permanent"' in timeline
    assert timeline.index("reserve call") < timeline.index("ship call")
    transitions = out.split("transitions (audit):")[1]
    assert [
        t in transitions for t in ("∅ → pending", "pending → running", "running → dead_lettered")
    ] == [True] * 3
    assert transitions.index("∅ → pending") < transitions.index("running → dead_lettered")

    shown = as_json(root, "runs", "show", o2["id"])
    assert shown["run"]["id"] == o2["id"]
    assert [(e["label"], e["status"]) for e in shown["journal"]] == [
        ("reserve", "succeeded"),
        ("ship", "failed"),
    ]
    assert [(a["from_status"], a["to_status"]) for a in shown["audit"]] == [
        (None, "pending"),
        ("pending", "running"),
        ("running", "dead_lettered"),
    ]

    code, out = seamline(root, "runs", "show", "no-such-run")
    assert code == 1 and "no run no-such-run" in out


# -- dead letters -------------------------------------------------------------------------------
def test_dlq_list_and_show(root: Path, worked: dict[str, dict[str, Any]]) -> None:
    dead = as_json(root, "dlq", "list")
    assert sorted(f"{r['flow']}/{r['key']}" for r in dead) == ["billing/O3", "orders/O2"]
    assert [r["key"] for r in as_json(root, "dlq", "list", "--error", "connector.permanent")] == [
        "O2"
    ]
    assert [r["flow"] for r in as_json(root, "dlq", "list", "--flow", "billing")] == ["billing"]
    assert as_json(root, "dlq", "list", "--error", "nope") == []

    billing = worked["billing/O3"]
    code, out = seamline(root, "dlq", "show", billing["id"])
    assert code == 0
    assert "billing.declined" in out and "card declined for O3" in out
    assert "g0 hold.undo undo compensated" in out
    assert seamline(root, "dlq", "show", "no-such-run")[0] == 1


def test_dlq_replay_on_the_pinned_version_then_latest(
    root: Path, worked: dict[str, dict[str, Any]]
) -> None:
    o2 = worked["orders/O2"]
    code, out = seamline(root, "dlq", "replay", o2["id"])
    assert code == 0
    assert f"{o2['id']}: replaying from the failed step on {o2['flow_hash'][:12]}" in out
    assert "1 run queued for replay" in out
    seamline(root, "worker", "--until-idle")
    again = runs_by_name(root)["orders/O2"]
    assert (again["status"], again["replays"], again["generation"]) == ("dead_lettered", 1, 0)

    # the fix: USD orders no longer call the failing carrier (a new flow version)
    (root / "flows/orders.yaml").write_text(
        ORDERS.replace("version: 1.0.0", "version: 1.1.0").replace(
            "call: wms.ship", "call: wms.release"
        )
    )
    code, out = seamline(
        root, "dlq", "replay", "--all", "--error", "connector.permanent", "--latest"
    )
    assert code == 0 and "1 run queued for replay" in out  # billing.declined is not touched
    seamline(root, "worker", "--until-idle")
    runs = runs_by_name(root)
    fixed = runs["orders/O2"]
    assert (fixed["status"], fixed["flow_version"], fixed["replays"]) == ("succeeded", "1.1.0", 2)
    assert fixed["flow_hash"] != o2["flow_hash"]
    assert f"on {fixed['flow_hash'][:12]}" in out
    assert runs["billing/O3"]["status"] == "dead_lettered"
    journal = as_json(root, "runs", "show", o2["id"])["journal"]
    assert [(e["label"], e["status"]) for e in journal] == [
        ("reserve", "succeeded"),
        ("ship", "succeeded"),
    ]
    assert journal[1]["output"] == {"released": True}


def test_dlq_replay_from_start_and_of_compensated_runs(
    root: Path, worked: dict[str, dict[str, Any]]
) -> None:
    billing, o2 = worked["billing/O3"], worked["orders/O2"]
    code, out = seamline(root, "dlq", "replay", billing["id"])  # compensated: always from the start
    assert code == 0 and f"{billing['id']}: replaying from the start" in out
    code, out = seamline(root, "dlq", "replay", o2["id"], "--from-start")
    assert code == 0 and f"{o2['id']}: replaying from the start" in out
    seamline(root, "worker", "--until-idle")

    for run in (billing, o2):
        shown = as_json(root, "runs", "show", run["id"])
        assert (shown["run"]["generation"], shown["run"]["status"]) == (1, "dead_lettered")
        assert {e["generation"] for e in shown["journal"]} == {0, 1}
        assert "generation 1" in seamline(root, "runs", "show", run["id"])[1]
    labels = [
        (e["generation"], e["label"], e["status"])
        for e in as_json(root, "runs", "show", billing["id"])["journal"]
    ]
    assert labels[-3:] == [
        (1, "hold", "succeeded"),
        (1, "charge", "failed"),
        (1, "hold.undo", "compensated"),
    ]


def test_dlq_replay_exit_codes(root: Path, worked: dict[str, dict[str, Any]]) -> None:
    code, out = seamline(root, "dlq", "replay", "no-such-run")
    assert code == 1 and "no-such-run: no such run" in out and "0 runs queued for replay" in out
    code, out = seamline(root, "dlq", "replay", worked["orders/O1"]["id"])
    assert code == 1 and "only dead-lettered or failed runs can be replayed" in out
    assert seamline(root, "dlq", "replay")[0] == 2  # neither ids nor --all
    code, out = seamline(root, "dlq", "replay", "--all", "--flow", "billing")
    assert code == 0 and "1 run queued for replay" in out
    assert runs_by_name(root)["billing/O3"]["status"] == "pending"
    assert runs_by_name(root)["orders/O2"]["status"] == "dead_lettered"


def test_dlq_discard(root: Path, worked: dict[str, dict[str, Any]]) -> None:
    o2 = worked["orders/O2"]
    code, out = seamline(root, "dlq", "discard", o2["id"], "--reason", "order cancelled by phone")
    assert (code, out.strip()) == (0, "1 run discarded")
    assert runs_by_name(root)["orders/O2"]["status"] == "discarded"
    assert [r["key"] for r in as_json(root, "dlq", "list")] == ["O3"]
    last = as_json(root, "runs", "show", o2["id"])["audit"][-1]
    assert (last["from_status"], last["to_status"], last["detail"]) == (
        "dead_lettered",
        "discarded",
        {"reason": "order cancelled by phone"},
    )

    code, out = seamline(
        root, "dlq", "discard", o2["id"], worked["orders/O1"]["id"], "--reason", "again"
    )
    assert code == 1 and "0 runs discarded" in out
    assert seamline(root, "dlq", "discard", "no-such-run", "--reason", "x")[0] == 1
    assert seamline(root, "dlq", "discard", o2["id"])[0] == 2  # --reason is required
    assert seamline(root, "dlq", "replay", o2["id"])[0] == 1  # discarded is final


# -- a real process -------------------------------------------------------------------------------
@pytest.mark.slow
def test_subprocess_ingest_and_worker_smoke(root: Path, events: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'elsewhere' / 'store.db'}"
    env = {k: v for k, v in os.environ.items() if k not in ("SEAMLINE_STORE", "FORCE_COLOR")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runtime.cli.main", *args, "-w", str(root), "--store", store],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    code, out = seamline(
        root, "ingest", str(events), "--store", store
    )  # in-process: saves a start-up
    assert (code, out.strip()) == (0, "3 events accepted, 1 duplicate, 0 rejected")
    worker = run("worker", "--until-idle")
    assert (worker.returncode, worker.stdout.strip()) == (
        0,
        "runs: dead_lettered 2, succeeded 2",
    ), worker.stderr
    assert not (root / ".seamline").exists()  # --store was honoured
    listed = json.loads(seamline(root, "runs", "list", "--store", store, "--json")[1])
    assert len(listed) == 4

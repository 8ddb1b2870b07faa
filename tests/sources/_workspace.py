"""A small workspace with a SQL watermark source and a file-drop source, and ways to drive them."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import compile_workspace
from runtime.engine.plans import PlanProvider
from runtime.engine.sources import plan_sources, poll_source
from runtime.engine.worker import Worker
from runtime.store import SqliteStore
from tests.conftest import write_files

INVOICE_CHANGED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["invoice_no", "status", "gross_p", "updated_at"],
    "properties": {
        "invoice_no": {"type": "integer"},
        "status": {"enum": ["draft", "posted", "paid", "cancelled"]},
        "gross_p": {"type": "integer", "minimum": 0},
        "updated_at": {"type": "string"},
    },
    "additionalProperties": False,
}

HOURS_LOGGED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["employee", "day", "hours"],
    "properties": {
        "employee": {"type": "string", "pattern": "^E[0-9]+$"},
        "day": {"type": "string", "format": "date"},
        "hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 24},
        "file": {"type": "string"},
    },
    "additionalProperties": False,
}

LEDGER_CONNECTOR = """
    connector: ledger
    kind: sql
    url: sqlite:///ledger.db
    sources:
      invoice_changes:
        emit: ledger.invoice.changed
        every: 30s
        sql: >-
          SELECT INV_NO, STATUS_CD, GROSS_P, LAST_UPD_TS FROM INV
          WHERE (LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO)
          ORDER BY LAST_UPD_TS, INV_NO LIMIT :limit
        watermark: [LAST_UPD_TS, INV_NO]
        start: { LAST_UPD_TS: "1970-01-01 00:00:00", INV_NO: 0 }
        batch: {batch}
        max_batches: {max_batches}
        subject: "${ to_string(row.INV_NO) }"
        data:
          invoice_no: "${ row.INV_NO }"
          status: "${ lookup('inv_status', row.STATUS_CD) }"
          gross_p: "${ row.GROSS_P }"
          updated_at: "${ row.LAST_UPD_TS }"
"""

DROP_CONNECTOR = """
    connector: drop
    kind: file
    directory: inbox
    sources:
      hours:
        emit: hr.hours.logged
        every: 10s
        pattern: "hours-*.csv"
        types: { hours: number }
        required: [employee, day]
        archive: inbox/done
        settle: {settle}
        data:
          employee: "${ row.employee }"
          day: "${ row.day }"
          hours: "${ row.hours }"
          file: "{{ file.name }}:{{ file.line }}"
      hours_jsonl:
        emit: hr.hours.logged
        pattern: "*.jsonl"
        archive: inbox/done
        settle: 0s
"""

FLOWS = {
    "flows/invoice_changed.yaml": """
        flow: invoice_changed
        on: { event: ledger.invoice.changed }
        key: "join(':', [to_string(data.invoice_no), data.updated_at])"
        steps:
          - id: note
            call: wms.reserve
            with: { sku: "${ to_string(data.invoice_no) }" }
    """,
    "flows/hours_logged.yaml": """
        flow: hours_logged
        on: { event: hr.hours.logged }
        key: "join('/', [data.employee, data.day])"
        steps:
          - id: book
            call: wms.reserve
            with: { sku: "${ data.employee }" }
    """,
    "flows/lookups/inv_status.yaml": "D: draft\nP: posted\nF: paid\nX: cancelled\n",
}

LEDGER_SCHEMA = """
CREATE TABLE IF NOT EXISTS INV (
    INV_NO INTEGER PRIMARY KEY, STATUS_CD CHAR(1) NOT NULL, GROSS_P INTEGER NOT NULL,
    LAST_UPD_TS CHAR(19) NOT NULL
);
"""


def source_workspace(
    root: Path,
    *,
    batch: int = 500,
    max_batches: int = 20,
    settle: str = "0s",
    ledger: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    from tests.conftest import MINI_WORKSPACE

    write_files(
        root,
        {
            **MINI_WORKSPACE,
            "contracts/ledger.invoice.changed/v1.schema.json": INVOICE_CHANGED,
            "contracts/hr.hours.logged/v1.schema.json": HOURS_LOGGED,
            "connectors/ledger.yaml": (ledger or LEDGER_CONNECTOR)
            .replace("{batch}", str(batch))
            .replace("{max_batches}", str(max_batches)),
            "connectors/drop.yaml": DROP_CONNECTOR.replace("{settle}", settle),
            **FLOWS,
            **(extra or {}),
        },
    )
    (root / "inbox").mkdir(exist_ok=True)
    with sqlite3.connect(root / "ledger.db") as db:
        db.executescript(LEDGER_SCHEMA)
    return root


def set_invoice(root: Path, inv_no: int, status: str, gross_p: int, at: str) -> None:
    with sqlite3.connect(root / "ledger.db") as db:
        db.execute(
            "INSERT INTO INV VALUES (?,?,?,?) ON CONFLICT(INV_NO) DO UPDATE SET "
            "STATUS_CD=excluded.STATUS_CD, GROSS_P=excluded.GROSS_P, LAST_UPD_TS=excluded.LAST_UPD_TS",
            (inv_no, status, gross_p, at),
        )


def inbox(store_path: Path, type_: str | None = None) -> list[dict[str, Any]]:
    import orjson

    with sqlite3.connect(store_path) as db:
        rows = db.execute(
            "SELECT body FROM events" + (" WHERE type=?" if type_ else "") + " ORDER BY seq",
            (type_,) if type_ else (),
        ).fetchall()
    return [orjson.loads(r[0]) for r in rows]


class Runtime:
    """A compiled workspace and a store on disk: poll one source, or run a worker round."""

    def __init__(self, root: Path, store_path: Path) -> None:
        self.root = root
        self.store_path = store_path
        self.plan: Plan = compile_workspace(root)

    def poll(self, ref: str) -> Any:
        async def main() -> Any:
            store = SqliteStore(self.store_path)
            try:
                return await poll_source(store, self.plan, plan_sources(self.plan)[ref])
            finally:
                await store.aclose()

        return anyio.run(main)

    def store_call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        async def main() -> Any:
            store = SqliteStore(self.store_path)
            try:
                return await getattr(store, method)(*args, **kwargs)
            finally:
                await store.aclose()

        return anyio.run(main)

    def work(self) -> dict[str, int]:
        """Poll due sources, route and run everything until idle; the store's counts."""

        async def main() -> dict[str, int]:
            store = SqliteStore(self.store_path)
            try:
                plans = PlanProvider(self.plan, store)
                await plans.publish(self.plan)
                await Worker(store, plans).run_until_idle()
                return await store.counts()
            finally:
                await store.aclose()

        return anyio.run(main)

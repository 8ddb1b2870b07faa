"""The SQL watermark source on a real PostgreSQL server ($SEAMLINE_TEST_POSTGRES_URL; CI starts
one): a TIMESTAMPTZ watermark with a tie-breaker, bound back as the text it was stored as."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.connectors.test_sql_postgres import URL_VARIABLE, database  # noqa: F401 - fixture
from tests.sources._workspace import Runtime, inbox, source_workspace

pytestmark = pytest.mark.postgres


def pg_ledger(schema: str) -> str:
    return f"""
    connector: ledger
    kind: sql
    url: env:{URL_VARIABLE}
    sources:
      invoice_changes:
        emit: ledger.invoice.changed
        sql: >-
          SELECT inv_no, status_cd, gross_p, updated_at FROM {schema}.inv
          WHERE (updated_at, inv_no) > (CAST(:updated_at AS timestamptz), CAST(:inv_no AS integer))
          ORDER BY updated_at, inv_no LIMIT :limit
        watermark: [updated_at, inv_no]
        start: {{ updated_at: "1970-01-01T00:00:00+00:00", inv_no: 0 }}
        batch: 3
        data:
          invoice_no: "${{ row.inv_no }}"
          status: "${{ lookup('inv_status', row.status_cd) }}"
          gross_p: "${{ row.gross_p }}"
          updated_at: "${{ row.updated_at }}"
    """


def test_rows_after_the_watermark_once_with_a_timestamptz_watermark(
    tmp_path: Path, database: tuple[Any, str]  # noqa: F811 - the fixture
) -> None:
    engine, schema = database
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE {schema}.inv (inv_no INTEGER PRIMARY KEY, status_cd CHAR(1) NOT NULL, "
            "gross_p INTEGER NOT NULL, updated_at TIMESTAMPTZ NOT NULL)"
        ))
        conn.execute(text(
            f"INSERT INTO {schema}.inv VALUES (1, 'D', 10, '2026-11-21 09:00:00.123456+00'), "
            "(2, 'P', 20, '2026-11-21 09:00:00.123456+00'), (3, 'P', 30, '2026-11-21 09:00:00.123456+00'), "
            "(4, 'F', 40, '2026-11-21 09:00:01+00'), (5, 'P', 50, '2026-11-21 09:00:02+00')"
        ))
    ws = source_workspace(tmp_path / "ws", ledger=pg_ledger(schema))
    store = tmp_path / "store.db"
    rt = Runtime(ws, store)
    first = rt.poll("ledger.invoice_changes")
    assert (first.reads, first.events, first.error) == (2, 5, None)
    assert rt.poll("ledger.invoice_changes").events == 0
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE {schema}.inv SET status_cd='F', updated_at=now() WHERE inv_no=2"))
    assert rt.poll("ledger.invoice_changes").events == 1
    taken = [(e["data"]["invoice_no"], e["data"]["status"]) for e in inbox(store)]
    assert taken == [(1, "draft"), (2, "posted"), (3, "posted"), (4, "paid"), (5, "posted"), (2, "paid")]
    cursor = rt.store_call("source_states")["ledger.invoice_changes"].cursor
    assert cursor["inv_no"] == 2 and cursor["updated_at"].startswith("20")

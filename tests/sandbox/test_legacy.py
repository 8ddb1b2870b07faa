"""The acquired firm's legacy ERP: its own schema and codes in SQLite, seeded deterministically."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from runtime.sandbox import count_records, create_legacy_db, legacy_url


def dump(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def test_schema_codes_and_seed(tmp_path: Path) -> None:
    path = create_legacy_db(tmp_path / "northwind_uk.db")
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    columns = {r["name"] for r in conn.execute("PRAGMA table_info(CUST_MASTER)")}
    assert {"CUST_NO", "CUST_NAME", "VAT_REG", "ACCT_CODE", "CCY", "STATUS_CD", "LAST_UPD_TS"} <= columns
    contract_cols = {r["name"] for r in conn.execute("PRAGMA table_info(SALES_CONTRACT)")}
    assert {"CONTRACT_NO", "CUST_NO", "BILL_TYPE", "CONTRACT_VAL_P", "CCY", "STATUS_CD"} <= contract_cols
    counts = count_records(path)
    assert counts["CUST_MASTER"] == 40 and counts["SALES_CONTRACT"] > 20 and counts["INV_HEADER"] > 40
    statuses = {r[0] for r in conn.execute("SELECT DISTINCT STATUS_CD FROM CUST_MASTER")}
    codes = {r[0] for r in conn.execute("SELECT CODE FROM CODE_TABLE WHERE CODE_TYPE = 'CUST_STATUS'")}
    assert statuses <= codes == {"A", "H", "X"}
    assert {r[0] for r in conn.execute("SELECT DISTINCT CCY FROM CUST_MASTER")} == {"GBP", "EUR"}
    assert {r[0] for r in conn.execute("SELECT DISTINCT BILL_TYPE FROM SALES_CONTRACT")} <= {"FF", "TM", "MS"}
    # money in pence, gross = net + VAT
    assert conn.execute("SELECT count(*) FROM INV_HEADER WHERE GROSS_P != NET_P + VAT_P").fetchone()[0] == 0
    assert conn.execute("SELECT typeof(CONTRACT_VAL_P) FROM SALES_CONTRACT LIMIT 1").fetchone()[0] == "integer"
    # the migration trap: a customer the group ERP already has, its VAT number typed with spaces
    (vat,) = conn.execute("SELECT VAT_REG FROM CUST_MASTER WHERE CUST_NAME LIKE 'PENNINE WATER%'").fetchone()
    assert vat.replace(" ", "") == "GB284613079"
    assert conn.execute("SELECT count(*) FROM CUST_MASTER WHERE VAT_REG IS NULL").fetchone()[0] > 0
    orphans = "SELECT count(*) FROM SALES_CONTRACT c LEFT JOIN CUST_MASTER m USING (CUST_NO) WHERE m.CUST_NO IS NULL"
    assert conn.execute(orphans).fetchone()[0] == 0
    conn.close()


def test_seed_is_deterministic_and_kept(tmp_path: Path) -> None:
    a = create_legacy_db(tmp_path / "a.db", seed=11)
    b = create_legacy_db(tmp_path / "b.db", seed=11)
    c = create_legacy_db(tmp_path / "c.db", seed=12)
    assert dump(a) == dump(b) != dump(c)
    conn = sqlite3.connect(a)
    conn.execute("UPDATE CUST_MASTER SET STATUS_CD = 'H' WHERE CUST_NO = 'NW10001'")
    conn.commit()
    conn.close()
    create_legacy_db(a, seed=11)  # an existing database is left as it is
    assert dump(a) != dump(b)


def test_url_for_a_sql_connector(tmp_path: Path) -> None:
    path = create_legacy_db(tmp_path / "northwind_uk.db")
    url = legacy_url(path)
    assert url == f"sqlite:///{path.resolve()}" and url.startswith("sqlite:////")
    sqlalchemy = pytest.importorskip("sqlalchemy")
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text("SELECT CUST_NO, CCY FROM CUST_MASTER WHERE STATUS_CD = :s ORDER BY CUST_NO"),
            {"s": "A"},
        ).all()
    engine.dispose()
    assert rows and all(r.CCY in ("GBP", "EUR") for r in rows)

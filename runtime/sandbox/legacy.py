"""The legacy ERP of Northwind Consulting UK Ltd, the acquired firm ("northwind_uk").

Not an HTTP service: a SQLite database with the old system's own schema and codes, reached by
a SQL connector (`legacy_url(path)` is its SQLAlchemy URL). What makes it legacy:

- upper-case names, CHAR codes, dates as `YYYY-MM-DD` text, timestamps `YYYY-MM-DD HH:MM:SS`;
- money in integer pence (`CONTRACT_VAL_P`, `NET_P` …), currency in `CCY` (GBP, some EUR);
- one-letter status codes, explained in `CODE_TABLE` (CUST_STATUS A/H/X, CONTRACT_STATUS
  O/C/S/P, BILL_TYPE FF/TM/MS, VAT_CD S/Z/E/R, INV_STATUS D/P/F/X);
- a default VAT code per customer (`VAT_CD`: S standard-rated UK, R reverse charge for EU
  customers), which its invoices take;
- VAT numbers typed by hand (`GB 284 6130 79`, some missing), and a customer the group already
  has in its ERP (a duplicate to find when migrating);
- `LAST_UPD_TS` on every row, for a watermark poller.

The seed is deterministic: the same `seed` gives the same rows.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path

SCHEMA = """
CREATE TABLE CODE_TABLE (
    CODE_TYPE   VARCHAR(16) NOT NULL,
    CODE        VARCHAR(4)  NOT NULL,
    DESCR       VARCHAR(60) NOT NULL,
    PRIMARY KEY (CODE_TYPE, CODE)
);
CREATE TABLE CUST_MASTER (
    CUST_NO     CHAR(7)     PRIMARY KEY,
    CUST_NAME   VARCHAR(60) NOT NULL,
    VAT_REG     VARCHAR(16),
    ADDR_1      VARCHAR(40) NOT NULL,
    ADDR_2      VARCHAR(40),
    TOWN        VARCHAR(30) NOT NULL,
    POST_CODE   VARCHAR(10) NOT NULL,
    CTRY_CODE   CHAR(2)     NOT NULL DEFAULT 'GB',
    ACCT_CODE   CHAR(4)     NOT NULL DEFAULT '1100',
    CCY         CHAR(3)     NOT NULL DEFAULT 'GBP',
    VAT_CD      CHAR(1)     NOT NULL DEFAULT 'S',
    PAY_TERMS   INTEGER     NOT NULL DEFAULT 30,
    CREDIT_LIM  INTEGER     NOT NULL DEFAULT 0,
    STATUS_CD   CHAR(1)     NOT NULL DEFAULT 'A',
    SALES_REP   CHAR(3),
    CREATED_DT  CHAR(10)    NOT NULL,
    LAST_UPD_TS CHAR(19)    NOT NULL
);
CREATE TABLE SALES_CONTRACT (
    CONTRACT_NO    CHAR(9)     PRIMARY KEY,
    CUST_NO        CHAR(7)     NOT NULL REFERENCES CUST_MASTER (CUST_NO),
    CONTRACT_DESC  VARCHAR(80) NOT NULL,
    BILL_TYPE      CHAR(2)     NOT NULL,
    START_DT       CHAR(10)    NOT NULL,
    END_DT         CHAR(10),
    CONTRACT_VAL_P INTEGER     NOT NULL,
    CCY            CHAR(3)     NOT NULL DEFAULT 'GBP',
    ACCT_CODE      CHAR(4)     NOT NULL,
    STATUS_CD      CHAR(1)     NOT NULL,
    PM_CODE        CHAR(3),
    LAST_UPD_TS    CHAR(19)    NOT NULL
);
CREATE TABLE INV_HEADER (
    INV_NO      INTEGER     PRIMARY KEY,
    CUST_NO     CHAR(7)     NOT NULL REFERENCES CUST_MASTER (CUST_NO),
    CONTRACT_NO CHAR(9)     REFERENCES SALES_CONTRACT (CONTRACT_NO),
    INV_DT      CHAR(10)    NOT NULL,
    DUE_DT      CHAR(10)    NOT NULL,
    NET_P       INTEGER     NOT NULL,
    VAT_CD      CHAR(1)     NOT NULL,
    VAT_P       INTEGER     NOT NULL,
    GROSS_P     INTEGER     NOT NULL,
    CCY         CHAR(3)     NOT NULL,
    STATUS_CD   CHAR(1)     NOT NULL,
    LAST_UPD_TS CHAR(19)    NOT NULL
);
CREATE INDEX IX_CUST_VAT ON CUST_MASTER (VAT_REG);
CREATE INDEX IX_CUST_UPD ON CUST_MASTER (LAST_UPD_TS);
CREATE INDEX IX_CONTRACT_CUST ON SALES_CONTRACT (CUST_NO);
CREATE INDEX IX_CONTRACT_UPD ON SALES_CONTRACT (LAST_UPD_TS);
CREATE INDEX IX_INV_CUST ON INV_HEADER (CUST_NO);
CREATE INDEX IX_INV_UPD ON INV_HEADER (LAST_UPD_TS);
"""

CODES = [
    ("CUST_STATUS", "A", "Active"),
    ("CUST_STATUS", "H", "On hold (credit control)"),
    ("CUST_STATUS", "X", "Closed"),
    ("CONTRACT_STATUS", "P", "Pending signature"),
    ("CONTRACT_STATUS", "O", "Open"),
    ("CONTRACT_STATUS", "S", "Suspended"),
    ("CONTRACT_STATUS", "C", "Closed"),
    ("BILL_TYPE", "FF", "Fixed fee"),
    ("BILL_TYPE", "TM", "Time and materials"),
    ("BILL_TYPE", "MS", "Milestone"),
    ("VAT_CD", "S", "Standard rate 20%"),
    ("VAT_CD", "Z", "Zero rated"),
    ("VAT_CD", "E", "Exempt"),
    ("VAT_CD", "R", "Reverse charge (EU customer)"),
    ("INV_STATUS", "D", "Draft"),
    ("INV_STATUS", "P", "Posted"),
    ("INV_STATUS", "F", "Fully paid"),
    ("INV_STATUS", "X", "Cancelled"),
    ("ACCT_CODE", "1100", "Trade debtors"),
    ("ACCT_CODE", "4000", "Consulting fees"),
    ("ACCT_CODE", "4010", "Managed services"),
    ("ACCT_CODE", "4020", "Training"),
]

PLACES = [
    "ABERDEEN",
    "BRISTOL",
    "CARDIFF",
    "DERBY",
    "EXETER",
    "GLASGOW",
    "HULL",
    "IPSWICH",
    "LEEDS",
    "MANCHESTER",
    "NEWCASTLE",
    "NORWICH",
    "OXFORD",
    "PLYMOUTH",
    "SHEFFIELD",
    "SWANSEA",
    "YORK",
    "CORK",
    "DUBLIN",
    "GALWAY",
]
TRADES = [
    "HARBOUR BOARD",
    "BUILDING SOCIETY",
    "HOUSING ASSOCIATION",
    "WATER SERVICES LTD",
    "LOGISTICS LTD",
    "ENGINEERING PLC",
    "COUNTY COUNCIL",
    "UNIVERSITY",
    "NHS TRUST",
    "RETAIL GROUP LTD",
    "INSURANCE LTD",
    "FOODS LTD",
    "ENERGY LTD",
    "RAIL LTD",
]
STREETS = [
    "HIGH STREET",
    "STATION ROAD",
    "CHURCH LANE",
    "MARKET SQUARE",
    "VICTORIA ROAD",
    "QUAYSIDE",
    "MILL LANE",
    "PARK ROW",
    "KING STREET",
    "ABBEY ROAD",
]
WORK = [
    "DATA PLATFORM PHASE",
    "CLOUD MIGRATION WAVE",
    "SERVICE DESK TRANSITION",
    "ERP UPGRADE SUPPORT",
    "CYBER ASSESSMENT",
    "APP MODERNISATION",
    "BI REPORTING",
]
REPS = ["JMc", "SKW", "DPH", "RAT", "LBO"]
BASE_DAY = date(2024, 1, 8)

# a customer the group ERP already has (Pennine Water, GB284613079), typed the old way
KNOWN_DUPLICATE = (
    "PENNINE WATER SERVICES LTD",
    "GB 284 6130 79",
    "4 WELLINGTON STREET",
    "LEEDS",
    "LS1 4DL",
)


def legacy_url(path: Path | str) -> str:
    """The SQLAlchemy URL of the legacy database (`sqlite:////abs/path/northwind_uk.db`)."""
    return f"sqlite:///{Path(path).resolve()}"


def create_legacy_db(path: Path | str, *, seed: int = 7, customers: int = 40) -> Path:
    """Create and seed the database unless it already exists; returns its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    try:
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'CUST_MASTER'"
        ).fetchone()
        if not exists:
            conn.execute("PRAGMA journal_mode=WAL")
            with conn:
                conn.executescript(SCHEMA)
                _seed(conn, random.Random(seed), customers)
    finally:
        conn.close()
    return path


def _stamp(rng: random.Random, day: date) -> str:
    moment = datetime(day.year, day.month, day.day, 7) + timedelta(seconds=rng.randrange(36000))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _vat(rng: random.Random, country: str) -> str | None:
    if rng.random() < 0.1:
        return None  # never captured
    digits = f"{rng.randrange(10**8, 10**9)}"
    if country == "IE":
        return f"IE{digits[:7]}{rng.choice('ABCDEFGHW')}"
    if rng.random() < 0.3:  # typed with spaces, the way it is printed on letterheads
        return f"GB {digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"GB{digits}"


def _seed(conn: sqlite3.Connection, rng: random.Random, count: int) -> None:
    conn.executemany("INSERT INTO CODE_TABLE VALUES (?, ?, ?)", CODES)
    invoice_no = 200101
    for n in range(count):
        cust_no = f"NW{10001 + n * 7:05d}"
        created = BASE_DAY + timedelta(days=rng.randrange(0, 600))
        if n == 3:
            name, vat, addr, town, post = KNOWN_DUPLICATE
            country = "GB"
        else:
            place = rng.choice(PLACES)
            country = "IE" if place in ("CORK", "DUBLIN", "GALWAY") else "GB"
            name, vat = f"{place} {rng.choice(TRADES)}", _vat(rng, country)
            addr = f"{rng.randrange(1, 240)} {rng.choice(STREETS)}"
            town = place
            post = f"{place[:2]}{rng.randrange(1, 28)} {rng.randrange(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"
        ccy = "EUR" if country == "IE" else "GBP"
        status = rng.choices("AHX", weights=(85, 8, 7))[0]
        conn.execute(
            "INSERT INTO CUST_MASTER VALUES (?, ?, ?, ?, NULL, ?, ?, ?, '1100', ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                cust_no,
                name,
                vat,
                addr,
                town,
                post,
                country,
                ccy,
                "R" if country == "IE" else "S",
                rng.choice((30, 30, 45, 60)),
                rng.randrange(2, 40) * 500000,
                status,
                rng.choice(REPS),
                created.isoformat(),
                _stamp(rng, created + timedelta(days=rng.randrange(0, 200))),
            ),
        )
        for c in range(rng.choice((0, 1, 1, 2, 3))):
            contract_no = f"SC-{4101 + n * 10 + c:06d}"
            start = created + timedelta(days=rng.randrange(10, 300))
            end = start + timedelta(days=rng.randrange(60, 540))
            value_p = rng.randrange(20, 400) * 100000
            bill = rng.choice(("FF", "TM", "TM", "MS"))
            cstatus = "C" if status == "X" else rng.choices("POSC", weights=(5, 70, 5, 20))[0]
            conn.execute(
                "INSERT INTO SALES_CONTRACT VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    contract_no,
                    cust_no,
                    f"{rng.choice(WORK)} {c + 1}",
                    bill,
                    start.isoformat(),
                    end.isoformat(),
                    value_p,
                    ccy,
                    rng.choice(("4000", "4000", "4010", "4020")),
                    cstatus,
                    rng.choice(REPS),
                    _stamp(rng, start),
                ),
            )
            if cstatus == "P":
                continue
            for i in range(rng.randrange(1, 5)):
                inv_day = start + timedelta(days=30 * (i + 1))
                net_p = value_p // rng.choice((4, 5, 6, 8))
                vat_cd = "R" if country == "IE" else rng.choices("SZE", weights=(90, 5, 5))[0]
                vat_p = net_p // 5 if vat_cd == "S" else 0
                inv_status = rng.choices("PFX", weights=(35, 60, 5))[0]
                conn.execute(
                    "INSERT INTO INV_HEADER VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        invoice_no,
                        cust_no,
                        contract_no,
                        inv_day.isoformat(),
                        (inv_day + timedelta(days=30)).isoformat(),
                        net_p,
                        vat_cd,
                        vat_p,
                        net_p + vat_p,
                        ccy,
                        inv_status,
                        _stamp(rng, inv_day),
                    ),
                )
                invoice_no += 1

"""`kind: sql` on a real SQLite database file: bound parameters, result modes, transactions, errors."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from runtime.compiler.workspace import check_workspace
from runtime.errors import ConnectorError
from tests.connectors._calls import call, call_all
from tests.steps import compile_flows, run

SCHEMA = """
CREATE TABLE customers (
  id INTEGER PRIMARY KEY,
  tax_id TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  balance NUMERIC NOT NULL DEFAULT 0,
  tags TEXT
);
CREATE TABLE audit (id INTEGER PRIMARY KEY, customer_tax_id TEXT NOT NULL, note TEXT);
INSERT INTO customers (tax_id, name, balance) VALUES ('DE1', 'Acme GmbH', 10.5), ('DE2', 'Globex AG', 0);
"""

CONNECTOR = """
connector: legacy
kind: sql
url: sqlite:///data/legacy.db
timeout: 200ms
operations:
  find_customer:
    sql: SELECT id, tax_id, name, balance FROM customers WHERE tax_id = :tax_id
    params: { tax_id: "${ input.tax_id }" }
    result: one
  list_customers:
    sql: SELECT tax_id, name FROM customers WHERE balance >= :min_balance ORDER BY tax_id
    result: rows
  count_customers:
    sql: SELECT count(*) FROM customers
    result: scalar
  create_customer:
    sql: INSERT INTO customers (tax_id, name, tags) VALUES (:tax_id, :name, :tags)
    params: { tax_id: "${ input.tax_id }", name: "${ input.name }", tags: "${ input.tags }" }
    result: rowcount
  create_returning:
    sql: INSERT INTO customers (tax_id, name) VALUES (:tax_id, :name) RETURNING id, tax_id
    result: one
  create_with_audit:
    sql:
      - INSERT INTO customers (tax_id, name) VALUES (:tax_id, :name)
      - INSERT INTO audit (customer_tax_id, note) VALUES (:tax_id, :note)
    params: { tax_id: "${ input.tax_id }", name: "${ input.name }", note: "${ input.note }" }
    result: rowcount
  rename:
    sql: UPDATE customers SET name = :name WHERE tax_id = :tax_id
    result: rowcount
  broken:
    sql: SELECT * FROM no_such_table WHERE id = :id
"""


@pytest.fixture
def legacy(workspace) -> Any:
    """The plan of a workspace whose sql connector points at a real SQLite file under it."""
    plan = compile_flows(workspace, {"connectors/legacy.yaml": CONNECTOR})
    db = Path(plan.root) / "data" / "legacy.db"
    db.parent.mkdir()
    with sqlite3.connect(db) as conn:
        conn.executescript(SCHEMA)
    conn.close()
    return plan


def rows(plan: Any, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(Path(plan.root) / "data" / "legacy.db") as conn:
        found = conn.execute(sql).fetchall()
    conn.close()
    return found


def test_result_modes(legacy) -> None:
    found, missing, listed, counted = call_all(legacy, [
        ("legacy.find_customer", {"tax_id": "DE1"}),
        ("legacy.find_customer", {"tax_id": "XX"}),
        ("legacy.list_customers", {"min_balance": 0, "unused": "ignored"}),
        ("legacy.count_customers", {}),
    ])
    assert found == {"id": 1, "tax_id": "DE1", "name": "Acme GmbH", "balance": 10.5}
    assert missing is None
    assert listed == [{"tax_id": "DE1", "name": "Acme GmbH"}, {"tax_id": "DE2", "name": "Globex AG"}]
    assert counted == 2


def test_writes_commit_and_report_rowcount_or_returning(legacy) -> None:
    created, returned, renamed = call_all(legacy, [
        ("legacy.create_customer", {"tax_id": "FR9", "name": "Initech", "tags": ["a", "b"]}),
        ("legacy.create_returning", {"tax_id": "NL3", "name": "Hooli"}),
        ("legacy.rename", {"tax_id": "FR9", "name": "Initech SA"}),
    ])
    assert (created, renamed) == (1, 1)
    assert returned == {"id": 4, "tax_id": "NL3"}
    assert rows(legacy, "SELECT name, tags FROM customers WHERE tax_id = 'FR9'") == [("Initech SA", '["a","b"]')]


def test_an_injection_attempt_stays_data(legacy) -> None:
    sneaky = "DE1' OR '1'='1"
    dropper = "x'); DROP TABLE customers; --"
    found, created, again = call_all(legacy, [
        ("legacy.find_customer", {"tax_id": sneaky}),
        ("legacy.create_customer", {"tax_id": dropper, "name": dropper}),
        ("legacy.find_customer", {"tax_id": dropper}),
    ])
    assert found is None
    assert created == 1
    assert again["name"] == dropper  # stored verbatim, and the table is still there
    assert rows(legacy, "SELECT count(*) FROM customers") == [(3,)]


def test_a_failing_statement_rolls_the_whole_operation_back(legacy) -> None:
    with pytest.raises(ConnectorError) as caught:  # second statement: audit.customer_tax_id NOT NULL
        call(legacy, "legacy.create_with_audit", {"tax_id": None, "name": "Nobody", "note": "x"})
    assert caught.value.error_class == "sql_integrity"
    with pytest.raises(ConnectorError):  # first succeeds, second fails: neither is kept
        call(legacy, "legacy.create_with_audit", {"tax_id": "DE1", "name": "Dup", "note": "x"})
    assert call(legacy, "legacy.create_with_audit", {"tax_id": "IT7", "name": "Vandelay", "note": "ok"}) == 1

    assert rows(legacy, "SELECT tax_id FROM customers ORDER BY id") == [("DE1",), ("DE2",), ("IT7",)]
    assert rows(legacy, "SELECT customer_tax_id, note FROM audit") == [("IT7", "ok")]


def test_error_classes(legacy) -> None:
    duplicate, broken, unbound = call_all(legacy, [
        ("legacy.create_customer", {"tax_id": "DE1", "name": "Again", "tags": None}),
        ("legacy.broken", {"id": 1}),
        ("legacy.list_customers", {"wrong": 1}),
    ])
    assert (duplicate.error_class, duplicate.transient) == ("sql_integrity", False)
    assert "UNIQUE constraint failed: customers.tax_id" in str(duplicate)
    assert str(duplicate).startswith("legacy.create_customer: ")
    assert "Again" not in str(duplicate)  # bound values (business data) stay out of messages
    assert (broken.error_class, broken.transient) == ("sql_programming", False)
    assert (unbound.error_class, str(unbound)) == ("sql_params", "legacy.list_customers: no value for :min_balance in the input")


def test_a_locked_database_is_transient(legacy) -> None:
    db = Path(legacy.root) / "data" / "legacy.db"
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        conn = sqlite3.connect(db)
        conn.execute("BEGIN EXCLUSIVE")
        locked.set()
        release.wait(5)
        conn.rollback()
        conn.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    locked.wait(5)
    try:
        with pytest.raises(ConnectorError) as caught:
            call(legacy, "legacy.rename", {"tax_id": "DE1", "name": "Locked"})
    finally:
        release.set()
        holder.join()
    assert (caught.value.error_class, caught.value.transient) == ("sql_operational", True)
    assert "locked" in str(caught.value)


def test_in_a_flow_with_retries(legacy, workspace) -> None:
    plan = compile_flows(workspace, {
        "connectors/legacy.yaml": CONNECTOR,
        "flows/sync.yaml": """\
flow: sync
on: { event: shop.order.placed }
steps:
  - id: find
    call: legacy.find_customer
    with: { tax_id: "${ data.order_id }" }
  - id: create
    if: "steps.find.output == `null`"
    call: legacy.create_customer
    with: { tax_id: "${ data.order_id }", name: "Shop customer ${ data.order_id }" }
    retry: { attempts: 3 }
  - id: again
    call: legacy.create_customer
    with: { tax_id: "${ data.order_id }", name: duplicate }
    retry: { attempts: 3 }
""",
    })
    result = run(plan, "sync")

    assert result.status == "dead_lettered"
    assert [c.output for c in result.calls[:2]] == [None, 1]
    assert (result.error["step"], result.error["code"], result.error["attempt"]) == ("again", "connector.sql_integrity", 1)
    assert rows(legacy, "SELECT name FROM customers WHERE tax_id = 'O1'") == [("Shop customer O1",)]


# -- load time ---------------------------------------------------------------------------------------------


def diagnostics(workspace, text: str) -> list[str]:
    return [str(d) for d in check_workspace(workspace({"connectors/legacy.yaml": text})).diagnostics]


def test_interpolation_in_sql_is_a_load_error_with_its_position(workspace) -> None:
    assert diagnostics(workspace, """\
connector: legacy
kind: sql
url: sqlite:///x.db
operations:
  find:
    sql: "SELECT * FROM customers WHERE tax_id = '${ input.tax_id }'"
  find_jinja:
    sql:
      - SELECT 1
      - "SELECT * FROM t WHERE name = '{{ input.name }}'"
""") == [
        "connectors/legacy.yaml:6:51: operations.find.sql: `${` in SQL text: values are never spliced into SQL "
        "(hint: write a named parameter such as :tax_id and give its value in `params`) [connector.sql_interpolation]",
        "connectors/legacy.yaml:10:40: operations.find_jinja.sql[1]: `{{` in SQL text: values are never spliced "
        "into SQL (hint: write a named parameter such as :tax_id and give its value in `params`) "
        "[connector.sql_interpolation]",
    ]


def test_params_must_match_the_statement(workspace) -> None:
    assert diagnostics(workspace, """\
connector: legacy
kind: sql
url: sqlite:///x.db
operations:
  find:
    sql: SELECT * FROM customers WHERE tax_id = :tax_id AND region = :region
    params: { tax_id: "${ input.tax_id }", regoin: "${ input.region }" }
""") == [
        "connectors/legacy.yaml:7:13: operations.find.params: the SQL uses :region but `params` gives no value "
        "for it (hint: add `region: ${ input.region }` to params) [connector.sql_params]",
        "connectors/legacy.yaml:7:52: operations.find.params.regoin: params.regoin is not used by the SQL "
        "(no :regoin in it) (hint: remove it, or use it in the statement) [connector.sql_params]",
    ]


def test_a_literal_password_in_the_url_is_a_load_error(workspace) -> None:
    assert diagnostics(workspace, """\
connector: legacy
kind: sql
url: postgresql://svc:hunter22@db.internal/erp
operations: { ping: { sql: SELECT 1 } }
""") == [
        "connectors/legacy.yaml:3:6: url: the URL contains a password (hint: put the whole URL in an "
        "environment variable and write `url: env:NAME`) [connector.literal_secret]",
    ]


def test_check_needs_no_database(workspace) -> None:
    report = check_workspace(workspace({"connectors/legacy.yaml": CONNECTOR.replace(
        "sqlite:///data/legacy.db", "env:NOT_SET_ANYWHERE_DB")}))
    assert report.ok, report.diagnostics


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT x::int FROM t WHERE a = :a AND b = :b AND again = :a",
        r"SELECT '\:escaped', :real",
        "SELECT :snake_case1, :été",
        "WHERE (LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO) ORDER BY 1 LIMIT :limit",
        "SELECT CAST(:v AS jsonb)::text, a:b, x :c",
        "SELECT 1",
    ],
)
def test_parameter_names_are_found_as_sqlalchemy_finds_them(sql: str) -> None:
    """`seamline check` finds `:name` parameters without importing SQLAlchemy; the execution
    binds them through SQLAlchemy's text(): both must agree."""
    from sqlalchemy import text

    from runtime.connectors.sql import bind_names

    assert bind_names(sql) == tuple(text(sql).compile().params)

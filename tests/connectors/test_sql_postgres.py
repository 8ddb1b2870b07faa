"""`kind: sql` on a real PostgreSQL server ($SEAMLINE_TEST_POSTGRES_URL; CI starts one).

Skipped, with the reason, when the variable is unset or nothing answers there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.errors import ConnectorError
from tests.connectors._calls import call, call_all
from tests.steps import compile_flows

pytestmark = pytest.mark.postgres

URL_VARIABLE = "SEAMLINE_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def database() -> Iterator[tuple[Any, str]]:
    """(a SQLAlchemy engine on the test server, a fresh schema name), dropped afterwards."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        pytest.skip(f"no PostgreSQL server: set {URL_VARIABLE} (CI's .ci/run starts one)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is missing: pip install -e '.[dev]'")
    from sqlalchemy import create_engine, make_url, text

    from runtime.connectors.sql import database_url

    engine = create_engine(database_url(make_url(url), Path.cwd()))
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means: skip
        engine.dispose()
        reason = f"no PostgreSQL server reachable at ${URL_VARIABLE}: {type(exc).__name__}"
        if os.environ.get("CI"):  # CI started one: not reaching it is a failure, not a skip
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"seamline_test_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"""
            CREATE TABLE {schema}.customers (
              id SERIAL PRIMARY KEY,
              tax_id TEXT NOT NULL UNIQUE,
              name TEXT NOT NULL,
              balance NUMERIC(12, 2) NOT NULL DEFAULT 0,
              since DATE,
              profile JSONB
            )"""))
        conn.execute(text(f"CREATE TABLE {schema}.audit (id SERIAL PRIMARY KEY, tax_id TEXT NOT NULL)"))
        conn.execute(text(f"INSERT INTO {schema}.customers (tax_id, name, balance, since) "
                          "VALUES ('DE1', 'Acme GmbH', 1234.50, '2021-03-04')"))
    yield engine, schema
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


@pytest.fixture
def plan(workspace, database: tuple[Any, str]) -> Any:
    _, schema = database
    return compile_flows(workspace, {"connectors/pg.yaml": f"""
connector: pg
kind: sql
url: env:{URL_VARIABLE}
operations:
  find:
    sql: SELECT tax_id, name, balance, since, profile FROM {schema}.customers WHERE tax_id = :tax_id
    result: one
  create:
    sql: INSERT INTO {schema}.customers (tax_id, name, profile) VALUES (:tax_id, :name, CAST(:profile AS jsonb)) RETURNING id
    result: scalar
  create_audited:
    sql:
      - INSERT INTO {schema}.customers (tax_id, name) VALUES (:tax_id, :name)
      - INSERT INTO {schema}.audit (tax_id) VALUES (:audit_tax_id)
    result: rowcount
  count:
    sql: SELECT count(*) FROM {schema}.customers WHERE tax_id LIKE :pattern
    result: scalar
  slow:
    sql: SELECT pg_sleep(:seconds)
    timeout: 100ms
  bad_type:
    sql: SELECT CAST(:value AS integer)
    result: scalar
"""})


def test_numeric_date_and_json_values_come_back_as_json(plan) -> None:
    created = call(plan, "pg.create", {"tax_id": "PG1", "name": "Pg Corp", "profile": {"tier": "gold"}})
    assert isinstance(created, int)
    assert call(plan, "pg.find", {"tax_id": "DE1"}) == {
        "tax_id": "DE1", "name": "Acme GmbH", "balance": 1234.5, "since": "2021-03-04", "profile": None}
    assert call(plan, "pg.find", {"tax_id": "PG1"})["profile"] == {"tier": "gold"}


def test_injection_stays_data(plan) -> None:
    sneaky = "x'; DROP TABLE customers; --"
    found, created, counted = call_all(plan, [
        ("pg.find", {"tax_id": "DE1' OR '1'='1"}),
        ("pg.create", {"tax_id": sneaky, "name": sneaky, "profile": None}),
        ("pg.count", {"pattern": "%DROP TABLE%"}),
    ])
    assert found is None
    assert isinstance(created, int)
    assert counted == 1


def test_integrity_error_is_permanent_and_rolls_back(plan) -> None:
    with pytest.raises(ConnectorError) as caught:
        call(plan, "pg.create_audited", {"tax_id": "PG-RB", "name": "Rolled back", "audit_tax_id": None})
    assert (caught.value.error_class, caught.value.transient) == ("sql_integrity", False)
    assert call(plan, "pg.find", {"tax_id": "PG-RB"}) is None
    assert call(plan, "pg.create_audited", {"tax_id": "PG-OK", "name": "Kept", "audit_tax_id": "PG-OK"}) == 1


def test_statement_timeout_is_transient(plan) -> None:
    with pytest.raises(ConnectorError) as caught:
        call(plan, "pg.slow", {"seconds": 2})
    assert (caught.value.error_class, caught.value.transient) == ("timeout", True)


def test_a_value_the_database_rejects_is_permanent(plan) -> None:
    with pytest.raises(ConnectorError) as caught:
        call(plan, "pg.bad_type", {"value": "not a number"})
    assert caught.value.transient is False
    assert caught.value.error_class in ("sql_data", "sql_programming")

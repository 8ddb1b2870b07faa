"""The `store` fixture: one instance of every Store backend, so tests/store/ runs against each.

A backend is a `Backend`: `open()` gives a Store on the same location every time (so a test can
close it and open it again), `sqlite` tells the SQLite-only checks (group-commit counter, the
audit triggers at the SQL level) when they apply.

PostgreSQL runs at $SEAMLINE_TEST_POSTGRES_URL (CI's .ci/run starts a server); each test gets a
schema of its own (`?schema=` in the store URL, created by the store when it opens, dropped
after the test), so tests start empty and do not see each other.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import pytest

from runtime.store import SqliteStore, Store, open_store


@dataclass
class Backend:
    name: str
    open: Callable[[], Store]
    path: Path | None = None  # the SQLite file, for SQL-level checks
    url: str | None = None  # the PostgreSQL store URL (with its schema), for SQL-level checks
    opened: list[Store] = field(default_factory=list)
    cleanup: Callable[[], None] | None = None  # after every store it opened is closed

    @property
    def sqlite(self) -> bool:
        return self.name == "sqlite"

    def reopen(self) -> Store:
        store = self.open()
        self.opened.append(store)
        return store


URL_VARIABLE = "SEAMLINE_TEST_POSTGRES_URL"


def with_query(url: str, **params: str) -> str:
    """`url` with query parameters added (or replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in params] + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


@functools.cache
def postgres_problem(url: str) -> str | None:
    """Why the PostgreSQL tests cannot run (None: they can). Checked once per session."""
    if importlib.util.find_spec("psycopg") is None:
        return "the PostgreSQL driver is missing: pip install -e '.[dev]'"
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as exc:
        return f"no PostgreSQL server reachable at ${URL_VARIABLE}: {type(exc).__name__}"
    return None


def drop_schema(url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as db:
        db.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_backend() -> Backend:
    """A PostgreSQL store location of its own: a fresh schema, dropped at cleanup."""
    url = os.environ.get(URL_VARIABLE)
    if not url:
        pytest.skip(f"no ${URL_VARIABLE}: no PostgreSQL server to test against")
    problem = postgres_problem(url)
    if problem is not None:
        if os.environ.get("CI"):  # CI started a server: not reaching it is a failure, not a skip
            pytest.fail(problem)
        pytest.skip(problem)
    schema = f"seamline_test_{uuid.uuid4().hex[:12]}"
    store_url = with_query(url, schema=schema)
    return Backend(
        "postgres",
        lambda: open_store(store_url),
        url=store_url,
        cleanup=lambda: drop_schema(url, schema),
    )


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        path = tmp_path / "store" / "seamline.db"
        made = Backend("sqlite", lambda: SqliteStore(path), path)
    else:
        made = postgres_backend()
    yield made
    for store in made.opened:
        anyio.run(store.aclose)
    if made.cleanup is not None:
        made.cleanup()


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.reopen()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

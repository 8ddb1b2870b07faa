"""The `store` fixture: one instance of every Store backend, so tests/store/ runs against each.

A backend is a `Backend`: `open()` gives a Store on the same location every time (so a test can
close it and open it again), `sqlite` tells the SQLite-only checks (group-commit counter, the
audit triggers at the SQL level) when they apply.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import pytest

from runtime.store import SqliteStore, Store, open_store


@dataclass
class Backend:
    name: str
    open: Callable[[], Store]
    path: Path | None = None  # the SQLite file, for SQL-level checks
    opened: list[Store] = field(default_factory=list)

    @property
    def sqlite(self) -> bool:
        return self.name == "sqlite"

    def reopen(self) -> Store:
        store = self.open()
        self.opened.append(store)
        return store


def _postgres(tmp_path: Path) -> Backend:
    """Ready for the PostgreSQL backend: wire it here once `runtime.store.postgres` exists."""
    if importlib.util.find_spec("runtime.store.postgres") is None:
        pytest.skip("PostgreSQL store not implemented yet")
    url = os.environ.get("SEAMLINE_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("no $SEAMLINE_TEST_POSTGRES_URL: no PostgreSQL server to test against")
    return Backend("postgres", lambda: open_store(url))  # pragma: no cover - not implemented yet


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
        made = _postgres(tmp_path)
    yield made
    for store in made.opened:
        anyio.run(store.aclose)


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.reopen()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"

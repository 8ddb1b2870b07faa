"""One SQLite file per simulated system: JSON documents with generated columns for inspection.

Every business table has the same shape: `id` (the system's own identifier), `doc` (the record
exactly as the API returns it, JSON), `created_at`, `updated_at`, plus generated (virtual)
columns for the fields worth seeing in `sqlite3` and indexing (tax id, status, parent ids).
Tables whose name starts with `_` are the service's own machinery (sequences, idempotency keys,
the webhook outbox) and are left out of record counts.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MACHINERY = """
CREATE TABLE IF NOT EXISTS _sequences (name TEXT PRIMARY KEY, next INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS _idempotency (
    key TEXT PRIMARY KEY, method TEXT NOT NULL, path TEXT NOT NULL, fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, created_at TEXT NOT NULL,
    replays INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS _outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, type TEXT NOT NULL,
    subject TEXT, body TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT, delivered_at TEXT, created_at TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Table:
    """A business table: its name and the doc fields exposed as generated, indexed columns
    (`"tax_id"`, or `"erp_customer_id=integration.erp_customer_id"` for a nested field)."""

    name: str
    columns: Sequence[str] = ()

    def ddl(self) -> str:
        pairs = [(c.partition("=")[0], c.partition("=")[2] or c) for c in self.columns]
        generated = "".join(
            f",\n    {c} GENERATED ALWAYS AS (json_extract(doc, '$.{p}')) VIRTUAL" for c, p in pairs
        )
        indexes = "".join(
            f"\nCREATE INDEX IF NOT EXISTS ix_{self.name}_{c} ON {self.name}({c});"
            for c, _ in pairs
        )
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} (\n    id TEXT PRIMARY KEY,\n"
            f"    doc TEXT NOT NULL,\n    created_at TEXT NOT NULL,\n"
            f"    updated_at TEXT NOT NULL{generated});{indexes}"
        )


def now_iso() -> str:
    """The current UTC time as the systems write it: `2026-11-16T09:30:00Z`."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def connect(path: Path | str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


class Store:
    """The service's database. Writes happen inside `tx()`; one writer at a time."""

    def __init__(self, path: Path, tables: Sequence[Table]) -> None:
        self.path = path
        self.tables = {t.name: t for t in tables}
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect(path)
        self._lock = threading.RLock()
        self.conn.executescript(MACHINERY + "\n".join(t.ddl() for t in tables))
        columns = {r["name"] for r in self.conn.execute("PRAGMA table_info(_idempotency)")}
        if "replays" not in columns:  # a database made before replays were counted
            self.conn.execute(
                "ALTER TABLE _idempotency ADD COLUMN replays INTEGER NOT NULL DEFAULT 0"
            )

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def tx(self) -> Iterator[None]:
        with self._lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run a statement; the number of rows it changed."""
        with self._lock:
            return self.conn.execute(sql, params).rowcount

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """All rows of a query (fetched under the lock: the connection is shared by threads)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # ── records ─────────────────────────────────────────────────────────────────────────
    def insert(self, table: str, doc: dict[str, Any]) -> dict[str, Any]:
        stamp = now_iso()
        doc.setdefault("created_at", stamp)
        doc.setdefault("updated_at", stamp)
        self.execute(
            f"INSERT INTO {self._t(table)} (id, doc, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (doc["id"], _dumps(doc), doc["created_at"], doc["updated_at"]),
        )
        return doc

    def save(self, table: str, doc: dict[str, Any]) -> dict[str, Any]:
        doc["updated_at"] = now_iso()
        self.execute(
            f"UPDATE {self._t(table)} SET doc = ?, updated_at = ? WHERE id = ?",
            (_dumps(doc), doc["updated_at"], doc["id"]),
        )
        return doc

    def get(self, table: str, record_id: str) -> dict[str, Any] | None:
        row = self.one(f"SELECT doc FROM {self._t(table)} WHERE id = ?", (record_id,))
        return json.loads(row["doc"]) if row else None

    def find(
        self,
        table: str,
        where: Mapping[str, Any] | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
        after: int | None = None,
    ) -> list[dict[str, Any]]:
        """Records whose doc fields equal `where`, oldest first. None values are ignored; a key
        ending in `!` means "not equal" (`{"status!": "archived"}`)."""
        sql, params = self._select(table, "rowid, doc", where, after)
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        rows = self.query(sql, params)
        out = []
        for row in rows:
            doc = json.loads(row["doc"])
            doc["_rowid"] = row["rowid"]
            out.append(doc)
        return out

    def first(self, table: str, where: Mapping[str, Any]) -> dict[str, Any] | None:
        found = self.find(table, where, limit=1)
        return strip_rowid(found[0]) if found else None

    def count(self, table: str, where: Mapping[str, Any] | None = None) -> int:
        sql, params = self._select(table, "count(*)", where, None)
        row = self.one(sql, params)
        return int(row[0]) if row else 0

    def next_id(self, table: str, prefix: str, width: int, start: int) -> str:
        """The next free identifier `<prefix><number>` of a sequence (skips imported ids)."""
        name = prefix
        row = self.one("SELECT next FROM _sequences WHERE name = ?", (name,))
        number = int(row["next"]) if row else start
        while True:
            candidate = f"{prefix}{number:0{width}d}"
            number += 1
            if self.get(table, candidate) is None:
                break
        self.execute(
            "INSERT INTO _sequences (name, next) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET next = excluded.next",
            (name, number),
        )
        return candidate

    def _select(
        self, table: str, what: str, where: Mapping[str, Any] | None, after: int | None
    ) -> tuple[str, list[Any]]:
        clauses, params = [], []
        for key, value in (where or {}).items():
            if value is None:
                continue
            field, op = (key[:-1], "IS NOT") if key.endswith("!") else (key, "=")
            if not field.replace("_", "").replace(".", "").isalnum():
                raise ValueError(f"bad filter field {key!r}")
            clauses.append(f"json_extract(doc, '$.{field}') {op} ?")
            params.append(value)
        if after is not None:
            clauses.append("rowid > ?")
            params.append(after)
        sql = f"SELECT {what} FROM {self._t(table)}"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        return sql, params

    def _t(self, table: str) -> str:
        if table not in self.tables:
            raise KeyError(f"no table {table!r} in {self.path.name}")
        return table


def strip_rowid(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("_rowid", None)
    return doc


def _dumps(doc: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in doc.items() if k != "_rowid"}, ensure_ascii=False)


def count_records(path: Path | str, *, include_internal: bool = False) -> dict[str, int]:
    """Rows per table of a SQLite database file (any of the sandbox's, the legacy one too)."""
    conn = sqlite3.connect(f"file:{Path(path)}?mode=ro", uri=True, timeout=10)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            for name in names
            if include_internal or not name.startswith("_")
        }
    finally:
        conn.close()

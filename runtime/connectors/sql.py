"""`kind: sql` — named statements against SQLite or PostgreSQL, with bound parameters only.

Every value reaches the database as a named bound parameter (`:tax_id`); the SQL text is fixed
in the connector file, and `${ }` or `{{ }}` inside it is a load error, so event data can never
change a statement. Each operation runs in its own transaction (committed when every statement
succeeded, rolled back otherwise) on SQLAlchemy Core's pooled engine, off the event loop.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import anyio
from pydantic import Field

from runtime.connectors._sources import compile_mapping
from runtime.connectors._sql_source import SqlSourceConfig, SqlWatermarkSource
from runtime.connectors._sql_values import classify, to_json, to_parameter
from runtime.connectors.base import CallRequest, ConnectorCompiler, ConnectorConfig, connector_kind
from runtime.connectors.secrets import (
    connector_error,
    register_secret,
    resolve_secret,
)
from runtime.spec.common import Duration, Identifier, SpecModel, Value

if TYPE_CHECKING:  # SQLAlchemy is imported on first use: CLI start-up stays fast
    from sqlalchemy import Engine, TextClause
    from sqlalchemy.engine import URL, CursorResult

_INTERPOLATION = re.compile(r"\$\{|\{\{|\{%")
_PG_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


class SqlOperationConfig(SpecModel):
    """One operation: a statement (or a few, run in one transaction) with named parameters."""

    sql: str | list[str] = Field(
        description="The statement, with values only as named parameters (`:tax_id`); a list runs "
        "its statements in order in one transaction and returns the last one's result.",
        examples=["SELECT id, name FROM customers WHERE tax_id = :tax_id"],
    )
    params: dict[str, Value] | None = Field(
        default=None,
        description="Parameter name -> value (`${ input.tax_id }`); omitted: the input's keys "
        "of the same names. Objects and lists are bound as JSON text.",
    )
    result: Literal["rows", "one", "scalar", "rowcount"] = Field(
        default="rows",
        description="`rows`: a list of objects; `one`: the first row or null; `scalar`: the "
        "first column of the first row or null; `rowcount`: rows changed.",
    )
    timeout: Duration | None = Field(
        default=None,
        description="Statement timeout (PostgreSQL); overrides the connector's.",
    )


class SqlConnectorConfig(ConnectorConfig):
    """A relational database reached through SQLAlchemy Core."""

    kind_name = "sql"
    kind: Literal["sql"] = Field(description="`sql`.")
    url: str = Field(
        pattern=r"^(env:\S+|file:\S+|sqlite:\S*|postgres(ql)?(\+\w+)?://\S+)$",
        description="SQLAlchemy URL: `sqlite:///relative/to/workspace.db`, "
        "`postgresql://host/db`, or `env:NAME` / `file:PATH` for one with a password.",
        examples=["sqlite:///data/legacy_erp.db", "env:LEGACY_ERP_DATABASE_URL"],
    )
    pool_size: int = Field(default=5, ge=1, description="Pooled connections (PostgreSQL).")
    timeout: Duration = Field(
        default="30s", description="Statement timeout (PostgreSQL) and SQLite lock wait."
    )
    operations: dict[Identifier, SqlOperationConfig] = Field(
        default_factory=dict, description="Operation name -> statement."
    )
    sources: dict[Identifier, SqlSourceConfig] = Field(
        default_factory=dict,
        description="Source name -> a watermark query polled for changed rows, each row an "
        "event (`seamline sources` shows where each stands).",
    )


# SQLAlchemy's own pattern for `:name` in text() (TextClause._bind_params_regex): `::` casts and
# `\:` escapes are not parameters. Matching it here keeps SQLAlchemy out of `seamline check`.
_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?!:)", re.UNICODE)


def bind_names(sql: str) -> tuple[str, ...]:
    """The named parameters a statement uses, in order of first use."""
    return tuple(dict.fromkeys(_BIND.findall(sql)))


@dataclass
class Statement:
    """One SQL text, its parameter names, and its SQLAlchemy clause (built on first use)."""

    sql: str
    names: tuple[str, ...]
    _clause: TextClause | None = field(default=None, repr=False)

    def clause(self) -> TextClause:
        if self._clause is None:
            from sqlalchemy import text

            self._clause = text(self.sql)
        return self._clause


@dataclass
class SqlOperation:
    connector: SqlConnector
    name: str
    statements: tuple[Statement, ...]
    names: tuple[str, ...]
    params: Any
    result: str
    timeout: float | None

    @property
    def ref(self) -> str:
        return f"{self.connector.name}.{self.name}"

    def bind(self, payload: Any) -> dict[str, Any]:
        """The parameter values of one call, from `params` or the input's keys."""
        if self.params is not None:
            values = self.params.evaluate({"input": payload})
        elif not self.names:
            values = {}
        elif isinstance(payload, dict):
            values = payload
        else:
            raise connector_error(
                f"{self.ref} needs parameters {', '.join(':' + n for n in self.names)}; "
                "its input is not an object",
                transient=False,
                error_class="sql_params",
            )
        missing = [n for n in self.names if n not in values]
        if missing:
            raise connector_error(
                f"{self.ref}: no value for {', '.join(':' + n for n in missing)} in the input",
                transient=False,
                error_class="sql_params",
            )
        return {n: to_parameter(values[n]) for n in self.names}

    async def invoke(self, request: CallRequest) -> Any:
        params = self.bind(request.payload)
        timeout = self.timeout or request.timeout or self.connector.timeout
        return await anyio.to_thread.run_sync(self._run, params, timeout)

    def _run(self, params: dict[str, Any], timeout: float) -> Any:
        from sqlalchemy import exc, text

        engine = self.connector.engine()
        try:
            with engine.begin() as conn:
                if engine.dialect.name == "postgresql":
                    conn.execute(
                        text("SELECT set_config('statement_timeout', :ms, true)"),
                        {"ms": str(int(timeout * 1000))},
                    )
                result: CursorResult[Any] | None = None
                for statement in self.statements:
                    result = conn.execute(
                        statement.clause(), {n: params[n] for n in statement.names}
                    )
                assert result is not None
                return self._shape(result)
        except exc.SQLAlchemyError as error:
            raise classify(error, self.ref, engine.dialect.name) from error

    def _shape(self, result: CursorResult[Any]) -> Any:
        if self.result == "rowcount":
            return result.rowcount
        if not result.returns_rows:
            return [] if self.result == "rows" else None
        if self.result == "rows":
            return [{k: to_json(v) for k, v in row.items()} for row in result.mappings()]
        row = result.first()
        if row is None:
            return None
        if self.result == "scalar":
            return to_json(row[0])
        return {k: to_json(v) for k, v in row._mapping.items()}


@dataclass
class SqlConnector:
    name: str
    url: str
    root: Path
    pool_size: int
    timeout: float
    operations: dict[str, SqlOperation] = field(default_factory=dict)
    sources: dict[str, SqlWatermarkSource] = field(default_factory=dict)
    kind: str = "sql"
    _engine: Engine | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def operation(self, name: str) -> SqlOperation | None:
        return self.operations.get(name)

    def operation_names(self) -> list[str]:
        return sorted(self.operations)

    def engine(self) -> Engine:
        """The pooled engine, created on first use (so `seamline check` needs no database)."""
        with self._lock:
            if self._engine is None:
                self._engine = self._create()
            return self._engine

    def _create(self) -> Engine:
        from sqlalchemy import create_engine, exc, make_url

        raw = resolve_secret(self.url) if self.url.startswith(("env:", "file:")) else self.url
        try:
            url = make_url(raw)
        except exc.ArgumentError as error:
            raise connector_error(
                f"connector {self.name}: the database URL cannot be read",
                transient=False,
                error_class="config",
            ) from error
        register_secret(url.password if isinstance(url.password, str) else None)
        url = database_url(url, self.root)
        options: dict[str, Any] = {"pool_pre_ping": True}
        if url.get_backend_name() == "sqlite":
            options["connect_args"] = {"timeout": self.timeout}
        else:
            options.update(pool_size=self.pool_size, max_overflow=self.pool_size)
        try:
            return create_engine(url, **options)
        except (exc.NoSuchModuleError, ModuleNotFoundError) as error:
            raise connector_error(
                f"connector {self.name}: no database driver for {url.drivername} "
                "(for PostgreSQL: pip install 'seamline[postgres]')",
                transient=False,
                error_class="config",
            ) from error

    async def aclose(self) -> None:
        engine = self._engine
        if engine is not None:
            await anyio.to_thread.run_sync(engine.dispose)


def database_url(url: URL, root: Path) -> URL:
    """PostgreSQL on psycopg 3 unless a driver is named; a relative SQLite file under `root`."""
    if url.drivername in _PG_DRIVERS:
        url = url.set(drivername=_PG_DRIVERS[url.drivername])
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        if not path.is_absolute():
            url = url.set(database=str(root / path))
    return url


def _check_url(config: SqlConnectorConfig, cc: ConnectorCompiler) -> None:
    if config.url.startswith(("env:", "file:")):
        return
    try:
        password = urlsplit(config.url).password
    except ValueError:
        cc.error(("url",), "connector.bad_url", "not a database URL", "e.g. sqlite:///data/x.db")
        return
    if password:
        cc.error(
            ("url",),
            "connector.literal_secret",
            "the URL contains a password",
            "put the whole URL in an environment variable and write `url: env:NAME`",
        )


def _interpolation(source: str, cc: ConnectorCompiler, at: tuple[str | int, ...]) -> bool:
    found = _INTERPOLATION.search(source)
    if found:
        cc.error_at(
            at,
            source,
            found.start(),
            "connector.sql_interpolation",
            f"`{found.group()}` in SQL text: values are never spliced into SQL",
            "write a named parameter such as :tax_id and give its value in `params`",
        )
    return found is not None


def _statements(
    op: SqlOperationConfig, cc: ConnectorCompiler, path: tuple[str | int, ...]
) -> tuple[tuple[Statement, ...], tuple[str, ...]]:
    sources = [op.sql] if isinstance(op.sql, str) else list(op.sql)
    where: list[tuple[str | int, ...]] = (
        [(*path, "sql")]
        if isinstance(op.sql, str)
        else [(*path, "sql", i) for i in range(len(sources))]
    )
    statements: list[Statement] = []
    names: dict[str, None] = {}
    for source, at in zip(sources, where, strict=True):
        if _interpolation(source, cc, at):
            continue
        used = bind_names(source)
        statements.append(Statement(source, used))
        names.update(dict.fromkeys(used))
    if op.params is not None:
        for name in names:
            if name not in op.params:
                cc.error(
                    (*path, "params"),
                    "connector.sql_params",
                    f"the SQL uses :{name} but `params` gives no value for it",
                    f"add `{name}: ${{ input.{name} }}` to params",
                )
        for name in op.params:
            if name not in names:
                cc.error(
                    (*path, "params", name),
                    "connector.sql_params",
                    f"params.{name} is not used by the SQL (no :{name} in it)",
                    "remove it, or use it in the statement",
                )
    return tuple(statements), tuple(names)


@connector_kind(
    SqlConnectorConfig,
    summary="Runs named SQL statements on SQLite or PostgreSQL (SQLAlchemy Core): bound "
    "parameters only, one transaction per operation.",
)
def create_sql(config: SqlConnectorConfig, cc: ConnectorCompiler) -> SqlConnector:
    _check_url(config, cc)
    connector = SqlConnector(
        config.connector,
        config.url,
        cc.root,
        config.pool_size,
        cc.duration(config.timeout) or 30.0,
    )
    for name, op in config.operations.items():
        path = ("operations", name)
        statements, names = _statements(op, cc, path)
        connector.operations[name] = SqlOperation(
            connector=connector,
            name=name,
            statements=statements,
            names=names,
            params=cc.value(op.params, (*path, "params")) if op.params is not None else None,
            result=op.result,
            timeout=cc.duration(op.timeout),
        )
    for name, source in config.sources.items():
        built = _source(connector, name, source, cc)
        if built is not None:
            connector.sources[name] = built
    return connector


def _source(
    connector: SqlConnector, name: str, config: SqlSourceConfig, cc: ConnectorCompiler
) -> SqlWatermarkSource | None:
    path = ("sources", name)
    mapping = compile_mapping(config, cc, path, roots=("row",))
    if _interpolation(config.sql, cc, (*path, "sql")):
        return None
    statement = Statement(config.sql, bind_names(config.sql))
    used = set(statement.names)
    problems = 0
    for column in config.watermark:
        if column not in used:
            problems += 1
            cc.error(
                (*path, "sql"),
                "connector.source_watermark",
                f"the query does not use :{column}, so every poll would read from the start",
                f"compare with the watermark: WHERE ({', '.join(config.watermark)}) > "
                f"({', '.join(':' + c for c in config.watermark)})",
            )
    if "limit" not in used:
        problems += 1
        cc.error(
            (*path, "sql"),
            "connector.source_limit",
            "the query has no :limit, so one poll could read the whole table",
            f"end it with ORDER BY {', '.join(config.watermark)} LIMIT :limit",
        )
    for extra in sorted(used - {*config.watermark, "limit"}):
        problems += 1
        cc.error(
            (*path, "sql"),
            "connector.sql_params",
            f"the query uses :{extra}, which is neither a watermark column nor :limit",
            f"add {extra} to `watermark`, or write the value into the query",
        )
    if set(config.start) != set(config.watermark):
        problems += 1
        cc.error(
            (*path, "start"),
            "connector.source_start",
            f"`start` gives {', '.join(sorted(config.start)) or 'nothing'}; the watermark is "
            f"{', '.join(config.watermark)}",
            "give a starting value for each watermark column, and only those",
        )
    if problems:
        return None
    return SqlWatermarkSource(
        connector=connector,
        name=name,
        event_type=config.emit,
        every=cc.duration(config.every) or 60.0,
        mapping=mapping,
        statement=statement,
        watermark=tuple(config.watermark),
        start=dict(config.start),
        batch=config.batch,
        max_batches=config.max_batches,
    )

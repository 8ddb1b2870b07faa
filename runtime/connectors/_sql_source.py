"""The SQL watermark source: rows changed since the last row taken in, polled on an interval.

The analyst writes the query; seamline binds the watermark of the last row taken in (one or
more result columns, e.g. the change time then the primary key as a tie-breaker) and a batch
size as named parameters, never as SQL text:

    SELECT ... FROM INV_HEADER
    WHERE (LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO)
    ORDER BY LAST_UPD_TS, INV_NO LIMIT :limit

Each batch is committed with its events and the new watermark in one store transaction, so a
restart carries on after the last row taken in — no row twice, none skipped. Rows must come in
ascending watermark order: a batch that does not is refused (nothing taken in) and the source
shows the error, rather than moving the watermark past rows it never read.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import Field

from runtime.connectors._sources import SourceConfig
from runtime.connectors._sql_values import classify, to_json
from runtime.connectors.base import SourceMapping, SourceRead, SourceRecord
from runtime.connectors.secrets import connector_error

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")

if TYPE_CHECKING:
    from runtime.connectors.sql import SqlConnector, Statement


class SqlSourceConfig(SourceConfig):
    """Rows changed since the last one taken in (a watermark), polled every `every`."""

    sql: str = Field(
        description="A SELECT that returns the rows after the watermark in ascending watermark "
        "order, at most `:limit` of them; the watermark columns come in as named parameters.",
        examples=[
            "SELECT INV_NO, STATUS_CD, LAST_UPD_TS FROM INV_HEADER "
            "WHERE (LAST_UPD_TS, INV_NO) > (:LAST_UPD_TS, :INV_NO) "
            "ORDER BY LAST_UPD_TS, INV_NO LIMIT :limit"
        ],
    )
    watermark: list[str] = Field(
        min_length=1,
        description="Result columns that order the rows, most significant first (a change "
        "time, then a unique key as the tie-breaker); the last row's values are stored and "
        "bound as the parameters of the same names on the next poll.",
        examples=[["LAST_UPD_TS", "INV_NO"]],
    )
    start: dict[str, Any] = Field(
        description="The watermark before the first row: a value per watermark column.",
        examples=[{"LAST_UPD_TS": "1970-01-01 00:00:00", "INV_NO": 0}],
    )
    batch: int = Field(
        default=500, ge=1, le=100_000, description="Rows per read (bound as `:limit`)."
    )
    max_batches: int = Field(
        default=20,
        ge=1,
        description="Reads per poll at most; a source with more waiting catches up on the "
        "following polls.",
    )


@dataclass
class SqlWatermarkSource:
    connector: SqlConnector
    name: str
    event_type: str
    every: float
    mapping: SourceMapping
    statement: Statement
    watermark: tuple[str, ...]
    start: dict[str, Any]
    batch: int
    max_batches: int
    uses_cursor: bool = True

    @property
    def ref(self) -> str:
        return f"{self.connector.name}.{self.name}"

    def start_cursor(self) -> Any:
        return dict(self.start)

    async def reads(self, cursor: Any) -> AsyncIterator[SourceRead]:
        position = dict(cursor) if isinstance(cursor, dict) else self.start_cursor()
        if set(position) != set(self.watermark):
            # the watermark's columns changed since it was stored: binding the old position to
            # the new columns would read from nowhere (nulls) or from the start
            raise connector_error(
                f"source {self.ref}: the stored watermark {_show(tuple(position.items()))} does "
                f"not fit the watermark columns {', '.join(self.watermark)}; set it with "
                f"`seamline sources reset {self.ref} --to '{{...}}'`",
                transient=False,
                error_class="source_watermark",
            )
        for _ in range(self.max_batches):
            rows = await anyio.to_thread.run_sync(self._select, position)
            if not rows:
                return
            read = self._read(rows, position)
            yield read
            position = read.cursor
            if len(rows) < self.batch:
                return

    async def taken_in(self, read: SourceRead) -> None:
        return None

    def _select(self, position: dict[str, Any]) -> list[dict[str, Any]]:
        from sqlalchemy import exc

        engine = self.connector.engine()
        params = {name: position.get(name) for name in self.watermark}
        params["limit"] = self.batch
        try:
            with engine.begin() as conn:
                result = conn.execute(self.statement.clause(), params)
                return [{k: to_json(v) for k, v in row.items()} for row in result.mappings()]
        except exc.SQLAlchemyError as error:
            raise classify(error, self.ref, engine.dialect.name) from error

    def _read(self, rows: list[dict[str, Any]], position: dict[str, Any]) -> SourceRead:
        previous = tuple(position.get(name) for name in self.watermark)
        records = []
        for index, row in enumerate(rows):
            missing = [name for name in self.watermark if name not in row]
            if missing:
                raise connector_error(
                    f"source {self.ref}: the query returns no column {', '.join(missing)} "
                    f"(the watermark); it returns {', '.join(row) or 'none'}",
                    transient=False,
                    error_class="source_watermark",
                )
            mark = tuple(row[name] for name in self.watermark)
            if not _after(mark, previous):
                raise connector_error(
                    f"source {self.ref}: row {index + 1} of the batch has watermark "
                    f"{_show(mark)}, not after {_show(previous)}: the query must return only rows "
                    f"after the bound watermark, ORDER BY {', '.join(self.watermark)}",
                    transient=False,
                    error_class="source_order",
                )
            location = "row " + ", ".join(
                f"{n}={v}" for n, v in zip(self.watermark, mark, strict=True)
            )
            default_id = "|".join("" if v is None else str(v) for v in mark)
            records.append(SourceRecord(location, row, default_id))
            previous = mark
        cursor = dict(zip(self.watermark, previous, strict=True))
        return SourceRead(
            records,
            cursor=cursor,
            label=f"{len(rows)} rows after {_show(tuple(position.values()))}",
        )


def _after(mark: tuple[Any, ...], previous: tuple[Any, ...]) -> bool:
    """Whether a row can follow the previous watermark. Only checked where Python orders values
    as every database does (numbers, ISO dates and times); text keys follow the database's
    collation, so for them only a repeat is refused (a missing tie-breaker, or `>=`)."""
    if mark == previous:
        return False
    first, before = mark[0], previous[0]
    if (
        _ordered(first)
        and _ordered(before)
        and type(first) is type(before)
        or (isinstance(first, int | float) and isinstance(before, int | float))
    ):
        return bool(first >= before)
    return True


def _ordered(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _ISO.match(value) is not None


def _show(values: tuple[Any, ...]) -> str:
    return "(" + ", ".join(repr(v) for v in values) + ")"

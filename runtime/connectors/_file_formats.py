"""CSV, JSON Lines and JSON: serialise rows for a write, parse a file for a read.

Parsing never stops at a bad row: every row that cannot be read (malformed CSV, a wrong number
of fields, a value that is not of its column's type, a line that is not JSON) is reported as
`{file, line, message}` and the good rows are still returned.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable
from typing import Any, Literal

import orjson

Format = Literal["csv", "jsonl", "json"]
ColumnType = Literal["string", "integer", "number", "boolean", "json"]
SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class RowsError(ValueError):
    """Content that cannot be written in the format (e.g. CSV rows that are not objects)."""


# -- writing -----------------------------------------------------------------------------------
def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _rows(content: Any, fmt: str) -> list[Any]:
    if content is None:
        return []
    if not isinstance(content, list):
        raise RowsError(f"{fmt} content must be a list of rows, got {type(content).__name__}")
    return content


def serialise(
    content: Any, fmt: Format, columns: list[str] | None, delimiter: str
) -> tuple[bytes, int]:
    """(file bytes, number of rows) of `content` in `fmt`."""
    if fmt == "json":
        return orjson.dumps(content, option=orjson.OPT_INDENT_2) + b"\n", (
            len(content) if isinstance(content, list) else 1
        )
    rows = _rows(content, fmt)
    if fmt == "jsonl":
        return b"".join(orjson.dumps(row) + b"\n" for row in rows), len(rows)
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RowsError(f"csv row {index} is a {type(row).__name__}, not an object")
    header = columns or list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in header])
    return out.getvalue().encode("utf-8"), len(rows)


# -- reading -----------------------------------------------------------------------------------
def _convert(value: str, kind: ColumnType) -> Any:
    if kind == "string":
        return value
    if value.strip() == "":
        return None
    if kind == "integer":
        return int(value.strip())
    if kind == "number":
        try:
            return int(value.strip())
        except ValueError:
            number = float(value.strip())
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a finite number")
        return number
    if kind == "boolean":
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return orjson.loads(value)


class Parsed:
    """Rows and per-line errors of one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rows: list[Any] = []
        self.lines: list[int] = []
        """The line each row starts on (0 for an item of a JSON document)."""
        self.errors: list[dict[str, Any]] = []

    def add(self, line: int, row: Any) -> None:
        self.rows.append(row)
        self.lines.append(line)

    def error(self, line: int, message: str) -> None:
        self.errors.append({"file": self.file, "line": line, "message": message})

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "rows": self.rows, "errors": self.errors}


def parse_csv(
    text: str,
    parsed: Parsed,
    delimiter: str,
    types: dict[str, ColumnType],
    required: Iterable[str],
) -> None:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        parsed.error(1, "the file is empty: no header row")
        return
    except csv.Error as exc:
        parsed.error(1, f"header: {exc}")
        return
    header = [name.strip() for name in header]
    dupes = sorted({n for n in header if header.count(n) > 1})
    if dupes or "" in header:
        parsed.error(1, f"header: duplicate or empty column names {dupes or ['']}")
        return
    missing = [c for c in (*types, *required) if c not in header]
    if missing:
        parsed.error(1, f"header: no column {', '.join(sorted(set(missing)))}")
        return
    required = tuple(required)
    before = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            parsed.error(before + 1, f"malformed CSV: {exc}")
            if reader.line_num == before:
                break
            before = reader.line_num
            continue
        line, before = before + 1, reader.line_num
        if not row or row == [""]:
            continue
        if len(row) != len(header):
            parsed.error(line, f"expected {len(header)} fields, got {len(row)}")
            continue
        record: dict[str, Any] = dict(zip(header, row, strict=True))
        problems = [f"column {c} is empty" for c in required if not record[c].strip()]
        for column, kind in types.items():
            try:
                record[column] = _convert(record[column], kind)
            except ValueError:
                problems.append(f"column {column}: {record[column]!r} is not {_article(kind)}")
        if problems:
            parsed.error(line, "; ".join(problems))
            continue
        parsed.add(line, record)


def _article(kind: str) -> str:
    return {"integer": "an integer", "json": "JSON"}.get(kind, f"a {kind}")


def parse_jsonl(text: str, parsed: Parsed) -> None:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            parsed.add(number, orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            parsed.error(number, f"not JSON: {exc}")


def parse_json(text: str, parsed: Parsed) -> None:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        parsed.error(exc.lineno, f"not JSON: {exc.msg} (column {exc.colno})")
        return
    for item in document if isinstance(document, list) else [document]:
        parsed.add(0, item)


def parse_file(
    raw: bytes,
    name: str,
    fmt: Format,
    *,
    delimiter: str = ",",
    types: dict[str, ColumnType] | None = None,
    required: Iterable[str] = (),
) -> Parsed:
    """Every good row of a file's bytes, and every bad one with its line."""
    parsed = Parsed(name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        parsed.error(line, f"not UTF-8: {exc.reason} at byte {exc.start}")
        return parsed
    if fmt == "csv":
        parse_csv(text, parsed, delimiter, dict(types or {}), required)
    elif fmt == "jsonl":
        parse_jsonl(text, parsed)
    else:
        parse_json(text, parsed)
    return parsed

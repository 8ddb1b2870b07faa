"""`kind: file` — CSV, JSON Lines and JSON files in and out of a directory.

Operations are `write` (atomic: a temporary file in the same directory, fsync, rename — a reader
never sees half a file), `read` (rows plus every bad row with its file and line) and `archive`
(move a processed file to an archive directory). File names come from templates of the input;
interpolated values are sanitised and can never name another directory.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import anyio
import orjson
from pydantic import Field, model_validator

from runtime.connectors._file_formats import (
    SUFFIXES,
    ColumnType,
    Format,
    RowsError,
    parse_file,
    serialise,
)
from runtime.connectors._file_io import move_no_clobber, write_atomic
from runtime.connectors._file_source import FileDropConfig, FileDropSource
from runtime.connectors._sources import compile_mapping
from runtime.connectors.base import CallRequest, ConnectorCompiler, ConnectorConfig, connector_kind
from runtime.connectors.secrets import connector_error, resolve_setting
from runtime.errors import ConnectorError
from runtime.expressions.compiled import CompiledValue, InterpolatedString
from runtime.expressions.compiled import Literal as Static
from runtime.spec.common import Identifier, SpecModel, Value

_UNSAFE = re.compile(r"[^\w.\-+=@,]")
_TRANSIENT_ERRNOS = {errno.EAGAIN, errno.EBUSY, errno.EINTR, errno.ETIMEDOUT, errno.ENOSPC}

FILE_NAME = Field(
    description="File name in the directory; `${ input.… }` interpolates (values are sanitised: "
    "a `/`, `\\` or `..` in a value fails the call).",
    examples=["invoices-${ input.period }.csv"],
)
FORMAT = Field(
    default=None, description="`csv`, `jsonl` or `json`; omitted: from the file name's extension."
)


class FileWrite(SpecModel):
    """Write one file atomically: rows (CSV, JSON Lines) or a document (JSON)."""

    file: str = FILE_NAME
    format: Format | None = FORMAT
    content: Value = Field(
        default="${ input.content }",
        description="What to write: a list of objects (csv), a list of values (jsonl), any JSON (json).",
    )
    columns: list[str] | None = Field(
        default=None, description="CSV columns in order; omitted: every key, in first-seen order."
    )
    if_exists: Literal["replace", "error"] = Field(
        default="replace", description="`replace` an existing file, or fail (`connector.exists`)."
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")


class FileRead(SpecModel):
    """Read one file: `{file, rows: [...], errors: [{file, line, message}]}`."""

    file: str = FILE_NAME
    format: Format | None = FORMAT
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    types: dict[str, ColumnType] = Field(
        default_factory=dict,
        description="CSV column -> `string`, `integer`, `number`, `boolean` or `json`; a value "
        "that does not convert makes its row an error. Empty cells become null.",
    )
    required: list[str] = Field(
        default_factory=list, description="CSV columns that must not be empty."
    )
    missing: Literal["error", "null"] = Field(
        default="error", description="A missing file: fail (`connector.not_found`) or return null."
    )


class FileArchive(SpecModel):
    """Move a processed file out of the directory; a name taken there gets a numeric suffix."""

    file: str = FILE_NAME
    to: str = Field(
        description="Archive directory: relative to the workspace, absolute, or `env:NAME`.",
        examples=["data/archive"],
    )


class FileOperationConfig(SpecModel):
    """One operation; its kind is its key: `write`, `read` or `archive`."""

    write: FileWrite | None = Field(default=None, description="Write a file.")
    read: FileRead | None = Field(default=None, description="Read a file.")
    archive: FileArchive | None = Field(default=None, description="Archive a file.")

    @model_validator(mode="after")
    def _one_kind(self) -> FileOperationConfig:
        given = [k for k in ("write", "read", "archive") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of write, read, archive (got {given or 'none'})")
        return self


class FileConnectorConfig(ConnectorConfig):
    """A directory of data files (a drop folder, an export share)."""

    kind_name = "file"
    kind: Literal["file"] = Field(description="`file`.")
    directory: str = Field(
        description="The directory: relative to the workspace, absolute, or `env:NAME`.",
        examples=["data/outbox", "env:SEAMLINE_EXPORT_DIR"],
    )
    operations: dict[Identifier, FileOperationConfig] = Field(
        default_factory=dict, description="Operation name -> write, read or archive."
    )
    sources: dict[Identifier, FileDropConfig] = Field(
        default_factory=dict,
        description="Source name -> files dropped into the directory, each row an event "
        "(`seamline sources` shows what each took in).",
    )


def _bad_path(message: str) -> ConnectorError:
    return connector_error(message, transient=False, error_class="bad_path")


def _clean(value: Any) -> str:
    text = (
        value if isinstance(value, str) else "" if value is None else orjson.dumps(value).decode()
    )
    if any(ch in text for ch in "/\\\x00"):
        raise _bad_path(f"file name value {text!r} contains a path separator")
    return _UNSAFE.sub("_", text)


def render_name(template: CompiledValue, payload: Any) -> str:
    """The file name for one call: interpolated values sanitised, the result one plain name."""
    doc = {"input": payload}
    if isinstance(template, InterpolatedString):
        name = "".join(
            part if isinstance(part, str) else _clean(part.evaluate(doc)) for part in template.parts
        )
    elif isinstance(template, Static):
        name = str(template.value)
    else:
        name = _clean(template.evaluate(doc))
    if name in ("", ".", "..") or name.startswith(".") or any(c in name for c in "/\\\x00"):
        raise _bad_path(f"{name!r} is not a plain file name")
    if len(name.encode()) > 255:
        raise _bad_path(f"file name {name[:40]!r}… is longer than 255 bytes")
    return name


def _io_error(ref: str, exc: OSError) -> ConnectorError:
    return connector_error(
        f"{ref}: {exc.strerror or exc} ({Path(exc.filename).name if exc.filename else ''})",
        transient=exc.errno in _TRANSIENT_ERRNOS,
        error_class="io",
    )


@dataclass
class FileOperation:
    connector: FileConnector
    name: str
    action: str
    file: CompiledValue
    config: Any
    format: Format | None = None
    content: CompiledValue | None = None

    @property
    def ref(self) -> str:
        return f"{self.connector.name}.{self.name}"

    async def invoke(self, request: CallRequest) -> Any:
        name = render_name(self.file, request.payload)
        directory = self.connector.path(self.connector.directory)
        content = (
            self.content.evaluate({"input": request.payload}) if self.content is not None else None
        )
        try:
            return await anyio.to_thread.run_sync(self._run, directory, name, content)
        except OSError as exc:
            raise _io_error(self.ref, exc) from exc

    def _run(self, directory: Path, name: str, content: Any) -> Any:
        if self.action == "write":
            return self._write(directory, name, content)
        if self.action == "read":
            return self._read(directory / name, name)
        return self._archive(directory / name, name)

    def _write(self, directory: Path, name: str, content: Any) -> dict[str, Any]:
        config: FileWrite = self.config
        assert self.format is not None
        try:
            data, rows = serialise(content, self.format, config.columns, config.delimiter)
        except (RowsError, TypeError) as exc:
            raise connector_error(
                f"{self.ref}: {exc}", transient=False, error_class="bad_content"
            ) from exc
        try:
            target = write_atomic(directory, name, data, replace=config.if_exists == "replace")
        except FileExistsError as exc:
            raise connector_error(
                f"{self.ref}: {name} exists already", transient=False, error_class="exists"
            ) from exc
        return {
            "file": name,
            "path": str(target),
            "format": self.format,
            "rows": rows,
            "bytes": len(data),
        }

    def _read(self, path: Path, name: str) -> dict[str, Any] | None:
        config: FileRead = self.config
        try:
            raw = path.read_bytes()
        except FileNotFoundError as exc:
            if config.missing == "null":
                return None
            raise connector_error(
                f"{self.ref}: no file {name}", transient=False, error_class="not_found"
            ) from exc
        assert self.format is not None
        parsed = parse_file(
            raw,
            name,
            self.format,
            delimiter=config.delimiter,
            types=dict(config.types),
            required=config.required,
        )
        return parsed.to_dict()

    def _archive(self, source: Path, name: str) -> dict[str, Any]:
        config: FileArchive = self.config
        archive = self.connector.path(config.to)
        if not source.exists():
            if (archive / name).exists():  # a retried call after the move succeeded
                return {"file": name, "archived": str(archive / name), "already": True}
            raise connector_error(
                f"{self.ref}: no file {name}", transient=False, error_class="not_found"
            )
        target = move_no_clobber(source, archive)
        return {"file": name, "archived": str(target), "already": False}


@dataclass
class FileConnector:
    name: str
    directory: str
    root: Path
    operations: dict[str, FileOperation] = field(default_factory=dict)
    sources: dict[str, FileDropSource] = field(default_factory=dict)
    kind: str = "file"

    def operation(self, name: str) -> FileOperation | None:
        return self.operations.get(name)

    def operation_names(self) -> list[str]:
        return sorted(self.operations)

    def path(self, setting: str) -> Path:
        """A configured directory: `env:NAME` read now, relative ones under the workspace."""
        folder = Path(resolve_setting(setting))
        return folder if folder.is_absolute() else self.root / folder

    async def aclose(self) -> None:
        return None


def _format(
    given: Format | None,
    file: str,
    cc: ConnectorCompiler,
    path: tuple[str | int, ...],
    field_name: str = "file",
) -> Format | None:
    if given is not None:
        return given
    suffix = Path(file.rstrip("}").strip()).suffix.lower() if "." in file else ""
    found = SUFFIXES.get(suffix)
    if found is None:
        cc.error(
            (*path, field_name),
            "connector.file_format",
            f"cannot tell the format of {file!r} from its extension",
            "add `format: csv`, `jsonl` or `json`",
        )
    return found


@connector_kind(
    FileConnectorConfig,
    summary="Reads and writes CSV, JSON Lines and JSON files in a directory: atomic writes, "
    "bad rows reported with file and line, processed files archived.",
)
def create_file(config: FileConnectorConfig, cc: ConnectorCompiler) -> FileConnector:
    connector = FileConnector(config.connector, config.directory, cc.root)
    for name, op in config.operations.items():
        action = "write" if op.write else "read" if op.read else "archive"
        spec: Any = op.write or op.read or op.archive
        path = ("operations", name, action)
        file = cc.value(spec.file, (*path, "file"))
        literal = (
            [p for p in file.parts if isinstance(p, str)]
            if isinstance(file, InterpolatedString)
            else ([file.value] if isinstance(file, Static) and isinstance(file.value, str) else [])
        )
        if any(c in part for part in literal for c in "/\\"):
            cc.error(
                (*path, "file"),
                "connector.bad_path",
                "a file name, not a path",
                "put the folder in the connector's `directory` (or an archive's `to`)",
            )
        fmt = _format(spec.format, spec.file, cc, path) if action != "archive" else None
        connector.operations[name] = FileOperation(
            connector=connector,
            name=name,
            action=action,
            file=file,
            config=spec,
            format=fmt,
            content=cc.value(spec.content, (*path, "content")) if action == "write" else None,
        )
    for name, drop in config.sources.items():
        path = ("sources", name)
        mapping = compile_mapping(drop, cc, path, roots=("row", "file"))
        if any(c in drop.pattern for c in "/\\"):
            cc.error(
                (*path, "pattern"),
                "connector.bad_path",
                "a file name pattern, not a path",
                "put the folder in the connector's `directory`",
            )
            continue
        fmt = _format(drop.format, drop.pattern, cc, path, "pattern")
        if fmt is None:
            continue
        connector.sources[name] = FileDropSource(
            connector=connector,
            name=name,
            event_type=drop.emit,
            every=cc.duration(drop.every) or 60.0,
            mapping=mapping,
            pattern=drop.pattern,
            format=fmt,
            archive=drop.archive,
            settle=cc.duration(drop.settle) or 0.0,
            max_files=drop.max_files,
            max_bytes=drop.max_bytes,
            delimiter=drop.delimiter,
            types=dict(drop.types),
            required=tuple(drop.required),
        )
    return connector

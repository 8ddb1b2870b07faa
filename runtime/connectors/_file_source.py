"""The file-drop source: files that land in a directory become events, one per row.

Polled every `every`: a file is picked up once it has not changed for `settle` (a writer still
copying it is left alone; hidden and temporary files never), oldest first. Its rows and its
bad rows (with file and line) are committed in one store transaction together with a ledger
entry naming the file and its SHA-256, then the file is moved to the archive directory. A
crash before the commit reads the file again; after it, the ledger says the file was taken in
and the next poll only archives it. The same file dropped again is taken in once.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from pydantic import Field

from runtime.connectors._file_formats import ColumnType, Format, parse_file
from runtime.connectors._file_io import move_no_clobber
from runtime.connectors._sources import SourceConfig
from runtime.connectors.base import SourceMapping, SourceRead, SourceRecord
from runtime.spec.common import Duration

if TYPE_CHECKING:
    from runtime.connectors.file import FileConnector

_TEMPORARY = (".tmp", ".part", ".partial", ".crdownload", "~", ".swp")


class FileDropConfig(SourceConfig):
    """Files dropped into the connector's directory: each row becomes an event."""

    pattern: str = Field(
        description="Which files (a glob on the file name, in the connector's directory).",
        examples=["timesheets-*.csv", "*.jsonl"],
    )
    format: Format | None = Field(
        default=None, description="`csv`, `jsonl` or `json`; omitted: from `pattern`'s extension."
    )
    delimiter: str = Field(default=",", min_length=1, max_length=1, description="CSV delimiter.")
    types: dict[str, ColumnType] = Field(
        default_factory=dict,
        description="CSV column -> `string`, `integer`, `number`, `boolean` or `json`; a value "
        "that does not convert makes its row a reject.",
    )
    required: list[str] = Field(
        default_factory=list, description="CSV columns that must not be empty."
    )
    archive: str = Field(
        description="Where a file goes once taken in: relative to the workspace, absolute, or "
        "`env:NAME`; a name taken there gets a numeric suffix.",
        examples=["data/inbox/processed"],
    )
    settle: Duration = Field(
        default="2s",
        description="A file is read only when it has not been modified for this long.",
    )
    max_files: int = Field(default=100, ge=1, description="Files read per poll at most.")
    max_bytes: int = Field(
        default=64 * 2**20,
        ge=1,
        description="A bigger file is not read: it is rejected whole (and archived).",
    )


@dataclass
class FileDropSource:
    connector: FileConnector
    name: str
    event_type: str
    every: float
    mapping: SourceMapping
    pattern: str
    format: Format
    archive: str
    settle: float
    max_files: int
    max_bytes: int
    delimiter: str = ","
    types: dict[str, ColumnType] | None = None
    required: tuple[str, ...] = ()
    uses_cursor: bool = False

    @property
    def ref(self) -> str:
        return f"{self.connector.name}.{self.name}"

    def start_cursor(self) -> Any:
        return None

    async def reads(self, cursor: Any) -> AsyncIterator[SourceRead]:
        directory = self.connector.path(self.connector.directory)
        for path in await anyio.to_thread.run_sync(self._ready, directory):
            read = await anyio.to_thread.run_sync(self._read, path)
            if read is not None:
                yield read

    async def taken_in(self, read: SourceRead) -> None:
        name = read.label
        directory = self.connector.path(self.connector.directory)
        archive = self.connector.path(self.archive)
        await anyio.to_thread.run_sync(_archive, directory / name, archive, read.item)

    def _ready(self, directory: Path) -> list[Path]:
        """Files matching the pattern that nobody is writing any more, oldest first."""
        if not directory.is_dir():
            raise FileNotFoundError(2, "the drop directory does not exist", str(directory))
        cutoff = time.time() - self.settle
        found = []
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or name.endswith(_TEMPORARY):
                    continue
                if not fnmatchcase(name, self.pattern) or not entry.is_file(follow_symlinks=False):
                    continue
                stat = entry.stat(follow_symlinks=False)
                if stat.st_mtime <= cutoff:
                    found.append((stat.st_mtime, name, Path(entry.path)))
        found.sort()
        return [path for _, _, path in found[: self.max_files]]

    def _read(self, path: Path) -> SourceRead | None:
        try:
            size = path.stat().st_size
            if size > self.max_bytes:
                item = f"{path.name}@size:{size}:{path.stat().st_mtime_ns}"
                message = f"the file is {size:,} bytes, more than max_bytes ({self.max_bytes:,})"
                return SourceRead([], [(f"{path.name}", message, None)], item=item, label=path.name)
            raw = path.read_bytes()
        except FileNotFoundError:  # taken by another poller, or moved away meanwhile
            return None
        digest = hashlib.sha256(raw).hexdigest()[:16]
        parsed = parse_file(
            raw,
            path.name,
            self.format,
            delimiter=self.delimiter,
            types=dict(self.types or {}),
            required=self.required,
        )
        records = []
        for index, (line, row) in enumerate(zip(parsed.lines, parsed.rows, strict=True)):
            where = f"{path.name}:{line}" if line else f"{path.name}[{index}]"
            position = line or index
            records.append(
                SourceRecord(
                    where,
                    row,
                    f"{path.name}@{digest}:{position}",
                    {"file": {"name": path.name, "line": line or None, "index": index}},
                )
            )
        unreadable = [
            (f"{e['file']}:{e['line']}", e["message"], _raw_line(raw, e["line"]))
            for e in parsed.errors
        ]
        return SourceRead(records, unreadable, item=f"{path.name}@{digest}", label=path.name)


def _raw_line(raw: bytes, line: int) -> str | None:
    """The text of a bad line, kept with its reject (cut at 2,000 characters)."""
    lines = raw.split(b"\n")
    if not 1 <= line <= len(lines):
        return None
    return lines[line - 1].decode("utf-8", "replace").rstrip("\r")[:2000]


def _archive(source: Path, archive: Path, item: str | None) -> None:
    if not source.exists():
        return  # archived already (a second call after a crash, or another poller)
    if item is not None and "@size:" not in item:
        # only move the content that was taken in: a file rewritten since is read again
        digest = item.rsplit("@", 1)[-1]
        if hashlib.sha256(source.read_bytes()).hexdigest()[:16] != digest:
            return
    move_no_clobber(source, archive)

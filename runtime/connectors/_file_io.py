"""Durable file moves: an atomic write (temp file + fsync + rename) and a no-clobber move."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every platform can open a directory
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(directory: Path, name: str, data: bytes, *, replace: bool) -> Path:
    """Write `data` to directory/name so that it appears whole or not at all."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temp, target)
        else:
            os.link(temp, target)  # atomic and never overwrites: FileExistsError if taken
            os.unlink(temp)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    _fsync_dir(directory)
    return target


def _free_name(directory: Path, name: str, attempt: int) -> Path:
    if attempt == 0:
        return directory / name
    stem, dot, suffix = name.partition(".")
    return directory / f"{stem}-{attempt}{dot}{suffix}"


def move_no_clobber(source: Path, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for attempt in range(10_000):
        target = _free_name(directory, source.name, attempt)
        try:
            os.link(source, target)
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            if target.exists():
                continue
            shutil.move(source, target)  # another filesystem: copy, then remove
            break
        os.unlink(source)
        break
    else:  # pragma: no cover - 10 000 files of one name
        raise FileExistsError(errno.EEXIST, "no free archive name", source.name)
    _fsync_dir(directory)
    _fsync_dir(source.parent)
    return target

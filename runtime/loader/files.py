"""Reading workspace files: relative names and YAML with every problem collected."""

from __future__ import annotations

import os
from pathlib import Path

from runtime.errors import Diagnostic
from runtime.loader.source import YamlDocument, YamlLoadError, parse_yaml


def relative_name(root: Path, path: Path) -> str:
    # the string prefix answers for every file under root (Path.relative_to is ~10x slower,
    # and a workspace check names every file twice)
    text, base = str(path), str(root)
    if text.startswith(base) and text[len(base) : len(base) + 1] == os.sep:
        return text[len(base) + 1 :]
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def parse_file(root: Path, file: Path, problems: list[Diagnostic]) -> YamlDocument | None:
    try:
        return parse_yaml(file.read_text(encoding="utf-8"), relative_name(root, file))
    except YamlLoadError as exc:
        problems.extend(exc.diagnostics)
    except UnicodeDecodeError as exc:
        problems.append(
            Diagnostic(
                relative_name(root, file),
                1,
                1,
                "",
                "file.encoding",
                f"not UTF-8 text: {exc.reason}",
                "save the file as UTF-8",
            )
        )
    return None

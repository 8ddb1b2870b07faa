"""YAML with positions: every value and key keeps its (line, col), duplicate keys are errors.

Booleans follow YAML 1.2 (only true/false), so the `on:` key stays a string, and dates stay
strings, so every document is plain JSON data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runtime.errors import Diagnostic, YamlPath, format_yaml_path
from runtime.loader._yaml import (
    MERGE_TAG,
    PLAIN_TAGS,
    NotPlain,
    build_plain,
    compose,
    key_text,
)


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based
    style: str | None = None  # the scalar's quote style: None, "'", '"', "|", ">"
    index: int = field(default=0, compare=False)  # character offset of the node in the file


class SourceMap:
    """Where each YAML path sits in its file.

    A file that loaded cleanly records no positions while it loads: most files never report a
    problem, so `values` and `keys` are worked out from `text` the first time they are read.
    """

    def __init__(
        self,
        file: str,
        values: dict[YamlPath, Position] | None = None,
        keys: dict[YamlPath, Position] | None = None,
        text: str = "",
        *,
        lazy: bool = False,
    ) -> None:
        self.file = file
        self.text = text
        self._values = values if values is not None else {}
        self._keys = keys if keys is not None else {}
        self._lazy = lazy

    def __repr__(self) -> str:
        return f"{type(self).__name__}(file={self.file!r})"

    @property
    def values(self) -> dict[YamlPath, Position]:
        if self._lazy:
            self._fill()
        return self._values

    @property
    def keys(self) -> dict[YamlPath, Position]:
        if self._lazy:
            self._fill()
        return self._keys

    def _fill(self) -> None:
        node, loader = compose(self.text)
        walker = _Walker(loader, SourceMap(self.file, text=self.text))
        walker.build(node, ())
        self._values, self._keys = walker.source_map._values, walker.source_map._keys
        self._lazy = False

    def locate(self, path: YamlPath, value: str, offset: int) -> tuple[int, int]:
        """(line, col) in the file of character `offset` of the scalar `value` at `path`.

        Follows the scalar through its source form: quotes, escapes, folded plain lines and
        the indentation of `|`/`>` blocks, so an error deep in a multi-line value is exact.
        """
        pos = self.value_at(path)
        src = self.text
        if not src or pos.index >= len(src):
            return pos.line, pos.col
        j = pos.index
        block_indent = None
        if pos.style in ("'", '"'):
            j += 1
        elif pos.style in ("|", ">"):
            newline = src.find("\n", j)
            if newline < 0:
                return pos.line, pos.col
            j = newline + 1
            block_indent = len(src[j:]) - len(src[j:].lstrip(" "))
            j += block_indent
        for ch in value[:offset]:
            if j >= len(src):
                break
            if src[j] in "\r\n" and ch in " \n":
                j += 2 if src.startswith("\r\n", j) else 1
                if block_indent is not None:
                    j += min(block_indent, len(src[j:]) - len(src[j:].lstrip(" ")))
                else:
                    while j < len(src) and src[j] in " \t":
                        j += 1
            elif pos.style == '"' and src[j] == "\\" and ch != "\\":
                j += 2  # an escape sequence is two characters in the file, one in the value
            else:
                j += 1
        line = src.count("\n", 0, j) + 1
        col = j - (src.rfind("\n", 0, j) + 1) + 1
        return line, col

    def file_at(self, path: YamlPath) -> str:
        """The file the value at `path` was written in (one file, except for merged variants)."""
        return self.file

    def value_at(self, path: YamlPath) -> Position:
        """The position of the value at `path`, or of its nearest ancestor that exists."""
        values = self.values
        probe = tuple(path)
        while probe:
            if probe in values:
                return values[probe]
            probe = probe[:-1]
        return values.get((), Position(1, 1))

    def key_at(self, path: YamlPath) -> Position:
        return self.keys.get(tuple(path)) or self.value_at(path)

    def diagnostic(
        self,
        path: YamlPath,
        code: str,
        message: str,
        hint: str | None = None,
        *,
        at_key: bool = False,
        col_offset: int = 0,
        line_offset: int = 0,
    ) -> Diagnostic:
        pos = self.key_at(path) if at_key else self.value_at(path)
        return Diagnostic(
            file=self.file,
            line=pos.line + line_offset,
            col=pos.col + col_offset,
            yaml_path=format_yaml_path(path),
            code=code,
            message=message,
            hint=hint,
        )


@dataclass
class YamlDocument:
    data: Any
    source_map: SourceMap


class YamlLoadError(Exception):
    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = diagnostics
        super().__init__("; ".join(str(d) for d in diagnostics))


def _pos(node: yaml.Node) -> Position:
    mark = node.start_mark
    style = getattr(node, "style", None) or None  # libyaml says "" for plain scalars
    return Position(mark.line + 1, mark.column + 1, style, mark.index)


_PARSED: dict[tuple[str, str], YamlDocument] = {}


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document into JSON data plus a SourceMap; raise YamlLoadError.

    Documents are cached by file name and content, so a reload re-parses only changed files;
    callers treat the data as read-only (merging variants copies it)."""
    key = (file, hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest())
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    document = _parse_yaml(text, file)
    if len(_PARSED) > 4096:
        _PARSED.clear()
    _PARSED[key] = document
    return document


def _parse_yaml(text: str, file: str) -> YamlDocument:
    try:
        node, loader = compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context and "single document" in exc.context:
            problem = f"{exc.context}, {problem}"
        elif exc.context:
            problem = f"{problem} ({exc.context})"
        raise YamlLoadError(
            [
                Diagnostic(
                    file,
                    line,
                    col,
                    "",
                    "yaml.syntax",
                    f"YAML syntax error: {problem}",
                    "check indentation and quoting; a value containing ': ' or '#' needs quotes",
                )
            ]
        ) from exc
    if node is None:
        return YamlDocument(None, SourceMap(file, {(): Position(1, 1)}, text=text))
    try:
        return YamlDocument(build_plain(node, loader), SourceMap(file, text=text, lazy=True))
    except NotPlain:
        pass
    # merge keys, duplicates or unsupported values: build again, recording every position
    walker = _Walker(loader, SourceMap(file, text=text))
    data = walker.build(node, ())
    if walker.problems:
        raise YamlLoadError(walker.problems)
    return YamlDocument(data, walker.source_map)


class _Walker:
    """Builds a document's data recording the position of every value and key, and reports
    duplicate keys and unsupported values."""

    def __init__(self, loader: Any, source_map: SourceMap) -> None:
        self.loader = loader
        self.source_map = source_map
        self.problems: list[Diagnostic] = []

    def unsupported(self, path: YamlPath, what: str) -> None:
        self.problems.append(
            self.source_map.diagnostic(
                path,
                "yaml.unsupported_value",
                f"unsupported YAML {what}",
                "use plain strings, numbers, booleans, null, lists and mappings",
            )
        )

    def build(self, n: yaml.Node, path: YamlPath) -> Any:
        source_map = self.source_map
        source_map._values[path] = _pos(n)  # noqa: SLF001 - filled while walking
        if isinstance(n, yaml.MappingNode):
            if n.tag != "tag:yaml.org,2002:map":
                self.unsupported(path, f"value of type {n.tag.rsplit(':', 1)[-1]}")
                return None
            explicit = sum(1 for key_node, _ in n.value if key_node.tag != MERGE_TAG)
            self.loader.flatten_mapping(n)
            merged = len(n.value) - explicit  # entries pulled in by `<<:`, which keys may override
            out: dict[str, Any] = {}
            explicit_keys: set[str] = set()
            for index, (key_node, value_node) in enumerate(n.value):
                key = key_text(self.scalar_key(key_node))
                child = (*path, key)
                if index >= merged:
                    if key in explicit_keys:
                        first = source_map._keys[child]  # noqa: SLF001
                        self.problems.append(
                            source_map.diagnostic(
                                child,
                                "yaml.duplicate_key",
                                f"duplicate key {key!r} (first defined at line {first.line})",
                                "a key may appear once per mapping; merge the two entries",
                            )._replace_pos(_pos(key_node))
                        )
                        continue
                    explicit_keys.add(key)
                source_map._keys[child] = _pos(key_node)  # noqa: SLF001
                out[key] = self.build(value_node, child)
            return out
        if isinstance(n, yaml.SequenceNode):
            if n.tag != "tag:yaml.org,2002:seq":
                self.unsupported(path, f"value of type {n.tag.rsplit(':', 1)[-1]}")
                return None
            return [self.build(item, (*path, i)) for i, item in enumerate(n.value)]
        if n.tag not in PLAIN_TAGS:
            name = n.tag.rsplit(":", 1)[-1] if n.tag.startswith("tag:yaml.org,2002:") else None
            if name in ("binary", "timestamp", "set", "omap", "pairs"):
                shown = {"binary": "bytes", "timestamp": "date"}.get(name, name)
                self.unsupported(path, f"value of type {shown}")
            else:
                self.unsupported(path, f"tag {n.tag!r}")
            return None
        return self.loader.construct_object(n, deep=True)

    def scalar_key(self, key_node: yaml.Node) -> Any:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag in PLAIN_TAGS:
            return self.loader.construct_object(key_node, deep=True)
        return getattr(key_node, "value", "?") if isinstance(key_node, yaml.ScalarNode) else "?"


def load_yaml_file(path: Path, display_name: str) -> YamlDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), display_name)

"""YAML with positions: every value and key keeps its (line, col), duplicate keys are errors.

Booleans follow YAML 1.2 (only true/false), so the `on:` key stays a string, and dates stay
strings, so every document is plain JSON data.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runtime.errors import Diagnostic, YamlPath, format_yaml_path


class _JsonResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema resolution (no yes/no/on/off booleans, no timestamps)."""


# YAML 1.1 types that JSON and YAML 1.2 do not have (sexagesimal 10:30, octal 010, `=`,
# yes/no booleans, timestamps) are dropped; the 1.2 core forms are added back below.
_YAML_1_1_ONLY = ("bool", "int", "float", "timestamp", "value")
_JsonResolver.yaml_implicit_resolvers = {
    first: [
        (tag, regexp) for tag, regexp in resolvers if tag.rsplit(":", 1)[-1] not in _YAML_1_1_ONLY
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789")
)
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+(?=[eE]))(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)

_PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _key_text(key: Any) -> str:
    """Non-string keys become their JSON text: `true:` is "true", `1:` is "1"."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    return str(key)


class _PositionLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    yaml.constructor.SafeConstructor,
    _JsonResolver,
):
    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        _JsonResolver.__init__(self)


try:  # libyaml, when PyYAML was built with it
    from yaml.cyaml import CParser as _CParser
except ImportError:  # pragma: no cover - PyYAML wheels ship libyaml
    _CParser = None  # type: ignore[assignment,misc]

if _CParser is not None:

    class _FastPositionLoader(  # type: ignore[valid-type,misc]
        _CParser, yaml.constructor.SafeConstructor, _JsonResolver
    ):
        """The same nodes and marks as _PositionLoader, composed by libyaml (~10x faster)."""

        def __init__(self, stream: str) -> None:
            _CParser.__init__(self, stream)
            yaml.constructor.SafeConstructor.__init__(self)
            _JsonResolver.__init__(self)


def _compose(text: str) -> tuple[Any, yaml.constructor.SafeConstructor]:
    """The document's node and the loader that made it (for constructing scalars).

    libyaml composes when it can; a document it refuses is composed again by the pure-Python
    loader, so syntax errors keep PyYAML's wording and positions.
    """
    if _CParser is not None:
        fast = _FastPositionLoader(text)
        try:
            return fast.get_single_node(), fast
        except yaml.YAMLError:
            pass
        finally:
            fast.dispose()
    loader = _PositionLoader(text)
    try:
        return loader.get_single_node(), loader
    finally:
        loader.dispose()


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based
    style: str | None = None  # the scalar's quote style: None, "'", '"', "|", ">"
    index: int = field(default=0, compare=False)  # character offset of the node in the file


@dataclass
class SourceMap:
    """Where each YAML path sits in its file."""

    file: str
    values: dict[YamlPath, Position] = field(default_factory=dict)
    keys: dict[YamlPath, Position] = field(default_factory=dict)
    text: str = field(default="", repr=False)

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
        probe = tuple(path)
        while probe:
            if probe in self.values:
                return self.values[probe]
            probe = probe[:-1]
        return self.values.get((), Position(1, 1))

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
        node, loader = _compose(text)
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
    source_map = SourceMap(file, text=text)
    problems: list[Diagnostic] = []
    if node is None:
        source_map.values[()] = Position(1, 1)
        return YamlDocument(None, source_map)

    def unsupported(path: YamlPath, what: str) -> None:
        problems.append(
            source_map.diagnostic(
                path,
                "yaml.unsupported_value",
                f"unsupported YAML {what}",
                "use plain strings, numbers, booleans, null, lists and mappings",
            )
        )

    def build(n: yaml.Node, path: YamlPath) -> Any:
        source_map.values[path] = _pos(n)
        if isinstance(n, yaml.MappingNode):
            if n.tag != "tag:yaml.org,2002:map":
                unsupported(path, f"value of type {n.tag.rsplit(':', 1)[-1]}")
                return None
            explicit = sum(1 for key_node, _ in n.value if key_node.tag != _MERGE_TAG)
            loader.flatten_mapping(n)
            merged = len(n.value) - explicit  # entries pulled in by `<<:`, which keys may override
            out: dict[str, Any] = {}
            explicit_keys: set[str] = set()
            for index, (key_node, value_node) in enumerate(n.value):
                key = _key_text(build_scalar_key(key_node))
                child = (*path, key)
                if index >= merged:
                    if key in explicit_keys:
                        first = source_map.keys[child]
                        problems.append(
                            source_map.diagnostic(
                                child,
                                "yaml.duplicate_key",
                                f"duplicate key {key!r} (first defined at line {first.line})",
                                "a key may appear once per mapping; merge the two entries",
                            )._replace_pos(_pos(key_node))
                        )
                        continue
                    explicit_keys.add(key)
                source_map.keys[child] = _pos(key_node)
                out[key] = build(value_node, child)
            return out
        if isinstance(n, yaml.SequenceNode):
            if n.tag != "tag:yaml.org,2002:seq":
                unsupported(path, f"value of type {n.tag.rsplit(':', 1)[-1]}")
                return None
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        if n.tag not in _PLAIN_TAGS:
            name = n.tag.rsplit(":", 1)[-1] if n.tag.startswith("tag:yaml.org,2002:") else None
            if name in ("binary", "timestamp", "set", "omap", "pairs"):
                shown = {"binary": "bytes", "timestamp": "date"}.get(name, name)
                unsupported(path, f"value of type {shown}")
            else:
                unsupported(path, f"tag {n.tag!r}")
            return None
        return loader.construct_object(n, deep=True)

    def build_scalar_key(key_node: yaml.Node) -> Any:
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag in _PLAIN_TAGS:
            return loader.construct_object(key_node, deep=True)
        return getattr(key_node, "value", "?") if isinstance(key_node, yaml.ScalarNode) else "?"

    data = build(node, ())
    if problems:
        raise YamlLoadError(problems)
    return YamlDocument(data, source_map)


def load_yaml_file(path: Path, display_name: str) -> YamlDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), display_name)

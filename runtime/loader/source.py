"""YAML with positions: every value and key keeps its (line, col), duplicate keys are errors.

Booleans follow YAML 1.2 (only true/false), so the `on:` key stays a string, and dates stay
strings, so every document is plain JSON data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from runtime.errors import Diagnostic, YamlPath, format_yaml_path


class _JsonResolver(yaml.resolver.Resolver):
    """YAML 1.2 core schema resolution (no yes/no/on/off booleans, no timestamps)."""


_JsonResolver.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
    ]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_JsonResolver.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


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


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    col: int  # 1-based
    style: str | None = None  # the scalar's quote style: None, "'", '"', "|", ">"


@dataclass
class SourceMap:
    """Where each YAML path sits in its file."""

    file: str
    values: dict[YamlPath, Position] = field(default_factory=dict)
    keys: dict[YamlPath, Position] = field(default_factory=dict)

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
    style = getattr(node, "style", None)
    return Position(mark.line + 1, mark.column + 1, style)


def parse_yaml(text: str, file: str) -> YamlDocument:
    """Parse one YAML document into JSON data plus a SourceMap; raise YamlLoadError."""
    loader = _PositionLoader(text)
    try:
        node = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or "invalid YAML"
        if exc.context:
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
    finally:
        loader.dispose()
    source_map = SourceMap(file)
    problems: list[Diagnostic] = []
    if node is None:
        source_map.values[()] = Position(1, 1)
        return YamlDocument(None, source_map)

    def build(n: yaml.Node, path: YamlPath) -> Any:
        source_map.values[path] = _pos(n)
        if isinstance(n, yaml.MappingNode):
            loader.flatten_mapping(n)
            out: dict[str, Any] = {}
            for key_node, value_node in n.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, str):
                    key = str(key) if isinstance(key, int | float | bool) else repr(key)
                child = (*path, key)
                if key in out:
                    first = source_map.keys[child]
                    problems.append(
                        source_map.diagnostic(
                            child,
                            "yaml.duplicate_key",
                            f"duplicate key {key!r} (first defined at line {first.line})",
                            "a key may appear once per mapping; merge the two entries",
                            at_key=False,
                        )._replace_pos(_pos(key_node))
                    )
                    continue
                source_map.keys[child] = _pos(key_node)
                out[key] = build(value_node, child)
            return out
        if isinstance(n, yaml.SequenceNode):
            return [build(item, (*path, i)) for i, item in enumerate(n.value)]
        value = loader.construct_object(n, deep=True)
        if isinstance(value, bytes | set) or not isinstance(
            value, str | int | float | bool | type(None)
        ):
            problems.append(
                source_map.diagnostic(
                    path,
                    "yaml.unsupported_value",
                    f"unsupported YAML value of type {type(value).__name__}",
                    "use plain strings, numbers, booleans, null, lists and mappings",
                )
            )
            return None
        return value

    data = build(node, ())
    if problems:
        raise YamlLoadError(problems)
    return YamlDocument(data, source_map)


def load_yaml_file(path: Path, display_name: str) -> YamlDocument:
    return parse_yaml(path.read_text(encoding="utf-8"), display_name)

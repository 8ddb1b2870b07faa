"""YAML 1.2 core-schema composition (libyaml when available) and the one-pass build of a
clean document into plain data; runtime.loader.source adds positions and diagnostics."""

from __future__ import annotations

import re
from typing import Any

import yaml


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

# first character -> the implicit resolvers to try, in order (BaseResolver.resolve's lookup,
# done once: libyaml calls resolve() for every scalar of every file)
_IMPLICIT: dict[str, tuple[tuple[str, re.Pattern[str]], ...]] = {
    first: (*resolvers, *_JsonResolver.yaml_implicit_resolvers.get(None, []))
    for first, resolvers in _JsonResolver.yaml_implicit_resolvers.items()
    if first is not None
}
_NO_RESOLVERS = tuple(_JsonResolver.yaml_implicit_resolvers.get(None, []))


def _resolve(
    self: yaml.resolver.BaseResolver, kind: Any, value: Any, implicit: tuple[bool, bool]
) -> str:
    """BaseResolver.resolve without path resolvers (this schema has none)."""
    if kind is yaml.ScalarNode:
        if implicit[0]:
            for tag, regexp in _IMPLICIT.get(value[:1], _NO_RESOLVERS):
                if regexp.match(value):
                    return tag
        return "tag:yaml.org,2002:str"
    return yaml.resolver.BaseResolver.resolve(self, kind, value, implicit)


_JsonResolver.resolve = _resolve  # type: ignore[method-assign]

PLAIN_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
}
MERGE_TAG = "tag:yaml.org,2002:merge"


def key_text(key: Any) -> str:
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


def compose(text: str) -> tuple[Any, yaml.constructor.SafeConstructor]:
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


class NotPlain(Exception):
    """The document needs the positioned build (see build_plain)."""


_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS = {
    "tag:yaml.org,2002:int": yaml.constructor.SafeConstructor.construct_yaml_int,
    "tag:yaml.org,2002:float": yaml.constructor.SafeConstructor.construct_yaml_float,
    "tag:yaml.org,2002:bool": yaml.constructor.SafeConstructor.construct_yaml_bool,
    "tag:yaml.org,2002:null": yaml.constructor.SafeConstructor.construct_yaml_null,
}
_ScalarNode, _MappingNode, _SequenceNode = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode


def build_plain(node: yaml.Node, loader: Any) -> Any:
    """The node's data, in one pass with no positions; raises NotPlain for anything but plain
    scalars, mappings and lists with unique keys (what _Walker builds, for the common case)."""
    kind = type(node)
    if kind is _ScalarNode:
        if node.tag == _STR:
            return node.value
        construct = _SCALARS.get(node.tag)
        if construct is None:
            raise NotPlain
        return construct(loader, node)
    if kind is _MappingNode:
        if node.tag != _MAP:
            raise NotPlain
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if type(key_node) is not _ScalarNode:
                raise NotPlain
            if key_node.tag == _STR:
                key = key_node.value
            elif key_node.tag in _SCALARS:
                key = key_text(_SCALARS[key_node.tag](loader, key_node))
            else:
                raise NotPlain  # a merge key, or a tagged key
            if key in out:
                raise NotPlain
            out[key] = build_plain(value_node, loader)
        return out
    if kind is _SequenceNode and node.tag == _SEQ:
        return [build_plain(item, loader) for item in node.value]
    raise NotPlain

"""The event fields a flow reads: paths through its JMESPath expressions and Jinja templates.

A path is a tuple such as ('data', 'lines', '*', 'amount'): `*` is any item of a list (or
value of a mapping). Loop variables resolve to what they iterate (`line` inside
`for_each: data.lines` is `data.lines[*]`), in flows and in `{% for %}` alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, TemplateSyntaxError, nodes

from runtime.expressions.compiled import InterpolationSyntaxError, is_template, split_interpolations
from runtime.expressions.jmes import ExpressionProblem, parse_expression
from runtime.loader.source import SourceMap, YamlDocument

Path_ = tuple[str, ...]
Bindings = dict[str, Path_]
_ROOT: Path_ = ("<root>",)
_BARE = ("if", "for_each", "filter", "key")
_NOT_VALUES = ("id", "description", "as", "steps", "else", "switch", "parallel", "match")


@dataclass(frozen=True)
class Read:
    """An event field read by the flow, and where."""

    path: Path_
    file: str
    line: int
    col: int

    @property
    def text(self) -> str:
        return ".".join(self.path).replace(".*", "[*]")


def jmespath_reads(ast: dict[str, Any], bindings: Bindings) -> tuple[list[Path_], Path_ | None]:
    """(every path read, the path of the expression's value when it is one: for loops)."""
    found: list[Path_] = []

    def res(node: dict[str, Any], cur: Path_ | None) -> Path_ | None:
        kind, children = node["type"], node.get("children", [])
        if kind == "field":
            name = node["value"]
            if cur == _ROOT:
                path = (
                    ("data",)
                    if name == "data"
                    else ("event",)
                    if name == "event"
                    else bindings.get(name)
                )
            else:
                path = None if cur is None else (*cur, name)
            if path is not None:
                found.append(path)
            return path
        if kind in ("subexpression", "pipe"):
            for child in children:
                cur = res(child, cur)
            return cur
        if kind == "index_expression":
            return res(children[1], res(children[0], cur))
        if kind == "index":
            return None if cur in (None, _ROOT) else (*cur, "*")
        if kind in ("slice", "current", "identity"):
            return cur
        if kind == "flatten":
            return res(children[0], cur)
        if kind in ("projection", "filter_projection", "value_projection"):
            left = res(children[0], cur)
            item = None if left in (None, _ROOT) else (*left, "*")
            for child in children[1:]:
                res(child, item)
            keeps_items = children[1]["type"] in ("identity", "current")
            return left if keeps_items and left not in (None, _ROOT) else None
        for child in children:
            if isinstance(child, dict):
                res(child, None if kind == "expref" else cur)
        return None

    result = res(ast, _ROOT)
    return found, None if result == _ROOT else result


def jinja_reads(ast: nodes.Node, bindings: Bindings) -> list[tuple[Path_, int]]:
    found: list[tuple[Path_, int]] = []

    def res(node: nodes.Node, scope: Bindings) -> Path_ | None:
        if isinstance(node, nodes.Name):
            path = {"data": ("data",), "event": ("event",)}.get(node.name) or scope.get(node.name)
            if path is not None:
                found.append((path, node.lineno))
            return path
        if isinstance(node, nodes.Getattr):
            base = res(node.node, scope)
            return _add(base, node.attr, node.lineno)
        if isinstance(node, nodes.Getitem):
            base = res(node.node, scope)
            if isinstance(node.arg, nodes.Const):
                return _add(
                    base, node.arg.value if isinstance(node.arg.value, str) else "*", node.lineno
                )
            res(node.arg, scope)
            return None
        if isinstance(node, nodes.Filter) and node.node is not None:
            base = res(node.node, scope)
            for keyword in node.kwargs:
                if keyword.key == "attribute" and isinstance(keyword.value, nodes.Const) and base:
                    _add((*base, "*"), str(keyword.value.value), node.lineno)
            for child in (*node.args, *node.kwargs):
                res(child, scope)
            return None
        if (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Getattr)
            and node.node.attr == "get"
            and node.args
            and isinstance(node.args[0], nodes.Const)
            and isinstance(node.args[0].value, str)
        ):  # `data.get('key')`: the dict method reads data.key
            base = res(node.node.node, scope)
            for child in node.args[1:]:
                res(child, scope)
            return _add(base, node.args[0].value, node.lineno)
        if isinstance(node, nodes.Test) and node.name in ("defined", "undefined"):
            return None  # a presence check is not a read
        if (
            isinstance(node, nodes.CondExpr)
            and isinstance(node.test, nodes.Test)
            and node.test.name in ("defined", "undefined")
        ):  # `x if x is defined else y`: reading x is guarded
            mark = len(found)
            guarded = res(node.test.node, scope)
            del found[mark:]
            for child in (node.expr1, node.expr2):
                if child is not None:
                    mark = len(found)
                    res(child, scope)
                    found[mark:] = [f for f in found[mark:] if f[0] != guarded]
            return None
        if isinstance(node, nodes.Assign):
            value = res(node.node, scope)
            if isinstance(node.target, nodes.Name) and value is not None:
                scope[node.target.name] = value
            return None
        if isinstance(node, nodes.For):
            source = res(node.iter, scope)
            inner = dict(scope)
            if isinstance(node.target, nodes.Name) and source is not None:
                inner[node.target.name] = (*source, "*")
            for child in (*node.body, *([node.test] if node.test else [])):
                res(child, inner)
            for child in node.else_:
                res(child, scope)
            return None
        for child in node.iter_child_nodes():
            res(child, scope)
        return None

    def _add(base: Path_ | None, key: str, line: int) -> Path_ | None:
        if base is None:
            return None
        path = (*base, key)
        found.append((path, line))
        return path

    res(ast, dict(bindings))
    return found


class FlowReads:
    """Walks a flow document (as written) and collects every event field it reads."""

    def __init__(self, root: Path, doc: YamlDocument) -> None:
        self.root = root
        self.map: SourceMap = doc.source_map
        self.doc = doc
        self.reads: list[Read] = []
        self._env = Environment()

    def collect(self) -> list[Read]:
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        on = data.get("on") if isinstance(data.get("on"), dict) else {}
        if isinstance(on.get("filter"), str):
            self._bare(on["filter"], ("on", "filter"), {})
        if isinstance(data.get("key"), str):
            self._bare(data["key"], ("key",), {})
        for name, value in (data.get("vars") or {}).items():
            self._value(value, ("vars", name), {})
        self._steps(data.get("steps"), ("steps",), {})
        self._value(data.get("output"), ("output",), {})
        return maximal_reads(self.reads)

    def collect_variant(self) -> list[Read]:
        """A variant overlay: its `match`, `vars` and the steps its patch adds or changes."""
        data = self.doc.data if isinstance(self.doc.data, dict) else {}
        if isinstance(data.get("match"), str):
            self._bare(data["match"], ("match",), {})
        for name, value in (data.get("vars") or {}).items():
            self._value(value, ("vars", name), {})
        patch = data.get("patch") if isinstance(data.get("patch"), dict) else {}
        for step_id, fields in (patch.get("replace") or {}).items():
            if isinstance(fields, dict):
                self._step(fields, ("patch", "replace", step_id), {})
        for where in ("insert_before", "insert_after"):
            for step_id, steps in (patch.get(where) or {}).items():
                self._steps(steps, ("patch", where, step_id), {})
        return maximal_reads(self.reads)

    def _steps(self, steps: Any, path: tuple[Any, ...], scope: Bindings) -> None:
        for index, step in enumerate(steps if isinstance(steps, list) else []):
            if isinstance(step, dict):
                self._step(step, (*path, index), scope)

    def _step(self, step: dict[str, Any], path: tuple[Any, ...], scope: Bindings) -> None:
        inner = dict(scope)
        if isinstance(step.get("for_each"), str):
            items = self._bare(step["for_each"], (*path, "for_each"), scope)
            inner.pop("index", None)
            name = step.get("as", "item")
            inner.pop(name, None)
            if items is not None:
                inner[name] = (*items, "*")
        for key, value in step.items():
            where = (*path, key)
            if key == "if":
                self._bare(value, where, scope)
            elif key in ("steps", "else"):
                self._steps(value, where, inner)
            elif key == "switch":
                for arm_index, arm in enumerate(value if isinstance(value, list) else []):
                    if isinstance(arm, dict):
                        self._step(arm, (*where, arm_index), scope)
            elif key == "parallel" and isinstance(value, dict):
                for branch, branch_steps in value.items():
                    self._steps(branch_steps, (*where, branch), scope)
            elif key == "with" and isinstance(value, dict) and set(value) == {"template"}:
                self._file_template(str(value["template"]), inner)
            elif key not in _NOT_VALUES and key != "for_each":
                self._value(value, where, inner if key == "output" else scope)

    def _value(self, value: Any, path: tuple[Any, ...], scope: Bindings) -> None:
        if isinstance(value, dict):
            if set(value) == {"template"} and path[-1:] == ("with",):
                self._file_template(str(value["template"]), scope)
                return
            for key, item in value.items():
                self._value(item, (*path, key), scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._value(item, (*path, index), scope)
        elif isinstance(value, str):
            if is_template(value):
                self._template(value, scope, lambda line: self._at(path, value, 0, line))
            elif "${" in value:
                try:
                    parts = split_interpolations(value)
                except InterpolationSyntaxError:
                    return
                for part in parts:
                    if isinstance(part, tuple):
                        self._expression(part[1], scope, self._at(path, value, part[0]))

    def _bare(self, text: Any, path: tuple[Any, ...], scope: Bindings) -> Path_ | None:
        if not isinstance(text, str):
            return None
        return self._expression(text, scope, self._at(path, text, 0))

    def _expression(self, text: str, scope: Bindings, where: tuple[str, int, int]) -> Path_ | None:
        parsed = parse_expression(text)
        if isinstance(parsed, ExpressionProblem):
            return None
        paths, value = jmespath_reads(parsed.parsed, scope)
        for found in paths:
            self._add(found, where)
        return value

    def _template(
        self, text: str, scope: Bindings, where: Callable[[int], tuple[str, int, int]]
    ) -> None:
        try:
            ast = self._env.parse(text)
        except TemplateSyntaxError:
            return
        for found, line in jinja_reads(ast, scope):
            self._add(found, where(line))

    def _file_template(self, relative: str, scope: Bindings) -> None:
        file = self.root / "flows" / relative
        if not file.is_file():
            return
        rel = f"flows/{relative}"
        self._template(file.read_text(encoding="utf-8"), scope, lambda line: (rel, line, 1))

    def _at(
        self, path: tuple[Any, ...], value: str, offset: int, line: int = 1
    ) -> tuple[str, int, int]:
        row, col = self.map.locate(path, value, offset)
        return self.map.file, row + line - 1, col if line == 1 else 1

    def _add(self, found: Path_, where: tuple[str, int, int]) -> None:
        if found[:2] == ("event", "data"):
            found = found[1:]
        if found[0] == "data" and len(found) > 1:
            self.reads.append(Read(found, *where))


def maximal_reads(reads: list[Read]) -> list[Read]:
    """Each path once (its first place), leaving out paths that a longer one extends."""
    paths = {r.path for r in reads}
    seen: set[Path_] = set()
    out = []
    for read in reads:
        extended = any(p[: len(read.path)] == read.path and len(p) > len(read.path) for p in paths)
        if not extended and read.path not in seen:
            seen.add(read.path)
            out.append(read)
    return out

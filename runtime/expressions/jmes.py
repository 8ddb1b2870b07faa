"""JMESPath, compiled once: parse errors carry their offset, references are checked at load."""

from __future__ import annotations

import os
import re
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jmespath
from jmespath import exceptions as jp_exceptions
from jmespath.parser import ParsedResult, Parser
from jmespath.visitor import Options

from runtime.errors import ExpressionError
from runtime.expressions._jmes_compiler import Evaluator, compile_ast


@dataclass(frozen=True)
class ExpressionProblem:
    """A compile-time problem inside one expression; `offset` is 0-based within the text."""

    offset: int
    code: str
    message: str
    hint: str | None = None


@dataclass(frozen=True)
class Reference:
    """A root name an expression reads (`data`, `steps` …), with the step id for `steps.<id>`."""

    root: str
    step: str | None
    offset: int
    path: tuple[str, ...] = ()


class CompiledExpression:
    """A parsed JMESPath expression bound to the workspace's function table.

    Evaluation runs Python code generated from the AST (`_jmes_compiler`), built on the first
    evaluation and shared by every expression with the same text and options. It agrees with
    the `jmespath` library on results and errors; `native=False` (or the environment variable
    `SEAMLINE_JMESPATH=interpreted`) keeps the library's interpreter instead.
    """

    __slots__ = ("source", "_parsed", "_options", "_evaluate", "_native")

    def __init__(
        self, source: str, parsed: ParsedResult, options: Options, *, native: bool | None = None
    ) -> None:
        self.source = source
        self._parsed = parsed
        self._options = options
        self._native = NATIVE if native is None else native
        self._evaluate: Evaluator = self._first if self._native else self._interpret

    @property
    def native(self) -> bool:
        """True when evaluation runs generated code (False: the library's interpreter)."""
        if self._evaluate == self._first:
            self._evaluate = _native_evaluator(self)
        return self._evaluate != self._interpret

    def inline_ast(self) -> tuple[dict[str, Any], Options] | None:
        """(AST, options) when the expression runs generated code, for writing it inline into
        a value tree's function (`_jmes_values`); None when it runs on the library."""
        if not self._native or self._evaluate == self._interpret:
            return None
        return self._parsed.parsed, self._options

    def _first(self, document: Any) -> Any:
        self._evaluate = _native_evaluator(self)
        return self._evaluate(document)

    def _interpret(self, document: Any) -> Any:
        return self._parsed.search(document, options=self._options)

    def evaluate(self, document: Any) -> Any:
        try:
            return self._evaluate(document)
        except jp_exceptions.JMESPathError as exc:
            raise ExpressionError(
                f"expression `{self.source}` failed: {exc}", source=self.source
            ) from exc
        except (ValueError, LookupError) as exc:
            # custom functions raise their own, already readable, errors
            raise ExpressionError(
                f"expression `{self.source}` failed: {exc}", source=self.source
            ) from exc

    def __reduce__(self) -> tuple[Any, ...]:
        # generated code is not picklable: a copy is rebuilt from the parse, and compiles anew
        return (
            CompiledExpression,
            (self.source, self._parsed, self._options),
            {"_native": self._native},
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._native = state["_native"]
        self._evaluate = self._first if self._native else self._interpret

    def __repr__(self) -> str:
        return f"CompiledExpression({self.source!r})"


# `SEAMLINE_JMESPATH=interpreted` evaluates every expression with the jmespath library (a
# switch for diagnosing a suspected difference; the compliance suite keeps both paths equal).
NATIVE = os.environ.get("SEAMLINE_JMESPATH", "compiled").strip().lower() != "interpreted"

# options object -> {expression text -> generated function, or None if it cannot be compiled}
_generated: weakref.WeakKeyDictionary[Options, dict[str, Evaluator | None]] = (
    weakref.WeakKeyDictionary()
)


def _native_evaluator(expr: CompiledExpression) -> Evaluator:
    """The generated function for `expr`, shared per options object; the library if none."""
    options = expr._options  # noqa: SLF001 - same module
    try:
        cache = _generated.setdefault(options, {})
    except TypeError:  # an options object that cannot be weakly referenced: no sharing
        cache = {}
    if expr.source in cache:
        evaluator = cache[expr.source]
    else:
        evaluator = cache[expr.source] = compile_ast(expr._parsed.parsed, options)  # noqa: SLF001
    return evaluator or expr._interpret  # noqa: SLF001


_parser = Parser()


def parse_expression(source: str) -> ParsedResult | ExpressionProblem:
    """Parse `source`, or describe why it does not parse."""
    if not source.strip():
        return ExpressionProblem(
            0, "expr.empty", "empty expression", "write a JMESPath expression such as data.id"
        )
    try:
        return _parser.parse(source)
    except jp_exceptions.LexerError as exc:
        return ExpressionProblem(
            exc.lex_position or 0,
            "expr.syntax",
            f"JMESPath syntax error: unexpected character {exc.token_value!r}",
            _hint_for(source),
        )
    except jp_exceptions.IncompleteExpressionError as exc:
        return ExpressionProblem(
            exc.lex_position or len(source),
            "expr.syntax",
            "JMESPath syntax error: the expression ends too early",
            _hint_for(source),
        )
    except jp_exceptions.ParseError as exc:
        token = exc.token_value
        return ExpressionProblem(
            exc.lex_position or 0,
            "expr.syntax",
            f"JMESPath syntax error near {token!r}: {exc.msg}",
            _hint_for(source),
        )


def _hint_for(source: str) -> str:
    if "'" in source and "==" in source:
        return "JMESPath string literals use single quotes ('Closed Won'), numbers use backticks (`10`)"
    if '["' in source:
        return 'quote an odd key with double quotes after a dot: steps."my-step"'
    return "see docs/language.md#expressions; literals: 'text', `10`, `true`, `null`"


def compile_expression(
    source: str, options: Options, *, native: bool | None = None
) -> CompiledExpression | ExpressionProblem:
    """Parse and bind `source`; `native` forces generated code (True) or the library (False)."""
    parsed = parse_expression(source)
    if isinstance(parsed, ExpressionProblem):
        return parsed
    return CompiledExpression(source, parsed, options, native=native)


def ast_of(expr: CompiledExpression) -> dict[str, Any]:
    return expr._parsed.parsed  # noqa: SLF001 - the AST is ours to analyse


def _chain(node: dict[str, Any]) -> list[str]:
    """Leading field names of a rooted path: `steps.a.output[0].x` -> ['steps', 'a', 'output']."""
    kind = node["type"]
    if kind == "field":
        return [node["value"]]
    if kind == "index_expression":
        return _chain(node["children"][0])
    if kind != "subexpression":
        return []
    names: list[str] = []
    for child in node["children"]:
        if child["type"] == "field":
            names.append(child["value"])
        elif child["type"] in ("index_expression", "subexpression"):
            names.extend(_chain(child))
            break
        else:
            break
    return names


# What references() and function_calls() find depends on the text alone: workspaces repeat
# expressions (`data.currency` …), so each text is analysed once (bounded; cleared when full).
_ANALYSED_LIMIT = 8192
_references_found: dict[str, tuple[Reference, ...]] = {}
_calls_found: dict[str, tuple[tuple[str, int, int], ...]] = {}


def _remember(cache: dict[str, Any], source: str, found: Any) -> Any:
    if len(cache) >= _ANALYSED_LIMIT:
        cache.clear()
    cache[source] = found
    return found


def references(expr: CompiledExpression) -> Iterator[Reference]:
    """Root names read from the run document, each with its step id when it is `steps.<id>`."""
    found = _references_found.get(expr.source)
    if found is None:
        found = _remember(_references_found, expr.source, tuple(_find_references(expr)))
    return iter(found)


def _occurrences(source: str, names: list[str]) -> list[int]:
    r"""Where `a` (or `a . b`) starts in `source`, not right after a word character or a dot:
    the starts of `re.finditer(r"(?<![\w.])a\s*\.\s*b", source)`, without a regex per name
    (workspaces have thousands of names; the `re` cache holds 512 patterns)."""
    first, second = names[0], names[1] if len(names) > 1 else None
    starts: list[int] = []
    size, pos = len(source), 0
    while pos <= size:
        i = source.find(first, pos)
        if i < 0:
            break
        before = source[i - 1] if i else ""
        end = i + len(first)
        if before and (before.isalnum() or before in "_."):
            end = -1
        elif second is not None:
            dot = end
            while dot < size and source[dot].isspace():
                dot += 1
            end = -1
            if dot < size and source[dot] == ".":
                after = dot + 1
                while after < size and source[after].isspace():
                    after += 1
                for j in range(after, dot, -1):  # `\s*` is greedy, then gives back
                    if source.startswith(second, j):
                        end = j + len(second)
                        break
        if end < 0:
            pos = i + 1
            continue
        starts.append(i)
        pos = end if end > i else i + 1
    return starts


def _find_references(expr: CompiledExpression) -> Iterator[Reference]:
    source = expr.source

    seen: dict[str, int] = {}

    def offset_of(names: list[str]) -> int:
        # the n-th occurrence in the AST is the n-th in the text (the walk is left to right)
        key = "\0".join(names[:2])
        starts = _occurrences(source, names[:2])
        index = seen.get(key, 0)
        seen[key] = index + 1
        return starts[index] if index < len(starts) else (starts[-1] if starts else 0)

    def walk(node: dict[str, Any], rooted: bool) -> Iterator[Reference]:
        kind = node["type"]
        children = node.get("children", [])
        names = (
            _chain(node)
            if rooted and kind in ("field", "subexpression", "index_expression")
            else []
        )
        if names:
            step = names[1] if names[0] == "steps" and len(names) > 1 else None
            yield Reference(names[0], step, offset_of(names), tuple(names))
        if kind in ("subexpression", "index_expression", "pipe"):
            if children:
                yield from walk(children[0], rooted and not names)
            for child in children[1:]:
                yield from walk(child, False)
        elif kind in ("projection", "value_projection", "flatten", "filter_projection"):
            if children:
                yield from walk(children[0], rooted)
            for child in children[1:]:
                yield from walk(child, False)
        elif kind == "expref":
            for child in children:
                yield from walk(child, False)
        elif kind != "field":
            for child in children:
                yield from walk(child, rooted)

    yield from walk(ast_of(expr), True)


def function_calls(expr: CompiledExpression) -> Iterator[tuple[str, int, int]]:
    """(name, argument count, offset) of every function call in the expression."""
    found = _calls_found.get(expr.source)
    if found is None:
        found = _remember(_calls_found, expr.source, tuple(_find_function_calls(expr)))
    return iter(found)


def _find_function_calls(expr: CompiledExpression) -> Iterator[tuple[str, int, int]]:

    def walk(node: dict[str, Any]) -> Iterator[tuple[str, int]]:
        if node["type"] == "function_expression":
            yield node["value"], len(node["children"])
        for child in node.get("children", []):
            if isinstance(child, dict):
                yield from walk(child)

    seen: dict[str, int] = {}
    calls = list(walk(ast_of(expr)))
    # the AST lists an outer call before the calls in its arguments, as the text does
    for name, argc in calls:
        starts = [m.start() for m in re.finditer(rf"\b{re.escape(name)}\s*\(", expr.source)]
        index = seen.get(name, 0)
        seen[name] = index + 1
        yield name, argc, starts[index] if index < len(starts) else (starts[-1] if starts else 0)


def search(source: str, document: Any, options: Options | None = None) -> Any:
    """Convenience for tests and one-off use: parse and evaluate."""
    return jmespath.search(source, document, options=options)


def is_truthy(value: Any) -> bool:
    """JMESPath truthiness: null, false and empty strings, lists and objects are false; 0 is true."""
    if value is None or value is False:
        return False
    return not (isinstance(value, str | list | dict) and not value)

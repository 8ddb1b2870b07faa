"""Value trees (a call's `with:`, a mock's answer, an event's data) as one generated function.

A mapping of `${ }` expressions evaluated field by field costs two Python calls per field (the
error wrapper and the expression's own function) on top of the work. Here the code of every
field's expression is written into one function that builds the whole mapping, so a field
costs only its own lookups. Results, the order of evaluation and errors stay the same: each
field's lines are known, and an error raised on one of them is wrapped exactly as
`CompiledExpression.evaluate` wraps it (an `ExpressionError` naming that expression).

`compile_tree` takes a neutral description of the tree (compiled.py builds it), so this module
knows nothing of the CompiledValue classes:

- `("expr", ast, source)` — a whole-string `${ expr }`, written inline;
- `("call", evaluate)` — anything else (templates, lists, expressions on the library's
  interpreter), called as it is; its errors pass through untouched;
- `("const", value)` — a literal, the same object every time;
- `("map", ((key, description), …))` — a nested mapping, inline;
- `("text", (str | (ast, source), …))` — a string with `${ }` inside, inline.
"""

from __future__ import annotations

from typing import Any

import orjson
from jmespath import exceptions as jp_exceptions
from jmespath.visitor import Options

from runtime.errors import ExpressionError

from ._jmes_compiler import _Codegen
from ._jmes_runtime import RUNTIME, Evaluator

__all__ = ["compile_tree"]

# what CompiledExpression.evaluate turns into an ExpressionError
_WRAPPED = (jp_exceptions.JMESPathError, ValueError, LookupError)


def _wrapper(spans: tuple[tuple[int, int, str], ...]) -> Any:
    def wrap(exc: BaseException) -> ExpressionError | None:
        """The error `CompiledExpression.evaluate` raises for `exc`, by the line it came from;
        None when it came from a called part (which raises its own errors)."""
        trace = exc.__traceback__
        line = trace.tb_lineno if trace is not None else -1
        for first, last, source in spans:
            if first <= line <= last:
                return ExpressionError(f"expression `{source}` failed: {exc}", source=source)
        return None

    return wrap


class _TreeWriter:
    def __init__(self, options: Options) -> None:
        self.gen = _Codegen(options)
        self.lines: list[str] = []
        self.spans: list[tuple[int, int, str]] = []  # (first, last) index into self.lines

    def value(self, description: tuple[Any, ...], ind: int) -> str:
        kind = description[0]
        gen, lines = self.gen, self.lines
        if kind == "const":
            return gen.const(description[1])
        if kind == "call":
            var = gen.fresh()
            gen.emit(lines, ind, f"{var} = {gen.const(description[1], '_c')}(value)")
            return var
        if kind == "expr":
            return self.expression(description[1], description[2], ind)
        if kind == "map":
            pairs = [f"{gen.const(key)}: {self.value(item, ind)}" for key, item in description[1]]
            return "{" + ", ".join(pairs) + "}"
        if kind == "text":
            parts = []
            for part in description[1]:
                if isinstance(part, str):
                    parts.append(gen.const(part))
                    continue
                var = self.expression(part[0], part[1], ind)
                gen.emit(lines, ind, f"if not isinstance({var}, str):")
                gen.emit(lines, ind + 1, f'{var} = "" if {var} is None else _dumps({var}).decode()')
                parts.append(var)
            var = gen.fresh()
            gen.emit(lines, ind, f"{var} = ''.join(({', '.join(parts)},))")
            return var
        raise ValueError(f"unknown value kind {kind!r}")

    def expression(self, ast: dict[str, Any], source: str, ind: int) -> str:
        first = len(self.lines)
        var = self.gen.node(ast, "value", self.lines, ind)
        self.spans.append((first, len(self.lines) - 1, source))
        return var


def compile_tree(description: tuple[Any, ...], options: Options) -> Evaluator | None:
    """One function `document -> value` for the tree; None if it cannot be generated (the
    caller then evaluates the tree part by part)."""
    writer = _TreeWriter(options)
    gen = writer.gen
    try:
        entry = gen.fresh("_tree")
        lines = writer.lines
        result = writer.value(description, 2)
        gen.emit(lines, 2, f"return {result}")
        body = [f"def {entry}(value):", "    try:"]
        body += lines
        body += [
            "    except _WRAPPED as exc:",
            "        error = _wrap(exc)",
            "        if error is None:",
            "            raise",
            "        raise error from exc",
        ]
        gen.bodies.append(body)
        # 1-based line numbers in the generated source: `def _factory` is line 1, then the
        # bodies in order; ours is the last, and its field lines start after two lines
        start = 2 + sum(len(b) for b in gen.bodies[:-1]) + 2
        spans = tuple((start + a, start + b, source) for a, b, source in writer.spans)
        gen.names["_wrap"] = _wrapper(spans)
        gen.names["_WRAPPED"] = _WRAPPED
        gen.names["_dumps"] = orjson.dumps
        code = compile(gen.source(entry), "<jmespath>", "exec")
    except (RecursionError, SyntaxError, MemoryError):
        return None
    namespace: dict[str, Any] = dict(RUNTIME)
    exec(code, namespace)  # noqa: S102 - our own generated code, no user text is executed
    evaluator: Evaluator = namespace["_factory"](**gen.names)
    return evaluator

"""Values compiled once: literals stay literals, `${ }` keeps JSON types, `{{ }}` renders Jinja."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from runtime.expressions._jmes_values import compile_tree
from runtime.expressions.jinja import CompiledTemplate
from runtime.expressions.jmes import CompiledExpression


class CompiledValue:
    """Base of the compiled value tree; `is_static` values never look at the document."""

    is_static = False

    def evaluate(self, document: Mapping[str, Any]) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError


class Literal(CompiledValue):
    __slots__ = ("value",)
    is_static = True

    def __init__(self, value: Any) -> None:
        self.value = value

    def evaluate(self, document: Mapping[str, Any]) -> Any:
        return self.value


class ExpressionValue(CompiledValue):
    """A whole-string `${ expr }`: the result keeps its JSON type."""

    __slots__ = ("expression",)

    def __init__(self, expression: CompiledExpression) -> None:
        self.expression = expression

    def evaluate(self, document: Mapping[str, Any]) -> Any:
        return self.expression.evaluate(document)


class InterpolatedString(CompiledValue):
    """Text with one or more `${ expr }` inside: the result is a string."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[str | CompiledExpression, ...]) -> None:
        self.parts = parts

    def evaluate(self, document: Mapping[str, Any]) -> str:
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = part.evaluate(document)
            if isinstance(value, str):
                out.append(value)
            elif value is None:
                out.append("")
            else:
                out.append(orjson.dumps(value).decode())
        return "".join(out)


class TemplateValue(CompiledValue):
    __slots__ = ("template",)

    def __init__(self, template: CompiledTemplate) -> None:
        self.template = template

    def evaluate(self, document: Mapping[str, Any]) -> Any:
        return self.template.render(document)


def _evaluator(value: CompiledValue) -> Callable[[Mapping[str, Any]], Any]:
    """The function that evaluates `value`, one call layer shorter for whole expressions."""
    if isinstance(value, ExpressionValue):
        return value.expression.evaluate
    return value.evaluate


def _described(value: CompiledValue, options: list[Any]) -> tuple[Any, ...]:
    """`value` as `_jmes_values.compile_tree` reads it; `options` collects the one options
    object inlined expressions share (an expression with other options is called instead)."""
    if isinstance(value, Literal):
        return ("const", value.value)
    if isinstance(value, MappingValue):
        return ("map", tuple((key, _described(item, options)) for key, item in value.items))
    if isinstance(value, ExpressionValue):
        inline = _inline(value.expression, options)
        if inline is not None:
            return ("expr", *inline)
    elif isinstance(value, InterpolatedString):
        parts: list[Any] = []
        for part in value.parts:
            inline = part if isinstance(part, str) else _inline(part, options)
            if inline is None:
                return ("call", value.evaluate)
            parts.append(inline)
        return ("text", tuple(parts))
    return ("call", _evaluator(value))


def _inline(expression: CompiledExpression, options: list[Any]) -> tuple[Any, str] | None:
    found = expression.inline_ast()
    if found is None:
        return None
    ast, own = found
    if not options:
        options.append(own)
    return (ast, expression.source) if own is options[0] else None


class MappingValue(CompiledValue):
    """A mapping of values; on its first evaluation the whole tree becomes one generated
    function (`_jmes_values`), or, if it cannot, is evaluated part by part."""

    __slots__ = ("items", "_run")

    def __init__(self, items: tuple[tuple[str, CompiledValue], ...]) -> None:
        self.items = items
        self._run: Callable[[Mapping[str, Any]], dict[str, Any]] | None = None

    def evaluate(self, document: Mapping[str, Any]) -> dict[str, Any]:
        run = self._run
        if run is None:
            run = self._run = self._compile()
        return run(document)

    def _compile(self) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
        options: list[Any] = []
        description = _described(self, options)
        if options:
            generated = compile_tree(description, options[0])
            if generated is not None:
                return generated
        fields = tuple((key, _evaluator(value)) for key, value in self.items)
        return lambda document: {key: evaluate(document) for key, evaluate in fields}

    def __getstate__(self) -> tuple[Any, ...]:
        return (self.items,)  # generated code is not picklable; it is built again on first use

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.items, self._run = state[0], None


class ListValue(CompiledValue):
    __slots__ = ("items", "_evaluators")

    def __init__(self, items: tuple[CompiledValue, ...]) -> None:
        self.items = items
        self._evaluators = tuple(_evaluator(item) for item in items)

    def evaluate(self, document: Mapping[str, Any]) -> list[Any]:
        return [evaluate(document) for evaluate in self._evaluators]


def freeze(value: CompiledValue, raw: Any) -> CompiledValue:
    """Collapse a mapping or list whose parts are all static into one Literal."""
    if isinstance(value, MappingValue | ListValue) and all(
        (v if isinstance(value, ListValue) else v[1]).is_static for v in value.items
    ):
        return Literal(raw)
    return value


class InterpolationSyntaxError(ValueError):
    def __init__(self, offset: int, message: str) -> None:
        self.offset = offset
        super().__init__(message)


def split_interpolations(text: str) -> list[str | tuple[int, str]]:
    """Split text into literal parts and `(offset, expression)` for each `${ … }`.

    Braces inside JMESPath (multi-select hashes, JSON literals) and inside its quotes are
    balanced, so `${ {a: data.x} }` is one expression.
    """
    parts: list[str | tuple[int, str]] = []
    size = len(text)
    literal_start = 0
    while (i := text.find("${", literal_start)) >= 0:  # literal text is skipped, not scanned
        if i > literal_start:
            parts.append(text[literal_start:i])
        depth, j, quote = 1, i + 2, ""
        while j < size and depth:
            ch = text[j]
            if quote:
                if ch == "\\":
                    j += 1
                elif ch == quote:
                    quote = ""
            elif ch in "'\"`":
                quote = ch
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            j += 1
        if depth:
            raise InterpolationSyntaxError(i, "`${` is never closed by `}`")
        inner = text[i + 2 : j - 1]
        lead = len(inner) - len(inner.lstrip())
        parts.append((i + 2 + lead, inner.strip()))
        literal_start = j
    if literal_start < size:
        parts.append(text[literal_start:])
    return parts


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text

"""Values compiled once: literals stay literals, `${ }` keeps JSON types, `{{ }}` renders Jinja."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

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


class MappingValue(CompiledValue):
    __slots__ = ("items", "_fields")

    def __init__(self, items: tuple[tuple[str, CompiledValue], ...]) -> None:
        self.items = items
        self._fields = tuple((key, _evaluator(value)) for key, value in items)

    def evaluate(self, document: Mapping[str, Any]) -> dict[str, Any]:
        return {key: evaluate(document) for key, evaluate in self._fields}


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

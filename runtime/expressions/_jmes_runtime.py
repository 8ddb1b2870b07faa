"""What the code `_jmes_compiler` generates calls at run time.

Each helper mirrors one detail of `jmespath.visitor.TreeInterpreter` (a field of a non-object,
JMESPath truth, `!0`, ordering of non-numbers, an out-of-range index …), with a quick path for
JSON types and the library's own reasoning for anything else.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from jmespath import exceptions as jp_exceptions
from jmespath import visitor as jp_visitor
from jmespath.visitor import Options, TreeInterpreter

Evaluator = Callable[[Any], Any]

_NoneType = type(None)


class _Expression(jp_visitor._Expression):  # noqa: SLF001 - the type jmespath's functions expect
    """An `&expr` argument, as jmespath's functions (`sort_by`, `map` …) receive it.

    Its class name is `_Expression`, so jmespath's signature checks see the type `expref`;
    `visit(expref.expression, value)` runs the compiled body.
    """

    def __init__(self, expression: dict[str, Any], body: Evaluator, options: Options) -> None:
        # no super().__init__: the interpreter is only built if a function asks for it. The
        # options are held weakly: generated code is cached per options object (weak keys).
        self.expression = expression
        self._body = body
        self._options = weakref.ref(options)

    @property
    def interpreter(self) -> TreeInterpreter:  # type: ignore[override]
        return TreeInterpreter(self._options())

    def visit(self, node: Any, *args: Any, **kwargs: Any) -> Any:
        if node is self.expression and len(args) == 1 and not kwargs:
            return self._body(args[0])
        return self.interpreter.visit(node, *args, **kwargs)


# -- run-time helpers the generated code calls (each mirrors one TreeInterpreter detail) -------

_library_equals = jp_visitor._equals  # noqa: SLF001
_is_comparable = jp_visitor._is_comparable  # noqa: SLF001
_is_actual_number = jp_visitor._is_actual_number  # noqa: SLF001
_TRUTH_BY_BOOL = frozenset({str, list, dict, bool, _NoneType})  # bool(v) is JMESPath truth
_COMPARABLE = frozenset({int, float, str})
_WITHOUT_GET = frozenset({list, str, int, float, bool, tuple})  # `.get` would raise
_JSON_TYPES = frozenset({str, list, dict, bool, int, float, _NoneType})
_NUMBERS = (int, float)


def _equals(x: Any, y: Any) -> bool:
    """jmespath's `_equals` (0 and 1 never equal false and true), quick for JSON types."""
    tx, ty = type(x), type(y)
    if tx is ty:
        return x == y
    if tx in _JSON_TYPES and ty in _JSON_TYPES:
        if (tx is bool and ty in _NUMBERS and y in (0, 1)) or (
            ty is bool and tx in _NUMBERS and x in (0, 1)
        ):
            return False
        return x == y
    return _library_equals(x, y)


def _field(value: Any, name: str) -> Any:
    if value is None or type(value) in _WITHOUT_GET:
        return None
    try:
        return value.get(name)
    except AttributeError:
        return None


def _is_false(value: Any) -> bool:
    return value == "" or value == [] or value == {} or value is None or value is False


def _truthy(value: Any) -> bool:
    if type(value) in _TRUTH_BY_BOOL:
        return bool(value)
    return not _is_false(value)


def _not(value: Any) -> bool:
    if _is_actual_number(value) and value == 0:
        return False
    return not value


def _order(left: Any, right: Any, compare: Callable[[Any, Any], Any]) -> Any:
    if not (_is_comparable(left) and _is_comparable(right)):
        return None
    return compare(left, right)


def _index(value: Any, index: int) -> Any:
    try:
        return value[index]
    except IndexError:
        return None


_NO_VALUES = object()


def _values(value: Any) -> Any:
    try:
        return value.values()
    except AttributeError:
        return _NO_VALUES


def _subtypes_ok(current: Any, groups: tuple[frozenset[type], ...]) -> bool:
    """jmespath's `_subtype_check`, answering instead of raising (True only if it would pass)."""
    if len(groups) == 1:
        allowed = groups[0]
        return all(type(element) in allowed for element in current)
    if not current:
        return True
    first = type(current[0])
    for allowed in groups:
        if first in allowed:
            return all(type(element) in allowed for element in current)
    return False


def _raise_unknown(name: str) -> Any:
    raise jp_exceptions.UnknownFunctionError(f"Unknown function: {name}()")


RUNTIME = {  # the generated code's globals
    "_equals": _equals,
    "_field": _field,
    "_truthy": _truthy,
    "_not": _not,
    "_order": _order,
    "_index": _index,
    "_values": _values,
    "_NO_VALUES": _NO_VALUES,
    "_subtypes_ok": _subtypes_ok,
    "_raise_unknown": _raise_unknown,
    "_TB": _TRUTH_BY_BOOL,
    "_CMP": _COMPARABLE,
}

"""Function calls of compiled JMESPath (and of templates): jmespath's argument checks, sped up.

jmespath checks every call's arity and argument types at run time (`Functions.call_function`
-> `_validate_arguments`). For a known function table the arity of a call site is settled when
it is compiled, and the types are checked by a predicate built from the signature; when the
predicate says no, jmespath's own `_validate_arguments` runs and raises its own error. The
predicate only answers yes where jmespath's check would pass.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

from jmespath import visitor as jp_visitor
from jmespath.functions import REVERSE_TYPES_MAP, Functions

from ._jmes_runtime import _Expression, _NoneType, _subtypes_ok

__all__ = [
    "checked_parameters",
    "function_caller",
    "semantics_of",
    "spread_caller",
    "type_sets",
]

# jmespath's type names (as `type(x).__name__`) -> the Python types that carry them
_PY_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
    "NoneType": (_NoneType,),
    "str": (str,),
    "float": (float,),
    "int": (int,),
    "OrderedDict": (collections.OrderedDict,),
    "_Expression": (_Expression, jp_visitor._Expression),  # noqa: SLF001
}


def semantics_of(functions: Functions) -> str | None:
    """Which argument checks `functions` performs: 'base', 'optional' (ours) or None (unknown)."""
    from runtime.expressions.functions import IntegrationFunctions

    cls = type(functions)
    if cls.call_function is not Functions.call_function:
        return None
    for name in ("_type_check", "_type_check_single", "_get_allowed_pytypes", "_subtype_check"):
        if getattr(cls, name) is not getattr(Functions, name):
            return None
    if cls._validate_arguments is Functions._validate_arguments:
        return "base"
    if cls._validate_arguments is IntegrationFunctions._validate_arguments:
        return "optional"
    return None


def checked_parameters(
    signature: tuple[dict[str, Any], ...], argc: int, semantics: str
) -> tuple[dict[str, Any], ...] | None:
    """The parameters whose types are checked for `argc` arguments; None if the arity is wrong."""
    if semantics == "optional" and any(p.get("optional") for p in signature):
        required = sum(1 for p in signature if not p.get("optional"))
        return signature[:argc] if required <= argc <= len(signature) else None
    if signature and signature[-1].get("variadic"):
        return signature if argc >= len(signature) else None
    return signature if argc == len(signature) else None


def type_sets(types: list[str]) -> tuple[frozenset[type], tuple[frozenset[type], ...]]:
    """(allowed top-level types, allowed element-type groups) of one parameter."""
    top: set[type] = set()
    groups: list[frozenset[type]] = []
    for spec in types:
        base, _, sub = spec.partition("-")
        for name in REVERSE_TYPES_MAP[base]:
            top.update(_PY_TYPES.get(name, ()))
        if sub:
            groups.append(
                frozenset(t for name in REVERSE_TYPES_MAP[sub] for t in _PY_TYPES.get(name, ()))
            )
    return frozenset(top), tuple(groups)


def function_caller(functions: Functions, name: str) -> Callable[[list[Any]], Any]:
    """`args -> functions.call_function(name, args)`, with the argument checks of the
    generated code: a type check per argument count, jmespath's own checks when it fails."""
    return _caller(functions, name, frozenset(), None)


def spread_caller(
    functions: Functions, name: str, plain: frozenset[type], convert: Callable[[Any], Any]
) -> Callable[..., Any]:
    """`f(*args)`: `function_caller(functions, name)` of the arguments, each of a type not in
    `plain` passed through `convert` first; one call (templates call functions through it,
    often in loops)."""
    return _caller(functions, name, plain, convert)


def _caller(
    functions: Functions,
    name: str,
    plain: frozenset[type],
    convert: Callable[[Any], Any] | None,
) -> Callable[..., Any]:
    semantics = semantics_of(functions)
    spec = functions.FUNCTION_TABLE.get(name)
    if semantics is None or spec is None:
        if convert is None:
            return lambda args: functions.call_function(name, args)

        def call_library(*args: Any) -> Any:
            values = [v if type(v) in plain else convert(v) for v in args]
            return functions.call_function(name, values)

        return call_library
    bound = spec["function"].__get__(functions, type(functions))
    signature = spec["signature"]
    validate = functions._validate_arguments  # noqa: SLF001 - the library's own check
    # argument count -> (index, top-level types, element-type groups) per checked argument;
    # None where no quick check can tell (jmespath's own check runs every time)
    checks_by_count: dict[int, tuple[tuple[int, frozenset[type], tuple[Any, ...]], ...] | None] = {}

    def checked(args: list[Any]) -> Any:
        argc = len(args)
        try:
            checks = checks_by_count[argc]
        except KeyError:
            checks = checks_by_count[argc] = _type_checks(signature, argc, semantics)
        if checks is None:
            validate(args, signature, name)
        else:  # inline, not a predicate function: templates call functions in loops
            for i, top, groups in checks:
                value = args[i]
                if type(value) not in top or (groups and not _subtypes_ok(value, groups)):
                    validate(args, signature, name)
                    break
        return bound(*args)

    if convert is None:
        return checked

    def spread(*args: Any) -> Any:
        values = list(args)
        for i, value in enumerate(values):  # a loop, not a comprehension: one frame less
            if type(value) not in plain:
                values[i] = convert(value)
        argc = len(values)
        try:
            checks = checks_by_count[argc]
        except KeyError:
            checks = checks_by_count[argc] = _type_checks(signature, argc, semantics)
        if checks is None:
            validate(values, signature, name)
        else:
            for i, top, groups in checks:
                value = values[i]
                if type(value) not in top or (groups and not _subtypes_ok(value, groups)):
                    validate(values, signature, name)
                    break
        return bound(*values)

    return spread


def _type_checks(
    signature: tuple[dict[str, Any], ...], argc: int, semantics: str
) -> tuple[tuple[int, frozenset[type], tuple[Any, ...]], ...] | None:
    checked = checked_parameters(signature, argc, semantics)
    if checked is None:
        return None
    try:
        return tuple((i, *type_sets(p["types"])) for i, p in enumerate(checked) if p["types"])
    except KeyError:
        return None

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

__all__ = ["checked_parameters", "function_caller", "semantics_of", "type_sets"]

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


def _type_predicate(
    parameters: tuple[dict[str, Any], ...],
) -> Callable[[list[Any]], bool] | None:
    """A check that passes only where jmespath's `_type_check` would (None: cannot tell)."""
    try:
        checks = [(i, *type_sets(p["types"])) for i, p in enumerate(parameters) if p["types"]]
    except KeyError:
        return None

    def passes(args: list[Any]) -> bool:
        for i, top, groups in checks:
            if type(args[i]) not in top or (groups and not _subtypes_ok(args[i], groups)):
                return False
        return True

    return passes


def function_caller(functions: Functions, name: str) -> Callable[[list[Any]], Any]:
    """`args -> functions.call_function(name, args)`, with the argument checks of the
    generated code: a predicate per argument count, jmespath's own checks when it says no."""
    semantics = semantics_of(functions)
    spec = functions.FUNCTION_TABLE.get(name)
    if semantics is None or spec is None:
        return lambda args: functions.call_function(name, args)
    bound = spec["function"].__get__(functions, type(functions))
    signature = spec["signature"]
    predicates: dict[int, Callable[[list[Any]], bool] | None] = {}

    def call(args: list[Any]) -> Any:
        argc = len(args)
        if argc not in predicates:
            checked = checked_parameters(signature, argc, semantics)
            predicates[argc] = None if checked is None else _type_predicate(checked)
        passes = predicates[argc]
        if passes is None or not passes(args):
            functions._validate_arguments(args, signature, name)
        return bound(*args)

    return call

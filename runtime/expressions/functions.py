"""The documented registry of custom functions for integration work.

The same functions serve JMESPath expressions (`${ lookup('legal_entities', data.entity) }`)
and Jinja templates (`{{ amount | round_money('EUR') }}`). `FUNCTION_DOCS` is the single source
for docs/functions.md (`render_functions_markdown()`) and for the example tests.

Every function is deterministic: there is no now() or random(); use `run.started_at`.
The implementations live in `_functions_<category>.py`; this module assembles them.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import jinja2
import jmespath
from jinja2.defaults import DEFAULT_FILTERS
from jmespath.functions import Functions, signature

from ._functions_base import (
    FunctionArgumentError,
    FunctionDoc,
    FunctionError,
    FunctionExample,
    OptionalArityError,
    arg,
    json_number,
    key_text,
)
from ._functions_base import FunctionExample as Ex
from ._functions_collections import COLLECTION_DOCS, CollectionFunctions
from ._functions_dates import DATE_DOCS, DateFunctions
from ._functions_money import MONEY_DOCS, MoneyFunctions
from ._functions_strings import STRING_DOCS, StringFunctions, uuid5_text
from ._jmes_calls import spread_caller

__all__ = [
    "CATEGORIES",
    "EXAMPLE_LOOKUPS",
    "FUNCTION_DOCS",
    "JINJA_FILTER_NAMES",
    "FunctionArgumentError",
    "FunctionDoc",
    "FunctionError",
    "FunctionExample",
    "IntegrationFunctions",
    "LookupMissingError",
    "UnknownLookupTableError",
    "jinja_helpers",
    "uuid5_text",
    "jmespath_options",
    "render_functions_markdown",
]


class LookupMissingError(FunctionError):
    """lookup() found no row for the key and no default was given."""

    def __init__(self, table: str, key: object, available: int) -> None:
        self.table, self.key, self.available = table, key, available
        shown = key_text(key) if isinstance(key, str | int | float) else None
        super().__init__(
            f"lookup table {table!r} has no key {shown or 'null'!r} (hint: add the key to "
            f'flows/lookups/{table.replace(".", "/")}.yaml (or .csv), declare a default under "*", '
            f"or pass one: lookup({table!r}, key, `null`))"
        )


class UnknownLookupTableError(FunctionError):
    """lookup() named a table the workspace does not have."""

    def __init__(self, table: str, known: list[str]) -> None:
        self.table, self.known = table, known
        names = ", ".join(known) if known else "none"
        super().__init__(
            f"unknown lookup table {table!r} (known tables: {names}; a table is a file "
            f"flows/lookups/<name>.yaml)"
        )


# The reference tables the documented examples (and their tests) use.
EXAMPLE_LOOKUPS: dict[str, dict[str, Any]] = {
    "legal_entities": {
        "DE01": {"name": "Seamline Consulting GmbH", "country": "DE", "currency": "EUR"},
        "US01": {"name": "Seamline Consulting Inc.", "country": "US", "currency": "USD"},
    },
    "cost_centers": {"42": "Data & Analytics", "4711": "Cloud Migration"},
}


class IntegrationFunctions(
    CollectionFunctions, StringFunctions, MoneyFunctions, DateFunctions, Functions
):
    """Custom JMESPath functions. Built once per compiled workspace."""

    def __init__(self, lookups: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self._lookups: dict[str, dict[str, Any]] = {}
        for table, rows in (lookups or {}).items():
            try:
                self._lookups[table] = {str(key_text(k)): v for k, v in rows.items()}
            except TypeError as exc:
                raise ValueError(f"lookup table {table!r}: {exc}") from None

    def _validate_arguments(self, args: Any, signature: Any, function_name: str) -> Any:
        """jmespath's arity and type checks, extended with trailing `optional` parameters."""
        if not any(p.get("optional") for p in signature):
            return super()._validate_arguments(args, signature, function_name)
        required = sum(1 for p in signature if not p.get("optional"))
        if not required <= len(args) <= len(signature):
            raise OptionalArityError(required, len(signature), len(args), function_name)
        return self._type_check(args, signature[: len(args)], function_name)

    @signature(arg("string"), arg(), arg(optional=True))
    def _func_lookup(self, table: str, key: Any, *default: Any) -> Any:
        rows = self._lookups.get(table)
        if rows is None:
            raise UnknownLookupTableError(table, sorted(self._lookups))
        try:
            text = key_text(key)
        except TypeError:
            raise FunctionArgumentError("lookup", "the key must be a string or a number") from None
        if text is not None and text in rows:
            return _json_copy(rows[text])
        if default:
            return default[0]
        if TABLE_DEFAULT in rows:  # the table's own declared default
            return _json_copy(rows[TABLE_DEFAULT])
        raise LookupMissingError(table, key, len(rows))


TABLE_DEFAULT = "*"
"""A key `"*"` in a lookup table is its default, used when the key is missing and lookup() gives none."""


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON data (a run may change what lookup() returned; the table may not)."""
    kind = type(value)
    if kind is dict:
        return {k: _json_copy(v) for k, v in value.items()}
    if kind is list:
        return [_json_copy(v) for v in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)


LOOKUP_DOCS: tuple[FunctionDoc, ...] = (
    FunctionDoc(
        "lookup",
        "lookup(table: string, key: any, default?: any) -> any",
        "lookup",
        "The value stored under `key` in the reference table `table` (a file "
        "`flows/lookups/<table>.yaml` mapping keys to values or rows). Keys are compared as "
        'strings, so the number `42` finds `"42"`. A missing key returns `default` if given '
        "(even `null`), else the run fails with a LookupMissingError naming the table and key.",
        (
            Ex(
                "lookup('legal_entities', data.legal_entity).currency",
                {"data": {"legal_entity": "DE01"}},
                "EUR",
            ),
            Ex("lookup('cost_centers', cost_center)", {"cost_center": 42}, "Data & Analytics"),
            Ex("lookup('legal_entities', 'XX01', `null`)", None, None),
            Ex("lookup('cost_centers', code, 'unassigned')", {"code": "999"}, "unassigned"),
        ),
    ),
)

FUNCTION_DOCS: tuple[FunctionDoc, ...] = (
    LOOKUP_DOCS + DATE_DOCS + MONEY_DOCS + STRING_DOCS + COLLECTION_DOCS
)

CATEGORIES: dict[str, tuple[str, str]] = {
    "lookup": ("Lookups", "Reference tables that map codes from one system to another."),
    "dates": (
        "Dates",
        "Dates are ISO 8601 strings: a date `2026-01-31` or a date-time "
        "`2026-01-31T09:30:00Z` (an offset such as `+01:00`, or none). There is no `now()`: "
        "use `run.started_at` for the current time, e.g. `add_duration(run.started_at, '30d')`.",
    ),
    "money": (
        "Money",
        "Exact decimal arithmetic with ISO 4217 minor units and commercial rounding (half away "
        "from zero). Amounts are numbers or numeric strings; results are numbers without binary "
        "artefacts (an int when whole). Currency codes are 3 upper-case letters.",
    ),
    "strings": ("Strings", "Text helpers, null handling and stable identifiers."),
    "collections": ("Collections", "Arrays and objects, beyond JMESPath's built-ins."),
}

# Value-first functions, except where Jinja has a built-in filter of the same name (which we
# do not replace, so Jinja's documentation stays true): those are available as globals only.
JINJA_FILTER_NAMES: frozenset[str] = frozenset(
    d.name for d in FUNCTION_DOCS if d.name not in {"lookup", "coalesce", "uuid5"}
) - frozenset(DEFAULT_FILTERS)


_ALREADY_PLAIN = frozenset({str, int, float, bool, type(None)})


def jmespath_options(functions: IntegrationFunctions) -> jmespath.Options:
    """Options for `jmespath.search` / `ParsedResult.search` with these functions."""
    return jmespath.Options(custom_functions=functions)


def _plain(value: Any) -> Any:
    """A Jinja value as JSON-typed Python (Markup -> str, tuple -> list, Decimal -> number)."""
    if type(value) in _ALREADY_PLAIN:
        return value
    if isinstance(value, jinja2.StrictUndefined):
        value._fail_with_undefined_error()
    if isinstance(value, jinja2.Undefined):
        return None
    if value is None or isinstance(value, bool):
        return value
    for plain in (str, int, float):
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, Decimal):
        return json_number(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def jinja_helpers(
    functions: IntegrationFunctions,
) -> tuple[dict[str, Callable[..., Any]], dict[str, Callable[..., Any]]]:
    """(globals, filters) exposing the same functions to Jinja templates.

    Every function is a global (`{{ lookup('t', k) }}`); the value-first ones in
    `JINJA_FILTER_NAMES` are also filters (`{{ amount | round_money('EUR') }}`). Arguments are
    checked exactly as in JMESPath.
    """

    def bind(doc: FunctionDoc) -> Callable[..., Any]:
        # = functions.call_function(name, [_plain(a) for a in args]), in one frame
        call = spread_caller(functions, doc.name, _ALREADY_PLAIN, _plain)
        call.__name__ = call.__qualname__ = doc.name
        call.__doc__ = doc.summary
        return call

    helpers = {doc.name: bind(doc) for doc in FUNCTION_DOCS}
    return helpers, {name: f for name, f in helpers.items() if name in JINJA_FILTER_NAMES}


def parameter_names(doc: FunctionDoc) -> list[str]:
    """`lookup(table: string, key: any, default?: any) -> any` -> ['table', 'key', 'default?']."""
    inside = doc.signature[len(doc.name) + 1 : doc.signature.rindex(")")]
    return [p.split(":")[0].strip() for p in inside.split(",") if p.strip()]


def _code(text: str, *, in_table: bool = False) -> str:
    """An inline code span that may hold backticks (JMESPath literals) and, in tables, pipes."""
    text = text.replace("|", "\\|") if in_table else text
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _jinja_usage(doc: FunctionDoc) -> str:
    params = [p for p in parameter_names(doc) if not p.endswith("?")]
    usage = f"global {_code('{{ ' + doc.name + '(' + ', '.join(params) + ') }}')}"
    if doc.name in JINJA_FILTER_NAMES:
        rest = f"({', '.join(params[1:])})" if params[1:] else ""
        usage += f", filter {_code('{{ ' + params[0] + ' | ' + doc.name + rest + ' }}')}"
    elif doc.name in DEFAULT_FILTERS:
        usage += f" (the filter `{doc.name}` is Jinja's own)"
    return usage


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


_INTRO = """\
# Expression functions

<!-- Generated by render_functions_markdown() in runtime/expressions/functions.py; do not edit.
     Regenerate: python -c "from runtime.expressions.functions import render_functions_markdown as r; open('docs/functions.md','w').write(r())" -->

seamline adds these functions to JMESPath for integration work. They work wherever an expression
does (`${ … }` values and the bare `filter`, `if`, `key`, `for_each`, `match` fields) and in Jinja
templates: every function is a template global, and the value-first ones are also filters.

- **Literals.** `'text'` is a raw string; numbers, arrays and `null` are JSON literals in
  backticks: `` round_money(`2.345`, 'EUR') ``.
- **Deterministic.** No function reads the clock or a random source, so a replayed run computes
  the same values. Use `run.started_at` for the current time.
- **Errors.** A wrong number or type of arguments is a JMESPath error (`ArityError`,
  `JMESPathTypeError`). A value a function cannot use fails the step with a message naming the
  function, e.g. `add_duration(): cannot read duration '3x' (expected e.g. 30d, 1h30m, P1M)`.
- **Built-ins stay.** JMESPath's own functions (`join`, `merge`, `sort_by`, `to_string`,
  `not_null`, …) are not redefined. In templates, Jinja's own filters of the same name (`upper`,
  `lower`, `trim`, `title`, `replace`, `default`, `unique`) are kept; call the global
  (`{{ default(x, 'n/a') }}`) for the semantics documented here.

Every example below is run by the test suite against `given` (the current node `@`), with the
tables `legal_entities` (`DE01`, `US01`) and `cost_centers` (`42`, `4711`).
"""


def render_functions_markdown() -> str:
    """docs/functions.md: intro, contents by category, then each function with its examples."""
    lines = [_INTRO, "## Contents", ""]
    for category, (title, _) in CATEGORIES.items():
        names = [d.name for d in FUNCTION_DOCS if d.category == category]
        lines.append(f"- **{title}:** " + ", ".join(f"[{n}](#{n})" for n in names))
    for category, (title, blurb) in CATEGORIES.items():
        lines += ["", f"## {title}", "", blurb]
        for doc in (d for d in FUNCTION_DOCS if d.category == category):
            lines += ["", f"### {doc.name}", "", _code(doc.signature), "", doc.summary, ""]
            lines += [f"In templates: {_jinja_usage(doc)}.", ""]
            lines += ["| expression | given | result |", "| --- | --- | --- |"]
            for ex in doc.examples:
                cells = (ex.expression, _json(ex.given), _json(ex.result))
                lines.append("| " + " | ".join(_code(c, in_table=True) for c in cells) + " |")
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).rstrip("\n") + "\n"

"""JMESPath ASTs compiled to Python functions that evaluate exactly like jmespath's TreeInterpreter.

`jmespath.parser.Parser().parse(expr).parsed` is a tree of plain dicts. `compile_ast` turns it
into the source of one Python function (loops and branches inline, no per-node dispatch),
compiles that once and returns it. The function follows `jmespath.visitor.TreeInterpreter` node
by node: same results, same exceptions (JMESPathTypeError, ArityError, VariadictArityError,
UnknownFunctionError, ValueError for a slice step of 0), same order of evaluation. Functions
(built-in and custom) are looked up once; their arguments are type-checked by a predicate
derived from the signature, and whenever that predicate says no, jmespath's own
`_validate_arguments` runs, so error types and messages are the library's.

A node type this module does not know (a newer jmespath) is evaluated by the library's
interpreter for that subtree; if the generated code cannot be compiled at all (nesting beyond
Python's limits) `compile_ast` returns None and the caller keeps the library for the whole
expression.
"""

from __future__ import annotations

import operator
import weakref
from typing import Any

from jmespath.functions import Functions
from jmespath.visitor import Options, TreeInterpreter

from ._jmes_calls import checked_parameters, semantics_of, type_sets
from ._jmes_runtime import RUNTIME, Evaluator, _Expression

__all__ = ["Evaluator", "compile_ast", "interpreted"]

_SPLIT_INDENT = 12  # deeper code goes to its own function: Python allows 20 nested loops
_ORDERING = {"lt": "<", "gt": ">", "lte": "<=", "gte": ">="}
_ORDERING_FUNC = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}


class _Codegen:
    """Writes the Python source of one expression (plus one function per `&expref`)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.functions: Functions = (
            options.custom_functions if options.custom_functions is not None else Functions()
        )
        self.semantics = semantics_of(self.functions)
        self.dict_cls = options.dict_cls
        self.names: dict[str, Any] = {"_fns": self.functions}
        self.bodies: list[list[str]] = []
        self.exprefs: list[tuple[str, str, str]] = []
        self._count = 0

    # -- bookkeeping -------------------------------------------------------------------------
    def fresh(self, prefix: str = "v") -> str:
        self._count += 1
        return f"{prefix}{self._count}"

    def const(self, value: Any, prefix: str = "_k") -> str:
        name = self.fresh(prefix)
        self.names[name] = value
        return name

    # -- one function per expression body ----------------------------------------------------
    def function(self, node: dict[str, Any]) -> str:
        name = self.fresh("_jp")
        lines: list[str] = [f"def {name}(value):"]
        result = self.node(node, "value", lines, 1)
        lines.append(f"    return {result}")
        self.bodies.append(lines)
        return name

    def source(self, entry: str) -> str:
        params = ", ".join(self.names)
        out = [f"def _factory({params}):"]
        for body in self.bodies:
            out.extend("    " + line for line in body)
        for var, fn, node_name in self.exprefs:
            out.append(f"    {var} = _Expression({node_name}, {fn}, _options)")
        out.append(f"    return {entry}")
        return "\n".join(out) + "\n"

    # -- nodes -------------------------------------------------------------------------------
    def node(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        """Emit code computing `node` on the variable `src`; return the variable holding it."""
        if ind > _SPLIT_INDENT:  # stay far below Python's limits on nested blocks
            var = self.fresh()
            self.emit(out, ind, f"{var} = {self.function(node)}({src})")
            return var
        method = getattr(self, "n_" + node["type"], None)
        if method is None:
            return self.fallback(node, src, out, ind)
        return method(node, src, out, ind)

    def emit(self, out: list[str], ind: int, line: str) -> None:
        out.append("    " * ind + line)

    def fallback(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        interpret = self.const(_subtree(node, self.options), "_fb")
        var = self.fresh()
        self.emit(out, ind, f"{var} = {interpret}({src})")
        return var

    def chain(self, children: list[dict[str, Any]], src: str, out: list[str], ind: int) -> str:
        for child in children:
            src = self.node(child, src, out, ind)
        return src

    def n_subexpression(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        return self.chain(node["children"], src, out, ind)

    n_index_expression = n_subexpression
    n_pipe = n_subexpression

    def n_field(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        key = self.const(node["value"])
        var = self.fresh()
        self.emit(
            out, ind, f"{var} = {src}.get({key}) if type({src}) is dict else _field({src}, {key})"
        )
        return var

    def n_current(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        return src

    n_identity = n_current

    def n_literal(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        return self.const(node["value"])

    def n_key_val_pair(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        return self.node(node["children"][0], src, out, ind)

    def n_comparator(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        op = node["value"]
        left_node, right_node = node["children"]
        left = self.node(left_node, src, out, ind)
        right = self.node(right_node, src, out, ind)
        var = self.fresh()
        if op in ("eq", "ne"):
            plain = _plain_equality(left_node) or _plain_equality(right_node)
            test = f"{left} == {right}" if plain else f"_equals({left}, {right})"
            self.emit(out, ind, f"{var} = {test}" if op == "eq" else f"{var} = not ({test})")
        elif op in _ORDERING:
            compare = self.const(_ORDERING_FUNC[op], "_op")
            self.emit(
                out,
                ind,
                f"{var} = ({left} {_ORDERING[op]} {right}) if type({left}) in _CMP and "
                f"type({right}) in _CMP else _order({left}, {right}, {compare})",
            )
        else:  # an operator this jmespath does not have: let it raise its own error
            return self.fallback(node, src, out, ind)
        return var

    def n_or_expression(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        var = self.fresh()
        left = self.node(node["children"][0], src, out, ind)
        self.emit(out, ind, f"{var} = {left}")
        self.emit(out, ind, f"if not {self.truth(node['children'][0], var)}:")
        right = self.node(node["children"][1], src, out, ind + 1)
        self.emit(out, ind + 1, f"{var} = {right}")
        return var

    def n_and_expression(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        var = self.fresh()
        left = self.node(node["children"][0], src, out, ind)
        self.emit(out, ind, f"{var} = {left}")
        self.emit(out, ind, f"if {self.truth(node['children'][0], var)}:")
        right = self.node(node["children"][1], src, out, ind + 1)
        self.emit(out, ind + 1, f"{var} = {right}")
        return var

    def n_not_expression(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        value = self.node(node["children"][0], src, out, ind)
        var = self.fresh()
        self.emit(out, ind, f"{var} = (not {value}) if type({value}) in _TB else _not({value})")
        return var

    def truth(self, node: dict[str, Any], var: str) -> str:
        """A Python condition that is JMESPath's truth of `var` (the value of `node`)."""
        if _always_bool_or_none(node):
            return var
        return f"({var} if type({var}) in _TB else _truthy({var}))"

    def n_index(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        index = node["value"]
        var = self.fresh()
        if not isinstance(index, int) or isinstance(index, bool):
            return self.fallback(node, src, out, ind)
        bound = f"len({src}) > {index}" if index >= 0 else f"len({src}) >= {-index}"
        self.emit(out, ind, f"if type({src}) is list:")
        self.emit(out, ind + 1, f"{var} = {src}[{index}] if {bound} else None")
        self.emit(out, ind, f"elif isinstance({src}, list):")
        self.emit(out, ind + 1, f"{var} = _index({src}, {index})")
        self.emit(out, ind, "else:")
        self.emit(out, ind + 1, f"{var} = None")
        return var

    def n_slice(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        try:
            bounds = slice(*node["children"])
        except TypeError:
            return self.fallback(node, src, out, ind)
        key = self.const(bounds, "_sl")
        var = self.fresh()
        self.emit(out, ind, f"{var} = {src}[{key}] if isinstance({src}, list) else None")
        return var

    def n_multi_select_list(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        var = self.fresh()
        self.emit(out, ind, f"if {src} is None:")
        self.emit(out, ind + 1, f"{var} = None")
        self.emit(out, ind, "else:")
        items = [self.node(child, src, out, ind + 1) for child in node["children"]]
        self.emit(out, ind + 1, f"{var} = [{', '.join(items)}]")
        return var

    def n_multi_select_dict(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        var = self.fresh()
        self.emit(out, ind, f"if {src} is None:")
        self.emit(out, ind + 1, f"{var} = None")
        self.emit(out, ind, "else:")
        if self.dict_cls is not None:
            cls = self.const(self.dict_cls, "_dc")
            self.emit(out, ind + 1, f"{var} = {cls}()")
            for child in node["children"]:
                value = self.node(child, src, out, ind + 1)
                self.emit(out, ind + 1, f"{var}[{self.const(child['value'])}] = {value}")
            return var
        pairs = []
        for child in node["children"]:
            value = self.node(child, src, out, ind + 1)
            pairs.append(f"{self.const(child['value'])}: {value}")
        self.emit(out, ind + 1, f"{var} = {{{', '.join(pairs)}}}")
        return var

    def _collect(
        self,
        base: str,
        element: str,
        right: dict[str, Any],
        var: str,
        out: list[str],
        ind: int,
        condition: dict[str, Any] | None = None,
    ) -> None:
        """`var` = right(element) for each element of `base` that is not null (and passes)."""
        if condition is None and right["type"] in ("identity", "current"):
            self.emit(
                out, ind, f"{var} = [{element} for {element} in {base} if {element} is not None]"
            )
            return
        append = self.fresh("_ap")
        self.emit(out, ind, f"{var} = []")
        self.emit(out, ind, f"{append} = {var}.append")
        self.emit(out, ind, f"for {element} in {base}:")
        inner = ind + 1
        if condition is not None:
            test = self.node(condition, element, out, inner)
            self.emit(out, inner, f"if {self.truth(condition, test)}:")
            inner += 1
        value = self.node(right, element, out, inner)
        if right["type"] in ("identity", "current"):
            self.emit(out, inner, f"if {value} is not None: {append}({value})")
        else:
            self.emit(out, inner, f"if {value} is not None:")
            self.emit(out, inner + 1, f"{append}({value})")

    def n_projection(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        base = self.node(node["children"][0], src, out, ind)
        var = self.fresh()
        self.emit(out, ind, f"if isinstance({base}, list):")
        self._collect(base, self.fresh("e"), node["children"][1], var, out, ind + 1)
        self.emit(out, ind, "else:")
        self.emit(out, ind + 1, f"{var} = None")
        return var

    def n_filter_projection(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        left, right, condition = node["children"]
        base = self.node(left, src, out, ind)
        var = self.fresh()
        self.emit(out, ind, f"if isinstance({base}, list):")
        self._collect(base, self.fresh("e"), right, var, out, ind + 1, condition)
        self.emit(out, ind, "else:")
        self.emit(out, ind + 1, f"{var} = None")
        return var

    def n_value_projection(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        base = self.node(node["children"][0], src, out, ind)
        values, var = self.fresh(), self.fresh()
        self.emit(
            out, ind, f"{values} = {base}.values() if type({base}) is dict else _values({base})"
        )
        self.emit(out, ind, f"if {values} is _NO_VALUES:")
        self.emit(out, ind + 1, f"{var} = None")
        self.emit(out, ind, "else:")
        self._collect(values, self.fresh("e"), node["children"][1], var, out, ind + 1)
        return var

    def n_flatten(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        base = self.node(node["children"][0], src, out, ind)
        var, element = self.fresh(), self.fresh("e")
        self.emit(out, ind, f"if isinstance({base}, list):")
        self.emit(out, ind + 1, f"{var} = []")
        self.emit(out, ind + 1, f"for {element} in {base}:")
        self.emit(out, ind + 2, f"if isinstance({element}, list):")
        self.emit(out, ind + 3, f"{var}.extend({element})")
        self.emit(out, ind + 2, "else:")
        self.emit(out, ind + 3, f"{var}.append({element})")
        self.emit(out, ind, "else:")
        self.emit(out, ind + 1, f"{var} = None")
        return var

    def n_expref(self, node: dict[str, Any], src: str, out: list[str], ind: int) -> str:
        body = node["children"][0]
        self.names.setdefault("_options", self.options)
        self.names.setdefault("_Expression", _Expression)
        fn = self.function(body)
        var = self.fresh("_x")
        self.names[var] = None  # bound in the factory, after the bodies are defined
        self.exprefs.append((var, fn, self.const(body, "_n")))
        return var

    def n_function_expression(
        self, node: dict[str, Any], src: str, out: list[str], ind: int
    ) -> str:
        name = node["value"]
        args = [self.node(child, src, out, ind) for child in node["children"]]
        var = self.fresh()
        arg_list = ", ".join(args)
        fns = self.functions
        if self.semantics is None:  # someone else's call_function: call it as the library does
            key = self.const(name)
            self.emit(out, ind, f"{var} = _fns.call_function({key}, [{arg_list}])")
            return var
        spec = fns.FUNCTION_TABLE.get(name)
        if spec is None:
            self.emit(out, ind, f"{var} = _raise_unknown({self.const(name)})")
            return var
        signature = spec["signature"]
        bound = self.const(spec["function"].__get__(fns, type(fns)), "_f")
        sig, key = self.const(signature, "_sig"), self.const(name)
        validate = f"_fns._validate_arguments([{arg_list}], {sig}, {key})"
        checked = checked_parameters(signature, len(args), self.semantics)
        tests: list[str] = []
        try:
            for arg, param in zip(args, checked or (), strict=False):
                if not param["types"]:
                    continue
                top, groups = type_sets(param["types"])
                tests.append(f"type({arg}) in {self.const(top, '_t')}")
                if groups:
                    tests.append(f"_subtypes_ok({arg}, {self.const(groups, '_g')})")
        except KeyError:  # a type name jmespath does not know: its own check will say so
            checked = None
        if checked is None:
            self.emit(out, ind, validate)
        elif tests:
            self.emit(out, ind, f"if not ({' and '.join(tests)}):")
            self.emit(out, ind + 1, validate)
        self.emit(out, ind, f"{var} = {bound}({arg_list})")
        return var


def _subtree(node: dict[str, Any], options: Options) -> Evaluator:
    held = weakref.ref(options)  # see _Expression

    def interpret(value: Any) -> Any:
        return TreeInterpreter(held()).visit(node, value)

    return interpret


def _plain_equality(node: dict[str, Any]) -> bool:
    """True if `==` against this literal is jmespath's `_equals` (no 0/1 vs boolean case)."""
    if node["type"] != "literal":
        return False
    value = node["value"]
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return value not in (0, 1)
    return isinstance(value, str | list | dict) or value is None


def _always_bool_or_none(node: dict[str, Any]) -> bool:
    """Nodes whose value is True, False or None, so Python truth equals JMESPath truth."""
    kind = node["type"]
    if kind == "not_expression":
        return True
    return kind == "comparator" and node["value"] in ("eq", "ne", *_ORDERING)


def compile_ast(parsed: dict[str, Any], options: Options | None = None) -> Evaluator | None:
    """A function `document -> result` equivalent to `TreeInterpreter(options).visit(parsed, …)`.

    None when the tree cannot become Python code (the caller then uses the library).
    """
    options = options if options is not None else Options()
    gen = _Codegen(options)
    try:
        entry = gen.function(parsed)
        source = gen.source(entry)
        code = compile(source, "<jmespath>", "exec")
    except (RecursionError, SyntaxError, MemoryError):
        return None
    namespace: dict[str, Any] = dict(RUNTIME)
    exec(code, namespace)  # noqa: S102 - our own generated code, no user text is executed
    factory = namespace["_factory"]
    evaluator: Evaluator = factory(**gen.names)
    return evaluator


def interpreted(parsed: dict[str, Any], options: Options | None = None) -> Evaluator:
    """The library's interpreter as an Evaluator (the fallback, and the reference in tests)."""

    def evaluate(value: Any) -> Any:
        return TreeInterpreter(options).visit(parsed, value)

    return evaluate

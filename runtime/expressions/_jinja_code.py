"""The code Jinja generates for seamline's templates, and the `tojson` filter it calls.

Templates run the same Python Jinja writes, with three shortcuts that leave every rendered text
and every sandbox decision as they were: `x.key` on a plain dict is read inline, an output node
is handed to the final join as one piece rather than one per expression, and `{{ x | tojson }}`
is written as its text without a Markup in between.
"""

from __future__ import annotations

import json
from typing import Any

from jinja2 import nodes, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.filters import do_tojson
from jinja2.nodes import EvalContext
from markupsafe import Markup

__all__ = ["DICT_ATTRIBUTES", "LOOP_NUMBERS", "JinjaCodeGenerator", "json_text", "tojson"]

DICT_ATTRIBUTES = frozenset(dir(dict))
# a loop's counters and flags (ints and booleans), which the sandbox passes through unchanged
LOOP_NUMBERS = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0"}
)
_JSON_ENCODER = json.JSONEncoder(sort_keys=True)  # what `json.dumps(v, sort_keys=True)` uses


_SORT_KEYS = {"sort_keys": True}  # the environment's default `json.dumps_kwargs` policy
_encode_string = json.encoder.encode_basestring_ascii  # what the encoder does with a str
_markup = str.__new__  # Markup(text) for a plain str, without its `__html__` probe


@pass_eval_context
def tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Markup:
    """Jinja's `tojson` with the same output, without building a JSON encoder per call."""
    if indent is not None:
        return do_tojson(eval_ctx, value, indent)
    return _markup(Markup, json_text(eval_ctx.environment, value))


def json_text(environment: Any, value: Any) -> str:
    """The text of `value | tojson` (what `str()` of the filter's Markup gives)."""
    policies = environment.policies
    if policies["json.dumps_function"] is not None or policies["json.dumps_kwargs"] != _SORT_KEYS:
        return str(do_tojson(EvalContext(environment), value))
    kind = type(value)
    if kind is str:
        text = _encode_string(value)
    elif value is None:
        return "null"
    elif kind is int:  # digits only: nothing to escape
        return int.__repr__(value)  # as the encoder writes an int
    elif kind is bool:
        return "true" if value else "false"
    else:
        text = _JSON_ENCODER.encode(value)
    if "<" in text or ">" in text or "&" in text or "'" in text:
        return (
            text.replace("<", "\\u003c")
            .replace(">", "\\u003e")
            .replace("&", "\\u0026")
            .replace("'", "\\u0027")
        )
    return text


class JinjaCodeGenerator(CodeGenerator):
    """Jinja's code generator, with `x.key` read inline when `x` is a plain dict and holds the
    key (a name that is no dict attribute, so `_Environment.getattr` would return the item),
    and `loop.index` (and the other counters) read inline from a loop; anything else still
    goes through `environment.getattr`, the sandbox's checks included."""

    @optimizeconst
    def visit_Getattr(self, node: nodes.Getattr, frame: Frame) -> None:
        attr = node.attr
        if self.environment.is_async or type(attr) is not str or attr in DICT_ATTRIBUTES:
            self.write("environment.getattr(")
            self.visit(node.node, frame)
            self.write(f", {attr!r})")
            return
        # `_o` is assigned right before it is read; a nested lookup inside the object's own
        # expression has finished (and reassigned it) by then
        self.write(f"(_o[{attr!r}] if type(_o := ")
        self.visit(node.node, frame)
        self.write(f") is dict and {attr!r} in _o else ")
        if attr in LOOP_NUMBERS:  # the module imports LoopContext (Jinja's generated header)
            self.write(f"_o.{attr} if type(_o) is LoopContext else ")
        self.write(f"environment.getattr(_o, {attr!r}))")

    def visit_Output(self, node: nodes.Output, frame: Frame) -> None:
        """Jinja's output, written as one `yield` (or one buffer extend) per output node rather
        than one per piece, and `{{ x | tojson }}` as its text (what `str()` of the filter's
        Markup is). The rendered text is the same; only the pieces a generator hands to the
        final join are fewer (seamline joins every render, it never streams one)."""
        if frame.require_output_check or self.environment.is_async:
            super().visit_Output(node, frame)
            return
        finalize = self._make_finalize()
        body: list[list[Any] | nodes.Expr] = []
        for child in node.nodes:  # constants folded at compile time, as Jinja does
            try:
                if not (finalize.const or isinstance(child, nodes.TemplateData)):
                    raise nodes.Impossible()
                const = self._output_child_to_const(child, frame, finalize)
            except (nodes.Impossible, Exception):
                body.append(child)
                continue
            if body and isinstance(body[-1], list):
                body[-1].append(const)
            else:
                body.append([const])
        if not body:
            return
        if frame.buffer is not None:
            self.writeline(f"{frame.buffer}.extend((")
        elif len(body) == 1:
            self.writeline("yield (")
        else:
            self.writeline("yield environment.concat((")
        self.indent()
        comma = "," if frame.buffer is not None or len(body) > 1 else ""
        for item in body:
            if isinstance(item, list):
                self.writeline(self._output_const_repr(item) + comma)
                continue
            self.newline(item)
            if self._plaintojson(item, frame, finalize):
                assert isinstance(item, nodes.Filter)  # noqa: S101 - checked just above
                self.write("environment.tojson_text(")
                self.visit(item.node, frame)
                self.write(")")
            else:
                self._output_child_pre(item, frame, finalize)
                self.visit(item, frame)
                self._output_child_post(item, frame, finalize)
            self.write(comma)
        self.outdent()
        self.writeline(")" if frame.buffer is None and len(body) == 1 else "))")

    def _plaintojson(self, item: nodes.Expr, frame: Frame, finalize: Any) -> bool:
        """`{{ x | tojson }}` with our filter, no arguments, no finalize, no autoescape."""
        return (
            isinstance(item, nodes.Filter)
            and item.name == "tojson"
            and item.node is not None
            and not item.args
            and not item.kwargs
            and item.dyn_args is None
            and item.dyn_kwargs is None
            and finalize.src is None
            and not frame.eval_ctx.volatile
            and not frame.eval_ctx.autoescape
            and self.environment.filters.get("tojson") is tojson
        )

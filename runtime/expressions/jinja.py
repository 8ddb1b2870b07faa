"""Jinja templates in an immutable sandbox; undefined names are errors, not empty strings."""

from __future__ import annotations

import difflib
import json
import re
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import BuiltinMethodType, FunctionType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    meta,
    nodes,
)
from jinja2.runtime import Context, LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from runtime.errors import ExpressionError
from runtime.expressions._jinja_code import (
    DICT_ATTRIBUTES,
    LOOP_NUMBERS,
    JinjaCodeGenerator,
    json_text,
    tojson,
)


@dataclass(frozen=True)
class TemplateProblem:
    """A compile-time problem; `line` is 1-based within the template text."""

    line: int
    code: str
    message: str
    hint: str | None = None
    file: str | None = None  # set when the problem is inside an included/file template


@dataclass(frozen=True)
class TemplateReference:
    root: str
    step: str | None
    line: int
    file: str | None = None  # set when the reference is inside an included template
    path: tuple[str, ...] = ()  # the attribute chain read, e.g. ("vars", "rate")


def _included_names(ast: nodes.Template) -> list[str]:
    found = []
    for node in ast.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        target = node.template
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            found.append(target.value)
    return found


# attributes the immutable sandbox lets through unchanged: read-only dict methods, and the
# loop counters and flags (ints and booleans)
_DICT_READERS = frozenset({"get", "keys", "values", "items"})


class _Environment(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a shortcut for the commonest lookup: `data.key` on a dict.

    Jinja reads `x.key` as the attribute first and the item second; on a plain dict a name
    that is no dict attribute can only be the item, so it is read directly (the sandbox's
    checks concern attributes, and every dict attribute still goes through them). The
    templates' code does the same inline (`JinjaCodeGenerator`).
    """

    code_generator_class = JinjaCodeGenerator

    tojson_text = json_text  # `{{ x | tojson }}` as JinjaCodeGenerator writes it

    def getattr(self, obj: Any, attribute: str) -> Any:
        kind = type(obj)
        if kind is dict and type(attribute) is str:
            if attribute not in DICT_ATTRIBUTES:
                try:
                    return obj[attribute]
                except KeyError:
                    return self.undefined(obj=obj, name=attribute)
            if attribute in _DICT_READERS:  # what the sandbox would allow after its checks
                return getattr(obj, attribute)
        elif kind is LoopContext and attribute in LOOP_NUMBERS:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    plain_calls: frozenset[Any] = frozenset()
    """The workspace's own functions (see `_plain`): called without the per-call probes."""

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        """The sandbox's call, shorter for the two commonest callees, with the same outcome:
        a workspace function (`coalesce(…)`), whose safety and arguments are known since it was
        registered, and a read-only method of a plain dict (`data.get('x')`)."""
        kind = type(obj)
        if (kind is FunctionType and obj in self.plain_calls) or (
            kind is BuiltinMethodType
            and type(obj.__self__) is dict
            and obj.__name__ in _DICT_READERS
        ):
            if kwargs:  # what Context.call strips before calling
                kwargs.pop("_loop_vars", None)
                kwargs.pop("_block_vars", None)
            try:
                return obj(*args, **kwargs)
            except StopIteration:
                return self.undefined(
                    "value was undefined because a callable raised a StopIteration exception"
                )
        return super().call(context, obj, *args, **kwargs)


def _plain(fn: Any) -> bool:
    """A function the sandbox would call as it is: not marked unsafe, asks for no context."""
    return (
        type(fn) is FunctionType
        and not getattr(fn, "unsafe_callable", False)
        and not getattr(fn, "alters_data", False)
        and not hasattr(fn, "jinja_pass_arg")
    )


def _flatten_globals(template: Any) -> Any:
    if isinstance(template.globals, ChainMap):
        # every render copies the globals into a new context; copying a dict is one C call,
        # a ChainMap is a lookup per name. The environment's globals are final by now.
        template.globals = dict(template.globals)
    return template


class _PendingTemplate:
    """An inline template whose Python source is generated (so every load-time check of
    Jinja's code generator, unknown filters and tests included, has run) but not yet compiled
    to bytecode: that happens at its first render, once per text. Most of a big workspace's
    inline templates are never rendered by a `seamline check` or before a reload replaces
    them, and compiling is a third of a template's load cost."""

    __slots__ = ("_env", "_source", "_template")

    def __init__(self, env: Any, source: str) -> None:
        self._env = env
        self._source = source
        self._template: Any = None

    def build(self) -> Any:
        if self._template is None:
            env = self._env
            code = env._compile(self._source, "<template>")
            self._template = _flatten_globals(
                env.template_class.from_code(env, code, env.make_globals(None), None)
            )
        return self._template


class CompiledTemplate:
    """A template compiled once; `render` returns text, or JSON data for `*.json.j2` files."""

    __slots__ = ("source_name", "_template", "_as_json")

    def __init__(self, source_name: str, template: Any, as_json: bool) -> None:
        self.source_name = source_name
        self._template = template
        self._as_json = as_json
        if not isinstance(template, _PendingTemplate):
            _flatten_globals(template)

    @property
    def template(self) -> Any:
        """The Jinja template (compiled now if it has not been yet)."""
        if type(self._template) is _PendingTemplate:
            self._template = self._template.build()
        return self._template

    def render(self, document: Mapping[str, Any]) -> Any:
        template = self._template
        if type(template) is _PendingTemplate:
            template = self._template = template.build()
        try:
            # Template.render without its copy of the document (new_context copies it anyway)
            try:
                context = template.new_context(document)
                text = template.environment.concat(template.root_render_func(context))
            except Exception:
                template.environment.handle_exception()  # re-raises, as Template.render does
        except SecurityError as exc:
            raise ExpressionError(
                f"template {self.source_name} was refused by the sandbox: {exc}"
            ) from exc
        except TemplateError as exc:
            raise ExpressionError(f"template {self.source_name} failed: {exc}") from exc
        except (ValueError, LookupError, TypeError) as exc:
            raise ExpressionError(f"template {self.source_name} failed: {exc}") from exc
        if not self._as_json:
            return text
        try:
            return json.loads(text)  # not orjson: it turns integers beyond 64 bits into floats
        except json.JSONDecodeError as exc:
            raise ExpressionError(
                f"template {self.source_name} did not render valid JSON at line {exc.lineno} "
                f"col {exc.colno}: {exc.msg} (hint: use the `tojson` filter for strings)"
            ) from exc


class TemplateEngine:
    """One sandboxed Jinja environment per compiled workspace."""

    def __init__(
        self,
        root: Path,
        globals_: Mapping[str, Callable[..., Any]] | None = None,
        filters: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        self.root = root
        self.env = _Environment(
            loader=FileSystemLoader(str(root / "flows")),
            undefined=StrictUndefined,
            autoescape=False,
            keep_trailing_newline=True,
        )
        self.env.globals.update(globals_ or {})
        self.env.plain_calls = frozenset(f for f in (globals_ or {}).values() if _plain(f))
        self.env.filters["tojson"] = tojson
        self.env.filters.update(filters or {})
        # one parse and one compile per distinct text: flows repeat their templates, and the
        # load-time checks (includes, references) read the same tree again
        self._trees: dict[str, nodes.Template] = {}
        self._inline: dict[str, Any] = {}
        self._names: dict[str, _TemplateNames] = {}

    def parse(self, text: str) -> nodes.Template:
        """The template's tree, parsed once per text; raises TemplateSyntaxError."""
        tree = self._trees.get(text)
        if tree is None:
            tree = self._trees[text] = self.env.parse(text)
        return tree

    def compile_inline(self, text: str, name: str) -> CompiledTemplate | TemplateProblem:
        template = self._inline.get(text)
        if template is None:
            try:
                tree = self.parse(text)
                self._template_names(text)  # read before compiling, which folds constants
                source = self.env._generate(tree, None, None)
            except TemplateSyntaxError as exc:
                return self._problem(exc, None)
            problem = self._check_included(tree, set())
            if problem is not None:
                return problem
            template = self._inline[text] = _PendingTemplate(self.env, source)
        return CompiledTemplate(name, template, as_json=False)

    def compile_file(self, relative: str) -> CompiledTemplate | TemplateProblem:
        """`relative` is relative to `flows/` (e.g. `templates/erp_customer.json.j2`)."""
        problem = self._load(relative)
        if problem is not None:
            return problem
        problem = self._check_included(self.parse(self.source_of(relative)), {relative})
        if problem is not None:
            return problem
        template = self.env.get_template(relative)
        return CompiledTemplate(
            f"flows/{relative}", template, as_json=relative.endswith(".json.j2")
        )

    def _load(self, relative: str, *, included_from: str | None = None) -> TemplateProblem | None:
        if not (self.root / "flows" / relative).is_file():
            where = f" (included from {included_from})" if included_from else ""
            return TemplateProblem(
                1,
                "template.missing",
                f"template file flows/{relative} does not exist{where}",
                "template paths are relative to the flows/ folder",
                file=included_from,
            )
        try:
            self.env.get_template(relative)
        except TemplateSyntaxError as exc:
            return self._problem(exc, f"flows/{exc.name or relative}")
        return None

    def _problem(self, exc: TemplateSyntaxError, file: str | None) -> TemplateProblem:
        unknown = _UNKNOWN_NAME.match(exc.message or "")
        if unknown:
            kind, name = unknown.group(1), unknown.group(2)
            known = sorted(self.env.filters if kind == "filter" else self.env.tests)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else "see docs/functions.md and Jinja's built-in list"
            )
            return TemplateProblem(
                exc.lineno or 1,
                f"template.unknown_{kind}",
                f"unknown {kind} `{name}`",
                hint,
                file=file,
            )
        return TemplateProblem(
            exc.lineno or 1,
            "template.syntax",
            f"Jinja syntax error: {exc.message}",
            _HINT,
            file=file,
        )

    def _check_included(self, ast: nodes.Template, seen: set[str]) -> TemplateProblem | None:
        """Templates pulled in with include/import/extends compile now, not at first render."""
        for name in _included_names(ast):
            if name in seen:
                continue
            seen.add(name)
            problem = self._load(name, included_from=None)
            if problem is None:
                problem = self._check_included(self.parse(self.source_of(name)), seen)
            if problem is not None:
                return problem
        return None

    def references(
        self, text: str, *, file: str | None = None, seen: set[str] | None = None
    ) -> Iterator[TemplateReference]:
        """Root names the template reads, with `steps.<id>` step ids (for load-time checks),
        including those of the templates it includes."""
        names = self._template_names(text)
        yield from (
            TemplateReference(root, step, line, file, path)
            for root, step, line, path in names.reads
        )
        for name in names.undeclared:
            yield TemplateReference(name, None, names.first_line.get(name, 1), file)
        seen = seen if seen is not None else set()
        for included in names.includes:
            if included not in seen and (self.root / "flows" / included).is_file():
                seen.add(included)
                yield from self.references(
                    self.source_of(included), file=f"flows/{included}", seen=seen
                )

    def _template_names(self, text: str) -> _TemplateNames:
        """What `references` reports about one text, worked out once."""
        found = self._names.get(text)
        if found is None:
            found = self._names[text] = _names_in(self.parse(text), frozenset(self.env.globals))
        return found

    def source_of(self, relative: str) -> str:
        return (self.root / "flows" / relative).read_text(encoding="utf-8")


@dataclass(frozen=True)
class _TemplateNames:
    """The names one template reads (see TemplateEngine.references)."""

    reads: tuple[tuple[str, str | None, int, tuple[str, ...]], ...]  # steps.<id> / vars.<name>
    undeclared: tuple[str, ...]  # in order of first use
    first_line: Mapping[str, int]
    includes: tuple[str, ...]


def _names_in(ast: nodes.Template, known: frozenset[str]) -> _TemplateNames:
    undeclared = meta.find_undeclared_variables(ast) - known - _JINJA_SPECIAL
    first_line: dict[str, int] = {}
    for name in ast.find_all(nodes.Name):
        if name.ctx == "load":
            first_line.setdefault(name.name, name.lineno)
    reads = []
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        inner = node.node
        if (
            isinstance(inner, nodes.Name)
            and inner.name in ("steps", "vars")
            and inner.name in undeclared
        ):
            key = node.attr if isinstance(node, nodes.Getattr) else getattr(node.arg, "value", None)
            if isinstance(key, str):
                step = key if inner.name == "steps" else None
                reads.append((inner.name, step, node.lineno, (inner.name, key)))
    ordered = tuple(sorted(undeclared, key=lambda n: first_line.get(n, 0)))
    return _TemplateNames(tuple(reads), ordered, first_line, tuple(_included_names(ast)))


_UNKNOWN_NAME = re.compile(r"No (filter|test) named '([^']+)'")

# names Jinja itself binds inside loops, macros and blocks
_JINJA_SPECIAL = frozenset({"loop", "caller", "varargs", "kwargs", "self", "super"})

_HINT = "check that every {{ has a matching }} and every {% block %} is closed; see docs/language.md#templates"

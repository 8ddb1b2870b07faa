"""Compile YAML values and expressions, locating every problem inside its scalar."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jmespath.visitor import Options

from runtime.errors import Diagnostic, format_yaml_path
from runtime.expressions.compiled import (
    CompiledValue,
    ExpressionValue,
    InterpolatedString,
    InterpolationSyntaxError,
    ListValue,
    Literal,
    MappingValue,
    TemplateValue,
    freeze,
    is_template,
    split_interpolations,
)
from runtime.expressions.jinja import TemplateEngine, TemplateProblem
from runtime.expressions.jmes import (
    CompiledExpression,
    ExpressionProblem,
    compile_expression,
    function_calls,
    references,
)
from runtime.loader.diagnostics import did_you_mean
from runtime.loader.source import Position, SourceMap

Path = tuple[str | int, ...]

# (root, step id or None, offset or template line) -> problem (code, message, hint) or None
ReferenceCheck = Callable[
    [str, str | None, tuple[str, ...], Path], tuple[str, str, str | None] | None
]


# an expression's parse (None if it does not parse) and its (offset, code, message, hint) problems
_Analysis = tuple[CompiledExpression | None, tuple[tuple[int, str, str, str | None], ...]]


@dataclass(eq=False)
class _SharedAnalysis:
    function_names: frozenset[str]
    signatures: Mapping[str, Any]
    expressions: dict[str, _Analysis] = field(default_factory=dict)
    strings: dict[str, tuple[str | tuple[int, str], ...] | InterpolationSyntaxError] = field(
        default_factory=dict
    )


# per options object (one per workspace compile): what depends on the text alone
_SHARED: weakref.WeakKeyDictionary[Options, _SharedAnalysis] = weakref.WeakKeyDictionary()


@dataclass
class ValueCompiler:
    """Compiles values of one YAML document; collects diagnostics instead of raising."""

    source_map: SourceMap
    options: Options
    templates: TemplateEngine
    function_names: frozenset[str]
    signatures: Mapping[str, Any] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    used_files: set[str] = field(default_factory=set)
    _analysis: _SharedAnalysis | None = field(default=None, init=False, repr=False, compare=False)

    # -- positions -------------------------------------------------------------------------
    def _at(
        self, path: Path, offset: int, code: str, message: str, hint: str | None, text: str | None
    ) -> None:
        if text is None:
            pos: Position = self.source_map.value_at(path)
            line, col = pos.line, pos.col
        else:
            line, col = self.source_map.locate(path, text, offset)
        self.diagnostics.append(
            Diagnostic(
                self.source_map.file_at(path),
                line,
                col,
                format_yaml_path(path),
                code,
                message,
                hint,
            )
        )

    def error(
        self, path: Path, code: str, message: str, hint: str | None = None, *, at_key: bool = False
    ) -> None:
        self.diagnostics.append(
            self.source_map.diagnostic(path, code, message, hint, at_key=at_key)
        )

    # -- expressions -----------------------------------------------------------------------
    def expression(
        self,
        text: str,
        path: Path,
        check: ReferenceCheck,
        *,
        offset: int = 0,
        whole: str | None = None,
    ) -> CompiledExpression | None:
        whole = whole if whole is not None else text
        compiled, problems = self._analysed(text)
        for at, code, message, hint in problems:
            self._at(path, offset + at, code, message, hint, whole)
        if compiled is None:
            return None
        ok = not problems
        for ref in references(compiled):
            problem = check(ref.root, ref.step, ref.path, path)
            if problem is not None:
                code, message, hint = problem
                self._at(path, offset + ref.offset, code, message, hint, whole)
                ok = False
        return compiled if ok else None

    def _analysed(self, text: str) -> _Analysis:
        """The parse of `text` and the problems that depend on the text alone, worked out once
        per workspace: flows repeat expressions (`data.currency`, `steps.x.output.id` …)."""
        shared = self._shared()
        found = shared.expressions.get(text)
        if found is None:
            found = shared.expressions[text] = self._analyse(text)
        return found

    def _analyse(self, text: str) -> _Analysis:
        compiled = compile_expression(text, self.options)
        if isinstance(compiled, ExpressionProblem):
            message = f"{compiled.message} in `{text}`"
            return None, ((compiled.offset, compiled.code, message, compiled.hint),)
        problems: list[tuple[int, str, str, str | None]] = []
        for name, argc, at in function_calls(compiled):
            if name not in self.function_names:
                hint = (
                    did_you_mean(name, sorted(self.function_names))
                    or "see docs/functions.md for the function list"
                )
                problems.append((at, "expr.unknown_function", f"unknown function `{name}()`", hint))
            elif name in self.signatures and (
                problem := _arity_problem(name, argc, self.signatures[name])
            ):
                problems.append(
                    (at, "expr.arity", problem, "see docs/functions.md for its arguments")
                )
        return compiled, tuple(problems)

    def _shared(self) -> _SharedAnalysis:
        """The analyses of every ValueCompiler of this workspace (same options, functions)."""
        if self._analysis is None:
            try:
                shared = _SHARED.get(self.options)
                if (
                    shared is None
                    or shared.function_names is not self.function_names
                    or shared.signatures is not self.signatures
                ):
                    shared = _SHARED[self.options] = _SharedAnalysis(
                        self.function_names, self.signatures
                    )
            except TypeError:  # options that cannot be weakly referenced: this compiler only
                shared = _SharedAnalysis(self.function_names, self.signatures)
            self._analysis = shared
        return self._analysis

    # -- values ----------------------------------------------------------------------------
    def value(self, raw: Any, path: Path, check: ReferenceCheck) -> CompiledValue:
        if isinstance(raw, str):
            return self._string(raw, path, check)
        if isinstance(raw, dict):
            if (
                set(raw) == {"template"}
                and isinstance(raw["template"], str)
                and raw["template"].endswith(".j2")
            ):
                return self.file_template(raw["template"], (*path, "template"), check)
            items = tuple((str(k), self.value(v, (*path, k), check)) for k, v in raw.items())
            return freeze(MappingValue(items), raw)
        if isinstance(raw, list):
            return freeze(
                ListValue(tuple(self.value(v, (*path, i), check) for i, v in enumerate(raw))), raw
            )
        return Literal(raw)

    def _string(self, raw: str, path: Path, check: ReferenceCheck) -> CompiledValue:
        if is_template(raw):
            compiled = self.templates.compile_inline(raw, format_yaml_path(path))
            if isinstance(compiled, TemplateProblem):
                offset = _line_offset(raw, compiled.line)
                self._at(path, offset, compiled.code, compiled.message, compiled.hint, raw)
                return Literal(raw)
            self._check_template_refs(raw, path, check, raw)
            return TemplateValue(compiled)
        if "${" not in raw:
            return Literal(raw)
        strings = self._shared().strings
        parts = strings.get(raw)
        if parts is None:
            try:
                parts = strings[raw] = tuple(split_interpolations(raw))
            except InterpolationSyntaxError as exc:
                parts = strings[raw] = exc
        if isinstance(parts, InterpolationSyntaxError):
            self._at(
                path,
                parts.offset,
                "expr.unclosed",
                str(parts),
                "close the expression with `}`",
                raw,
            )
            return Literal(raw)
        compiled_parts: list[str | CompiledExpression] = []
        for part in parts:
            if isinstance(part, str):
                compiled_parts.append(part)
                continue
            offset, text = part
            expr = self.expression(text, path, check, offset=offset, whole=raw)
            if expr is None:
                return Literal(raw)
            compiled_parts.append(expr)
        if (
            len(compiled_parts) == 1
            and not isinstance(compiled_parts[0], str)
            and raw.strip().startswith("${")
        ):
            return ExpressionValue(compiled_parts[0])
        return InterpolatedString(tuple(compiled_parts))

    def file_template(self, relative: str, path: Path, check: ReferenceCheck) -> CompiledValue:
        compiled = self.templates.compile_file(relative)
        if isinstance(compiled, TemplateProblem):
            if compiled.file:
                self.diagnostics.append(
                    Diagnostic(
                        compiled.file,
                        compiled.line,
                        1,
                        "",
                        compiled.code,
                        compiled.message,
                        compiled.hint,
                    )
                )
            else:
                self.error(path, compiled.code, compiled.message, compiled.hint)
            return Literal(None)
        self.used_files.add(f"flows/{relative}")
        self._check_template_refs(
            self.templates.source_of(relative), path, check, None, file=f"flows/{relative}"
        )
        return TemplateValue(compiled)

    def _check_template_refs(
        self,
        text: str,
        path: Path,
        check: ReferenceCheck,
        raw: str | None,
        *,
        file: str | None = None,
    ) -> None:
        for ref in self.templates.references(text):
            problem = check(ref.root, ref.step, ref.path or (ref.root,), path)
            if problem is None:
                continue
            code, message, hint = problem
            if ref.file or file:
                self.diagnostics.append(
                    Diagnostic(ref.file or file or "", ref.line, 1, "", code, message, hint)
                )
            else:
                self._at(path, _line_offset(text, ref.line), code, message, hint, raw)


def _arity_problem(name: str, argc: int, signature: Sequence[Mapping[str, Any]]) -> str | None:
    """Checked at load so a wrong argument count never waits for an event to fail."""
    required = sum(1 for a in signature if not a.get("optional") and not a.get("variadic"))
    variadic = any(a.get("variadic") for a in signature)
    most = None if variadic else len(signature)
    least = required + (1 if variadic else 0)
    if argc >= least and (most is None or argc <= most):
        return None
    if most is None:
        wanted = f"at least {least}"
    elif least == most:
        wanted = str(least)
    else:
        wanted = f"{least} to {most}"
    return f"`{name}()` takes {wanted} argument{'s' if wanted != '1' else ''}, got {argc}"


def _line_offset(text: str, line: int) -> int:
    offset = 0
    for _ in range(max(line - 1, 0)):
        found = text.find("\n", offset)
        if found < 0:
            break
        offset = found + 1
    return offset


def check_roots(allowed: Iterable[str]) -> ReferenceCheck:
    """A ReferenceCheck that only knows which root names exist (connectors, lookups)."""
    names = sorted(set(allowed))

    def check(
        root: str, step: str | None, full: tuple[str, ...], path: Path
    ) -> tuple[str, str, str | None] | None:
        if root in names or "@" in names:
            return None
        hint = did_you_mean(root, names) or f"available here: {', '.join(names)}"
        return "expr.unknown_name", f"unknown name `{root}`", hint

    return check

"""How failures read: `file:line:col: yaml.path: message`, then the difference as a diff."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runtime.engine import RunResult
from runtime.errors import Diagnostic, format_yaml_path
from runtime.testing._match import MISSING, diff, dump
from runtime.testing._prepare import TestFile
from runtime.testing.runner import Failure


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _short(value: Any) -> bool:
    return value is MISSING or not isinstance(value, dict | list)


def render_failure(test: TestFile, failure: Failure) -> str:
    line, col = test.at(failure.path)
    head = f"{test.rel}:{line}:{col}: {format_yaml_path(failure.path)}: {failure.message}"
    if failure.expected is MISSING and failure.actual is MISSING:
        return head
    if _short(failure.expected) and _short(failure.actual):
        return (
            f"{head}\n    expected: {dump(failure.expected)}\n    actual:   {dump(failure.actual)}"
        )
    return f"{head}\n{_indent(diff(failure.expected, failure.actual, failure.mode))}"


def render_failures(test: TestFile, failures: Iterable[Failure], result: RunResult | None) -> str:
    parts = [render_failure(test, f) for f in failures]
    if result is not None:
        parts.append(render_trace(result))
    return "\n".join(parts)


def render_trace(result: RunResult, limit: int = 40) -> str:
    lines = [f"the run: {result.flow} {result.status}"]
    for record in result.trace[:limit]:
        extra = f" x{record.attempts}" if record.attempts > 1 else ""
        detail = f" ({record.detail})" if record.detail else ""
        lines.append(
            f"  {'  ' * max(record.depth, 0)}{record.label} [{record.kind}] "
            f"{record.status}{extra}{detail}"
        )
    if len(result.trace) > limit:
        lines.append(f"  … {len(result.trace) - limit} more")
    if result.error:
        lines.append(
            f"  error at {result.error.get('step')} [{result.error.get('code')}]: "
            f"{result.error.get('message')}"
        )
    return "\n".join(lines)


def render_diagnostics(diagnostics: Iterable[Diagnostic], limit: int = 20) -> str:
    items = sorted(diagnostics)
    lines = [str(d) for d in items[:limit]]
    if len(items) > limit:
        lines.append(f"… {len(items) - limit} more (run `seamline check`)")
    return "\n".join(lines)

"""The one shape every problem takes: a Diagnostic at load time, a StepError at run time.

Diagnostic codes are stable and part of the API (docs/errors.md lists them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

YamlPath = tuple[str | int, ...]


def format_yaml_path(path: Sequence[str | int]) -> str:
    """`('steps', 2, 'with', 'tax_id')` -> `steps[2].with.tax_id`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(document)"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """A problem an analyst can fix, located in a workspace file."""

    file: str
    line: int
    col: int
    yaml_path: str = field(compare=False)
    code: str = field(compare=False)
    message: str = field(compare=False)
    hint: str | None = field(default=None, compare=False)
    severity: str = field(default="error", compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        path = f" {self.yaml_path}:" if self.yaml_path else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{where}:{path} {self.message}{hint} [{self.code}]"

    def _replace_pos(self, pos: Any) -> Diagnostic:
        return Diagnostic(
            self.file, pos.line, pos.col, self.yaml_path, self.code, self.message, self.hint
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "yaml_path": self.yaml_path,
            "code": self.code,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class SeamlineError(Exception):
    """Base of every error seamline raises on purpose."""


class FlowError(SeamlineError):
    """A workspace that does not load: carries every diagnostic, sorted by position."""

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        n = len(self.diagnostics)
        head = f"{n} problem{'s' if n != 1 else ''} found"
        super().__init__(head + "".join(f"\n  {d}" for d in self.diagnostics))


class ExpressionError(SeamlineError):
    """An expression or template failed while a run evaluated it."""

    def __init__(self, message: str, *, source: str | None = None) -> None:
        self.source = source
        super().__init__(message)


class ContractViolation(SeamlineError):
    """Data that does not match its contract. `errors` are (json_path, message) pairs."""

    def __init__(self, contract: str, errors: Sequence[tuple[str, str]]) -> None:
        self.contract = contract
        self.errors = list(errors)
        first = self.errors[0] if self.errors else ("$", "invalid")
        more = f" (+{len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{contract}: {first[0]}: {first[1]}{more}")


class ConnectorError(SeamlineError):
    """An outbound call failed. `transient` errors are retried; permanent ones are not."""

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after: float | None = None,
        error_class: str | None = None,
    ) -> None:
        self.transient = transient
        self.status = status
        self.retry_after = retry_after
        self.error_class = error_class or ("transient" if transient else "permanent")
        super().__init__(message)


class StepError(SeamlineError):
    """A step failed during a run; keeps the original error as __cause__."""

    def __init__(
        self,
        *,
        flow: str,
        step: str,
        attempt: int,
        code: str,
        message: str,
        transient: bool = False,
    ) -> None:
        self.flow = flow
        self.step = step
        self.attempt = attempt
        self.code = code
        self.transient = transient
        self.message = message
        super().__init__(f"{flow}.{step} (attempt {attempt}): {message} [{code}]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "attempt": self.attempt,
            "code": self.code,
            "message": self.message,
            "transient": self.transient,
        }

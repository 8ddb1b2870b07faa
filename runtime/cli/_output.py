"""Shared console helpers for the commands."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console

from runtime.errors import Diagnostic

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    for d in diagnostics:
        where = f"[bold]{d.file}:{d.line}:{d.col}[/bold]"
        path = f" [cyan]{d.yaml_path}[/cyan]:" if d.yaml_path else ""
        hint = f" [dim](hint: {d.hint})[/dim]" if d.hint else ""
        console.print(
            f"{where}:{path} [red]{_escape(d.message)}[/red]{_escape_hint(hint)} [dim]\\[{d.code}][/dim]"
        )


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


def _escape_hint(text: str) -> str:
    if not text:
        return text
    inner = text[len(" [dim](hint: ") : -len(")[/dim]")]
    return f" [dim](hint: {_escape(inner)})[/dim]"

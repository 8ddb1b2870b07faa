"""Shared console helpers for the commands."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from runtime.connectors.secrets import RedactedStream
from runtime.errors import Diagnostic

# every line the commands print passes through secret redaction
console = Console(highlight=False, soft_wrap=True, file=RedactedStream("stdout"))
err_console = Console(highlight=False, soft_wrap=True, file=RedactedStream("stderr"))


def compact(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """`1 flow`, `2 flows`, `1 lookup table`."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def print_diagnostics(diagnostics: list[Diagnostic]) -> None:
    """Each diagnostic on one line, exactly its str() with colour; user text is never markup."""
    for d in diagnostics:
        where = f"[bold]{escape(f'{d.file}:{d.line}:{d.col}')}[/bold]"
        path = f" [cyan]{escape(d.yaml_path)}[/cyan]:" if d.yaml_path else ""
        hint = f" [dim](hint: {escape(d.hint)})[/dim]" if d.hint else ""
        console.print(
            f"{where}:{path} [red]{escape(d.message)}[/red]{hint} [dim]{escape(f'[{d.code}]')}[/dim]"
        )

"""Secrets: `env:NAME` / `file:PATH` references, resolved at call time, and redaction.

A connector file never holds a secret, only a reference to one. Every value resolved here (and
every credential a connector derives from one, such as an OAuth2 access token) is registered, so
`redact(text)` can blank it out of error messages, run results and CLI output: a secret that a
remote system echoes back in an error body does not end up in a dead letter.

Values shorter than `MIN_LENGTH` characters are not registered (redacting "ab" everywhere would
mangle every message and protect nothing).
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, quote_plus

from pydantic import Field

from runtime.errors import ConnectorError

SecretRef = Annotated[
    str,
    Field(
        pattern=r"^(env|file):.+$",
        description="A secret reference, `env:NAME` or `file:PATH`; never the secret itself.",
    ),
]

MASK = "***"
MIN_LENGTH = 4

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _variants(value: str) -> set[str]:
    """The forms a secret takes on the wire: raw, URL-quoted, JSON-escaped, base64."""
    forms = {value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1]}
    forms.add(base64.b64encode(value.encode()).decode().rstrip("="))
    return {f for f in forms if len(f) >= MIN_LENGTH}


def register_secret(value: str | None) -> None:
    """Remember `value` (and its encoded forms) so that `redact` removes it from any text."""
    global _pattern
    if not value or len(value) < MIN_LENGTH:
        return
    with _lock:
        new = _variants(value) - _secrets
        if not new:
            return
        _secrets.update(new)
        ordered = sorted(_secrets, key=len, reverse=True)  # longest first: no partial leftovers
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def redact(text: str) -> str:
    """`text` with every registered secret replaced by `***`."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_value(value: Any) -> Any:
    """A JSON-like value with every string (keys included) redacted."""
    if _pattern is None:
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_value(k): redact_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_value(v) for v in value]
    return value


class RedactedStream:
    """A text stream that redacts what is written to it: `sys.stdout` or `sys.stderr`, looked up
    at each write (so test runners that swap them still capture the output).

    `Console(file=RedactedStream("stdout"))` makes everything a rich console prints secret-free.
    """

    def __init__(self, name: str = "stdout") -> None:
        self.name = name

    @property
    def target(self) -> Any:
        return getattr(sys, self.name)

    def write(self, text: str) -> int:
        self.target.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self.target.flush()

    def __getattr__(self, attribute: str) -> Any:  # isatty, encoding, fileno …
        return getattr(self.target, attribute)


def connector_error(
    message: str,
    *,
    transient: bool,
    status: int | None = None,
    retry_after: float | None = None,
    error_class: str | None = None,
) -> ConnectorError:
    """A ConnectorError whose message never carries a registered secret."""
    return ConnectorError(
        redact(message),
        transient=transient,
        status=status,
        retry_after=retry_after,
        error_class=error_class,
    )


def _lookup(ref: str, what: str) -> str:
    scheme, _, name = ref.partition(":")
    if scheme == "env":
        value = os.environ.get(name)
        if value is None:
            raise ConnectorError(
                f"{what} env:{name} is not set", transient=False, error_class="config"
            )
        return value
    if scheme == "file":
        try:
            return Path(name).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConnectorError(
                f"{what} file {name} cannot be read: {exc.strerror}",
                transient=False,
                error_class="config",
            ) from exc
    raise ConnectorError(
        f"unsupported {what} reference {scheme}:…", transient=False, error_class="config"
    )


def resolve_secret(ref: str) -> str:
    """The value behind `env:NAME` or `file:PATH`; registered for redaction.

    A missing variable or unreadable file is a permanent `connector.config` error that names the
    reference, never a value.
    """
    value = _lookup(ref, "secret")
    register_secret(value)
    return value


def resolve_setting(text: str) -> str:
    """A setting that is not a secret (a base URL, a folder): literal, or `env:NAME` / `file:PATH`.

    Not registered for redaction, so error messages can still name it.
    """
    return _lookup(text, "setting") if text.startswith(("env:", "file:")) else text

"""Schema validation: jsonschema-rs answers "is it valid?" fast; python-jsonschema explains why.

Both run draft 2020-12. Contracts assert `format` (a malformed date is a violation); the
JSON-Schema-Test-Suite runs with format as annotation, as the specification's default.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
from jsonschema import Draft7Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match, relevance
from referencing import Registry

from runtime.errors import ContractViolation, SeamlineError

Violation = tuple[str, str]  # (JSON path of the violating value, message)


def refuse_remote(uri: str) -> Any:
    """Contracts are self-contained: no schema is ever fetched over the network."""
    raise ValueError(f"remote reference {uri} is not allowed; put shared definitions under $defs")


class SchemaValidator:
    """A schema compiled twice: the Rust validator for the hot path, Python for messages."""

    __slots__ = ("name", "schema", "_fast", "_reference")

    def __init__(
        self,
        schema: Mapping[str, Any] | bool,
        *,
        name: str = "schema",
        assert_formats: bool = True,
        registry: Registry | None = None,
        retriever: Callable[[str], Any] | None = None,
        draft7: bool = False,
    ) -> None:
        self.name = name
        self.schema = schema
        fast_cls = jsonschema_rs.Draft7Validator if draft7 else jsonschema_rs.Draft202012Validator
        self._fast = fast_cls(
            schema, validate_formats=assert_formats, retriever=retriever or refuse_remote
        )
        ref_cls = Draft7Validator if draft7 else Draft202012Validator
        kwargs: dict[str, Any] = {"format_checker": FormatChecker() if assert_formats else None}
        if registry is not None:
            kwargs["registry"] = registry
        self._reference = ref_cls(schema, **kwargs)

    def is_valid(self, instance: Any) -> bool:
        """Fast path."""
        return bool(self._fast.is_valid(instance))

    def reference_is_valid(self, instance: Any) -> bool:
        """The reference implementation's answer (None-safe: raises re.error on \\p{…} patterns)."""
        return bool(self._reference.is_valid(instance))

    def violations(self, instance: Any, limit: int = 20) -> list[Violation]:
        """Readable violations, the most relevant first (python-jsonschema's best_match)."""
        try:
            errors = list(self._reference.iter_errors(instance))
        except re.error:
            # Python's `re` lacks ECMA-262 features such as \p{L}; the Rust engine has them
            return self._fast_violations(instance, limit)
        if not errors:
            return []
        first = best_match(errors)
        # inside an anyOf/oneOf, best_match descends to the branch closest to matching
        rest = sorted((e for e in errors if e is not first), key=relevance, reverse=True)
        return [(_json_path(e), e.message) for e in [first, *rest][:limit]]

    def _fast_violations(self, instance: Any, limit: int) -> list[Violation]:
        out = []
        for error in self._fast.iter_errors(instance):
            path = "$" + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path
            )
            out.append((path, error.message))
            if len(out) >= limit:
                break
        return out

    def check(self, instance: Any) -> None:
        """Raise ContractViolation unless valid (fast path first; reference only on failure)."""
        if self.is_valid(instance):
            return
        raise ContractViolation(
            self.name, self.violations(instance) or [("$", "does not match the schema")]
        )


def _json_path(error: jsonschema.ValidationError) -> str:
    return error.json_path


def check_schema(schema: Any) -> list[Violation]:
    """Problems with a schema itself, against the draft 2020-12 metaschema."""
    return [
        (_json_path(e), e.message)
        for e in Draft202012Validator(Draft202012Validator.META_SCHEMA).iter_errors(schema)
    ]


CLOUDEVENTS_SCHEMA_ENV = "SEAMLINE_CLOUDEVENTS_SCHEMA"
_SHARED_SCHEMA = Path("shared", "testsuites", "cloudevents", "cloudevents.json")

# Used only where the official schema file cannot be found (see docs/operations.md): the
# attributes CloudEvents 1.0 requires, so an installed runtime still refuses a bare payload.
_MINIMAL_ENVELOPE: dict[str, Any] = {
    "type": "object",
    "required": ["id", "source", "specversion", "type"],
    "properties": {
        name: {"type": "string", "minLength": 1}
        for name in (
            "id",
            "source",
            "specversion",
            "type",
            "subject",
            "datacontenttype",
            "dataschema",
        )
    },
}


def cloudevents_schema_path() -> Path | None:
    """The official CloudEvents JSON schema: $SEAMLINE_CLOUDEVENTS_SCHEMA, else the shared
    conformance copy beside the workspace or the installed package."""
    explicit = os.environ.get(CLOUDEVENTS_SCHEMA_ENV)
    if explicit:
        return Path(explicit)
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            candidate = folder / _SHARED_SCHEMA
            if candidate.is_file():
                return candidate
    return None


@cache
def envelope_validator() -> SchemaValidator:
    """The CloudEvents 1.0 structured-JSON envelope schema (draft-07)."""
    path = cloudevents_schema_path()
    try:
        schema = json.loads(path.read_text(encoding="utf-8")) if path else _MINIMAL_ENVELOPE
    except (OSError, json.JSONDecodeError) as exc:
        raise SeamlineError(
            f"cannot read the CloudEvents schema {path} ({exc}); "
            f"fix or unset {CLOUDEVENTS_SCHEMA_ENV}"
        ) from exc
    return SchemaValidator(
        schema, name="CloudEvents 1.0 envelope", draft7=True, assert_formats=False
    )


def check_envelope(event: Any) -> list[Violation]:
    """Violations of the CloudEvents envelope, plus the rules the schema cannot say."""
    validator = envelope_validator()
    problems = [] if validator.is_valid(event) else validator.violations(event)
    if isinstance(event, dict):
        if "specversion" in event and event["specversion"] != "1.0":
            problems.append(("$.specversion", "must be '1.0'"))
        for required in ("id", "source", "type"):
            if required not in event and not any(
                p[0] == "$" and required in p[1] for p in problems
            ):
                problems.append(("$", f"{required!r} is a required property"))
    return problems

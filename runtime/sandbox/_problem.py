"""Errors as RFC 9457 problem documents (`application/problem+json`), and request checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from starlette.responses import JSONResponse

PROBLEM_BASE = "https://seamline.dev/sandbox/problems/"


class Problem(Exception):
    """An error answer: `raise Problem(409, "duplicate_tax_id", "…", existing_id=…)`."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {
            "type": PROBLEM_BASE + self.code,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            **self.extra,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(
            self.body(),
            status_code=self.status,
            headers=self.headers,
            media_type="application/problem+json",
        )


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def not_found(kind: str, record_id: str) -> Problem:
    return Problem(404, "not_found", f"{kind} {record_id} does not exist", id=record_id)


_CHECKS: dict[str, tuple[str, Any]] = {
    "str": ("a non-empty string", lambda v: isinstance(v, str) and v.strip() != ""),
    "number": (
        "a number",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    ),
    "positive": (
        "a number greater than 0",
        lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v > 0,
    ),
    "date": ("an ISO date (YYYY-MM-DD)", lambda v: _is_date(v)),
    "list": ("a non-empty list", lambda v: isinstance(v, list) and len(v) > 0),
    "object": ("an object", lambda v: isinstance(v, dict)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
}


def _is_date(value: Any) -> bool:
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError):
        return False
    return len(value) == 10


def require(
    body: Any, fields: Mapping[str, str], *, optional: Mapping[str, str] | None = None
) -> None:
    """422 listing every field that is missing or of the wrong type (`{"name": "str", …}`)."""
    if not isinstance(body, dict):
        raise Problem(422, "validation", "the request body must be a JSON object")
    errors = []
    for name, check in fields.items():
        label, ok = _CHECKS[check]
        if body.get(name) is None:
            errors.append({"field": name, "message": "is required"})
        elif not ok(body[name]):
            errors.append({"field": name, "message": f"must be {label}"})
    for name, check in (optional or {}).items():
        label, ok = _CHECKS[check]
        if body.get(name) is not None and not ok(body[name]):
            errors.append({"field": name, "message": f"must be {label}"})
    if errors:
        detail = "; ".join(f"{e['field']} {e['message']}" for e in errors)
        raise Problem(422, "validation", detail, errors=errors)


def only(body: Any, allowed: frozenset[str] | set[str], what: str) -> dict[str, Any]:
    """The body, after a 422 naming any field this resource does not have."""
    if not isinstance(body, dict):
        raise Problem(422, "validation", "the request body must be a JSON object")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise Problem(
            422,
            "unknown_field",
            f"{what} has no field {', '.join(unknown)} (fields: {', '.join(sorted(allowed))})",
            errors=[{"field": f, "message": "is not a field of " + what} for f in unknown],
        )
    return body


def clean(value: Any) -> Any:
    """A copy without null members (events leave absent optional fields out)."""
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [clean(v) for v in value]
    return value

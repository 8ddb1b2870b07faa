"""Pagination, one style per system, so connectors meet all three."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from starlette.datastructures import QueryParams

from runtime.sandbox._problem import Problem
from runtime.sandbox._service import Call
from runtime.sandbox._store import strip_rowid


def _limit(call: Call, name: str = "limit", default: int = 50) -> int:
    try:
        return max(1, min(int(call.query.get(name, default)), 200))
    except ValueError as exc:
        raise Problem(400, "bad_query", f"{name} must be an integer") from exc


def _cursor_page(call: Call, table: str, filters: dict[str, Any]) -> dict[str, Any]:
    """CRM: `?limit=&cursor=` → `{items, next_cursor}` (an opaque cursor, null on the last page)."""
    limit, after = _limit(call), None
    if call.query.get("cursor"):
        try:
            after = int(base64.urlsafe_b64decode(call.query["cursor"].encode()).decode()[2:])
        except ValueError as exc:
            raise Problem(400, "bad_query", "cursor is not valid") from exc
    rows = call.store.find(table, filters, limit=limit + 1, after=after)
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = base64.urlsafe_b64encode(f"r:{rows[-1]['_rowid']}".encode()).decode() if more else None
    return {"items": [strip_rowid(r) for r in rows], "next_cursor": cursor}


def _link_page(call: Call, table: str, filters: dict[str, Any]) -> dict[str, Any]:
    """PSA: `?page=&per_page=` → `{items, page, per_page, links: {next}}` (an absolute URL)."""
    per_page = _limit(call, "per_page")
    try:
        page = max(1, int(call.query.get("page", 1)))
    except ValueError as exc:
        raise Problem(400, "bad_query", "page must be an integer") from exc
    rows = call.store.find(table, filters, limit=per_page + 1, offset=(page - 1) * per_page)
    more = len(rows) > per_page
    params = dict(call.query) | {"page": str(page + 1), "per_page": str(per_page)}
    base = call.url.split("?", 1)[0]
    next_url = f"{base}?{QueryParams(params)}" if more else None
    return {
        "items": [strip_rowid(r) for r in rows[:per_page]],
        "page": page,
        "per_page": per_page,
        "links": {"next": next_url},
    }


def _offset_page(call: Call, table: str, filters: dict[str, Any]) -> dict[str, Any]:
    """ERP: `?offset=&limit=` → `{items, offset, limit, total, has_more}`."""
    limit = _limit(call)
    try:
        offset = max(0, int(call.query.get("offset", 0)))
    except ValueError as exc:
        raise Problem(400, "bad_query", "offset must be an integer") from exc
    rows = call.store.find(table, filters, limit=limit, offset=offset)
    total = call.store.count(table, filters)
    return {
        "items": [strip_rowid(r) for r in rows],
        "offset": offset,
        "limit": limit,
        "total": total,
        "has_more": offset + len(rows) < total,
    }


PAGERS: dict[str, Callable[[Call, str, dict[str, Any]], dict[str, Any]]] = {
    "cursor": _cursor_page,
    "link": _link_page,
    "offset": _offset_page,
}

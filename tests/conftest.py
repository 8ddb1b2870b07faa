"""Shared fixtures: small real workspaces written to tmp_path, and the shared conformance suites."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
TESTSUITES = SHARED / "testsuites"


def shared_suite(*parts: str) -> Path:
    """A path inside ../shared/testsuites; skips the test with a clear reason when absent."""
    path = TESTSUITES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"conformance suite not found at {path} (CI provides ../shared/testsuites)")
    return path


WriteWorkspace = Callable[[Mapping[str, Any]], Path]


def write_files(root: Path, files: Mapping[str, Any]) -> Path:
    """Write {relative path: text or JSON-able object} under root; text is dedented."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
        else:
            path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return root


ORDER_PLACED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "currency", "lines"],
    "properties": {
        "order_id": {"type": "string", "pattern": "^O[0-9]+$"},
        "currency": {"enum": ["EUR", "USD", "GBP"]},
        "lines": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["sku", "qty"],
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}

ORDER_ACCEPTED = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["order_id", "count"],
    "properties": {
        "order_id": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
        "note": {"type": "string"},
    },
    "additionalProperties": False,
}

MINI_WORKSPACE: dict[str, Any] = {
    "contracts/shop.order.placed/v1.schema.json": ORDER_PLACED,
    "contracts/shop.order.accepted/v1.schema.json": ORDER_ACCEPTED,
    "connectors/wms.yaml": """
        connector: wms
        kind: mock
        operations:
          reserve: { output: { reservation: "R-${ input.sku }" } }
          release: { output: { released: true } }
          ship: { error: { type: permanent, message: no carrier } }
          flaky: { sequence: [ { error: { type: transient, message: busy } }, { output: { ok: true } } ] }
    """,
    "flows/lookups/rates.yaml": "EUR: { vat: 0.2 }\nUSD: { vat: 0.0 }\n",
}


def order_event(order_id: str = "O1", lines: list[dict[str, Any]] | None = None, currency: str = "EUR",
                **envelope: Any) -> dict[str, Any]:
    """A valid shop.order.placed CloudEvent."""
    return {
        "specversion": "1.0",
        "id": envelope.pop("id", f"evt-{order_id}"),
        "source": "/shop",
        "type": "shop.order.placed",
        "subject": order_id,
        "data": {"order_id": order_id, "currency": currency, "lines": lines or [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]},
        **envelope,
    }


@pytest.fixture
def workspace(tmp_path: Path) -> WriteWorkspace:
    """`workspace({"flows/x.yaml": "..."})` -> a workspace root with the mini workspace plus those files."""

    def make(files: Mapping[str, Any]) -> Path:
        root = tmp_path / "ws"
        write_files(root, {**MINI_WORKSPACE, **files})
        return root

    return make

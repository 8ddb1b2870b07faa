"""`paginate:` cursor, next link (body field and Link header) and offset against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from runtime.compiler.workspace import check_workspace
from runtime.errors import ConnectorError
from tests.connectors._api_server import ITEMS, ApiState, api_server
from tests.connectors._calls import call
from tests.connectors._server import LiveServer
from tests.steps import compile_flows, run

EVERY_N = [item["n"] for item in ITEMS]


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    live = api_server()
    yield live
    live.stop()


def requests(server: LiveServer, path: str, run_id: str) -> list[Any]:
    assert isinstance(server.state, ApiState)
    return [r for r in server.state.api(path) if r.headers.get("x-correlation-id") == run_id]


def plan_for(workspace: Any, url: str) -> Any:
    return compile_flows(workspace, {"connectors/api.yaml": f"""
connector: api
kind: http
base_url: {url}
operations:
  by_cursor:
    path: /paged/cursor
    query: {{ status: open }}
    result: "items[].n"
    paginate: {{ type: cursor, cursor: meta.next_cursor, param: cursor }}
  by_link:
    path: /paged/link
    result: data
    paginate: {{ type: next_link, next: links.next }}
  by_header:
    path: /paged/header
    result: "[].n"
    paginate: {{ type: next_link }}
  by_offset:
    path: /paged/offset
    result: "items[].n"
    paginate: {{ type: offset, limit: 7 }}
  endless:
    path: /paged/endless
    result: items
    paginate: {{ type: cursor, cursor: next, param: cursor, max_pages: 4 }}
  elsewhere:
    path: /paged/elsewhere
    result: data
    paginate: {{ type: next_link, next: links.next }}
  first_page_only:
    path: /paged/cursor
    result: "items[].n"
"""})


def test_cursor_pages_are_collected_and_the_selector_applies_per_page(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.by_cursor", run_id="cursor-run") == EVERY_N

    sent = requests(server, "/paged/cursor", "cursor-run")
    assert [r.query for r in sent] == [{"status": "open"}, {"status": "open", "cursor": "10"},
                                       {"status": "open", "cursor": "20"}]


def test_without_paginate_only_the_first_page_comes_back(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.first_page_only") == EVERY_N[:10]


def test_next_link_from_a_response_field(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.by_link", run_id="link-run") == ITEMS

    sent = requests(server, "/paged/link", "link-run")
    assert [r.query for r in sent] == [{}, {"page": "2"}, {"page": "3"}]


def test_next_link_from_the_link_header(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.by_header", run_id="header-run") == EVERY_N
    assert len(requests(server, "/paged/header", "header-run")) == 3


def test_offset_and_limit_stop_at_a_short_page(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    assert call(plan, "api.by_offset", run_id="offset-run") == EVERY_N

    sent = requests(server, "/paged/offset", "offset-run")
    assert [(r.query["offset"], r.query["limit"]) for r in sent] == [("0", "7"), ("7", "7"), ("14", "7"), ("21", "7")]


def test_more_pages_than_max_pages_fail_the_call(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    with pytest.raises(ConnectorError) as caught:
        call(plan, "api.endless", run_id="endless-run")

    assert (caught.value.error_class, caught.value.transient) == ("too_many_pages", False)
    assert "more than 4 pages" in str(caught.value)
    assert len(requests(server, "/paged/endless", "endless-run")) == 4


def test_a_next_link_to_another_origin_is_not_followed(workspace, server: LiveServer) -> None:
    plan = plan_for(workspace, server.url)
    with pytest.raises(ConnectorError) as caught:
        call(plan, "api.elsewhere")
    assert caught.value.error_class == "bad_next_link"
    assert "127.0.0.2" in str(caught.value)


def test_paged_results_in_a_flow(workspace, server: LiveServer) -> None:
    plan = compile_flows(workspace, {
        "connectors/api.yaml": _connector_text(server.url),
        "flows/sync.yaml": "flow: sync\non: { event: shop.order.placed }\nsteps:\n"
                           "  - { id: all, call: api.by_cursor }\noutput: \"${ length(steps.all.output) }\"\n",
    })
    result = run(plan, "sync")
    assert (result.status, result.output) == ("succeeded", 25)


def _connector_text(url: str) -> str:
    return f"""
connector: api
kind: http
base_url: {url}
operations:
  by_cursor:
    path: /paged/cursor
    result: "items[].n"
    paginate: {{ type: cursor, cursor: meta.next_cursor, param: cursor }}
"""


def test_cursor_pagination_needs_cursor_and_param(workspace) -> None:
    root = workspace({"connectors/api.yaml": "connector: api\nkind: http\nbase_url: http://127.0.0.1:1\n"
                                             "operations:\n  x:\n    path: /x\n    paginate: { type: cursor }\n"})
    assert [str(d) for d in check_workspace(root).diagnostics] == [
        "connectors/api.yaml:7:15: operations.x.paginate: cursor pagination needs `cursor` "
        "(where the next cursor is) and `param` [spec.value_error]"
    ]

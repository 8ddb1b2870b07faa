"""`route(plan, event)`: every flow whose trigger type matches and whose filter holds."""

from __future__ import annotations

from runtime.engine import route
from tests.conftest import order_event
from tests.steps import compile_flows

STEP = "steps:\n  - { id: a, set: { x: 1 } }\n"

FLOWS = {
    "flows/euro_orders.yaml": "flow: euro_orders\non: { event: shop.order.placed, filter: \"data.currency == 'EUR'\" }\n" + STEP,
    "flows/big_orders.yaml": "flow: big_orders\non: { event: shop.order.placed, filter: \"sum(data.lines[].qty) >= `10`\" }\n" + STEP,
    "flows/all_orders.yaml": "flow: all_orders\non: { event: shop.order.placed }\n" + STEP,
    "flows/acceptances.yaml": "flow: acceptances\non: { event: shop.order.accepted }\n" + STEP,
    "flows/nightly.yaml": "flow: nightly\non: { schedule: \"0 2 * * *\" }\n" + STEP,
}


def names(plan, event) -> list[str]:
    return sorted(f.name for f in route(plan, event))


def test_filter_true_and_false(workspace) -> None:
    plan = compile_flows(workspace, FLOWS)
    assert "euro_orders" in names(plan, order_event(currency="EUR"))
    assert "euro_orders" not in names(plan, order_event(currency="USD"))


def test_several_flows_on_one_event_type(workspace) -> None:
    plan = compile_flows(workspace, FLOWS)
    big = order_event(currency="EUR", lines=[{"sku": "A", "qty": 6}, {"sku": "B", "qty": 4}])
    assert names(plan, big) == ["all_orders", "big_orders", "euro_orders"]
    assert names(plan, order_event(currency="GBP")) == ["all_orders"]


def test_no_flow_for_the_event(workspace) -> None:
    plan = compile_flows(workspace, FLOWS)
    assert names(plan, {**order_event(), "type": "shop.order.cancelled"}) == []
    assert names(plan, {"specversion": "1.0"}) == []


def test_only_the_matching_type_is_routed(workspace) -> None:
    plan = compile_flows(workspace, FLOWS)
    accepted = {"specversion": "1.0", "id": "x", "source": "/wms", "type": "shop.order.accepted",
                "data": {"order_id": "O1", "count": 1}}
    assert names(plan, accepted) == ["acceptances"]  # schedules are never routed events


def test_filter_sees_the_event_and_its_data(workspace) -> None:
    plan = compile_flows(workspace, {
        "flows/from_shop.yaml": "flow: from_shop\non: { event: shop.order.placed, filter: \"event.source == '/shop' && data.order_id == event.subject\" }\n" + STEP,
    })
    assert names(plan, order_event("O5")) == ["from_shop"]
    assert names(plan, order_event("O5", source="/elsewhere")) == []

"""How big the demo's day is: `small` for tests and CI, `day` for the real show."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scale:
    name: str
    accounts: int  # new customers sales create in the CRM
    northwind_new_customers: int  # UK accounts for Northwind's new deals
    northwind_known_customers: int  # customers Northwind brought (in its legacy ERP)
    incomplete_accounts: int  # typed without a tax id: their webhooks break the contract
    account_updates: int
    duplicate_accounts: int  # entered twice under one tax id
    deals: int  # opportunities won
    northwind_deals: int  # of which UK02 (variant northwind_uk)
    rule_breaking_deals: int  # wrong currency for the entity, or lines that do not add up
    timesheets: int
    unpriced_timesheets: int  # a role the rate card does not price
    change_orders: int
    invoices_posted: int
    payments: int
    redeliveries: int  # duplicate webhook deliveries
    invalid_events: int  # posted straight to the ingress
    people: int  # users working in parallel
    workers: int  # runs the runtime executes at once
    error_rate: float  # CRM and PSA: share of requests answered 503
    erp_error_rate: float
    timeout_rate: float  # ERP: requests that hang (writes are carried out first)
    latency: float  # seconds added to every request (plus up to as much jitter)


SCALES = {
    "small": Scale(
        "small",
        accounts=16,
        northwind_new_customers=2,
        northwind_known_customers=2,
        incomplete_accounts=1,
        account_updates=3,
        duplicate_accounts=1,
        deals=12,
        northwind_deals=3,
        rule_breaking_deals=2,
        timesheets=40,
        unpriced_timesheets=1,
        change_orders=4,
        invoices_posted=4,
        payments=3,
        redeliveries=6,
        invalid_events=6,
        people=4,
        workers=8,
        error_rate=0.02,
        erp_error_rate=0.05,
        timeout_rate=0.004,
        latency=0.002,
    ),
    "day": Scale(
        "day",
        accounts=300,
        northwind_new_customers=14,
        northwind_known_customers=14,
        incomplete_accounts=4,
        account_updates=40,
        duplicate_accounts=6,
        deals=220,
        northwind_deals=24,
        rule_breaking_deals=8,
        timesheets=2000,
        unpriced_timesheets=5,
        change_orders=60,
        invoices_posted=100,
        payments=70,
        redeliveries=100,
        invalid_events=25,
        people=6,
        workers=16,
        error_rate=0.02,
        erp_error_rate=0.05,
        timeout_rate=0.005,
        latency=0.002,
    ),
}

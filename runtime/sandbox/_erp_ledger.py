"""The ERP's reference data and the rules every ERP document follows: subsidiaries (legal
entities), currencies, payment terms and tax codes."""

from __future__ import annotations

from typing import Any

from runtime.sandbox._problem import Problem, not_found
from runtime.sandbox._service import Call

# NetSuite-style subsidiaries: internal id, the legal entity code, and what each may do.
SUBSIDIARIES = [
    {
        "id": "1",
        "legal_entity": "US01",
        "name": "Meridian Consulting Inc.",
        "country": "US",
        "base_currency": "USD",
        "allowed_currencies": ["USD"],
        "default_tax_code": "US_NONTAX",
        "default_payment_terms": "NET30",
    },
    {
        "id": "2",
        "legal_entity": "UK01",
        "name": "Meridian Consulting Ltd",
        "country": "GB",
        "base_currency": "GBP",
        "allowed_currencies": ["GBP", "EUR"],
        "default_tax_code": "GB_STD_20",
        "default_payment_terms": "NET30",
    },
    {
        "id": "3",
        "legal_entity": "DE01",
        "name": "Meridian Consulting GmbH",
        "country": "DE",
        "base_currency": "EUR",
        "allowed_currencies": ["EUR"],
        "default_tax_code": "DE_STD_19",
        "default_payment_terms": "NET30",
    },
    {
        "id": "4",
        "legal_entity": "FR01",
        "name": "Meridian Consulting SAS",
        "country": "FR",
        "base_currency": "EUR",
        "allowed_currencies": ["EUR"],
        "default_tax_code": "FR_STD_20",
        "default_payment_terms": "NET45",
    },
]
CURRENCIES = [
    {"id": "USD", "name": "US Dollar"},
    {"id": "GBP", "name": "Pound Sterling"},
    {"id": "EUR", "name": "Euro"},
    {"id": "CHF", "name": "Swiss Franc"},
    {"id": "CAD", "name": "Canadian Dollar"},
]
TAX_RATES = {
    "US_NONTAX": 0,
    "US_SALES": 0.0825,
    "GB_STD_20": 0.20,
    "GB_ZERO": 0,
    "DE_STD_19": 0.19,
    "FR_STD_20": 0.20,
    "EU_REVERSE_CHARGE": 0,
    "OUTSIDE_SCOPE": 0,
}
PAYMENT_TERMS = ("NET15", "NET30", "NET45", "NET60")
EU = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    ]
)


def seed_reference(call_store: Any) -> None:
    for table, rows in (("subsidiaries", SUBSIDIARIES), ("currencies", CURRENCIES)):
        for row in rows:
            if call_store.get(table, row["id"]) is None:
                call_store.insert(table, dict(row))


def get(call: Call, table: str, kind: str, record_id: str | None = None) -> dict[str, Any]:
    record_id = record_id or call.params["id"]
    record = call.store.get(table, record_id)
    if record is None:
        raise not_found(kind, record_id)
    return record


def subsidiary(call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """The subsidiary a document belongs to, from `legal_entity` and/or `subsidiary_id`."""
    code, sub_id = body.get("legal_entity"), body.get("subsidiary_id")
    if code is None and sub_id is None:
        raise Problem(
            422,
            "validation",
            "legal_entity (or subsidiary_id) is required",
            errors=[{"field": "legal_entity", "message": "is required"}],
        )
    found = None
    if code is not None:
        found = call.store.first("subsidiaries", {"legal_entity": code})
        if found is None:
            raise Problem(
                422,
                "unknown_legal_entity",
                f"legal entity {code} is not a subsidiary of this ERP",
                known=[s["legal_entity"] for s in call.store.find("subsidiaries")],
            )
    if sub_id is not None:
        by_id = call.store.get("subsidiaries", str(sub_id))
        if by_id is None:
            raise Problem(422, "unknown_legal_entity", f"subsidiary {sub_id} does not exist")
        if found is not None and by_id["id"] != found["id"]:
            raise Problem(
                422,
                "subsidiary_mismatch",
                f"subsidiary {sub_id} is {by_id['legal_entity']}, not legal entity {code}",
            )
        found = by_id
    assert found is not None
    found.pop("_rowid", None)
    return found


def check_currency(call: Call, sub: dict[str, Any], currency: Any) -> None:
    if call.store.get("currencies", str(currency)) is None:
        raise Problem(422, "unknown_currency", f"currency {currency} is not set up in the ERP")
    if currency not in sub["allowed_currencies"]:
        raise Problem(
            422,
            "currency_not_allowed",
            f"{sub['legal_entity']} cannot transact in "
            f"{currency} (allowed: {', '.join(sub['allowed_currencies'])})",
        )


def check_terms(terms: Any) -> None:
    if terms is not None and terms not in PAYMENT_TERMS:
        raise Problem(
            422,
            "unknown_payment_terms",
            f"payment terms {terms} are not one of {', '.join(PAYMENT_TERMS)}",
        )


def tax_code(sub: dict[str, Any], customer_country: Any) -> str:
    """Domestic supply: the entity's standard code; intra-EU B2B: reverse charge; else outside
    the scope of the entity's VAT."""
    if customer_country in (None, sub["country"]):
        return str(sub["default_tax_code"])
    if sub["country"] in EU and customer_country in EU:
        return "EU_REVERSE_CHARGE"
    return "US_NONTAX" if sub["country"] == "US" else "OUTSIDE_SCOPE"


def same_currency(record: dict[str, Any], currency: Any, kind: str) -> None:
    if currency != record["currency"]:
        raise Problem(
            422,
            "currency_mismatch",
            f"{kind} {record['id']} is in {record['currency']}, not {currency}",
        )

"""Money functions: exact decimal arithmetic, ISO 4217 minor units, commercial rounding.

Amounts are JSON numbers or numeric strings; a float is read through its shortest decimal text,
so `0.1` is exactly one tenth. Results are JSON numbers: an int when whole, else a float made from
the rounded decimal's text, so binary artefacts such as 0.30000000000000004 never appear.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Any

from jmespath.functions import signature

from ._functions_base import FunctionArgumentError, FunctionDoc, arg, json_number
from ._functions_base import FunctionExample as Ex

# ISO 4217 currencies whose minor unit is not 2 (all others, including unknown codes, use 2).
MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}
MAX_PARTS = 10_000
_CURRENCY = re.compile(r"[A-Z]{3}")


@lru_cache(maxsize=256)  # errors are not cached
def minor_units(function: str, currency: str) -> int:
    """Digits after the decimal point for an ISO 4217 code (`JPY` 0, `EUR` 2, `KWD` 3)."""
    if not _CURRENCY.fullmatch(currency):
        raise FunctionArgumentError(
            function,
            f"currency {currency!r} is not an ISO 4217 code (expected 3 upper-case letters, "
            "e.g. EUR)",
        )
    return MINOR_UNITS.get(currency, 2)


def to_decimal(function: str, value: Any, what: str = "amount") -> Decimal:
    """A JSON number or numeric string as an exact Decimal."""
    if type(value) is int:  # the common case: exact, finite, the same as Decimal(str(value))
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise FunctionArgumentError(function, f"{what} must be a number or a numeric string")
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        number = Decimal("NaN")
    if not number.is_finite():
        raise FunctionArgumentError(
            function, f"cannot read {what} {value!r} as a number (expected e.g. 1234.56)"
        )
    return number


@lru_cache(maxsize=16)
def _quantum(units: int) -> Decimal:
    return Decimal(1).scaleb(-units)


def round_to(function: str, amount: Decimal, units: int) -> Decimal:
    """Commercial rounding (half away from zero) to `units` decimal places."""
    try:
        return amount.quantize(_quantum(units), rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise FunctionArgumentError(function, f"amount {amount} is too large") from None


def allocate(function: str, total_minor: int, weights: list[Fraction]) -> list[int]:
    """Largest-remainder split of minor units by weight; ties go to the earlier items."""
    sign, total = (-1, -total_minor) if total_minor < 0 else (1, total_minor)
    if weights and weights.count(weights[0]) == len(weights) and weights[0] > 0:
        # equal weights: the same answer without fractions (remainders tie: earlier items)
        base, rest = divmod(total, len(weights))
        return [sign * (base + (i < rest)) for i in range(len(weights))]
    weight_sum = sum(weights, Fraction(0))
    shares = [total * w / weight_sum for w in weights]
    parts = [int(share) for share in shares]
    order = sorted(range(len(shares)), key=lambda i: (parts[i] - shares[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return [sign * part for part in parts]


def _weights(function: str, parts: int | float | list[Any]) -> list[Fraction]:
    if not isinstance(parts, list):
        if not float(parts).is_integer() or not 1 <= parts <= MAX_PARTS:
            raise FunctionArgumentError(
                function, f"parts must be a whole number from 1 to {MAX_PARTS}, not {parts!r}"
            )
        return [Fraction(1)] * int(parts)
    if not parts or len(parts) > MAX_PARTS:
        raise FunctionArgumentError(function, f"weights must have 1 to {MAX_PARTS} entries")
    weights = [Fraction(to_decimal(function, w, "weight")) for w in parts]
    if any(w < 0 for w in weights) or not any(weights):
        raise FunctionArgumentError(
            function, "weights must be zero or positive and at least one must be positive"
        )
    return weights


class MoneyFunctions:
    """JMESPath `_func_` methods for money; mixed into IntegrationFunctions."""

    @signature(arg("number", "string"), arg("string"))
    def _func_round_money(self, amount: Any, currency: str) -> int | float:
        units = minor_units("round_money", currency)
        return json_number(round_to("round_money", to_decimal("round_money", amount), units))

    @signature(arg("number", "string"), arg("string"))
    def _func_to_minor_units(self, amount: Any, currency: str) -> int:
        units = minor_units("to_minor_units", currency)
        rounded = round_to("to_minor_units", to_decimal("to_minor_units", amount), units)
        return int(rounded.scaleb(units))

    @signature(arg("number", "string"), arg("string"))
    def _func_from_minor_units(self, minor: Any, currency: str) -> int | float:
        units = minor_units("from_minor_units", currency)
        number = to_decimal("from_minor_units", minor, "minor units")
        if number != number.to_integral_value():
            raise FunctionArgumentError(
                "from_minor_units", f"minor units must be a whole number, not {minor!r}"
            )
        return json_number(number.scaleb(-units))

    @signature(arg("array"), arg("string"))
    def _func_sum_money(self, amounts: list[Any], currency: str) -> int | float:
        units = minor_units("sum_money", currency)
        total = sum((to_decimal("sum_money", a) for a in amounts), Decimal(0))
        return json_number(round_to("sum_money", total, units))

    @signature(arg("number", "string"), arg("number", "array"), arg("string"))
    def _func_allocate(
        self, amount: Any, parts: int | float | list[Any], currency: str
    ) -> list[int | float]:
        units = minor_units("allocate", currency)
        rounded = round_to("allocate", to_decimal("allocate", amount), units)
        split = allocate("allocate", int(rounded.scaleb(units)), _weights("allocate", parts))
        return [json_number(Decimal(part).scaleb(-units)) for part in split]

    @signature(arg("number", "string"), arg("number", "string"), arg("string"))
    def _func_percent_of(self, amount: Any, percent: Any, currency: str) -> int | float:
        units = minor_units("percent_of", currency)
        exact = to_decimal("percent_of", amount) * to_decimal("percent_of", percent, "percent")
        return json_number(round_to("percent_of", exact / 100, units))


MONEY_DOCS: tuple[FunctionDoc, ...] = (
    FunctionDoc(
        "round_money",
        "round_money(amount: number|string, currency: string) -> number",
        "money",
        "Rounds to the currency's ISO 4217 minor units (JPY and KRW 0, BHD, KWD and JOD 3, most "
        "others 2) with commercial rounding: halves go away from zero. Accepts numeric strings.",
        (
            Ex("round_money(amount, 'EUR')", {"amount": 2.345}, 2.35),
            Ex("round_money(amount, 'JPY')", {"amount": "1234.5"}, 1235),
            Ex("round_money(amount, 'KWD')", {"amount": -1.23456}, -1.235),
            Ex("round_money(`-0.125`, 'USD')", None, -0.13),
        ),
    ),
    FunctionDoc(
        "to_minor_units",
        "to_minor_units(amount: number|string, currency: string) -> number",
        "money",
        "The amount as a whole number of minor units (cents), rounded first; what payment APIs "
        "such as Stripe expect.",
        (
            Ex("to_minor_units(amount, 'EUR')", {"amount": 19.99}, 1999),
            Ex("to_minor_units(amount, 'JPY')", {"amount": 1500}, 1500),
            Ex("to_minor_units('12.3456', 'BHD')", None, 12346),
        ),
    ),
    FunctionDoc(
        "from_minor_units",
        "from_minor_units(minor: number|string, currency: string) -> number",
        "money",
        "A whole number of minor units back to an amount.",
        (
            Ex("from_minor_units(amount_cents, 'EUR')", {"amount_cents": 1999}, 19.99),
            Ex("from_minor_units(`1500`, 'JPY')", None, 1500),
            Ex("from_minor_units(`12346`, 'BHD')", None, 12.346),
        ),
    ),
    FunctionDoc(
        "sum_money",
        "sum_money(amounts: array, currency: string) -> number",
        "money",
        "The exact decimal sum of numbers or numeric strings, then rounded once to the currency.",
        (
            Ex(
                "sum_money(lines[].amount, 'EUR')",
                {"lines": [{"amount": 0.1}, {"amount": 0.2}]},
                0.3,
            ),
            Ex("sum_money(@, 'EUR')", ["19.99", 5, 0.015], 25.01),
            Ex("sum_money(`[]`, 'USD')", None, 0),
        ),
    ),
    FunctionDoc(
        "allocate",
        "allocate(amount: number|string, parts: number|array, currency: string) -> array",
        "money",
        "Splits an amount into shares that add up exactly to the rounded amount: `parts` is a "
        "count for an equal split or an array of weights. Largest-remainder method; leftover "
        "minor units go to the earliest items with the largest remainders.",
        (
            Ex("allocate(`100`, `3`, 'EUR')", None, [33.34, 33.33, 33.33]),
            Ex(
                "allocate(fee, weights, 'EUR')",
                {"fee": 1000, "weights": [50, 30, 20]},
                [500, 300, 200],
            ),
            Ex("allocate(`10`, `[1, 1, 1]`, 'JPY')", None, [4, 3, 3]),
            Ex("allocate(`-0.05`, `2`, 'USD')", None, [-0.03, -0.02]),
        ),
    ),
    FunctionDoc(
        "percent_of",
        "percent_of(amount: number|string, percent: number|string, currency: string) -> number",
        "money",
        "`percent` percent of `amount` (exact, then rounded to the currency), e.g. VAT or a "
        "discount.",
        (
            Ex("percent_of(net, `19`, 'EUR')", {"net": 123.45}, 23.46),
            Ex("percent_of(`1000`, '7.5', 'USD')", None, 75),
            Ex("percent_of(`999`, `8`, 'JPY')", None, 80),
        ),
    ),
)

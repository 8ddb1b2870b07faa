"""Money the way ledgers keep it: decimal cents, half-up rounding, remainders to the first."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CENT = Decimal("0.01")


def cents(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def number(value: Decimal) -> int | float:
    """A JSON number: `239400` rather than `239400.0`, `55473.04` as is."""
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return int(value) if value == value.to_integral_value() else float(value)


def money(value: Any) -> int | float:
    return number(cents(value))


def total(values: Any) -> int | float:
    return number(sum((cents(v) for v in values), Decimal(0)))


def allocate(amount: Any, parts: int) -> list[int | float]:
    """`amount` split into `parts` amounts that differ by at most a cent and add up exactly."""
    whole = int(cents(amount) * 100)
    base, rest = divmod(abs(whole), parts)
    sign = -1 if whole < 0 else 1
    return [number(Decimal(sign * (base + (1 if i < rest else 0))) / 100) for i in range(parts)]

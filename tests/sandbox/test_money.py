"""Ledger arithmetic of the simulated systems."""

from __future__ import annotations

from runtime.sandbox._money import allocate, money, total


def test_allocate_adds_up_to_the_cent() -> None:
    assert allocate(26400, 3) == [8800, 8800, 8800]
    assert allocate(100, 3) == [33.34, 33.33, 33.33]
    assert allocate(-15280, 3) == [-5093.34, -5093.33, -5093.33]
    assert total(allocate(1000.01, 7)) == 1000.01


def test_money_rounds_half_up_and_prints_whole_amounts_as_integers() -> None:
    assert money(1080.625) == 1080.63
    assert money(239400.0) == 239400 and isinstance(money(239400.0), int)
    assert total([0.1, 0.2]) == 0.3

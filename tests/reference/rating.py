"""Reference rating: the charge models and the rounding rule in plain ``decimal``.

Written to be obviously right, not fast: one Python ``Decimal`` per number, a
loop over the tiers, and a decimal context that raises instead of rounding, so
every intermediate result is exact or the reference fails loudly. The property
tests in ``tests/property`` compare the Polars kernels of ``rating`` with it.

Nothing here imports the project: the contract is restated, not reused.

Worked examples (the arithmetic is written beside each expected value):

>>> from decimal import Decimal as D
>>> per_unit_amount(D(12500), D("0.002"))  # 12500 * 0.002 = 25
Decimal('25.000')
>>> tiers = [Tier(D(100), D("0.10")), Tier(D(1000), D("0.08")), Tier(None, D("0.05"))]
>>> graduated_amount(D(1250), tiers)  # 100*0.10 + 900*0.08 + 250*0.05 = 10 + 72 + 12.5 = 94.50
Decimal('94.50')
>>> graduated_amount(D(100), tiers)  # exactly on the bound: 100*0.10 = 10.00, tier 2 not reached
Decimal('10.00')
>>> round_to_minor(D("0.125"), "EUR"), round_to_minor(D("-0.125"), "EUR")  # half away from 0
(Decimal('0.13'), Decimal('-0.13'))
>>> round_to_minor(D("2.5"), "JPY"), round_to_minor(D("0.0125"), "BHD")  # 3 yen; 0.013 dinar
(Decimal('3'), Decimal('0.013'))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_HALF_UP,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)

MINOR_UNITS = {"EUR": 2, "USD": 2, "GBP": 2, "JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
"""ISO 4217 minor units of the currencies the tests use (restated, not imported)."""

QUANTITY_PLACES = 6
PRICE_PLACES = 9
AMOUNT_PLACES = QUANTITY_PLACES + PRICE_PLACES

# Precision far beyond Decimal(38, x); any rounding would raise, so results are exact.
EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation, Overflow])


@dataclass(frozen=True)
class Tier:
    """A graduated tier: units in ``(previous up_to, up_to]``; ``up_to=None`` is unbounded."""

    up_to: Decimal | None
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


def per_unit_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    """Every unit at the same price."""
    with localcontext(EXACT):
        return quantity * unit_price


def flat_fee_amount(item_quantity: Decimal, amount: Decimal) -> Decimal:
    """A fixed amount per billing period, times the item quantity."""
    with localcontext(EXACT):
        return item_quantity * amount


def graduated_amount(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """Walk the tiers from the bottom; price the units of each tier the quantity reaches.

    Tier ``i`` covers ``(lower, up_to]`` where ``lower`` is the previous tier's
    ``up_to`` (0 for the first). A tier is *reached* when ``quantity > lower``;
    then its flat fee is charged once, and ``min(quantity, up_to) - lower`` units
    are priced at its unit price.
    """
    with localcontext(EXACT):
        total = Decimal(0)
        lower = Decimal(0)
        for tier in tiers:
            if quantity <= lower:
                break  # this tier (and every later one) is not reached
            top = quantity if tier.up_to is None else min(quantity, tier.up_to)
            units = top - lower
            total += units * tier.unit_price + tier.flat_fee
            if tier.up_to is None:
                break
            lower = tier.up_to
        return total


def round_to_minor(amount: Decimal, currency: str) -> Decimal:
    """Round once to the currency's minor unit, half away from zero.

    Python's ``ROUND_HALF_UP`` rounds ties away from zero for both signs
    (``-0.125 -> -0.13``), which is the contract's "half away from zero".
    """
    step = Decimal(1).scaleb(-MINOR_UNITS[currency])  # 1, 0.01 or 0.001
    # Rounding is the point here, so not the EXACT context (it would trap it).
    return amount.quantize(step, rounding=ROUND_HALF_UP, context=Context(prec=200))

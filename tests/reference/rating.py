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
>>> package_amount(D(2101), D(1000), D("5.00"), D(100))  # ceil(2001 / 1000) = 3 blocks * 5.00
Decimal('15.00')
>>> volume_amount(D(250), [Tier(D(100), D("0.10")), Tier(None, D("0.08"), D(5))])  # 250*0.08 + 5
Decimal('25.00')
>>> bands = [Band(D(0), D(0)), Band(D(10), D(50)), Band(None, D(200))]
>>> [stairstep_amount(q, bands) for q in (D(0), D(10), D("10.5"))]  # bounds are inclusive
[Decimal('0'), Decimal('50'), Decimal('200')]
>>> percentage_fee(D(20), D("2.9"), D("0.30"))  # 20 * 2.9 / 100 + 0.30 = 0.58 + 0.30
Decimal('0.88')
>>> percentage_fee(D(0), D("2.9"), D("0.30"), minimum=D("0.50"))  # 0.30, raised to the minimum
Decimal('0.50')
>>> rate_tiers = [RateTier(D(10000), D(3)), RateTier(None, D(2), D(50))]
>>> graduated_percentage_amount(D(20000), rate_tiers)  # 10000*3% + 10000*2% + 50 = 300+200+50
Decimal('550.00')
>>> one_shot_amount(D(3), D("250.00"))  # 3 seats * 250.00
Decimal('750.00')
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


@dataclass(frozen=True)
class Band:
    """A stairstep band: usage up to ``up_to`` (inclusive) pays ``price``; ``None`` is unbounded."""

    up_to: Decimal | None
    price: Decimal


@dataclass(frozen=True)
class RateTier:
    """A graduated-percentage tier: volume in ``(previous up_to, up_to]`` at ``rate`` percent."""

    up_to: Decimal | None
    rate: Decimal
    flat_fee: Decimal = Decimal(0)


def package_amount(
    quantity: Decimal, package_size: Decimal, package_price: Decimal, free_units: Decimal
) -> Decimal:
    """Whole blocks of ``package_size`` units after the free units; a started block counts."""
    with localcontext(EXACT):
        billable = max(Decimal(0), quantity - free_units)
        full_blocks = billable // package_size  # both non-negative: this is floor
        started = 1 if billable % package_size != 0 else 0
        return (full_blocks + started) * package_price


def volume_amount(quantity: Decimal, tiers: Sequence[Tier]) -> Decimal:
    """Find the one tier holding ``quantity`` (``lower < quantity <= up_to``); price every unit
    at its unit price and add its flat fee. Zero usage holds no tier: nothing is charged."""
    with localcontext(EXACT):
        if quantity <= 0:
            return Decimal(0)
        for tier in tiers:
            if tier.up_to is None or quantity <= tier.up_to:
                return quantity * tier.unit_price + tier.flat_fee
        raise AssertionError("the last tier is unbounded")


def stairstep_amount(quantity: Decimal, bands: Sequence[Band]) -> Decimal:
    """The price of the first band whose ``up_to`` the quantity does not exceed (0 included)."""
    for band in bands:
        if band.up_to is None or quantity <= band.up_to:
            return band.price
    raise AssertionError("the last band is unbounded")


def percentage_fee(
    value: Decimal,
    rate: Decimal,
    fixed_fee: Decimal = Decimal(0),
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    """One transaction's fee: ``value * rate %`` plus the fixed fee, then held within
    ``[minimum, maximum]`` (each optional). A zero value still pays the fixed fee."""
    with localcontext(EXACT):
        fee = value * rate / 100 + fixed_fee
        if minimum is not None and fee < minimum:
            fee = minimum
        if maximum is not None and fee > maximum:
            fee = maximum
        return fee


def graduated_percentage_amount(volume: Decimal, tiers: Sequence[RateTier]) -> Decimal:
    """Graduated tiers over the volume with ``rate`` percent as the unit price: the volume
    inside each tier at that tier's rate, plus the flat fee of every tier reached."""
    with localcontext(EXACT):
        as_prices = [Tier(t.up_to, t.rate / 100, t.flat_fee) for t in tiers]
        return graduated_amount(volume, as_prices)


def one_shot_amount(item_quantity: Decimal, amount: Decimal) -> Decimal:
    """A one-time amount, times the item quantity."""
    with localcontext(EXACT):
        return item_quantity * amount


def round_to_minor(amount: Decimal, currency: str) -> Decimal:
    """Round once to the currency's minor unit, half away from zero.

    Python's ``ROUND_HALF_UP`` rounds ties away from zero for both signs
    (``-0.125 -> -0.13``), which is the contract's "half away from zero".
    """
    step = Decimal(1).scaleb(-MINOR_UNITS[currency])  # 1, 0.01 or 0.001
    # Rounding is the point here, so not the EXACT context (it would trap it).
    return amount.quantize(step, rounding=ROUND_HALF_UP, context=Context(prec=200))

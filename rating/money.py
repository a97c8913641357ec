"""Exact money: the one place that multiplies and rounds amounts.

Representation (see docs/data-contract.md):

* quantities are ``Decimal(38, 6)``, prices ``Decimal(38, 9)``;
* an unrounded amount is ``Decimal(38, 15)``: a quantity times a price fits
  exactly, because 6 + 9 fractional digits are all a product can have;
* rounding happens once, when a rated charge's exact amount becomes its
  invoice amount: to the currency's minor unit, half away from zero
  ("commercial rounding": 0.125 EUR -> 0.13, -0.125 -> -0.13).

Polars multiplies decimals at the larger of the two scales, rounding half to
even beyond it, and ``Decimal * float`` silently becomes Float64, so nothing
outside this module multiplies money (formulas, whose rounding is documented in
docs/formulas.md, excepted).

>>> import polars as pl
>>> from decimal import Decimal
>>> frame = pl.DataFrame({"q": [Decimal("3")]}, schema={"q": pl.Decimal(38, 6)})
>>> frame.select(money_mul(pl.col("q"), Decimal("0.333333333"))).item()
Decimal('0.999999999000000')
>>> frame.select(round_to_minor(pl.lit(Decimal("0.125")), "EUR")).item()
Decimal('0.1300')
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from schemas.types import AMOUNT, DECIMAL_PRECISION, PRICE, ROUNDED_AMOUNT

ROUNDING_MODE = "half_away_from_zero"

# ISO 4217 minor units. Two is the default for a listed currency; the others are
# the exceptions a billing team actually meets.
_TWO_DECIMALS = [
    "AED",
    "AUD",
    "BRL",
    "CAD",
    "CHF",
    "CNY",
    "CZK",
    "DKK",
    "EGP",
    "EUR",
    "GBP",
    "HKD",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "MAD",
    "MXN",
    "MYR",
    "NOK",
    "NZD",
    "PHP",
    "PLN",
    "RON",
    "SAR",
    "SEK",
    "SGD",
    "THB",
    "TRY",
    "TWD",
    "UAH",
    "USD",
    "ZAR",
]
_ZERO_DECIMALS = ["CLP", "ISK", "JPY", "KRW", "PYG", "UGX", "VND", "XAF", "XOF"]
_THREE_DECIMALS = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]

MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys(_TWO_DECIMALS, 2),
    **dict.fromkeys(_ZERO_DECIMALS, 0),
    **dict.fromkeys(_THREE_DECIMALS, 3),
}


def minor_unit(currency: str) -> int:
    """Number of fractional digits of a currency's smallest unit.

    >>> minor_unit("JPY"), minor_unit("USD"), minor_unit("BHD")
    (0, 2, 3)
    """
    try:
        return MINOR_UNITS[currency]
    except KeyError:
        raise ValueError(f"unknown currency {currency!r}") from None


def price_lit(value: Decimal) -> pl.Expr:
    """A catalog price as a Polars literal at the price scale (validated at load)."""
    return pl.lit(value, dtype=PRICE)


def money_mul(quantity: pl.Expr, price: pl.Expr | Decimal) -> pl.Expr:
    """Quantity times price, exact, as an unrounded amount."""
    price_expr = price_lit(price) if isinstance(price, Decimal) else price
    return quantity.cast(AMOUNT) * price_expr.cast(AMOUNT)


def amount_lit(value: Decimal) -> pl.Expr:
    """A fixed amount (a fee) as an unrounded-amount literal."""
    return pl.lit(value, dtype=AMOUNT)


def zero_amount() -> pl.Expr:
    return amount_lit(Decimal(0))


def round_to_minor(amount: pl.Expr, currency: str) -> pl.Expr:
    """The single rounding step: an exact amount to the currency's minor unit."""
    return amount.round(minor_unit(currency), mode=ROUNDING_MODE).cast(ROUNDED_AMOUNT)


def prorate(amount: pl.Expr, active_days: pl.Expr, period_days: pl.Expr) -> pl.Expr:
    """``amount * active_days / period_days`` at the exact scale (15 decimals, half to even).

    The product is exact (an overflow is an error); the division rounds once, at
    the 15th decimal. A price has at most 9 decimals and a period at most 366
    days, so a prorated amount is never within 10**-15 of half a minor unit
    unless it is exactly there: rounding it to the minor unit afterwards equals
    rounding the true fraction.

    >>> frame = pl.DataFrame({"fee": [Decimal("29")]}, schema={"fee": AMOUNT})
    >>> frame.select(prorate(pl.col("fee"), pl.lit(17), pl.lit(31))).item()
    Decimal('15.903225806451613')
    """
    days = active_days.cast(pl.Decimal(DECIMAL_PRECISION, 0))
    whole = period_days.cast(pl.Decimal(DECIMAL_PRECISION, 0))
    return (amount.cast(AMOUNT) * days / whole).cast(AMOUNT)

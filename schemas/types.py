"""Exact numeric types of the contract.

Quantities, prices and amounts are Polars/DuckDB decimals with fixed scales, so
sums are exact and independent of row order, and a product of a quantity and a
price is exact at :data:`AMOUNT_SCALE` (6 + 9 = 15 fractional digits).

>>> QUANTITY_SCALE + PRICE_SCALE == AMOUNT_SCALE
True
"""

from __future__ import annotations

import polars as pl

QUANTITY_SCALE = 6
"""Fractional digits kept for an aggregated quantity (and a measured event property)."""

PRICE_SCALE = 9
"""Fractional digits allowed in a catalog price; more is a catalog error."""

AMOUNT_SCALE = QUANTITY_SCALE + PRICE_SCALE
"""Fractional digits of an unrounded amount: a quantity times a price, exactly."""

MINOR_UNIT_SCALE = 4
"""Storage scale of rounded amounts; wide enough for every ISO 4217 minor unit."""

DECIMAL_PRECISION = 38
"""Total digits of every exact decimal column (the widest Polars and DuckDB share)."""

QUANTITY = pl.Decimal(DECIMAL_PRECISION, QUANTITY_SCALE)
PRICE = pl.Decimal(DECIMAL_PRECISION, PRICE_SCALE)
AMOUNT = pl.Decimal(DECIMAL_PRECISION, AMOUNT_SCALE)
ROUNDED_AMOUNT = pl.Decimal(DECIMAL_PRECISION, MINOR_UNIT_SCALE)

TIMESTAMP = pl.Datetime("us", "UTC")

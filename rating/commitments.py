"""Minimum commitments: a true-up line when a charge or a plan bills less than its minimum.

A charge's ``minimum`` compares with the rounded amounts of that charge's
lines (all dimension groups together); a plan's ``minimum_commitment`` with
every line of the subscription's period, discounts included. When the total
is below the minimum, one true-up line brings it exactly to the minimum; it is
never negative. Minimums are per billing period and not prorated (yet) for a
subscription active only part of the period.

Worked example: a charge with a minimum of 50.00 EUR rated 12.34 gets a
true-up of ``50.00 - 12.34 = 37.66``; one rated 80.00 gets none.

>>> import polars as pl
>>> from decimal import Decimal as D
>>> lines = pl.DataFrame({"subscription_id": ["s1", "s2"], "amount": [D("12.34"), D("80")]},
...                      schema_overrides={"amount": pl.Decimal(38, 4)})
>>> true_up_lines(lines.lazy(), D(50), "EUR").collect().rows()
[('s1', Decimal('37.660000000000000'), Decimal('37.6600'))]
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from rating.money import amount_lit, round_to_minor
from schemas.types import AMOUNT


def true_up_lines(lines: pl.LazyFrame, minimum: Decimal, currency: str) -> pl.LazyFrame:
    """``subscription_id, amount_exact, amount`` for each subscription billed under ``minimum``.

    ``lines`` holds the rounded amounts the minimum covers: ``subscription_id, amount``.
    """
    shortfall = amount_lit(minimum) - pl.col("billed")
    return (
        lines.group_by("subscription_id")
        .agg(pl.col("amount").sum().cast(AMOUNT).alias("billed"))
        .filter(shortfall > 0)
        .select(
            "subscription_id",
            shortfall.alias("amount_exact"),
            round_to_minor(shortfall, currency).alias("amount"),
        )
        .sort("subscription_id")
    )

"""Adjustment lines: what a period should have billed less what it did bill.

When an earlier period is re-rated (late events, a contract or catalog fix),
each of its lines is compared with everything already billed for the same
subscription, charge, service period, dimension group and currency (the
original line and earlier adjustments). A difference becomes one adjustment
line on the current run's invoice; an issued invoice is never edited.

Amounts are compared once rounded, so after the adjustment the rounded amounts
billed for a line add up to exactly what it is rated at now.

>>> from datetime import datetime, UTC
>>> from decimal import Decimal as D
>>> line = {"subscription_id": "s", "customer_id": "c", "plan_code": "p",
...     "charge_code": "calls", "charge_name": "Calls", "charge_position": 1,
...     "charge_model": "per_unit", "meter_code": "calls",
...     "period_start": datetime(2026, 10, 1, tzinfo=UTC),
...     "period_end": datetime(2026, 11, 1, tzinfo=UTC), "dimensions": "{}",
...     "event_count": 10, "currency": "EUR"}
>>> billed = pl.DataFrame([line | {"quantity": D(10), "amount_exact": D("1.25"),
...     "amount": D("1.25")}], schema_overrides=BILLED_AMOUNTS)
>>> now = pl.DataFrame([line | {"quantity": D(12), "amount_exact": D("1.5"),
...     "amount": D("1.50"), "event_count": 12}], schema_overrides=BILLED_AMOUNTS)
>>> adjustment_lines(now, billed, "2026-10").select("quantity", "amount", "adjusted_period").row(0)
(Decimal('2.000000'), Decimal('0.2500'), '2026-10')
"""

from __future__ import annotations

import polars as pl

from schemas.tables import ADJUSTED_PERIOD, RATED_CHARGE_SCHEMA, TIER_BREAKDOWN
from schemas.types import AMOUNT, QUANTITY, ROUNDED_AMOUNT

LINE_KEY = ("subscription_id", "charge_code", "period_start", "dimensions", "currency")
"""What identifies one line of a period across the runs that bill it."""

BILLED_AMOUNTS: dict[str, pl.DataType] = {
    "quantity": QUANTITY,
    "event_count": pl.Int64(),
    "amount_exact": AMOUNT,
    "amount": ROUNDED_AMOUNT,
}
DESCRIPTIVE = (
    "customer_id",
    "plan_code",
    "charge_name",
    "charge_position",
    "charge_model",
    "meter_code",
    "period_end",
)
ADJUSTMENT_COLUMNS = [
    name for name in RATED_CHARGE_SCHEMA if name not in ("run_id", "billing_period")
]


def _difference(name: str) -> pl.Expr:
    now = pl.col(name).fill_null(pl.lit(0, dtype=BILLED_AMOUNTS[name]))
    before = pl.col(f"{name}_billed").fill_null(pl.lit(0, dtype=BILLED_AMOUNTS[name]))
    return (now - before).cast(BILLED_AMOUNTS[name]).alias(name)


def adjustment_lines(
    expected: pl.DataFrame, billed: pl.DataFrame, period: str | None
) -> pl.DataFrame:
    """One line per key of ``expected`` or ``billed`` whose rounded amounts differ.

    ``expected`` holds a period's lines rated now; ``billed`` the sums of every
    line already billed for it (see :data:`LINE_KEY`), with the descriptive
    columns of one of them. Out: rated-charge columns (no run) with
    ``adjusted_period`` set to ``period`` (None: the lines are the next part of
    a period billed progressively, not a correction).
    """
    keep = [*LINE_KEY, *DESCRIPTIVE, *BILLED_AMOUNTS]
    joined = expected.select(keep).join(
        billed.select(keep), on=list(LINE_KEY), how="full", coalesce=True, suffix="_billed"
    )
    return (
        joined.with_columns(
            *(pl.coalesce(name, f"{name}_billed").alias(name) for name in DESCRIPTIVE),
            *(_difference(name) for name in BILLED_AMOUNTS),
        )
        .filter(pl.col("amount") != 0)
        .with_columns(
            pl.lit(None, dtype=TIER_BREAKDOWN).alias("tier_breakdown"),
            pl.lit(None, dtype=pl.Int32).alias("prorated_days"),
            pl.lit(None, dtype=pl.Int32).alias("period_days"),
            pl.lit(period, dtype=pl.String).alias(ADJUSTED_PERIOD),
        )
        .select(ADJUSTMENT_COLUMNS)
        .sort(LINE_KEY)
    )

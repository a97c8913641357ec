"""Progressive (threshold) billing: invoice a period's usage early, deduct it at the end.

A plan with ``progressive_billing`` is watched between its period runs: a
progressive run as of a day rates each open plan period's usage so far, less
what earlier progressive invoices billed of it, and invoices that remainder
for every subscription where it reaches the plan's level (an amount, or a
meter's quantity). The period's own run later bills the whole period as usual
and deducts, in one line per subscription, what was invoiced progressively.

>>> from datetime import datetime, UTC
>>> from decimal import Decimal as D
>>> line = {"subscription_id": "s", "customer_id": "c", "plan_code": "p",
...     "charge_code": "calls", "period_start": datetime(2026, 10, 1, tzinfo=UTC),
...     "period_end": datetime(2026, 11, 1, tzinfo=UTC), "dimensions": "{}",
...     "currency": "EUR"}
>>> rated = pl.DataFrame([line | {"amount": D("1500.00")}])
>>> early = pl.DataFrame([line | {"amount": D("1000.00")}])
>>> progressive_credits(rated, early).select("charge_code", "amount").row(0)
('progressive_billing', Decimal('-1000.0000'))
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rating.adjustments import ADJUSTMENT_COLUMNS, LINE_KEY
from rating.plan import Plan
from schemas.tables import ADJUSTED_PERIOD, RATED_CHARGE_SCHEMA, TIER_BREAKDOWN
from schemas.types import AMOUNT, QUANTITY, ROUNDED_AMOUNT

CREDIT_CODE = "progressive_billing"
CREDIT_MODEL = "progressive_credit"
CREDIT_POSITION = 1_000_000
"""After every charge and plan line of the invoice."""


def progressive_credits(rated: pl.DataFrame, billed_early: pl.DataFrame) -> pl.DataFrame:
    """One line per subscription and currency deducting what progressive invoices billed of
    ``rated``'s lines (matched on ``LINE_KEY``); none where nothing was billed early."""
    matched = billed_early.join(rated.select(LINE_KEY).unique(), on=list(LINE_KEY), how="semi")
    spans = rated.group_by("subscription_id").agg(
        pl.col("customer_id").first(),
        pl.col("plan_code").first(),
        pl.col("period_start").min(),
        pl.col("period_end").max(),
    )
    credits = (
        matched.group_by("subscription_id", "currency")
        .agg(pl.col("amount").sum())
        .join(spans, on="subscription_id")
        .filter(pl.col("amount") != 0)
        .sort("subscription_id", "currency")
    )
    return credits.select(
        "subscription_id",
        "customer_id",
        "plan_code",
        pl.lit(CREDIT_CODE).alias("charge_code"),
        pl.lit("Usage already invoiced progressively").alias("charge_name"),
        pl.lit(CREDIT_POSITION, dtype=pl.Int32).alias("charge_position"),
        pl.lit(CREDIT_MODEL).alias("charge_model"),
        pl.lit(None, dtype=pl.String).alias("meter_code"),
        "period_start",
        "period_end",
        pl.lit("{}").alias("dimensions"),
        pl.lit(1, dtype=QUANTITY).alias("quantity"),
        pl.lit(0, dtype=pl.Int64).alias("event_count"),
        (-pl.col("amount")).cast(AMOUNT).alias("amount_exact"),
        (-pl.col("amount")).cast(ROUNDED_AMOUNT).alias("amount"),
        "currency",
        pl.lit(None, dtype=TIER_BREAKDOWN).alias("tier_breakdown"),
        pl.lit(None, dtype=pl.Int32).alias("prorated_days"),
        pl.lit(None, dtype=pl.Int32).alias("period_days"),
        pl.lit(None, dtype=pl.String).alias(ADJUSTED_PERIOD),
    ).cast({name: RATED_CHARGE_SCHEMA[name] for name in ADJUSTMENT_COLUMNS})


def crossing(unbilled: pl.DataFrame, plans: Mapping[str, Plan]) -> pl.Series:
    """Subscriptions whose unbilled usage lines reach their plan's progressive level.

    ``unbilled``: lines of open periods less what was billed early (``quantity``
    and ``amount`` are the unbilled parts).
    """
    found = []
    for code, plan in sorted(plans.items()):
        level = plan.progressive
        if level is None:
            continue
        mine = unbilled.filter(pl.col("plan_code") == code)
        if level.amount is not None:
            totals = mine.group_by("subscription_id").agg(pl.col("amount").sum().alias("unbilled"))
            reached = totals.filter(pl.col("unbilled") >= level.amount)
        else:
            totals = (
                mine.filter(pl.col("meter_code") == level.meter)
                .group_by("subscription_id")
                .agg(pl.col("quantity").sum().alias("unbilled"))
            )
            reached = totals.filter(pl.col("unbilled") >= level.quantity)
        found.append(reached["subscription_id"])
    if not found:
        return pl.Series("subscription_id", [], dtype=pl.String)
    return pl.concat(found).unique().sort()

"""Rating a billing period: usage and subscriptions in, rated charges out.

One rated charge per subscription x charge x dimension group. A usage
charge with no usage in the period is rated at quantity zero, so every charge
of the plan is visible on the invoice. The loop runs over the catalog's
charges (tens), never over events or subscriptions.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from rating.money import round_to_minor
from rating.plan import Charge, Plan
from schemas.errors import RatingError
from schemas.tables import RATED_CHARGE_SCHEMA, TIER_BREAKDOWN
from schemas.types import QUANTITY

SUBSCRIPTION_KEYS = ("subscription_id", "customer_id", "plan_code", "period_start", "period_end")


def _charge_quantities(
    subscriptions: pl.LazyFrame, usage: pl.LazyFrame, charge: Charge
) -> pl.LazyFrame:
    if charge.meter is None:
        return subscriptions.with_columns(
            pl.lit(None, dtype=pl.String).alias("meter_code"),
            pl.lit("{}").alias("dimensions"),
            pl.col("item_quantity").cast(QUANTITY).alias("quantity"),
            pl.lit(0, dtype=pl.Int64).alias("event_count"),
        )
    metered = usage.filter(pl.col("meter_code") == charge.meter).drop("meter_code")
    return subscriptions.join(metered, on="subscription_id", how="left").with_columns(
        pl.lit(charge.meter).alias("meter_code"),
        pl.col("dimensions").fill_null("{}"),
        pl.col("quantity").fill_null(pl.lit(0, dtype=QUANTITY)),
        pl.col("event_count").fill_null(0),
    )


def rate_charge(
    subscriptions: pl.LazyFrame, usage: pl.LazyFrame, plan: Plan, position: int, charge: Charge
) -> pl.LazyFrame:
    """Rated rows of one charge of one plan, in ``RATED_CHARGE_SCHEMA`` (without run columns)."""
    quantity = pl.col("quantity")
    breakdown = charge.breakdown(quantity)
    return _charge_quantities(subscriptions, usage, charge).with_columns(
        pl.lit(charge.code).alias("charge_code"),
        pl.lit(charge.name).alias("charge_name"),
        pl.lit(position, dtype=pl.Int32).alias("charge_position"),
        pl.lit(charge.model).alias("charge_model"),
        charge.price(quantity).alias("amount_exact"),
        round_to_minor(charge.price(quantity), plan.currency).alias("amount"),
        pl.lit(plan.currency).alias("currency"),
        (pl.lit(None, dtype=TIER_BREAKDOWN) if breakdown is None else breakdown).alias(
            "tier_breakdown"
        ),
    )


def rate_period(
    billable: pl.DataFrame, usage: pl.DataFrame, plans: Mapping[str, Plan]
) -> pl.DataFrame:
    """Rated charges of every billable subscription, sorted by subscription and charge.

    ``billable`` needs ``subscription_id, customer_id, plan_code, period_start,
    period_end, item_quantity``; ``usage`` is ``aggregation.usage.USAGE_SCHEMA``.
    """
    columns = [name for name in RATED_CHARGE_SCHEMA if name not in ("run_id", "billing_period")]
    usage_lazy = usage.lazy()
    parts = []
    for plan_code in sorted(plans):
        plan = plans[plan_code]
        subscriptions = (
            billable.lazy()
            .filter(pl.col("plan_code") == plan.code)
            .select(*SUBSCRIPTION_KEYS, "item_quantity")
        )
        parts.extend(
            rate_charge(subscriptions, usage_lazy, plan, position, charge).select(columns)
            for position, charge in enumerate(plan.charges)
        )
    if not parts:
        return pl.DataFrame(schema={name: RATED_CHARGE_SCHEMA[name] for name in columns})
    try:
        rated = pl.concat(parts, how="vertical").collect()
    except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as error:
        if "overflow" not in str(error) and "fit" not in str(error):
            raise
        # Polars appends the failing expression tree; the first line is what a user can act on.
        reason = str(error).splitlines()[0]
        raise RatingError(f"amount does not fit the exact decimal range: {reason}") from None
    return rated.sort("subscription_id", "charge_position", "dimensions")

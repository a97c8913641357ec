"""Usage per subscription, meter, billing period and dimension group.

Events are first assigned to the subscription that was active at their
instant; then each meter's events are filtered and aggregated into one
exact quantity per ``(subscription_id, meter_code, dimensions)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

import polars as pl

from aggregation.periods import ACTIVE_END, ACTIVE_START, PERIOD_END, PERIOD_START
from schemas.catalog import Aggregation, Meter
from schemas.events import CUSTOMER_ID, EVENT_TYPE, TIMESTAMP_COLUMN
from schemas.types import QUANTITY

BILLING_STATUS = "billing_status"
ROW_KEY = "_row"

USAGE_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    "meter_code": pl.String(),
    "dimensions": pl.String(),
    "quantity": QUANTITY,
    "event_count": pl.Int64(),
}


class BillingStatus(StrEnum):
    """What a valid, unique event is to one billing run."""

    RATED = "rated"
    OUT_OF_PERIOD = "out_of_period"
    """Belongs to another billing period; left for that period's run."""
    NO_ACTIVE_SUBSCRIPTION = "no_active_subscription"
    """In the period, but the customer had no active subscription at that instant."""


def assign_subscriptions(
    events: pl.LazyFrame, periods: pl.DataFrame, billable: pl.DataFrame
) -> pl.LazyFrame:
    """Add ``subscription_id``, ``plan_code`` and ``billing_status`` to every event.

    ``periods`` has one row per customer (``customer_id, period_start,
    period_end``); ``billable`` the active windows of subscriptions, which never
    overlap for one customer, so an event matches at most one.
    """
    ts = pl.col(TIMESTAMP_COLUMN)
    events = events.with_row_index(ROW_KEY)
    windows = billable.lazy().select(
        CUSTOMER_ID, "subscription_id", "plan_code", ACTIVE_START, ACTIVE_END
    )
    rated = (
        events.join(windows, on=CUSTOMER_ID, how="inner")
        .filter((ts >= pl.col(ACTIVE_START)) & (ts < pl.col(ACTIVE_END)))
        .drop(ACTIVE_START, ACTIVE_END)
        .with_columns(pl.lit(BillingStatus.RATED.value).alias(BILLING_STATUS))
    )
    in_period = (ts >= pl.col(PERIOD_START)) & (ts < pl.col(PERIOD_END))
    rest = (
        events.join(rated.select(ROW_KEY), on=ROW_KEY, how="anti")
        .join(periods.lazy().select(CUSTOMER_ID, PERIOD_START, PERIOD_END), on=CUSTOMER_ID)
        .with_columns(
            pl.lit(None, dtype=pl.String).alias("subscription_id"),
            pl.lit(None, dtype=pl.String).alias("plan_code"),
            pl.when(in_period)
            .then(pl.lit(BillingStatus.NO_ACTIVE_SUBSCRIPTION.value))
            .otherwise(pl.lit(BillingStatus.OUT_OF_PERIOD.value))
            .alias(BILLING_STATUS),
        )
        .drop(PERIOD_START, PERIOD_END)
    )
    return pl.concat([rated, rest], how="vertical_relaxed").drop(ROW_KEY)


def meter_events(events: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """The events a meter counts: its event type, then its property filters."""
    keep = pl.col(EVENT_TYPE) == meter.event_type
    for name, allowed in meter.filters:
        keep &= pl.col(name).cast(pl.String).is_in(allowed)
    return events.filter(keep)


def _dimensions(meter: Meter) -> pl.Expr:
    if not meter.group_by:
        return pl.lit("{}")
    return pl.struct(meter.group_by).struct.json_encode()


def meter_usage(events: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """One meter's quantity per subscription and dimension group, in ``USAGE_SCHEMA``."""
    if meter.aggregation is Aggregation.COUNT:
        quantity = pl.len().cast(QUANTITY)
    else:
        quantity = pl.col(meter.property_name).sum().cast(QUANTITY)
    keys = ["subscription_id", *meter.group_by]
    return (
        meter_events(events, meter)
        .with_columns(pl.col(name).cast(pl.String) for name in meter.group_by)
        .group_by(keys)
        .agg(quantity.alias("quantity"), pl.len().cast(pl.Int64).alias("event_count"))
        .select(
            "subscription_id",
            pl.lit(meter.code).alias("meter_code"),
            _dimensions(meter).alias("dimensions"),
            "quantity",
            "event_count",
        )
    )


def aggregate_usage(events: pl.LazyFrame, meters: Iterable[Meter]) -> pl.LazyFrame:
    """Usage of every meter over events already assigned to subscriptions."""
    schema = events.collect_schema()
    meters = list(meters)
    # A property no file carries still has to exist for the plan to type-check;
    # every event that needed it was quarantined, so it stays empty.
    measured = {meter.property_name for meter in meters}
    missing = {name for meter in meters for name in meter.referenced_properties} - set(schema)
    events = events.with_columns(
        pl.lit(None, dtype=QUANTITY if name in measured else pl.String).alias(name)
        for name in sorted(missing)
    )
    parts = [meter_usage(events, meter) for meter in meters]
    if not parts:
        return pl.LazyFrame(schema=USAGE_SCHEMA)
    return pl.concat(parts, how="vertical").sort("subscription_id", "meter_code", "dimensions")

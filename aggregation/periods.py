"""Billing periods: calendar months in each customer's timezone, as UTC instants.

A period is half-open, ``[period_start, period_end)``. A subscription is
active on ``[start_date, end_date)`` where both dates are local midnights in
the customer's timezone; ``end_date`` empty means open-ended.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from schemas.errors import InputError
from schemas.events import INVOICED_PERIOD
from schemas.types import TIMESTAMP

PERIOD_START, PERIOD_END = "period_start", "period_end"
ACTIVE_START, ACTIVE_END = "active_start", "active_end"
SUBSCRIPTION_START = "subscription_start"
"""The UTC instant a subscription started (its ``start_date`` at local midnight)."""

_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")


def parse_billing_period(text: str) -> date:
    """First day of a calendar-month period written ``YYYY-MM``.

    >>> parse_billing_period("2026-10")
    datetime.date(2026, 10, 1)
    >>> parse_billing_period("2026-13")
    Traceback (most recent call last):
    ...
    schemas.errors.InputError: billing period '2026-13': expected YYYY-MM, e.g. 2026-10
    """
    match = _PERIOD.match(text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InputError(f"billing period {text!r}: expected YYYY-MM, e.g. 2026-10")
    return date(int(match.group(1)), int(match.group(2)), 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def local_midnight_utc(day: date, timezone: str) -> datetime:
    """The UTC instant of a local midnight.

    >>> local_midnight_utc(date(2026, 10, 1), "Europe/Paris")
    datetime.datetime(2026, 9, 30, 22, 0, tzinfo=datetime.timezone.utc)
    """
    local = datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(timezone))
    return local.astimezone(UTC)


def customer_periods(customers: pl.DataFrame, period: date) -> pl.DataFrame:
    """``customer_id, period_start, period_end`` for one calendar month.

    Computed once per distinct timezone, not per customer.
    """
    bounds = pl.DataFrame(
        [
            (tz, local_midnight_utc(period, tz), local_midnight_utc(next_month(period), tz))
            for tz in sorted(customers["timezone"].unique().to_list())
        ],
        schema={"timezone": pl.String, PERIOD_START: TIMESTAMP, PERIOD_END: TIMESTAMP},
        orient="row",
    )
    return customers.select("customer_id", "timezone").join(bounds, on="timezone", how="left")


def _local_dates_to_utc(column: str, timezone: str) -> pl.Expr:
    return (
        pl.col(column)
        .cast(pl.Datetime("us"))
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )


def billable_subscriptions(
    subscriptions: pl.DataFrame, customers: pl.DataFrame, period: date
) -> pl.DataFrame:
    """Subscriptions active at some instant of the period, with their active window.

    Output: the subscription columns plus ``period_start``, ``period_end``,
    ``active_start`` and ``active_end`` (the period clipped to the subscription)
    and ``subscription_start`` (the subscription's first instant, maybe in an
    earlier period).
    """
    periods = customer_periods(customers, period)
    joined = subscriptions.join(periods, on="customer_id", how="inner")
    parts = []
    for (timezone,), part in joined.partition_by("timezone", as_dict=True).items():
        parts.append(
            part.with_columns(
                _local_dates_to_utc("start_date", str(timezone)).alias(ACTIVE_START),
                _local_dates_to_utc("end_date", str(timezone)).alias(ACTIVE_END),
            )
        )
    if not parts:
        return joined.with_columns(
            pl.lit(None, dtype=TIMESTAMP).alias(ACTIVE_START),
            pl.lit(None, dtype=TIMESTAMP).alias(ACTIVE_END),
            pl.lit(None, dtype=TIMESTAMP).alias(SUBSCRIPTION_START),
        ).clear()
    windows = pl.concat(parts).with_columns(
        pl.col(ACTIVE_START).alias(SUBSCRIPTION_START),
        pl.max_horizontal(PERIOD_START, ACTIVE_START).alias(ACTIVE_START),
        pl.min_horizontal(PERIOD_END, pl.col(ACTIVE_END).fill_null(pl.col(PERIOD_END))).alias(
            ACTIVE_END
        ),
    )
    return windows.filter(pl.col(ACTIVE_START) < pl.col(ACTIVE_END)).sort("subscription_id")


def invoiced_windows(customers: pl.DataFrame, periods: list[str]) -> pl.DataFrame:
    """``customer_id, invoiced_period, period_start, period_end`` for each invoiced period."""
    frames = [
        customer_periods(customers, parse_billing_period(period)).select(
            "customer_id", pl.lit(period).alias(INVOICED_PERIOD), PERIOD_START, PERIOD_END
        )
        for period in sorted(set(periods))
    ]
    schema = {
        "customer_id": pl.String,
        INVOICED_PERIOD: pl.String,
        PERIOD_START: TIMESTAMP,
        PERIOD_END: TIMESTAMP,
    }
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def flag_invoiced_period(events: pl.DataFrame, windows: pl.DataFrame) -> pl.DataFrame:
    """Add ``invoiced_period``: the invoiced period (customer's local month) an event falls in.

    Late and out-of-order events are accepted like any other; the flag lets a
    billing run turn the ones for an invoiced period into adjustments.

    >>> from datetime import UTC, datetime
    >>> customers = pl.DataFrame({"customer_id": ["c"], "timezone": ["Europe/Paris"]})
    >>> windows = invoiced_windows(customers, ["2026-09"])
    >>> events = pl.DataFrame({"customer_id": ["c", "c"], "timestamp": [
    ...     datetime(2026, 9, 30, 21, 0, tzinfo=UTC), datetime(2026, 9, 30, 22, 0, tzinfo=UTC)]})
    >>> flag_invoiced_period(events, windows)["invoiced_period"].to_list()
    ['2026-09', None]
    """
    if windows.is_empty():
        return events.with_columns(pl.lit(None, dtype=pl.String).alias(INVOICED_PERIOD))
    ts = pl.col("timestamp")
    position = "_position"
    indexed = events.with_row_index(position)
    matched = (
        indexed.select(position, "customer_id", "timestamp")
        .join(windows, on="customer_id")
        .filter((ts >= pl.col(PERIOD_START)) & (ts < pl.col(PERIOD_END)))
        .select(position, INVOICED_PERIOD)
    )
    return indexed.join(matched, on=position, how="left", maintain_order="left").drop(position)

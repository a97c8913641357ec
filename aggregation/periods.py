"""Billing periods: calendar months in each customer's timezone, as UTC instants.

A period is half-open, ``[period_start, period_end)``. A subscription is
active on ``[start_date, end_date)`` where both dates are local midnights in
the customer's timezone; ``end_date`` empty means open-ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import polars as pl

from aggregation.schedule import open_periods, schedule_periods
from schemas.errors import InputError
from schemas.events import INVOICED_PERIOD
from schemas.tables import PLAN_ITEMS_SCHEMA, USAGE_DUE
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


@dataclass(frozen=True)
class RunSchedule:
    """What one monthly run bills (see :mod:`aggregation.schedule`)."""

    billable: pl.DataFrame
    """One row per subscription with anything due: the subscription columns,
    ``period_start, period_end`` (the plan period whose usage is billed, or
    the span of the fees due when none is), ``active_start, active_end`` (its
    part the subscription covers), ``subscription_start`` and ``usage_due``."""
    fees: pl.DataFrame
    """One row per fee period due: ``subscription_id, customer_id, plan_code,
    charge_code, item_quantity, period_start, period_end`` (the part billed)
    ``period_days, active_days``."""


def _to_utc(frame: pl.DataFrame, columns: dict[str, str]) -> pl.DataFrame:
    """Local date columns (``source -> target``) as the UTC instants of their local midnights."""
    if frame.is_empty():
        return frame.with_columns(
            pl.lit(None, dtype=TIMESTAMP).alias(target) for target in columns.values()
        )
    parts = [
        part.with_columns(
            _local_dates_to_utc(source, str(timezone)).alias(target)
            for source, target in columns.items()
        )
        for (timezone,), part in frame.partition_by("timezone", as_dict=True).items()
    ]
    return pl.concat(parts)


SCHEDULING_COLUMNS = ("timezone", "coterm_date")
"""The customer columns that decide a subscription's periods (a co-term date is optional)."""


def _scheduling(customers: pl.DataFrame) -> list[str]:
    """``customer_id`` and the scheduling columns ``customers`` has."""
    return ["customer_id", *(c for c in SCHEDULING_COLUMNS if c in customers.columns)]


def run_schedule(
    subscriptions: pl.DataFrame,
    customers: pl.DataFrame,
    plan_items: pl.DataFrame,
    period: date,
) -> RunSchedule:
    """The plan periods and fee periods the run of month ``period`` bills.

    ``subscriptions`` may be segments of subscriptions (``anchor_date``: the
    subscription's first day; ``paused``: no recurring fee is billed).
    """
    if "anchor_date" not in subscriptions.columns:
        subscriptions = subscriptions.with_columns(pl.col("start_date").alias("anchor_date"))
    items = (
        subscriptions.join(customers.select(_scheduling(customers)), on="customer_id")
        .join(plan_items, on="plan_code")
        .with_columns(pl.col("anchor_date").alias("_start"))
    )
    if "paused" in items.columns:
        items = items.filter(~(pl.col("paused") & pl.col("charge_code").is_not_null()))
    due = schedule_periods(items, period, next_month(period))
    due = _to_utc(
        due,
        {
            "service_start": PERIOD_START,
            "service_end": PERIOD_END,
            "active_from": ACTIVE_START,
            "active_until": ACTIVE_END,
            "_start": SUBSCRIPTION_START,
        },
    )
    plan_periods = due.filter(pl.col("charge_code").is_null())
    fees = due.filter(pl.col("charge_code").is_not_null()).sort(
        "subscription_id", "charge_code", PERIOD_START
    )
    columns = [*subscriptions.columns, "timezone"]
    with_usage = plan_periods.select(
        *columns, PERIOD_START, PERIOD_END, ACTIVE_START, ACTIVE_END, SUBSCRIPTION_START
    ).with_columns(pl.lit(value=True).alias(USAGE_DUE))
    fees_only = (
        fees.join(plan_periods.select("subscription_id"), on="subscription_id", how="anti")
        .group_by(*columns)
        .agg(
            pl.col(ACTIVE_START).min().alias(PERIOD_START),
            pl.col(ACTIVE_END).max().alias(PERIOD_END),
            pl.col(SUBSCRIPTION_START).first(),
        )
        .with_columns(
            pl.col(PERIOD_START).alias(ACTIVE_START),
            pl.col(PERIOD_END).alias(ACTIVE_END),
            pl.lit(value=False).alias(USAGE_DUE),
        )
        .select(with_usage.columns)
    )
    billable = pl.concat([with_usage, fees_only]).sort("subscription_id")
    fee_rows = fees.select(
        "subscription_id",
        "customer_id",
        "plan_code",
        "charge_code",
        "item_quantity",
        pl.col(ACTIVE_START).alias(PERIOD_START),
        pl.col(ACTIVE_END).alias(PERIOD_END),
        "period_days",
        "active_days",
    )
    return RunSchedule(billable, fee_rows)


def open_windows(
    subscriptions: pl.DataFrame,
    customers: pl.DataFrame,
    plan_items: pl.DataFrame,
    as_of: date,
) -> pl.DataFrame:
    """Usage windows of the plan periods still open at ``as_of``, up to it (a billable frame).

    For each subscription active on the day before ``as_of``: the plan period
    holding that day, covered from its start (or the subscription's) to the
    local midnight starting ``as_of``. What progressive billing meters.
    """
    if "anchor_date" not in subscriptions.columns:
        subscriptions = subscriptions.with_columns(pl.col("start_date").alias("anchor_date"))
    items = (
        subscriptions.join(customers.select(_scheduling(customers)), on="customer_id")
        .join(plan_items.filter(pl.col("charge_code").is_null()), on="plan_code")
        .with_columns(pl.col("anchor_date").alias("_start"), pl.lit(as_of).alias("_until"))
    )
    day = date.fromordinal(as_of.toordinal() - 1)
    found = _to_utc(
        open_periods(items, day),
        {
            "service_start": PERIOD_START,
            "service_end": PERIOD_END,
            "active_from": ACTIVE_START,
            "active_until": ACTIVE_END,
            "_start": SUBSCRIPTION_START,
            "_until": "_until",
        },
    )
    return (
        found.with_columns(pl.min_horizontal(ACTIVE_END, "_until").alias(ACTIVE_END))
        .select(
            *subscriptions.columns,
            "timezone",
            PERIOD_START,
            PERIOD_END,
            ACTIVE_START,
            ACTIVE_END,
            SUBSCRIPTION_START,
            pl.lit(value=True).alias(USAGE_DUE),
        )
        .sort("subscription_id")
    )


def billable_subscriptions(
    subscriptions: pl.DataFrame, customers: pl.DataFrame, period: date
) -> pl.DataFrame:
    """Subscriptions of monthly calendar plans, billed in arrears, active in the month."""
    items = pl.DataFrame(
        [
            (code, None, "month", 1, "calendar", "in_arrears", False)
            for code in subscriptions["plan_code"].unique().to_list()
        ],
        schema=PLAN_ITEMS_SCHEMA,
        orient="row",
    )
    return run_schedule(subscriptions, customers, items, period).billable.drop("timezone")


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
    ts = pl.col("timestamp")
    # Only windows the events' time span reaches: an ingestion after a year of invoices
    # would otherwise match each event against twelve windows of its customer.
    first, last = events.select(ts.min().alias("first"), ts.max().alias("last")).row(0)
    if first is not None:
        windows = windows.filter((pl.col(PERIOD_END) > first) & (pl.col(PERIOD_START) <= last))
    if windows.is_empty() or first is None:
        return events.with_columns(pl.lit(None, dtype=pl.String).alias(INVOICED_PERIOD))
    position = "_position"
    indexed = events.with_row_index(position)
    matched = (
        indexed.select(position, "customer_id", "timestamp")
        .join(windows, on="customer_id")
        .filter((ts >= pl.col(PERIOD_START)) & (ts < pl.col(PERIOD_END)))
        .select(position, INVOICED_PERIOD)
    )
    return indexed.join(matched, on=position, how="left", maintain_order="left").drop(position)


def subscription_lifetimes(subscriptions: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """``customer_id, subscription_id, life_start, life_end``: when each subscription is
    active, as UTC instants (``life_end`` null while open-ended)."""
    lives = subscriptions.join(customers.select("customer_id", "timezone"), on="customer_id")
    return _to_utc(lives, {"start_date": "life_start", "end_date": "life_end"}).select(
        "customer_id", "subscription_id", "life_start", "life_end"
    )


def closing_terms(
    subscriptions: pl.DataFrame,
    customers: pl.DataFrame,
    plan_terms: pl.DataFrame,
    period: date,
) -> pl.DataFrame:
    """The contract terms that close in the run of month ``period``.

    ``plan_terms`` (``plan_code, months``) names the plans with a term
    commitment. A subscription's terms run ``months`` at a time from its first
    day (or its co-term date); a term closes on its end, or on the
    subscription's end when that comes first, in ``(period, next month]`` like
    anything billed in arrears. The plan is that of the segment in force on the
    term's last day. Out: ``subscription_id`` (the subscription, not the
    segment), ``customer_id, plan_code, term_start, term_end`` (UTC; the end cut
    at the subscription's end), ``term_days`` and ``covered_days`` (the days of
    the term from the subscription's start: fewer in a co-termed first term).
    """
    if "anchor_date" not in subscriptions.columns:
        subscriptions = subscriptions.with_columns(pl.col("start_date").alias("anchor_date"))
    owner = "segment_of" if "segment_of" in subscriptions.columns else "subscription_id"
    lives = subscriptions.group_by(owner).agg(
        pl.col("anchor_date").min().alias("_first"),
        pl.when(pl.col("end_date").is_null().any())
        .then(pl.lit(None, dtype=pl.Date))
        .otherwise(pl.col("end_date").max())
        .alias("_last"),
    )
    scheduling = _scheduling(customers)
    items = (
        subscriptions.join(plan_terms, on="plan_code")
        .join(lives, on=owner)
        .join(customers.select(scheduling), on="customer_id")
        .select(
            pl.col(owner).alias("_owner"),
            *scheduling,
            "plan_code",
            pl.col("start_date").alias("_segment_start"),
            pl.col("end_date").alias("_segment_end"),
            pl.col("_first").alias("start_date"),
            pl.col("_last").alias("end_date"),
            pl.col("_first").alias("anchor_date"),
            pl.lit("month").alias("cadence_unit"),
            pl.col("months").cast(pl.Int64).alias("cadence_count"),
            pl.lit("anniversary").alias("alignment"),
            pl.lit("in_arrears").alias("timing"),
            pl.lit(value=False).alias("once"),
        )
    )
    due = schedule_periods(items, period, next_month(period)).filter(
        (pl.col("_segment_start") < pl.col("active_until"))
        & (pl.col("_segment_end").is_null() | (pl.col("_segment_end") >= pl.col("active_until")))
    )
    terms = _to_utc(due, {"service_start": "term_start", "active_until": "term_end"})
    return terms.select(
        pl.col("_owner").alias("subscription_id"),
        "customer_id",
        "plan_code",
        "term_start",
        "term_end",
        pl.col("period_days").alias("term_days"),
        (pl.col("service_end") - pl.col("active_from"))
        .dt.total_days()
        .cast(pl.Int32)
        .alias("covered_days"),
    ).sort("subscription_id", "term_start")

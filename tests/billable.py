"""The subscriptions frame ``rating.rate.rate_period`` reads, for tests that build it by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

import polars as pl

from schemas.types import TIMESTAMP

OCTOBER = (datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC))

BILLABLE_SCHEMA = {
    "subscription_id": pl.String,
    "customer_id": pl.String,
    "plan_code": pl.String,
    "period_start": TIMESTAMP,
    "period_end": TIMESTAMP,
    "item_quantity": pl.Int64,
    "start_date": pl.Date,
}


def october_billable(plan: str, starts: dict[str, date]) -> pl.DataFrame:
    """One October subscription of ``plan`` per ``subscription_id -> start_date``, quantity 1.

    Each belongs to its own customer, ``c-<subscription_id>``.
    """
    rows = [(sub, f"c-{sub}", plan, *OCTOBER, 1, day) for sub, day in starts.items()]
    return pl.DataFrame(rows, schema=BILLABLE_SCHEMA, orient="row")

"""``gauge``: a time-weighted level, such as seats or GB stored, prorated over the period.

Each event *sets* the gauge of its (subscription, dimension group) to its
value at its timestamp; the value holds until the group's next setting, in
(timestamp, event_id) order, or until the window ends. Before the first
setting (in the window, or the last one before it that billing carries in:
``aggregation.usage.opening_events``) the gauge is 0, and an event whose value
is null sets nothing. Then::

    quantity = sum(value * microseconds held inside the window)
               / microseconds of the whole period

so a level held all period is that level, and one held half the period is
half of it. The sum is exact (``DECIMAL(38,6)`` times a whole number of
microseconds), and the one division rounds half to even to 6 decimal places.
A sum beyond ``DECIMAL(38,6)`` (a level near 1E+19 held for a month) raises
``ComputeError`` rather than wrap. Rules and a worked example:
docs/aggregations.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from aggregation.windows import PERIOD_MICROSECONDS, WINDOW_END, WINDOW_START
from schemas.events import EVENT_ID, TIMESTAMP_COLUMN
from schemas.types import DECIMAL_PRECISION, QUANTITY

WHOLE = pl.Decimal(DECIMAL_PRECISION, 0)


def value_time(value: pl.Expr, partition: Sequence[str]) -> pl.Expr:
    """Per event: its value times the microseconds it holds the gauge inside the window.

    Null for an event that sets nothing; needs the columns of
    :func:`aggregation.windows.with_windows`.
    """
    ts = pl.col(TIMESTAMP_COLUMN)
    next_setting = (
        pl.when(value.is_not_null())
        .then(ts)
        .shift(-1)
        .backward_fill()
        .over(partition, order_by=[ts, pl.col(EVENT_ID)])
    )
    start = pl.max_horizontal(ts, WINDOW_START)
    end = pl.min_horizontal(next_setting.fill_null(pl.col(WINDOW_END)), WINDOW_END)
    held = (end - start).dt.total_microseconds().clip(lower_bound=0)
    # A whole number of microseconds has scale 0, so the product keeps the value's 6 places
    # exactly (Polars multiplies to the larger scale).
    return value * held.cast(WHOLE)


def quantity(value_times: pl.Expr) -> pl.Expr:
    """The group's gauge (an aggregation over its events' :func:`value_time`).

    Polars divides two ``DECIMAL(38,6)`` to 6 places, rounding half to even.
    """
    period = pl.col(PERIOD_MICROSECONDS).first().cast(QUANTITY)
    return value_times.sum().cast(QUANTITY) / period

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

import numba as nb
import numpy as np
import polars as pl

from aggregation.kernels import kernel_input, microseconds
from aggregation.windows import PERIOD_MICROSECONDS, WINDOW_END, WINDOW_START
from schemas.events import EVENT_ID, TIMESTAMP_COLUMN
from schemas.types import DECIMAL_PRECISION, QUANTITY

WHOLE = pl.Decimal(DECIMAL_PRECISION, 0)


@nb.njit(cache=True)
def _held(
    new_group: np.ndarray,
    instant: np.ndarray,
    has_value: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
) -> np.ndarray:
    """Microseconds each setting holds its group's gauge inside the window, over events
    sorted by group, then (timestamp, event_id): from the setting (or the window start)
    to the group's next setting (or the window end); 0 for an event that sets nothing."""
    held = np.zeros(instant.shape[0], np.int64)
    next_setting = np.int64(0)
    has_next = False
    for i in range(instant.shape[0] - 1, -1, -1):
        if i == instant.shape[0] - 1 or new_group[i + 1]:
            has_next = False
        if not has_value[i]:
            continue
        end = window_end[i]
        if has_next and next_setting < end:
            end = next_setting
        held[i] = max(end - max(instant[i], window_start[i]), 0)
        next_setting = instant[i]
        has_next = True
    return held


def with_value_times(
    events: pl.DataFrame, value: pl.Expr, partition: Sequence[str], name: str
) -> pl.DataFrame:
    """``events`` sorted by ``partition`` then (timestamp, event_id), with column ``name``:
    each event's value times the microseconds it holds the gauge inside the window.

    Null for an event that sets nothing; ``events`` needs the columns of
    :func:`aggregation.windows.with_windows`. One sort and one pass in Numba: an ordered
    window expression (``over`` with ``order_by``) cost three times as much.
    """
    ordered = events.sort(*partition, TIMESTAMP_COLUMN, EVENT_ID)
    values = ordered.select(value).to_series()
    new_group = ordered.select(
        pl.any_horizontal(pl.col(key).ne_missing(pl.col(key).shift(1)) for key in partition)
        .fill_null(value=True)
        .alias("_new_group")
    ).to_series()
    held = _held(
        kernel_input(new_group),
        microseconds(ordered[TIMESTAMP_COLUMN]),
        kernel_input(values.is_not_null()),
        microseconds(ordered[WINDOW_START]),
        microseconds(ordered[WINDOW_END]),
    )
    # A whole number of microseconds has scale 0, so the product keeps the value's 6 places
    # exactly (Polars multiplies to the larger scale).
    return ordered.with_columns((values * pl.Series(held).cast(WHOLE)).alias(name))


def quantity(value_times: pl.Expr) -> pl.Expr:
    """The group's gauge (an aggregation over the value times of :func:`with_value_times`).

    Polars divides two ``DECIMAL(38,6)`` to 6 places, rounding half to even.
    """
    period = pl.col(PERIOD_MICROSECONDS).first().cast(QUANTITY)
    return value_times.sum().cast(QUANTITY) / period

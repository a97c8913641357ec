"""Each subscription's window and period, as the time-based aggregations read them.

``gauge`` and ``duration`` quantities depend on time, not only on events: the
window ``[max(period_start, active_start), min(period_end, active_end))`` is
the part of the billing period the subscription was active, and a gauge is
prorated over the whole period's length. Both are joined onto each event as
working columns (:data:`WINDOW_START`, :data:`WINDOW_END`,
:data:`PERIOD_MICROSECONDS`).
"""

from __future__ import annotations

import polars as pl

from aggregation.kernels import as_enum, is_enum, typed_as
from aggregation.periods import ACTIVE_END, ACTIVE_START, PERIOD_END, PERIOD_START
from schemas.types import TIMESTAMP

SUBSCRIPTION_ID = "subscription_id"

WINDOW_SCHEMA: dict[str, pl.DataType] = {
    SUBSCRIPTION_ID: pl.String(),
    PERIOD_START: TIMESTAMP,
    PERIOD_END: TIMESTAMP,
    ACTIVE_START: TIMESTAMP,
    ACTIVE_END: TIMESTAMP,
}
"""The columns ``aggregate_usage`` reads from its ``windows`` (other columns are ignored)."""

WINDOW_START, WINDOW_END = "_window_start", "_window_end"
CODE = "_code"
PERIOD_MICROSECONDS = "_period_microseconds"


def check_windows(windows: pl.DataFrame) -> pl.DataFrame:
    """The ``WINDOW_SCHEMA`` columns of ``windows``; raise unless each is there, typed, and
    every subscription has one row with a period of positive length.

    >>> from datetime import UTC, datetime
    >>> start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    >>> row = ("s1", start, end, start, end)
    >>> frame = pl.DataFrame([row, row], schema=WINDOW_SCHEMA, orient="row")
    >>> check_windows(frame)
    Traceback (most recent call last):
    ...
    ValueError: windows: subscription s1 has 2 rows; expected one per subscription
    """
    for name, dtype in WINDOW_SCHEMA.items():
        if name not in windows.columns:
            raise ValueError(f"windows: missing column {name!r} (expected {list(WINDOW_SCHEMA)})")
        if windows.schema[name] != dtype:
            raise TypeError(f"windows: column {name!r} is {windows.schema[name]}, expected {dtype}")
    length = pl.col(PERIOD_END) - pl.col(PERIOD_START)
    empty = windows.filter(length.is_null() | (length <= pl.duration(microseconds=0)))
    if empty.height:
        raise ValueError(
            f"windows: subscription {empty[SUBSCRIPTION_ID][0]} has no period "
            "(period_end must be later than period_start)"
        )
    repeated = (
        windows.group_by(SUBSCRIPTION_ID).len().filter(pl.col("len") > 1).sort(SUBSCRIPTION_ID)
    )
    if repeated.height:
        subscription, rows = repeated.row(0)
        raise ValueError(
            f"windows: subscription {subscription} has {rows} rows; expected one per subscription"
        )
    return windows.select(list(WINDOW_SCHEMA))


def missing_window(subscription: object, having: str) -> ValueError:
    """The error for events (``having``: "usage events", "earlier events") of a
    subscription without a window: its time-based quantity would be unknown."""
    return ValueError(
        f"windows: no row for subscription {subscription}, which has {having}; "
        "pass the window of every subscription the events were assigned to"
    )


def _require_window(bounds: pl.Series) -> pl.Series:
    """The window ends, or an error naming a subscription whose events have no window."""
    ends = bounds.struct.field(WINDOW_END)
    if ends.null_count():
        raise missing_window(
            bounds.struct.field(SUBSCRIPTION_ID).filter(ends.is_null())[0], "usage events"
        )
    return ends


def window_bounds() -> list[pl.Expr]:
    """A window's start and end, and its period's length in microseconds."""
    return [
        pl.max_horizontal(PERIOD_START, ACTIVE_START).alias(WINDOW_START),
        pl.min_horizontal(PERIOD_END, ACTIVE_END).alias(WINDOW_END),
        (pl.col(PERIOD_END) - pl.col(PERIOD_START))
        .dt.total_microseconds()
        .alias(PERIOD_MICROSECONDS),
    ]


def with_windows(events: pl.LazyFrame, windows: pl.DataFrame) -> pl.LazyFrame:
    """Add each event's window bounds and its period's length in microseconds.

    An event of a subscription missing from ``windows`` raises ``ValueError``
    when the frame is collected: its time-based quantity would otherwise be
    unknown, and billing it as zero would be silent.
    """
    bounds = check_windows(windows).select(SUBSCRIPTION_ID, *window_bounds())
    if is_enum(events, SUBSCRIPTION_ID):
        # Events keyed by the Enum of the run's subscriptions: join on it, not on text.
        # Windows of subscriptions the Enum does not hold have no events here: they
        # become null, cheaper than looking each one up first.
        keyed = as_enum(bounds[SUBSCRIPTION_ID], typed_as(events, SUBSCRIPTION_ID))
        bounds = bounds.with_columns(keyed).drop_nulls(SUBSCRIPTION_ID)
    return events.join(bounds.lazy(), on=SUBSCRIPTION_ID, how="left").with_columns(
        pl.struct(SUBSCRIPTION_ID, WINDOW_END)
        .map_batches(_require_window, return_dtype=TIMESTAMP, is_elementwise=True)
        .alias(WINDOW_END)
    )

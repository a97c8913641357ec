"""Which subscription each event is billed to, if any, in one billing run.

An event belongs to the subscription whose active window holds its instant.
An event in no window is either left for another period's run (a subscription
covers its instant, or it is outside the customer's billing period) or has no
active subscription (quarantined). Windows of one customer never overlap, so an
event matches at most one.
"""

from __future__ import annotations

from enum import StrEnum

import numba as nb
import numpy as np
import polars as pl

from aggregation.kernels import as_enum, kernel_input, microseconds, together
from aggregation.lookup import ABSENT, joined_rows, probed_rows
from aggregation.periods import ACTIVE_END, ACTIVE_START, PERIOD_END, PERIOD_START
from schemas.events import CUSTOMER_ID, TIMESTAMP_COLUMN
from schemas.tables import USAGE_DUE

BILLING_STATUS = "billing_status"
SUBSCRIPTION_ID = "subscription_id"
ROW_KEY = "_row"
LIFE_START, LIFE_END = "life_start", "life_end"


class BillingStatus(StrEnum):
    """What a valid, unique event is to one billing run."""

    RATED = "rated"
    OUT_OF_PERIOD = "out_of_period"
    """Belongs to another billing period; left for that period's run."""
    NO_ACTIVE_SUBSCRIPTION = "no_active_subscription"
    """In the period, but the customer had no active subscription at that instant."""


STATUS_TYPE = pl.Enum([status.value for status in BillingStatus])
_RATED, _OUT_OF_PERIOD, _NO_ACTIVE = (
    list(BillingStatus).index(status)
    for status in (
        BillingStatus.RATED,
        BillingStatus.OUT_OF_PERIOD,
        BillingStatus.NO_ACTIVE_SUBSCRIPTION,
    )
)


def assign_subscriptions(
    events: pl.DataFrame,
    periods: pl.DataFrame,
    billable: pl.DataFrame,
    lifetimes: pl.DataFrame | None = None,
    subscriptions: pl.Series | None = None,
) -> pl.DataFrame:
    """``events`` with ``subscription_id`` (an Enum of the run's subscriptions) and
    ``billing_status`` added.

    ``subscriptions``: the run's subscriptions as an Enum column (each once, sorted),
    which every shard of a run keys its events by, so that their usage adds up and
    rating reads each subscription's place from its code; by default, an Enum of the
    windows' subscriptions.

    ``periods`` has one row per customer (``customer_id, period_start,
    period_end``); ``billable`` the active windows of subscriptions, which never
    overlap for one customer, so an event matches at most one. An event of a
    customer missing from ``periods`` (removed from the customer file since it
    was ingested) has no active subscription.

    ``lifetimes`` (``customer_id, life_start, life_end``, end null if open)
    tells an event in the period that no window of this run holds apart: if a
    subscription covers its instant, its usage period closes in another run
    (``out_of_period``); if none does, it has no active subscription. Without
    it, the windows are taken as the lifetimes. Only rows of ``billable`` whose
    usage is due (``usage_due``, when the column is there) are windows.

    Almost every customer has one window per period: their events find their
    customer's row in one row per customer (:func:`aggregation.lookup.rows_of`),
    and a Numba kernel classifies them. Only the events of customers with
    several windows or subscriptions (a plan change) are matched window by
    window.
    """
    if USAGE_DUE in billable.columns:
        billable = billable.filter(pl.col(USAGE_DUE))
    windows = billable.select(CUSTOMER_ID, SUBSCRIPTION_ID, ACTIVE_START, ACTIVE_END)
    if lifetimes is None:
        lifetimes = windows.select(
            CUSTOMER_ID, pl.col(ACTIVE_START).alias(LIFE_START), pl.col(ACTIVE_END).alias(LIFE_END)
        )
    lifetimes = lifetimes.select(CUSTOMER_ID, LIFE_START, LIFE_END)
    bounds = periods.select(CUSTOMER_ID, PERIOD_START, PERIOD_END)
    # Subscriptions as an Enum: aggregation groups their events by a small integer.
    if subscriptions is None:
        keys = windows[SUBSCRIPTION_ID].unique().sort()
        subscriptions = keys.cast(pl.Enum(keys))
    windows = _keyed(windows, subscriptions)
    several = pl.concat(
        [
            frame.select(CUSTOMER_ID).filter(pl.col(CUSTOMER_ID).is_duplicated())
            for frame in (windows, lifetimes)
        ]
    ).unique()
    if several.height == 0:
        return _assign_one_window(events, bounds, windows, lifetimes)
    multiple = pl.col(CUSTOMER_ID).is_in(several[CUSTOMER_ID].implode())
    single = windows.join(several, on=CUSTOMER_ID, how="anti")
    single_lives = lifetimes.join(several, on=CUSTOMER_ID, how="anti")
    return pl.concat(
        [
            _assign_one_window(events.filter(~multiple), bounds, single, single_lives),
            _assign_several_windows(events.filter(multiple), bounds, windows, lifetimes),
        ],
        how="vertical",
    )


def _keyed(windows: pl.DataFrame, subscriptions: pl.Series) -> pl.DataFrame:
    """``windows`` with ``subscription_id`` as the Enum ``subscriptions`` is typed by, at the
    cost of the windows' own rows (:func:`aggregation.kernels.as_enum`)."""
    keyed = as_enum(windows[SUBSCRIPTION_ID], subscriptions)
    if keyed.null_count():
        unknown = windows.filter(keyed.is_null())[SUBSCRIPTION_ID][0]
        raise ValueError(
            f"subscription {unknown} has a window but is not one of the run's subscriptions"
        )
    return windows.with_columns(keyed)


@nb.njit(cache=True, parallel=True)
def _classify(
    row: np.ndarray,
    instant: np.ndarray,
    period_start: np.ndarray,
    period_end: np.ndarray,
    has_window: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
    has_life: np.ndarray,
    life_start: np.ndarray,
    life_open: np.ndarray,
    life_end: np.ndarray,
    status: np.ndarray,
    rated_row: np.ndarray,
) -> None:
    """Each event's status, and if rated its customer's ``row`` in ``rated_row`` (left as
    it is otherwise), from that ``row`` (``ABSENT``: not in the run).

    Rated in the window; else quarantined if in the customer's period and no
    subscription's lifetime holds it; else left for another run.
    """
    for i in nb.prange(row.shape[0]):
        r = row[i]
        t = instant[i]
        if r == ABSENT:
            status[i] = _NO_ACTIVE
        elif has_window[r] and window_start[r] <= t and t < window_end[r]:
            status[i] = _RATED
            rated_row[i] = r
        else:
            alive = has_life[r] and life_start[r] <= t and (life_open[r] or t < life_end[r])
            in_period = period_start[r] <= t < period_end[r]
            status[i] = _NO_ACTIVE if in_period and not alive else _OUT_OF_PERIOD


def _assign_one_window(
    events: pl.DataFrame, bounds: pl.DataFrame, windows: pl.DataFrame, lifetimes: pl.DataFrame
) -> pl.DataFrame:
    """At most one window and one lifetime per customer: each event reads its customer's
    row by position."""
    lookup = bounds.join(windows, on=CUSTOMER_ID, how="left").join(
        lifetimes, on=CUSTOMER_ID, how="left"
    )
    if events.height < 2 * HALF_AT_LEAST:
        return _by_customer_row(events, lookup)
    # Each half of the events on its own thread (aggregation.kernels.together): hashing
    # the keys, gathering the subscriptions and typing the statuses run on one core each,
    # and so does faulting in the fresh memory each step takes. In a 10M-event billing run
    # its two shards are assigned in 0.15 s against 0.19; on memory already warm (the same
    # events again and again) the split gains nothing. The halves concatenate in order.
    half = events.height // 2
    first, second = together(
        [
            lambda: _by_customer_row(events.slice(0, half), lookup),
            lambda: _by_customer_row(events.slice(half), lookup),
        ]
    )
    return pl.concat([first, second], how="vertical")


HALF_AT_LEAST = 500_000
"""Events each half holds at least before the assignment splits them in two: a billing
run's shard has millions; a small frame is assigned in one piece."""


def _by_customer_row(events: pl.DataFrame, lookup: pl.DataFrame) -> pl.DataFrame:
    """``events`` with their subscription and status, each found by its customer's row in
    ``lookup`` (one row per customer: its period, window and lifetime)."""
    keys, table = events[CUSTOMER_ID], lookup[CUSTOMER_ID]
    row, confirmed = probed_rows(keys, table)
    # The rows' check by value runs on the helper (aggregation.kernels.together) while the
    # caller classifies; both are single-threaded passes.
    assigned, ok = together([lambda: _classified(events, lookup, row), confirmed])
    if not ok:  # a hash collided: classify again from the exact rows
        assigned = _classified(events, lookup, joined_rows(keys, table))
    return assigned


def _classified(events: pl.DataFrame, lookup: pl.DataFrame, row: np.ndarray) -> pl.DataFrame:
    """``events`` with their subscription and status, from each one's customer ``row`` in
    ``lookup`` (``ABSENT``: not in the run)."""
    status = np.empty(events.height, np.uint8)
    # An event not rated keeps the row past the lookup's end: a null subscription.
    rated_row = np.full(events.height, lookup.height, np.uint32)
    _classify(
        row,
        microseconds(events[TIMESTAMP_COLUMN]),
        microseconds(lookup[PERIOD_START]),
        microseconds(lookup[PERIOD_END]),
        kernel_input(lookup[ACTIVE_START].is_not_null()),
        microseconds(lookup[ACTIVE_START]),
        microseconds(lookup[ACTIVE_END]),
        kernel_input(lookup[LIFE_START].is_not_null()),
        microseconds(lookup[LIFE_START]),
        kernel_input(lookup[LIFE_END].is_null()),
        microseconds(lookup[LIFE_END]),
        status,
        rated_row,
    )
    # Gathered from the lookup's own column: the Enum never crosses into Python, where
    # converting its dtype (one category per subscription) cost more than the gather.
    subscriptions = lookup[SUBSCRIPTION_ID]
    # extend_constant stays in Rust: clear() carries the Enum through Python (0.01 s).
    with_null = subscriptions.extend_constant(None, 1)
    subscription_id, billing_status = together(
        [
            lambda: with_null.gather(pl.Series(rated_row)),
            lambda: pl.Series(BILLING_STATUS, status).cat.to(STATUS_TYPE),
        ]
    )
    return events.hstack([subscription_id.alias(SUBSCRIPTION_ID), billing_status])


def status_counts(assigned: pl.DataFrame) -> dict[str, int]:
    """Events per billing status (every status; 0 where none), counted from the Enum's codes.

    >>> frame = pl.DataFrame({BILLING_STATUS: ["rated", "rated", "out_of_period"]},
    ...     schema={BILLING_STATUS: STATUS_TYPE})
    >>> status_counts(frame)
    {'rated': 2, 'out_of_period': 1, 'no_active_subscription': 0}
    """
    codes = assigned[BILLING_STATUS].cat.physical()
    # A comparison per status: np.bincount first widens every 8-bit code to 64 bits.
    return {status.value: int((codes == code).sum()) for code, status in enumerate(BillingStatus)}


def _status(in_window: pl.Expr, in_period: pl.Expr) -> pl.Expr:
    return (
        pl.when(in_window)
        .then(pl.lit(BillingStatus.RATED.value, dtype=STATUS_TYPE))
        .when(in_period)
        .then(pl.lit(BillingStatus.NO_ACTIVE_SUBSCRIPTION.value, dtype=STATUS_TYPE))
        .otherwise(pl.lit(BillingStatus.OUT_OF_PERIOD.value, dtype=STATUS_TYPE))
        .alias(BILLING_STATUS)
    )


def _in(start: str, end: str) -> pl.Expr:
    ts = pl.col(TIMESTAMP_COLUMN)
    return (ts >= pl.col(start)) & (ts < pl.col(end))


def _alive() -> pl.Expr:
    """The event's instant is in its subscription's lifetime (``life_end`` null: open)."""
    ts = pl.col(TIMESTAMP_COLUMN)
    after_start = (ts >= pl.col(LIFE_START)).fill_null(value=False)
    return after_start & (ts < pl.col(LIFE_END)).fill_null(value=True)


def _assign_several_windows(
    events: pl.DataFrame, bounds: pl.DataFrame, windows: pl.DataFrame, lifetimes: pl.DataFrame
) -> pl.DataFrame:
    """Customers with several windows: match each window, then classify the unmatched."""
    events = events.with_row_index(ROW_KEY)
    rated = (
        events.join(windows, on=CUSTOMER_ID, how="inner")
        .filter(_in(ACTIVE_START, ACTIVE_END))
        .drop(ACTIVE_START, ACTIVE_END)
        .with_columns(_status(pl.lit(value=True), pl.lit(value=True)))
    )
    unmatched = events.join(rated.select(ROW_KEY), on=ROW_KEY, how="anti")
    alive = (
        unmatched.select(ROW_KEY, CUSTOMER_ID, TIMESTAMP_COLUMN)
        .join(lifetimes, on=CUSTOMER_ID)
        .filter(_alive())
        .select(ROW_KEY)
        .unique()
    )
    in_period = _in(PERIOD_START, PERIOD_END).fill_null(value=True)
    rest = (
        unmatched.join(bounds, on=CUSTOMER_ID, how="left")
        .with_columns(
            pl.lit(None, dtype=windows.schema[SUBSCRIPTION_ID]).alias(SUBSCRIPTION_ID),
            _status(
                pl.lit(value=False), in_period & ~pl.col(ROW_KEY).is_in(alive[ROW_KEY].implode())
            ),
        )
        .drop(PERIOD_START, PERIOD_END)
    )
    return pl.concat([rated, rest], how="vertical").sort(ROW_KEY).drop(ROW_KEY)

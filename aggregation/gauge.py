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

from aggregation.kernels import as_enum, codes, enum_values, kernel_input, microseconds
from aggregation.windows import (
    CODE,
    PERIOD_MICROSECONDS,
    SUBSCRIPTION_ID,
    WINDOW_END,
    WINDOW_START,
    check_windows,
    missing_window,
    window_bounds,
    with_windows,
)
from schemas.events import EVENT_ID, TIMESTAMP_COLUMN
from schemas.types import DECIMAL_PRECISION, QUANTITY

WHOLE = pl.Decimal(DECIMAL_PRECISION, 0)


@nb.njit(cache=True)
def _hold(
    settings: np.ndarray,
    instant: np.ndarray,
    has_value: np.ndarray,
    window_start: np.int64,
    window_end: np.int64,
    held: np.ndarray,
) -> bool:
    """Write into ``held`` the microseconds each of one group's events, ``settings`` (event
    positions in (timestamp, event_id) order), holds the gauge inside the window: from
    the setting (or the window start) to the group's next setting (or the window end);
    0 for an event that sets nothing. True if two settings share an instant."""
    next_setting = np.int64(0)
    has_next = False
    tied = False
    for j in range(settings.shape[0] - 1, -1, -1):
        i = settings[j]
        if not has_value[i]:
            continue
        if has_next and next_setting == instant[i]:
            tied = True
        end = window_end
        if has_next and next_setting < end:
            end = next_setting
        held[i] = max(end - max(instant[i], window_start), 0)
        next_setting = instant[i]
        has_next = True
    return tied


@nb.njit(cache=True)
def _held(
    new_group: np.ndarray,
    instant: np.ndarray,
    has_value: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
) -> np.ndarray:
    """Microseconds each setting holds its group's gauge inside the window (:func:`_hold`),
    over events sorted by group, then (timestamp, event_id)."""
    held = np.zeros(instant.shape[0], np.int64)
    positions = np.arange(instant.shape[0])
    first = 0
    for stop in range(1, instant.shape[0] + 1):
        if stop == instant.shape[0] or new_group[stop]:
            settings = positions[first:stop]
            _hold(settings, instant, has_value, window_start[first], window_end[first], held)
            first = stop
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


@nb.njit(cache=True)
def _by_code(code: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Event positions grouped by code, in their order within each group, and where each
    group starts (a counting sort: linear, where a comparison sort is not)."""
    starts = np.zeros(groups + 1, np.int64)
    for i in range(code.shape[0]):
        starts[code[i] + 1] += 1
    for group in range(groups):
        starts[group + 1] += starts[group]
    filled = starts[:-1].copy()
    order = np.empty(code.shape[0], np.int64)
    for i in range(code.shape[0]):
        order[filled[code[i]]] = i
        filled[code[i]] += 1
    return order, starts


@nb.njit(cache=True, parallel=True)
def _held_by_code(
    code: np.ndarray,
    instant: np.ndarray,
    has_value: np.ndarray,
    window_start: np.ndarray,
    window_end: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """Microseconds each setting holds its subscription's gauge inside the window, as
    :func:`_held` computes them, for events in any order, with their subscription's
    ``code`` indexing the windows; and whether two settings of a subscription share an
    instant, whose order only their event ids decide (the result is then unusable)."""
    order, starts = _by_code(code, window_start.shape[0])
    held = np.zeros(code.shape[0], np.int64)
    tied = np.zeros(window_start.shape[0], np.bool_)
    # Subscriptions in parallel: each sorts its own slice of ``order`` and writes its own
    # events' ``held``.
    for group in nb.prange(window_start.shape[0]):
        first, stop = starts[group], starts[group + 1]
        # Settings by instant: insertion sort, as a subscription has few events.
        members = order[first:stop]
        if stop - first > 32:
            members = members[np.argsort(instant[members], kind="mergesort")]
        else:
            for j in range(1, stop - first):
                event = members[j]
                k = j
                while k > 0 and instant[members[k - 1]] > instant[event]:
                    members[k] = members[k - 1]
                    k -= 1
                members[k] = event
        tied[group] = _hold(
            members, instant, has_value, window_start[group], window_end[group], held
        )
    return held, tied.any()


def value_times(
    events: pl.DataFrame,
    windows: pl.DataFrame,
    value: pl.Expr,
    partition: Sequence[str],
    name: str,
) -> pl.DataFrame:
    """``events`` (any order) with column ``name``, as :func:`with_value_times`, and the
    period's length (``PERIOD_MICROSECONDS``) from the subscriptions' ``windows``."""
    return with_value_times(with_windows(events.lazy(), windows).collect(), value, partition, name)


VALUE_TIME, CARRIED = "_value_time", "_carried"


def _windows_by_code(
    windows: pl.DataFrame, subscriptions: pl.Series, code: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Window start, end (microseconds), period length and whether there is a window, by
    the code of ``subscriptions``' Enum, for codes up to the highest in ``code`` or of a
    window. Only the windows' own rows are read, not one row per category of the Enum
    (every subscription of the run, where a shard holds a fraction)."""
    bounds = check_windows(windows).select(SUBSCRIPTION_ID, *window_bounds())
    at = as_enum(bounds[SUBSCRIPTION_ID], subscriptions)
    # Windows of subscriptions the Enum does not hold have no events here.
    bounds = bounds.filter(at.is_not_null())
    at = codes(at.drop_nulls())
    size = max(int(code.max(initial=0)), int(at.max(initial=0))) + 1
    start, end = np.zeros(size, np.int64), np.zeros(size, np.int64)
    period, has_window = np.ones(size, np.int64), np.zeros(size, np.bool_)
    start[at] = microseconds(bounds[WINDOW_START])
    end[at] = microseconds(bounds[WINDOW_END])
    period[at] = bounds[PERIOD_MICROSECONDS].to_numpy()
    has_window[at] = True
    return kernel_input(start), kernel_input(end), period, has_window


def usage_by_code(
    events: pl.DataFrame, opening: pl.DataFrame | None, windows: pl.DataFrame, value: str
) -> pl.DataFrame | None:
    """``subscription_id`` (the events' Enum), ``quantity`` and ``event_count`` of the
    gauge of each subscription with ``events`` or ``opening`` events, for events keyed by
    the Enum of the run's subscriptions and grouped by subscription alone; None when two
    settings of a subscription share an instant, which only their event ids order (take
    the sorted way, :func:`value_times`, then).

    ``opening`` holds the settings carried in from before the window
    (``aggregation.usage.opening_events``), keyed by text, with ``timestamp`` and
    ``value``; they are not counted. Events are measured in their own order: a counting
    sort by the subscription's code, windows read by that code, no sort or join of the
    events. The opening events and the windows find their codes inside Polars
    (:func:`aggregation.kernels.as_enum`), at the cost of their own rows only.
    """
    subscriptions = events[SUBSCRIPTION_ID]
    if subscriptions.null_count():
        raise missing_window(None, "usage events")
    opening = (
        events.select(pl.col(SUBSCRIPTION_ID).cast(pl.String), TIMESTAMP_COLUMN, value).clear()
        if opening is None
        else opening.select(SUBSCRIPTION_ID, TIMESTAMP_COLUMN, value)
    )
    opened = as_enum(opening[SUBSCRIPTION_ID], subscriptions)
    if opened.null_count():
        raise missing_window(
            opening.filter(opened.is_null())[SUBSCRIPTION_ID].min(), "earlier events"
        )
    code = np.concatenate([codes(subscriptions), codes(opened)])
    values = pl.concat([frame.get_column(value).cast(QUANTITY) for frame in (events, opening)])
    start, end, period, has_window = _windows_by_code(windows, subscriptions, code)
    if not has_window[code].all():
        missing = np.unique(code[~has_window[code]])
        first = enum_values(pl.Series(missing[:1], dtype=pl.UInt32), subscriptions)
        raise missing_window(first[0], "usage events")
    held, tied = _held_by_code(
        kernel_input(code),
        np.concatenate(
            [microseconds(events[TIMESTAMP_COLUMN]), microseconds(opening[TIMESTAMP_COLUMN])]
        ),
        kernel_input(values.is_not_null()),
        start,
        end,
    )
    if tied:
        return None
    carried = np.zeros(code.shape[0], np.bool_)
    carried[events.height :] = True
    measured = (
        pl.DataFrame(
            {
                CODE: code,
                VALUE_TIME: values * pl.Series(held).cast(WHOLE),
                PERIOD_MICROSECONDS: period[code],
                CARRIED: carried,
            }
        )
        .group_by(CODE)
        .agg(
            # Never null, as every aggregation's quantity (aggregation.usage).
            quantity(pl.col(VALUE_TIME)).fill_null(pl.lit(0, dtype=QUANTITY)).alias("quantity"),
            (~pl.col(CARRIED)).sum().cast(pl.Int64).alias("event_count"),
        )
    )
    return measured.select(
        enum_values(measured[CODE], subscriptions).alias(SUBSCRIPTION_ID),
        "quantity",
        "event_count",
    )


def quantity(value_times: pl.Expr) -> pl.Expr:
    """The group's gauge (an aggregation over the value times of :func:`with_value_times`).

    Polars divides two ``DECIMAL(38,6)`` to 6 places, rounding half to even.
    """
    period = pl.col(PERIOD_MICROSECONDS).first().cast(QUANTITY)
    return value_times.sum().cast(QUANTITY) / period

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

from aggregation.kernels import codes, kernel_input, microseconds
from aggregation.windows import (
    PERIOD_MICROSECONDS,
    SUBSCRIPTION_ID,
    WINDOW_END,
    WINDOW_START,
    windows_by_code,
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


@nb.njit(cache=True)
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
    for group in range(window_start.shape[0]):
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
    """``events`` with column ``name`` (as :func:`with_value_times`) and the period's length
    (``PERIOD_MICROSECONDS``), in any order, from the subscriptions' ``windows``.

    Events keyed by the Enum of the run's subscriptions and grouped by subscription
    alone are measured in their own order: a counting sort by the subscription's code
    and windows read by that code, with no sort or join of the events (a third of the
    time). Two settings of a subscription at one instant need their event ids to be
    ordered, and such events, like groups within a subscription, take the sorted way.
    """
    if list(partition) == [SUBSCRIPTION_ID] and isinstance(events.schema[SUBSCRIPTION_ID], pl.Enum):
        subscriptions = events[SUBSCRIPTION_ID]
        # First: it raises for events of no subscription, which have no code.
        by_code = windows_by_code(windows, subscriptions)
        code = codes(subscriptions)
        values = events.select(value).to_series()
        held, tied = _held_by_code(
            code,
            microseconds(events[TIMESTAMP_COLUMN]),
            kernel_input(values.is_not_null()),
            kernel_input(by_code.start),
            kernel_input(by_code.end),
        )
        if not tied:
            return events.with_columns(
                (values * pl.Series(held).cast(WHOLE)).alias(name),
                pl.Series(PERIOD_MICROSECONDS, by_code.period[code]),
            )
    return with_value_times(with_windows(events.lazy(), windows).collect(), value, partition, name)


def quantity(value_times: pl.Expr) -> pl.Expr:
    """The group's gauge (an aggregation over the value times of :func:`with_value_times`).

    Polars divides two ``DECIMAL(38,6)`` to 6 places, rounding half to even.
    """
    period = pl.col(PERIOD_MICROSECONDS).first().cast(QUANTITY)
    return value_times.sum().cast(QUANTITY) / period

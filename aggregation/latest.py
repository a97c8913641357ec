"""``latest``: the value of a group's last event with one, in (timestamp, event_id) order.

Events are unique once de-duplicated, so (timestamp, event_id) is a total
order. An event without a value is counted but never the latest; a group none
of whose events has a value measures 0. Rules and a worked example:
docs/aggregations.md.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba as nb
import numpy as np
import polars as pl

from aggregation.kernels import codes, kernel_input, microseconds
from aggregation.windows import SUBSCRIPTION_ID
from schemas.events import EVENT_ID, TIMESTAMP_COLUMN
from schemas.types import QUANTITY


@nb.njit(cache=True)
def _last_by_code(
    code: np.ndarray, instant: np.ndarray, has_value: np.ndarray, groups: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Per code: the position of its last event with a value by instant (-1: none), of
    one of its events, and its number of events; and whether a code's last instant holds
    two events with a value, which only their event ids order (the answer is then
    unusable)."""
    last = np.full(groups, -1, np.int64)
    member = np.full(groups, -1, np.int64)
    count = np.zeros(groups, np.int64)
    tied = np.zeros(groups, np.bool_)
    for i in range(code.shape[0]):
        group = code[i]
        count[group] += 1
        member[group] = i
        if not has_value[i]:
            continue
        j = last[group]
        if j < 0 or instant[i] > instant[j]:
            last[group] = i
            tied[group] = False
        elif instant[i] == instant[j]:
            tied[group] = True
    return last, member, count, tied.any()


def latest_by_code(events: pl.DataFrame, name: str) -> pl.DataFrame | None:
    """``subscription_id, quantity, event_count`` of ``latest`` over property ``name``, per
    subscription, for events keyed by an Enum of subscriptions: one pass in their own
    order, with no sort or grouping. None if a subscription's last instant holds two
    values (their event ids decide: :func:`latest`), or if an event has no subscription.

    >>> from datetime import UTC, datetime
    >>> at = [datetime(2026, 10, day, tzinfo=UTC) for day in (1, 2, 3)]
    >>> events = pl.DataFrame({
    ...     "subscription_id": pl.Series(["s2", "s2", "s2", "s1"], dtype=pl.Enum(["s1", "s2"])),
    ...     "event_id": ["a", "b", "c", "d"],
    ...     "timestamp": [at[1], at[0], at[2], at[0]],
    ...     "seats": [5, 7, None, None],
    ... })
    >>> latest_by_code(events, "seats").sort("subscription_id").rows()
    [('s1', Decimal('0.000000'), 1), ('s2', Decimal('5.000000'), 3)]
    """
    subscriptions = events[SUBSCRIPTION_ID]
    if subscriptions.null_count():
        return None  # events of no subscription: only the grouped way has a group for them
    values = events[name].cast(QUANTITY)
    code = codes(subscriptions)
    last, member, count, tied = _last_by_code(
        code,
        microseconds(events[TIMESTAMP_COLUMN]),
        kernel_input(values.is_not_null()),
        int(code.max()) + 1 if code.size else 1,
    )
    if tied:
        return None
    present = np.flatnonzero(count)
    chosen = pl.Series(last[present])
    return pl.DataFrame(
        {
            SUBSCRIPTION_ID: subscriptions.gather(member[present]),
            "quantity": values.gather(chosen.clip(lower_bound=0)),
            "event_count": count[present],
        }
    ).with_columns(
        pl.when(chosen >= 0).then("quantity").otherwise(pl.lit(0, dtype=QUANTITY)).alias("quantity")
    )


def latest(events: pl.LazyFrame, name: str, keys: Sequence[str]) -> pl.LazyFrame:
    """``keys, quantity, event_count`` of ``latest`` over property ``name``, per group.

    Only events at their group's last instant with a value are ordered by id: sorting
    every group's values by (timestamp, event_id) cost twice as much.
    """
    keys = list(keys)
    ts = pl.col(TIMESTAMP_COLUMN)
    counts = events.group_by(keys).agg(pl.len().cast(pl.Int64).alias("event_count"))
    last = (
        events.filter(pl.col(name).is_not_null())
        .filter(ts == ts.max().over(keys))
        .group_by(keys)
        .agg(pl.col(name).sort_by(EVENT_ID).last().cast(QUANTITY).alias("quantity"))
    )
    return counts.join(last, on=keys, how="left", nulls_equal=True).with_columns(
        pl.col("quantity").fill_null(pl.lit(0, dtype=QUANTITY))
    )

"""``duration``: time in use, such as VM hours, from start and stop events of session keys.

Per (subscription, dimension group, session key), in (timestamp, event_id)
order, a session runs from a start to the next stop. A start while running
and a stop while stopped are ignored; a session still running at the window
end ends there; a key whose first event is a stop had a session running since
the window start (started before any event meterline holds; billing passes the
last start or stop before the window along, ``aggregation.usage.opening_events``,
so a session carried over is known exactly). Events whose state is
neither the start nor the stop value, or whose session key is null, are
ignored. Each session is clipped to the window, converted to the meter's
unit and rounded on its own; the quantity is the sum over sessions. Rules and
a worked example: docs/aggregations.md.

A start leaves a key running and a stop leaves it stopped whatever came
before, so the state before an event is simply the kind of the key's previous
counted event: no state machine is needed, only a look back and a look ahead
within each key (``over`` with an explicit order).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from aggregation.windows import WINDOW_END, WINDOW_START
from schemas.catalog import DurationRounding, DurationSpec
from schemas.events import EVENT_ID, TIMESTAMP_COLUMN
from schemas.types import QUANTITY


def in_units(microseconds: pl.Expr, spec: DurationSpec) -> pl.Expr:
    """A session's length (non-negative whole microseconds) in the unit, rounded by the rule.

    >>> from schemas.catalog import TimeUnit
    >>> lengths = pl.DataFrame({"us": [0, 1, 1_800_000_000, 5_400_000_000, 5_399_999_999]})
    >>> for rounding in DurationRounding:
    ...     spec = DurationSpec("state", TimeUnit.HOUR, rounding=rounding)
    ...     hours = lengths.select(in_units(pl.col("us"), spec)).to_series()
    ...     print(rounding, [str(h) for h in hours])
    up ['0.000000', '1.000000', '1.000000', '2.000000', '2.000000']
    down ['0.000000', '0.000000', '0.000000', '1.000000', '1.000000']
    nearest ['0.000000', '0.000000', '1.000000', '2.000000', '1.000000']
    none ['0.000000', '0.000000', '0.500000', '1.500000', '1.500000']
    """
    unit = spec.unit.microseconds
    if spec.rounding is DurationRounding.NONE:
        # Polars divides two DECIMAL(38,6) to 6 places, rounding half to even.
        return microseconds.cast(QUANTITY) / pl.lit(unit).cast(QUANTITY)
    # Whole units in integer arithmetic: lengths are never negative, so // is a floor.
    if spec.rounding is DurationRounding.UP:
        units = (microseconds + (unit - 1)) // unit
    elif spec.rounding is DurationRounding.DOWN:
        units = microseconds // unit
    else:  # nearest, half up: floor(length / unit + 1/2)
        units = (2 * microseconds + unit) // (2 * unit)
    return units.cast(QUANTITY)


def session_units(spec: DurationSpec, session_key: pl.Expr, partition: Sequence[str]) -> pl.Expr:
    """Per event: the rounded length of the session it opens, else null.

    A session is carried by its opening start, or, for a session running since
    the window start, by the stop that ends it. Needs the columns of
    :func:`aggregation.windows.with_windows`.
    """
    ts = pl.col(TIMESTAMP_COLUMN)
    state = pl.col(spec.state_property).cast(pl.String)
    is_start, is_stop = state == spec.start, state == spec.stop
    counted = (session_key.is_not_null() & (is_start | is_stop)).fill_null(value=False)
    within_key = {"partition_by": [*partition, session_key], "order_by": [ts, pl.col(EVENT_ID)]}
    # Null before a key's first counted event.
    running_before = pl.when(counted).then(is_start).shift(1).forward_fill().over(**within_key)
    next_stop = pl.when(counted & is_stop).then(ts).shift(-1).backward_fill().over(**within_key)
    opens = counted & is_start & ~running_before.fill_null(value=False)
    carried = counted & is_stop & running_before.is_null()
    start = pl.when(opens).then(ts).otherwise(pl.col(WINDOW_START))
    end = pl.when(opens).then(next_stop.fill_null(pl.col(WINDOW_END))).otherwise(ts)
    clipped = pl.min_horizontal(end, WINDOW_END) - pl.max_horizontal(start, WINDOW_START)
    length = clipped.dt.total_microseconds().clip(lower_bound=0)
    return pl.when(opens | carried).then(in_units(length, spec))

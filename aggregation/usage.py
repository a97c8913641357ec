"""Usage per subscription, meter, billing period and dimension group.

Events are first assigned to the subscription that was active at their
instant (:mod:`aggregation.assignment`); then each meter's events are
filtered and aggregated into one exact quantity per ``(subscription_id,
meter_code, dimensions)``. Every aggregation, with its exact rules and a
worked example, is described in docs/aggregations.md; ``gauge`` and
``duration`` live in their own modules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial

import polars as pl

from aggregation import duration, gauge, latest
from aggregation.grain import totals_by_grain
from aggregation.kernels import as_enum, is_enum, together, typed_as
from aggregation.windows import check_windows, missing_window, with_windows
from schemas.catalog import Aggregation, Meter
from schemas.events import EVENT_ID, EVENT_TYPE, TIMESTAMP_COLUMN
from schemas.tables import TRANSACTION_SCHEMA
from schemas.types import QUANTITY

SUBSCRIPTION_ID = "subscription_id"

USAGE_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    "meter_code": pl.String(),
    "dimensions": pl.String(),
    "quantity": QUANTITY,
    "event_count": pl.Int64(),
}
"""Usage rows. ``subscription_id`` is as the events have it: text, or, in a billing run,
the Enum of the run's subscriptions (``aggregation.assignment``), which rating reads as
integers without a lookup (``rating.rate.by_place``)."""


def meter_events(events: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """The events a meter counts: its event type, then its property filters; its
    ``group_by`` properties as text, the form dimension groups are keyed by."""
    return _counted(events, meter).with_columns(
        pl.col(name).cast(pl.String) for name in meter.group_by
    )


def _counted(events: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """The events a meter counts, as they are."""
    return events.filter((pl.col(EVENT_TYPE) == meter.event_type) & _passes_filters(meter))


def _passes_filters(meter: Meter) -> pl.Expr:
    """The meter's property filters, on the properties as text."""
    keep = pl.lit(value=True)
    for name, allowed in meter.filters:
        keep &= pl.col(name).cast(pl.String).is_in(allowed)
    return keep


def _dimensions(meter: Meter) -> pl.Expr:
    if not meter.group_by:
        return pl.lit("{}")
    return pl.struct(meter.group_by).struct.json_encode()


PER_EVENT = "_per_event"
"""Working column of ``gauge`` and ``duration``: each event's share, summed per group."""


def _with_per_event(
    events: pl.LazyFrame, windows: pl.DataFrame, meter: Meter, partition: list[str]
) -> pl.LazyFrame:
    """What a time-based aggregation computes per event (it needs the event's neighbours
    and its subscription's window), as column ``PER_EVENT``."""
    if meter.aggregation is Aggregation.GAUGE:
        value = pl.col(meter.property_name or "").cast(QUANTITY)
        return gauge.value_times(events.collect(), windows, value, partition, PER_EVENT).lazy()
    return with_windows(events, windows).with_columns(_per_event(meter, partition).alias(PER_EVENT))


def _per_event(meter: Meter, partition: list[str]) -> pl.Expr:
    if meter.aggregation is Aggregation.DURATION and meter.duration is not None:
        key = pl.col(meter.property_name).cast(pl.String)
        return duration.session_units(meter.duration, key, partition)
    raise ValueError(f"meter {meter.code}: {meter.aggregation} has no per-event kernel")


def _quantity(meter: Meter) -> pl.Expr:
    """A group's quantity, as an aggregation over its events; never null."""
    name = meter.property_name or ""
    # An integer property is cast before summing: an Int64 sum would wrap silently.
    value = pl.col(name).cast(QUANTITY)
    match meter.aggregation:
        case Aggregation.COUNT:
            quantity = pl.len()
        case Aggregation.SUM:
            quantity = value.sum()
        case Aggregation.COUNT_DISTINCT:
            quantity = pl.col(name).cast(pl.String).drop_nulls().n_unique()
        case Aggregation.MIN:
            quantity = value.min()
        case Aggregation.MAX:
            quantity = value.max()
        case Aggregation.GAUGE:
            quantity = gauge.quantity(pl.col(PER_EVENT))
        case Aggregation.DURATION:
            quantity = pl.col(PER_EVENT).sum()
        case _:
            raise ValueError(f"meter {meter.code}: no kernel for aggregation {meter.aggregation}")
    # Events with no value at all (every one null) measure nothing: zero, like a sum.
    return quantity.cast(QUANTITY).fill_null(pl.lit(0, dtype=QUANTITY))


CARRIED = "_carried"
"""Working column: True for an event from before the window that only sets the opening state."""


def opening_events(
    earlier: pl.LazyFrame, meter: Meter, owner: str = SUBSCRIPTION_ID
) -> pl.LazyFrame:
    """The events before the window that decide a time-based meter's state at its start.

    ``earlier`` holds the subscription's events from its start to the window's
    start. For a ``gauge``, the last setting of each group (a level set in
    August still holds in September); for a ``duration``, the last start or
    stop of each session key (a VM started in August and still running is
    counted from the window's start). Order: timestamp, then event_id.
    ``owner`` is the column whose values own the state: the subscription, or
    the customer for a state kept before any window (``jobs.carry``).
    """
    keys = [owner, *meter.group_by]
    # Grouped by the properties as they are (as text they group alike), so that the
    # opening events keep the events' own columns and types.
    kept = _counted(earlier, meter)
    if meter.aggregation is Aggregation.GAUGE:
        relevant = pl.col(meter.property_name or "").is_not_null()
    elif meter.aggregation is Aggregation.DURATION and meter.duration is not None:
        spec = meter.duration
        state = pl.col(spec.state_property).cast(pl.String)
        relevant = (
            state.is_in([spec.start, spec.stop]) & pl.col(meter.property_name or "").is_not_null()
        )
        keys.append(meter.property_name or "")
    else:
        raise ValueError(f"meter {meter.code}: {meter.aggregation} has no opening state")
    # Sorted by (timestamp, event_id), the last row of each group is its last setting.
    return (
        kept.filter(relevant)
        .sort(TIMESTAMP_COLUMN, EVENT_ID)
        .group_by(keys, maintain_order=True)
        .last()
    )


def opening_state(
    earlier: pl.LazyFrame, meters: Iterable[Meter], owner: str = SUBSCRIPTION_ID
) -> pl.LazyFrame:
    """The few earlier events that open the windows of every time-based meter.

    The union over the meters of :func:`opening_events`, as the events they are
    (``earlier``'s columns and types): each meter's last settings are real
    events, and are the latest of their groups, so each meter finds exactly its
    own opening events again in this union. So the state is also associative:
    the opening state of (an earlier opening state plus the events after it) is
    the opening state of all the events. Reducing the history once lets a run
    pass it to each customer shard cheaply.
    """
    meters = [meter for meter in meters if meter.aggregation.needs_window]
    earlier = _with_every_property(earlier, meters)
    schema = earlier.collect_schema()
    parts = [opening_events(earlier, meter, owner) for meter in meters]
    if not parts:
        return earlier.clear()
    return (
        pl.concat(parts, how="diagonal_relaxed")
        .unique(subset=[owner, EVENT_ID], keep="first", maintain_order=True)
        .select(pl.col(name).cast(dtype) for name, dtype in schema.items())
    )


def meter_usage(
    events: pl.LazyFrame,
    meter: Meter,
    windows: pl.DataFrame,
    earlier: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """One meter's quantity per subscription and dimension group, in ``USAGE_SCHEMA``.

    ``event_count`` counts every event the meter keeps (its event type and
    filters), including those whose value or state adds nothing. ``windows``
    is read only by ``gauge`` and ``duration`` meters (see ``aggregate_usage``),
    and so is ``earlier``: the subscriptions' events before their windows, whose
    last settings carry into the window (:func:`opening_events`).
    """
    keys = ["subscription_id", *meter.group_by]
    kept = meter_events(events, meter)
    count = pl.len()
    if meter.aggregation.needs_window:
        by_code = _gauge_by_code(kept, meter, keys, windows, earlier)
        if by_code is not None:
            return _as_usage(by_code.lazy(), meter)
        if earlier is not None:
            # The columns' names in order; the subscription as its codes, whose dtype
            # (unlike an Enum's) costs nothing to bring into Python.
            names = kept.with_columns(pl.col(SUBSCRIPTION_ID).to_physical()).collect_schema()
            opening = _of_subscriptions(
                opening_events(earlier, meter)
                .with_columns(pl.col(name).cast(pl.String) for name in meter.group_by)
                .select(names.names()),
                kept,
            )
            kept = pl.concat(
                [
                    kept.with_columns(pl.lit(value=False).alias(CARRIED)),
                    opening.with_columns(pl.lit(value=True).alias(CARRIED)),
                ],
                how="vertical_relaxed",
            )
            count = (~pl.col(CARRIED)).sum()
        kept = _with_per_event(kept, windows, meter, keys)
    if meter.aggregation is Aggregation.LATEST:
        return _as_usage(_latest(kept, meter, keys), meter)
    return _as_usage(
        kept.group_by(keys).agg(
            _quantity(meter).alias("quantity"), count.cast(pl.Int64).alias("event_count")
        ),
        meter,
    )


def _gauge_by_code(
    kept: pl.LazyFrame,
    meter: Meter,
    keys: list[str],
    windows: pl.DataFrame,
    earlier: pl.LazyFrame | None,
) -> pl.DataFrame | None:
    """A gauge grouped by subscription alone, of events keyed by the run's Enum, measured
    by subscription code (:func:`aggregation.gauge.usage_by_code`); None if it does not
    apply or two settings tie."""
    if meter.aggregation is not Aggregation.GAUGE or keys != [SUBSCRIPTION_ID]:
        return None
    if not is_enum(kept, SUBSCRIPTION_ID):
        return None
    name = meter.property_name or ""
    # Both are computed in memory: a sort and an ordered group_by over a few thousand
    # opening events took 16 ms on Polars' default (streaming) engine, 4 ms in memory.
    opening = (
        None
        if earlier is None
        else opening_events(earlier, meter)
        .select(pl.col(SUBSCRIPTION_ID).cast(pl.String), TIMESTAMP_COLUMN, name)
        .collect(engine="in-memory")
    )
    return gauge.usage_by_code(kept.collect(engine="in-memory"), opening, windows, name)


def _latest(kept: pl.LazyFrame, meter: Meter, keys: list[str]) -> pl.LazyFrame:
    """``quantity, event_count`` per group for ``latest``: by subscription code in one pass
    where the events allow it, else grouped and ordered."""
    name = meter.property_name or ""
    if keys == [SUBSCRIPTION_ID] and is_enum(kept, SUBSCRIPTION_ID):
        by_code = latest.latest_by_code(kept.collect(), name)
        if by_code is not None:
            return by_code.lazy()
    return latest.latest(kept, name, keys)


def _of_subscriptions(opening: pl.LazyFrame, events: pl.LazyFrame) -> pl.LazyFrame:
    """Opening events with their subscription typed as the window's ``events`` have it
    (text, or the Enum of the run's subscriptions, whose order time-based meters sort by)."""
    if not is_enum(events, SUBSCRIPTION_ID):
        subscription = events.collect_schema()[SUBSCRIPTION_ID]
        return opening.with_columns(pl.col(SUBSCRIPTION_ID).cast(subscription))
    opened = opening.collect()
    keyed = as_enum(opened[SUBSCRIPTION_ID], typed_as(events, SUBSCRIPTION_ID))
    if keyed.null_count():
        raise missing_window(opened.filter(keyed.is_null())[SUBSCRIPTION_ID][0], "earlier events")
    return opened.with_columns(keyed).lazy()


def _as_usage(quantities: pl.LazyFrame, meter: Meter) -> pl.LazyFrame:
    """A meter's ``quantity, event_count`` per subscription and group, in ``USAGE_SCHEMA``
    (the subscription as the events have it: text, or the run's Enum)."""
    return quantities.select(
        "subscription_id",
        pl.lit(meter.code).alias("meter_code"),
        _dimensions(meter).alias("dimensions"),
        "quantity",
        "event_count",
    )


def _check_measured(schema: pl.Schema, meters: Iterable[Meter]) -> None:
    """A measured property must already be exact: a float here would be summed as a float."""
    for meter in meters:
        name = meter.measured_property
        if name is None or name not in schema:
            continue
        dtype = schema[name]
        if not (isinstance(dtype, pl.Decimal) or dtype.is_integer() or dtype == pl.Null):
            raise TypeError(
                f"meter {meter.code}: property {name!r} is {dtype}; measured properties must "
                "be exact (decimal or integer): convert them with "
                "meter.validate.measured_as_quantities, as the event store does"
            )


def aggregate_usage(
    events: pl.LazyFrame,
    meters: Iterable[Meter],
    windows: pl.DataFrame,
    earlier: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """Usage of every meter over events already assigned to subscriptions, in no
    particular order.

    ``windows`` has one row per subscription, ``subscription_id, period_start,
    period_end, active_start, active_end`` (UTC, ``schemas.types.TIMESTAMP``;
    other columns are ignored, so ``billable_subscriptions``' frame will do):
    ``earlier`` (optional) holds the same subscriptions' events from their start
    to their window's start: the last setting of a gauge, or the last start or
    stop of a session, before the window carries into it (:func:`opening_events`);
    without it a gauge starts each window at 0. A ``gauge`` or ``duration``
    quantity covers the window ``[max(period_start,
    active_start), min(period_end, active_end))`` and a gauge is prorated over
    the whole period. Events are expected inside their subscription's window
    (``assign_subscriptions`` puts them there); an event outside it adds time
    only inside the window. Events of a subscription without a window raise
    ``ValueError``, if a time-based meter reads them.

    The usage is computed here, each event type's apart, two at a time
    (:func:`aggregation.kernels.together`); the frame returned is lazy only so that
    callers can go on composing it.

    >>> from datetime import UTC, datetime
    >>> from aggregation.windows import WINDOW_SCHEMA
    >>> from schemas.catalog import DurationSpec, TimeUnit
    >>> def at(hour: int) -> datetime:
    ...     return datetime(2026, 10, 1, hour, tzinfo=UTC)
    >>> events = pl.LazyFrame(
    ...     {
    ...         "subscription_id": ["s1"] * 3,
    ...         "event_id": ["e1", "e2", "e3"],
    ...         "event_type": ["vm"] * 3,
    ...         "timestamp": [at(1), at(3), at(4)],
    ...         "vm_id": ["a", "a", "b"],
    ...         "action": ["start", "stop", "start"],
    ...     }
    ... )
    >>> windows = pl.DataFrame(  # a 10-hour period; the subscription ends at 06:00
    ...     [("s1", at(0), at(10), at(0), at(6))], schema=WINDOW_SCHEMA, orient="row"
    ... )
    >>> hours = DurationSpec("action", TimeUnit.HOUR)
    >>> vm = Meter("vm_hours", "vm", Aggregation.DURATION, "vm_id", duration=hours)
    >>> aggregate_usage(events, [vm], windows).collect().row(0)  # a: 01-03, b: 04-06 (end)
    ('s1', 'vm_hours', '{}', Decimal('4.000000'), 3)
    """
    return usage_of(together(usage_parts(events, meters, windows, earlier))).lazy()


def usage_parts(
    events: pl.LazyFrame,
    meters: Iterable[Meter],
    windows: pl.DataFrame,
    earlier: pl.LazyFrame | None = None,
) -> list[Callable[[], pl.DataFrame]]:
    """:func:`aggregate_usage` as independent parts, one per event type, which a caller
    computes together with its other work (:func:`aggregation.kernels.together`), then
    joins with :func:`usage_of`."""
    meters = list(meters)
    windows = check_windows(windows)
    events = _with_every_property(events, meters)
    if earlier is not None:
        earlier = _with_every_property(earlier, meters)
    return [
        partial(_usage_of_type, events, event_type, same_type, windows, earlier)
        for event_type, same_type in _by_event_type(meters).items()
    ]


def usage_of(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """The usage of :func:`usage_parts`, computed, as one frame in ``USAGE_SCHEMA``."""
    if not parts:
        return pl.DataFrame(schema=USAGE_SCHEMA)
    # No sort: rating joins these rows and sorts what it writes; sorting a million usage
    # rows here cost 0.27 s.
    return pl.concat(parts, how="vertical")


def _usage_of_type(
    events: pl.LazyFrame,
    event_type: str,
    meters: list[Meter],
    windows: pl.DataFrame,
    earlier: pl.LazyFrame | None,
) -> pl.DataFrame:
    """The usage of the meters of one event type, in ``USAGE_SCHEMA``."""
    # One pass over all events per event type, keeping only the columns its meters
    # read; each meter then works on that subset instead of filtering all events.
    names = {n for meter in meters for n in meter.referenced_properties}
    ordered = any(meter.aggregation in ORDERED for meter in meters)
    columns = [SUBSCRIPTION_ID, *([EVENT_ID, TIMESTAMP_COLUMN] if ordered else []), *sorted(names)]
    subset = events.filter(pl.col(EVENT_TYPE) == event_type).select(columns)
    shared, alone = _sharing_a_grain(meters)
    if len(alone) + bool(shared) > 1:
        # Read by several meters: filtered once. A meter alone filters as it reads.
        subset = subset.collect().lazy()
    # Every event of the subset is of this type: the meters' own check of it reads a
    # constant, not a copy of the column (16 bytes an event, 75 MB of a 5M-event shard).
    subset = subset.with_columns(pl.lit(event_type).alias(EVENT_TYPE))
    parts = []
    if shared:
        grain = pre_aggregate(subset, shared).lazy()
        split_by = _grain(shared)
        parts.extend(rolled_up_usage(grain, meter, split_by) for meter in shared)
    parts.extend(meter_usage(subset, meter, windows, earlier) for meter in alone)
    return pl.concat(parts, how="vertical").collect()


ORDERED = frozenset({Aggregation.LATEST, Aggregation.GAUGE, Aggregation.DURATION})
"""Aggregations that read each event's instant (and its id, to break ties)."""
ROLLED_UP = frozenset({Aggregation.COUNT, Aggregation.SUM, Aggregation.MIN, Aggregation.MAX})
"""Aggregations a meter can compute from partial results over a finer grain."""
EVENTS_IN_GRAIN = "_events"


def _grain(meters: Iterable[Meter]) -> list[str]:
    """The properties that split a pre-aggregation for these meters: their groups and filters."""
    return sorted({n for m in meters for n in (*m.group_by, *(name for name, _ in m.filters))})


def _sharing_a_grain(meters: list[Meter]) -> tuple[list[Meter], list[Meter]]:
    """The meters of one event type that one pre-aggregation serves (at least two, or none),
    and the rest: counts, sums, minimums and maximums, and distinct counts of a property
    that already splits the grain."""
    rolled = [m for m in meters if m.aggregation in ROLLED_UP]
    split_by = set(_grain(rolled))
    shared = rolled + [
        m
        for m in meters
        if m.aggregation is Aggregation.COUNT_DISTINCT and m.property_name in split_by
    ]
    measured = {m.property_name for m in rolled if m.aggregation is not Aggregation.COUNT}
    if len(shared) < 2 or measured & set(_grain(shared)):
        return [], meters
    return shared, [m for m in meters if m not in shared]


def pre_aggregate(events: pl.LazyFrame, meters: list[Meter]) -> pl.DataFrame:
    """One pass over one event type's events for several meters: per subscription and
    combination of the meters' group and filter properties (as text), the number of
    events and each measured property's sum, minimum and maximum, which each meter then
    rolls up (:func:`rolled_up_usage`). Exact: the sums are decimal.

    Events keyed by the run's Enum are grouped by one integer per event where the
    properties allow it (:func:`aggregation.grain.totals_by_grain`), else by Polars."""
    grain = _grain(meters)
    partial_of = {
        Aggregation.SUM: pl.Expr.sum,
        Aggregation.MIN: pl.Expr.min,
        Aggregation.MAX: pl.Expr.max,
    }
    needed = {
        (meter.property_name or "", meter.aggregation)
        for meter in meters
        if meter.aggregation in partial_of
    }
    partials = [
        partial_of[kind](pl.col(name).cast(QUANTITY)).alias(f"_{kind.value}_{name}")
        for name, kind in sorted(needed)
    ]
    texts = events.with_columns(pl.col(name).cast(pl.String) for name in grain)
    if grain and is_enum(events, SUBSCRIPTION_ID):
        measured = sorted({name for name, _ in needed})
        read = texts.select(SUBSCRIPTION_ID, *grain, *measured).collect()
        totals = totals_by_grain(read, grain, EVENTS_IN_GRAIN, partials)
        if totals is not None:
            return totals
        texts = read.lazy()
    return (
        texts.group_by(SUBSCRIPTION_ID, *grain)
        .agg(pl.len().alias(EVENTS_IN_GRAIN), *partials)
        .collect()
    )


def rolled_up_usage(grain: pl.LazyFrame, meter: Meter, split_by: Iterable[str]) -> pl.LazyFrame:
    """One meter's usage (``USAGE_SCHEMA``) from a :func:`pre_aggregate` of its events:
    the same quantities :func:`meter_usage` computes from the events themselves.

    ``split_by``: the properties the pre-aggregation was split by (:func:`_grain`). When
    they are the meter's own groups, each row of ``grain`` is one group already and is
    read as it is; when they are its groups and the property it counts distinct values
    of, the values of a group are distinct already."""
    name = meter.property_name or ""
    kept = grain.filter(_passes_filters(meter))
    split = set(split_by)
    if split == set(meter.group_by):
        quantities = kept.select(
            SUBSCRIPTION_ID,
            *meter.group_by,
            _rolled_quantity(meter, per_row=True).alias("quantity"),
            pl.col(EVENTS_IN_GRAIN).cast(pl.Int64).alias("event_count"),
        )
        return _as_usage(quantities, meter)
    distinct = split == {*meter.group_by, name}
    quantities = kept.group_by(SUBSCRIPTION_ID, *meter.group_by).agg(
        _rolled_quantity(meter, per_row=False, distinct=distinct).alias("quantity"),
        pl.col(EVENTS_IN_GRAIN).sum().cast(pl.Int64).alias("event_count"),
    )
    return _as_usage(quantities, meter)


def _rolled_quantity(meter: Meter, per_row: bool, distinct: bool = False) -> pl.Expr:
    """A meter's quantity from the pre-aggregation's columns: over a group's rows, or
    (``per_row``) from one row that is the whole group; ``distinct``: the group's values
    of a ``count_distinct`` property are distinct already, so they are counted."""
    name = meter.property_name or ""
    column = {
        Aggregation.COUNT: EVENTS_IN_GRAIN,
        Aggregation.SUM: f"_sum_{name}",
        Aggregation.MIN: f"_min_{name}",
        Aggregation.MAX: f"_max_{name}",
        Aggregation.COUNT_DISTINCT: name,
    }.get(meter.aggregation)
    if column is None:
        raise ValueError(f"meter {meter.code}: {meter.aggregation} does not roll up")
    value = pl.col(column)
    counts_distinct = meter.aggregation is Aggregation.COUNT_DISTINCT
    if per_row:
        quantity = value.is_not_null().cast(pl.UInt8) if counts_distinct else value
    elif counts_distinct:
        quantity = value.count() if distinct else value.drop_nulls().n_unique()
    elif meter.aggregation is Aggregation.MIN:
        quantity = value.min()
    elif meter.aggregation is Aggregation.MAX:
        quantity = value.max()
    else:
        quantity = value.sum()
    return quantity.cast(QUANTITY).fill_null(pl.lit(0, dtype=QUANTITY))


def _by_event_type(meters: list[Meter]) -> dict[str, list[Meter]]:
    grouped: dict[str, list[Meter]] = {}
    for meter in meters:
        grouped.setdefault(meter.event_type, []).append(meter)
    return grouped


def _with_every_property(events: pl.LazyFrame, meters: list[Meter]) -> pl.LazyFrame:
    # Without the subscription: an Enum's dtype costs its categories to bring into Python.
    schema = events.drop(SUBSCRIPTION_ID, strict=False).collect_schema()
    _check_measured(schema, meters)
    # A property no file carries still has to exist for the plan to type-check;
    # every event that needed it was quarantined, so it stays empty.
    measured = {meter.measured_property for meter in meters}
    referenced = {name for meter in meters for name in meter.referenced_properties}
    missing = referenced - {*schema, SUBSCRIPTION_ID}
    return events.with_columns(
        pl.lit(None, dtype=QUANTITY if name in measured else pl.String).alias(name)
        for name in sorted(missing)
    )


def meter_transactions(events: pl.LazyFrame, meters: Iterable[Meter]) -> pl.LazyFrame:
    """Each event of the given ``sum`` meters with its measured value, in ``TRANSACTION_SCHEMA``.

    For the charge models that price every event on its own (a payment fee with a
    per-transaction minimum), where a period total is not enough.
    """
    meters = list(meters)
    events = _with_every_property(events, meters)
    parts = [
        meter_events(events, meter).select(
            "subscription_id",
            pl.lit(meter.code).alias("meter_code"),
            _dimensions(meter).alias("dimensions"),
            pl.col(meter.measured_property or "").cast(QUANTITY).alias("value"),
        )
        for meter in meters
    ]
    if not parts:
        return pl.LazyFrame(schema=TRANSACTION_SCHEMA)
    return pl.concat(parts, how="vertical")

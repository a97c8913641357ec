"""Rating one billing period from the event store: the part a billing run and an
adjustment share.

:func:`plan_period` decides what the run of a month bills (its schedule) and
what it reads (dates, files, ingestion batches); :func:`rate_planned_period`
reads and aggregates the events per customer shard (:class:`Shard`, about
``SHARD_ROWS`` events each: every subscription's events fall in one shard, so
the usage of the shards simply adds up, and only one shard's events are in
memory at once) and rates them. Gauge and duration meters also read each
subscription's earlier events (:func:`earlier_events`), whose last settings
carry into the period.

Event conservation over the events read (the store's date partitions that can
hold the period in any customer's timezone, and every usage period billed)::

    events_read = rated + quarantined (no active subscription) + out_of_period
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import polars as pl

from aggregation.assignment import (
    BILLING_STATUS,
    BillingStatus,
    assign_subscriptions,
    status_counts,
)
from aggregation.kernels import together
from aggregation.periods import (
    ACTIVE_END,
    ACTIVE_START,
    PERIOD_END,
    PERIOD_START,
    SUBSCRIPTION_START,
    RunSchedule,
    customer_periods,
    parse_billing_period,
    run_schedule,
    subscription_lifetimes,
)
from aggregation.usage import meter_transactions, opening_state, usage_of, usage_parts
from jobs.carry import carried_columns, carried_events, carried_state
from jobs.catalog import Catalog
from jobs.changes import SEGMENT_OF
from jobs.contracts import Contracts
from jobs.stages import StageTimer
from meter.event_store import (
    CUSTOMER_BUCKET,
    CUSTOMER_BUCKETS,
    INGEST_BATCH_ID,
    EventStore,
    batch_of,
    customer_buckets,
    store_schema,
)
from rating.plan import per_event_meters, plan_items
from rating.rate import NO_COUPONS, rate_period, subscription_ids
from schemas.catalog import Meter
from schemas.errors import RunError
from schemas.events import (
    CUSTOMER_ID,
    EVENT_ID,
    INVOICED_PERIOD,
    TIMESTAMP_COLUMN,
    QuarantineReason,
)
from schemas.tables import USAGE_DUE


def period_dates(periods: pl.DataFrame, windows: pl.DataFrame | None = None) -> list[str]:
    """UTC dates (``YYYY-MM-DD``) that can hold an event of the run for some customer:
    the calendar month in every customer's timezone and every usage window billed.

    >>> from datetime import datetime, UTC
    >>> periods = pl.DataFrame({"period_start": [datetime(2026, 9, 30, 22, tzinfo=UTC)],
    ...     "period_end": [datetime(2026, 10, 2, tzinfo=UTC)]})
    >>> period_dates(periods)
    ['2026-09-30', '2026-10-01']
    """
    spans = periods.select(PERIOD_START, PERIOD_END)
    if windows is not None:
        spans = spans.vstack(
            windows.select(ACTIVE_START, ACTIVE_END).rename(
                {ACTIVE_START: PERIOD_START, ACTIVE_END: PERIOD_END}
            )
        )
    first: date = spans[PERIOD_START].min().date()
    last: date = (spans[PERIOD_END].max() - timedelta(microseconds=1)).date()
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def history_dates(billable: pl.DataFrame, last: str) -> list[str]:
    """UTC dates from the earliest subscription start to ``last`` (``YYYY-MM-DD``).

    >>> from datetime import datetime, UTC
    >>> billable = pl.DataFrame({"subscription_start": [datetime(2026, 9, 29, 22, tzinfo=UTC)]})
    >>> history_dates(billable, "2026-10-01")
    ['2026-09-29', '2026-09-30', '2026-10-01']
    """
    if billable.height == 0:
        return []
    first: date = billable[SUBSCRIPTION_START].min().date()
    days = (date.fromisoformat(last) - first).days
    return [(first + timedelta(days=n)).isoformat() for n in range(days + 1)]


def earlier_events(events: pl.LazyFrame, billable: pl.DataFrame) -> pl.LazyFrame:
    """Each subscription's ``events`` from its start to its window's start.

    Their last settings carry into the period (``aggregation.usage.opening_events``):
    seats set in August still count in September.
    """
    windows = billable.lazy().select(
        CUSTOMER_ID, "subscription_id", SUBSCRIPTION_START, ACTIVE_START
    )
    ts = pl.col(TIMESTAMP_COLUMN)
    return (
        events.join(windows, on=CUSTOMER_ID)
        .filter((ts >= pl.col(SUBSCRIPTION_START)) & (ts < pl.col(ACTIVE_START)))
        .drop(SUBSCRIPTION_START, ACTIVE_START)
    )


def _no_events(catalog: Catalog) -> pl.DataFrame:
    return pl.DataFrame(schema=store_schema(catalog.event_types))


def _no_subscription_quarantine(assigned: pl.DataFrame) -> pl.DataFrame:
    reason = QuarantineReason.NO_ACTIVE_SUBSCRIPTION
    # Filter only the columns the quarantine shows: filtering every event column costs
    # seconds. rechunk: the status column was joined beside the events, so chunk
    # boundaries differ, and pl.format over such columns panics in Polars 2.1 (see
    # jobs.ingest._resolve).
    shown = ("source_file", "row_number", "event_id", "customer_id", "timestamp")
    unmatched = (
        assigned.lazy().filter(pl.col(BILLING_STATUS) == reason.value).select(shown).collect()
    )
    return unmatched.rechunk().select(
        pl.col("source_file"),
        pl.col("row_number"),
        pl.col("event_id"),
        pl.lit("timestamp").alias("field"),
        pl.lit(reason.value).alias("reason"),
        # Instants are UTC (schemas.types.TIMESTAMP): formatted as wall time with the
        # offset written out, the same text as Polars gives the UTC column, a third faster.
        pl.format(
            "customer {} had no active subscription at {}+00:00",
            "customer_id",
            pl.col("timestamp").dt.replace_time_zone(None),
        ).alias("detail"),
        pl.col("customer_id"),
    )


SHARD_ROWS = 6_000_000
"""Events a billing run holds in memory at once, roughly: larger periods are split by customer."""


def _shard_count(files: list[str]) -> int:
    """Customer shards for a period of these files (Parquet metadata only, no data read)."""
    if not files:
        return 1
    rows = pl.scan_parquet(files, hive_partitioning=False).select(pl.len()).collect().item()
    return max(1, -(-rows // SHARD_ROWS))


@dataclass(frozen=True)
class Shard:
    """The customers whose bucket (``meter.event_store.customer_buckets``) falls in the
    ``index``-th of ``count`` equal ranges: all of a customer's subscriptions, and so
    every quantity, fall in one shard. In a bucketed store a shard's events are the row
    groups of its buckets, so each shard decodes only its own events."""

    index: int
    count: int

    @property
    def buckets(self) -> tuple[int, int]:
        """The shard's bucket range, ``[low, high)``."""
        return (
            self.index * CUSTOMER_BUCKETS // self.count,
            (self.index + 1) * CUSTOMER_BUCKETS // self.count,
        )

    def keep(self, frame: pl.LazyFrame, stored: bool = False) -> pl.LazyFrame:
        """``frame``'s rows of the shard's customers; ``stored``: by the frame's own
        ``customer_bucket`` column (event files of a bucketed store), else by computing
        each customer's bucket."""
        if self.count == 1:
            return frame
        bucket = (
            pl.col(CUSTOMER_BUCKET)
            if stored
            else pl.col(CUSTOMER_ID).map_batches(customer_buckets, return_dtype=pl.UInt16)
        )
        low, high = self.buckets
        return frame.filter(bucket.is_between(low, high, closed="left"))


@dataclass(frozen=True)
class ShardUsage:
    events_read: int
    status_counts: dict[str, int]
    usage: pl.DataFrame
    transactions: pl.DataFrame
    quarantine: pl.DataFrame


def _measure_shard(
    shard: Shard,
    timer: StageTimer,
    events: pl.LazyFrame,
    earlier: pl.LazyFrame | None,
    catalog: Catalog,
    periods: pl.DataFrame,
    billable: pl.DataFrame,
    lifetimes: pl.DataFrame,
    stored_buckets: bool,
    subscriptions: pl.Series,
) -> ShardUsage:
    """Read, assign and aggregate one shard's events; only one shard is in memory at a time.

    ``stored_buckets``: ``events`` carry ``customer_bucket`` (a bucketed store);
    ``subscriptions``: the run's (an Enum column, ``assign_subscriptions``).
    """
    with timer.stage("read"):
        # Which batch stored an event, and whether its period was invoiced, do not
        # change what it is billed: leave those columns on disk.
        mine = shard.keep(events.drop(INGEST_BATCH_ID, INVOICED_PERIOD), stored_buckets)
        read = mine.drop(CUSTOMER_BUCKET, strict=False).collect()
    with timer.stage("aggregate"):
        # Only this shard's customers can own its events: a smaller lookup to match them in.
        periods, billable, lifetimes = (
            shard.keep(frame.lazy(), stored=CUSTOMER_BUCKET in frame.columns)
            .drop(CUSTOMER_BUCKET, strict=False)
            .collect()
            for frame in (periods, billable, lifetimes)
        )
        assigned = assign_subscriptions(read, periods, billable, lifetimes, subscriptions)
        windows = billable.filter(pl.col(USAGE_DUE))
        # An event of a customer holding several subscriptions at once (an add-on) is
        # matched to each of them; it is still one event read and rated.
        each_once = assigned if assigned.height == read.height else assigned.unique(EVENT_ID)
        counts = status_counts(each_once)
        rated = assigned.lazy().filter(pl.col(BILLING_STATUS) == BillingStatus.RATED.value)
        earlier = None if earlier is None else shard.keep(earlier)
        transaction_meters = [catalog.meters[code] for code in per_event_meters(catalog.plans)]
        # Independent of one another: computed two at a time (aggregation.kernels.together),
        # the usage of each event type first.
        *usage, transactions, quarantine = together(
            [
                *usage_parts(rated, catalog.meters.values(), windows, earlier),
                lambda: meter_transactions(rated, transaction_meters).collect(),
                lambda: _no_subscription_quarantine(assigned),
            ]
        )
    return ShardUsage(read.height, counts, usage_of(usage), transactions, quarantine)


@dataclass(frozen=True)
class PeriodPlan:
    """What rating one billing period reads: its schedule, dates, files and batches."""

    period: str
    first_day: date
    calendar: pl.DataFrame
    """One row per customer: the month in their timezone (``customer_periods``)."""
    schedule: RunSchedule
    lifetimes: pl.DataFrame
    dates: list[str]
    files: list[str]
    history_files: list[str]
    batches: list[str]
    """Ingestion batches of ``files`` and ``history_files``: inputs of the rating."""
    carried: list[Meter]
    coupons: pl.DataFrame = field(default_factory=lambda: NO_COUPONS)
    """The coupons this run applies: ``subscription_id`` (a segment's key), ``plan_code``,
    ``coupon_code``."""
    committed: tuple[str, ...] = ()
    """Every committed batch of the store: checkpoints of the carried state are valid
    against them (``jobs.carry``)."""

    @property
    def windows(self) -> pl.DataFrame:
        return self.schedule.billable.filter(pl.col(USAGE_DUE))


def plan_period(
    period: str,
    catalog: Catalog,
    contracts: Contracts,
    event_store: EventStore,
    committed: list[str],
) -> PeriodPlan:
    """Which periods the run of ``period`` bills for these contracts, and what it must read."""
    first_day = parse_billing_period(period)
    schedule = run_schedule(
        contracts.subscriptions, contracts.customers, plan_items(catalog.rated_plans), first_day
    )
    calendar = customer_periods(contracts.customers, first_day)
    plan = plan_reads(
        period, first_day, calendar, schedule, catalog, contracts, event_store, committed
    )
    return replace(plan, coupons=coupons_due(contracts, catalog, schedule.billable, first_day))


def coupons_due(
    contracts: Contracts, catalog: Catalog, billable: pl.DataFrame, first_day: date
) -> pl.DataFrame:
    """The redeemed coupons the run of ``first_day``'s month applies, per billable segment."""
    if contracts.redemptions is None or contracts.redemptions.is_empty():
        return NO_COUPONS
    active = [
        (row["subscription_id"], row["coupon_code"])
        for row in contracts.redemptions.iter_rows(named=True)
        if catalog.coupons[row["coupon_code"]].active(row["start_date"], row["end_date"], first_day)
    ]
    frame = pl.DataFrame(
        active, schema={SEGMENT_OF: pl.String, "coupon_code": pl.String}, orient="row"
    )
    owner = pl.col(SEGMENT_OF) if SEGMENT_OF in billable.columns else pl.col("subscription_id")
    return (
        billable.select("subscription_id", "plan_code", owner.alias(SEGMENT_OF))
        .join(frame, on=SEGMENT_OF)
        .select("subscription_id", "plan_code", "coupon_code")
        .unique()
        .sort("subscription_id", "coupon_code")
    )


def plan_reads(
    period: str,
    first_day: date,
    calendar: pl.DataFrame,
    schedule: RunSchedule,
    catalog: Catalog,
    contracts: Contracts,
    event_store: EventStore,
    committed: list[str],
) -> PeriodPlan:
    """The dates, files and batches rating ``schedule`` reads (``calendar``: one span per
    customer in which an event outside every subscription is quarantined)."""
    windows = schedule.billable.filter(pl.col(USAGE_DUE))
    lifetimes = subscription_lifetimes(contracts.subscriptions, contracts.customers)
    dates = period_dates(calendar, windows) if calendar.height else []
    files = event_store.event_files(committed, dates)
    carried = [meter for meter in catalog.meters.values() if meter.aggregation.needs_window]
    history_files = (
        event_store.event_files(committed, history_dates(windows, dates[-1]))
        if carried and dates
        else []
    )
    # The history a gauge or session carries from is an input of the run too.
    batches = sorted({batch_of(f) for f in [*files, *history_files]})
    return PeriodPlan(
        period,
        first_day,
        calendar,
        schedule,
        lifetimes,
        dates,
        files,
        history_files,
        batches,
        carried,
        committed=tuple(committed),
    )


@dataclass(frozen=True)
class RatedPeriod:
    rated: pl.DataFrame
    """``RATED_COLUMNS`` of every subscription the period bills."""
    quarantine: pl.DataFrame
    counts: dict[str, int]
    """``events_read``, ``events_rated``, ``events_quarantined``, ``events_out_of_period``."""


def _as_subscriptions(rated: pl.DataFrame, billable: pl.DataFrame) -> pl.DataFrame:
    """Lines of segments (a subscription changed over time) under their subscription's id."""
    if SEGMENT_OF not in billable.columns:
        return rated
    renamed = pl.col(SEGMENT_OF).ne_missing(pl.col("subscription_id"))
    if not billable.select(renamed.any()).item():
        # No subscription changed in the period: every segment is its own subscription,
        # and looking each line's owner up (a join of every line) would change nothing.
        return rated
    owners = billable.select("subscription_id", SEGMENT_OF).unique()
    return (
        rated.join(owners, on="subscription_id", how="left", maintain_order="left")
        .with_columns(pl.col(SEGMENT_OF).alias("subscription_id"))
        .drop(SEGMENT_OF)
    )


def _opening_state(
    plan: PeriodPlan,
    catalog: Catalog,
    event_store: EventStore,
    only: Callable[[pl.LazyFrame], pl.LazyFrame],
) -> pl.LazyFrame:
    """The events that open the windows of the carried meters: the checkpointed state
    before the run's first date (``jobs.carry``), then the run's own dates."""
    columns = carried_columns(plan.carried, store_schema(catalog.event_types))
    before = carried_state(event_store, plan.committed, plan.dates[0], plan.carried, columns)
    parts = [before.lazy()]
    if plan.files:
        scanned = pl.scan_parquet(plan.files, hive_partitioning=False)
        parts.append(carried_events(scanned, plan.carried, list(columns)))
    history = only(earlier_events(pl.concat(parts, how="vertical"), plan.windows))
    return opening_state(history, plan.carried)


def rate_planned_period(
    plan: PeriodPlan,
    catalog: Catalog,
    event_store: EventStore,
    timer: StageTimer,
    customers: pl.Series | None = None,
) -> RatedPeriod:
    """Read, aggregate and rate one period (only ``customers``' events, if given)."""
    only: Callable[[pl.LazyFrame], pl.LazyFrame] = (
        (lambda frame: frame)
        if customers is None
        else (lambda frame: frame.filter(pl.col(CUSTOMER_ID).is_in(customers.implode())))
    )
    opening = None
    if plan.history_files:
        with timer.stage("read"):
            opening = _opening_state(plan, catalog, event_store, only).collect().lazy()
    events = (
        event_store.scan(plan.batches, plan.dates) if plan.files else _no_events(catalog).lazy()
    )
    shards = _shard_count(plan.files) if customers is None else 1
    lookups = (plan.calendar, plan.schedule.billable, plan.lifetimes)
    with timer.stage("aggregate"):
        # One Enum of the run's subscriptions for every shard: their usage concatenates,
        # and rating reads each subscription's place from its code (rating.rate.by_place).
        ids = subscription_ids(plan.schedule.billable)
        subscriptions = ids.cast(pl.Enum(ids))
    if shards > 1:
        with timer.stage("aggregate"):
            # Each customer's bucket once, rather than again in every shard.
            lookups = tuple(
                frame.with_columns(customer_buckets(frame[CUSTOMER_ID])) for frame in lookups
            )
    measured = [
        _measure_shard(
            Shard(shard, shards),
            timer,
            only(events),
            opening,
            catalog,
            *lookups,
            bool(plan.files) and event_store.bucketed,
            subscriptions,
        )
        for shard in range(shards)
    ]
    with timer.stage("aggregate"):
        usage = pl.concat([m.usage for m in measured])
        transactions = pl.concat([m.transactions for m in measured])
        status_counts = {
            status.value: sum(m.status_counts.get(status.value, 0) for m in measured)
            for status in BillingStatus
        }
    with timer.stage("rate"):
        rated = _as_subscriptions(
            rate_period(
                plan.schedule.billable,
                usage,
                catalog.rated_plans,
                plan.first_day,
                transactions,
                plan.schedule.fees,
                plan.coupons,
                {code: coupon.discount for code, coupon in catalog.coupons.items()},
                subscriptions=ids,
            ),
            plan.schedule.billable,
        )
    quarantine = pl.concat([m.quarantine for m in measured])
    counts = {
        "events_read": sum(m.events_read for m in measured),
        "events_rated": int(status_counts.get(BillingStatus.RATED.value, 0)),
        "events_quarantined": quarantine.height,
        "events_out_of_period": int(status_counts.get(BillingStatus.OUT_OF_PERIOD.value, 0)),
    }
    accounted = sum(
        counts[k] for k in ("events_rated", "events_quarantined", "events_out_of_period")
    )
    if accounted != counts["events_read"]:
        raise RunError(
            f"event conservation failed: read {counts['events_read']} but accounted {accounted}"
        )
    return RatedPeriod(rated, quarantine, counts)

"""The billing run: the event store and contracts in, rated charges and invoices in DuckDB out.

Stages, each timed: setup (catalog, contracts, which committed batches hold the
period's events) -> read -> aggregate -> rate -> invoice -> write. Events were
validated and de-duplicated when they were ingested (:mod:`jobs.ingest`). A
run's identity is its billing period plus the fingerprints of the catalog, the
contracts and the ingestion batches it read; running the same inputs again is
a no-op, and the write is one transaction.

Read and aggregate run per customer shard (:class:`Shard`, about ``SHARD_ROWS``
events each): every subscription's events fall in one shard, so the usage of
the shards simply adds up, and only one shard's events are in memory at once.
Gauge and duration meters also read each subscription's earlier events
(:func:`earlier_events`), whose last settings carry into the period.

Event conservation, recorded on ``billing_runs``: the events read are those of
the store's date partitions that can hold the period in any customer's
timezone, and::

    events_read = rated + quarantined (no active subscription) + out_of_period
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import polars as pl

from aggregation.periods import (
    ACTIVE_END,
    ACTIVE_START,
    PERIOD_END,
    PERIOD_START,
    SUBSCRIPTION_START,
    customer_periods,
    next_month,
    parse_billing_period,
    run_schedule,
    subscription_lifetimes,
)
from aggregation.usage import (
    BILLING_STATUS,
    BillingStatus,
    aggregate_usage,
    assign_subscriptions,
    meter_transactions,
    opening_state,
)
from jobs import store
from jobs.catalog import Catalog, load_catalog
from jobs.contracts import Contracts, load_contracts
from jobs.stages import StageTimer
from meter.event_store import INGEST_BATCH_ID, EventStore, store_schema
from rating.invoice import build_invoice_lines, build_invoices, invoice_numbers
from rating.plan import per_event_meters, plan_items
from rating.rate import rate_period
from schemas.catalog import Meter
from schemas.errors import RunError
from schemas.events import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_TYPE,
    INVOICED_PERIOD,
    QUARANTINE_SCHEMA,
    TIMESTAMP_COLUMN,
    QuarantineReason,
)
from schemas.tables import USAGE_DUE

STAGES = ("setup", "read", "validate", "aggregate", "rate", "invoice", "write")
RUN_COUNTS = (
    "events_read",
    "events_rated",
    "events_quarantined",
    "events_out_of_period",
    "customers_billed",
    "invoice_count",
    "rated_charge_count",
)


@dataclass(frozen=True)
class RunInputs:
    billing_period: str
    catalog: str | Path
    customers: str | Path
    subscriptions: str | Path
    store: str | Path
    """The event store that ``meter ingest`` filled."""


@dataclass
class RunResult:
    run_id: str
    billing_period: str
    db_path: str
    already_done: bool
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def run_identity(period: str, catalog: Catalog, contracts: Contracts, batches: list[str]) -> str:
    key = "\n".join((period, catalog.sha256, contracts.sha256, *sorted(batches)))
    return f"run-{period}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


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


def earlier_events(files: list[str], billable: pl.DataFrame, meters: list[Meter]) -> pl.LazyFrame:
    """Each subscription's events of the time-based meters from its start to its window's start.

    Their last settings carry into the period (``aggregation.usage.opening_events``):
    seats set in August still count in September.
    """
    types = sorted({meter.event_type for meter in meters})
    names = sorted({name for meter in meters for name in meter.referenced_properties})
    windows = billable.lazy().select(
        CUSTOMER_ID, "subscription_id", SUBSCRIPTION_START, ACTIVE_START
    )
    ts = pl.col(TIMESTAMP_COLUMN)
    return (
        pl.scan_parquet(files, hive_partitioning=False)
        .filter(pl.col(EVENT_TYPE).is_in(types))
        .select(EVENT_ID, CUSTOMER_ID, EVENT_TYPE, TIMESTAMP_COLUMN, *names)
        .join(windows, on=CUSTOMER_ID)
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
        pl.format("customer {} had no active subscription at {}", "customer_id", "timestamp").alias(
            "detail"
        ),
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
    """The customers whose id hashes to ``index`` modulo ``count``: all of a customer's
    subscriptions, and so every quantity, fall in one shard."""

    index: int
    count: int

    def keep(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        if self.count == 1:
            return frame
        return frame.filter(pl.col(CUSTOMER_ID).hash(seed=SHARD_SEED) % self.count == self.index)


SHARD_SEED = 20261128


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
) -> ShardUsage:
    """Read, assign and aggregate one shard's events; only one shard is in memory at a time."""
    with timer.stage("read"):
        # Which batch stored an event, and whether its period was invoiced, do not
        # change what it is billed: leave those columns on disk.
        read = shard.keep(events.drop(INGEST_BATCH_ID, INVOICED_PERIOD)).collect()
    with timer.stage("aggregate"):
        assigned = assign_subscriptions(read, periods, billable, lifetimes)
        windows = billable.filter(pl.col(USAGE_DUE))
        status_counts = dict(assigned[BILLING_STATUS].value_counts().iter_rows())
        rated = assigned.lazy().filter(pl.col(BILLING_STATUS) == BillingStatus.RATED.value)
        earlier = None if earlier is None else shard.keep(earlier)
        usage = aggregate_usage(rated, catalog.meters.values(), windows, earlier).collect()
        transaction_meters = [catalog.meters[code] for code in per_event_meters(catalog.plans)]
        transactions = meter_transactions(rated, transaction_meters).collect()
        quarantine = _no_subscription_quarantine(assigned)
    return ShardUsage(read.height, status_counts, usage, transactions, quarantine)


def run_billing(
    inputs: RunInputs,
    db_path: str | Path,
    on_stage: Callable[[str], None] | None = None,
) -> RunResult:
    """Rate and invoice one calendar month; idempotent and atomic."""
    timer = StageTimer(on_stage=on_stage)
    with timer.stage("setup"):
        period_day = parse_billing_period(inputs.billing_period)
        catalog = load_catalog(inputs.catalog)
        contracts = load_contracts(inputs.customers, inputs.subscriptions, catalog.plans)
        periods = customer_periods(contracts.customers, period_day)
        schedule = run_schedule(
            contracts.subscriptions, contracts.customers, plan_items(catalog.plans), period_day
        )
        billable = schedule.billable
        windows = billable.filter(pl.col(USAGE_DUE))
        lifetimes = subscription_lifetimes(contracts.subscriptions, contracts.customers)
        dates = period_dates(periods, windows)
        event_store = EventStore(inputs.store)
        with store.connect(db_path) as con:
            committed = store.committed_batches(con)
        files = event_store.event_files(committed, dates)
        carried = [meter for meter in catalog.meters.values() if meter.aggregation.needs_window]
        earlier_files = (
            event_store.event_files(committed, history_dates(windows, dates[-1])) if carried else []
        )
        # The history a gauge or session carries from is an input of the run too.
        batches = sorted({Path(f).name.split(".", 1)[0] for f in [*files, *earlier_files]})
        run_id = run_identity(inputs.billing_period, catalog, contracts, batches)
    with store.connect(db_path) as con:
        done = store.find_run(con, run_id)
        if done is not None:
            counts = {name: int(done[name]) for name in RUN_COUNTS}
            return RunResult(run_id, inputs.billing_period, str(db_path), True, counts)
        previous_runs = store.runs_for_period(con, inputs.billing_period)
        if previous_runs:
            raise RunError(
                f"billing period {inputs.billing_period} was already billed by {previous_runs[0]} "
                "from different inputs; its invoices are issued and are never rewritten "
                "(re-rating into adjustment lines is not available yet)"
            )

    started_at = datetime.now(UTC)
    shards = _shard_count(files)
    opening = None
    if earlier_files:
        with timer.stage("read"):
            history = earlier_events(earlier_files, windows, carried)
            opening = opening_state(history, carried).collect().lazy()
    measured = [
        _measure_shard(
            Shard(shard, shards),
            timer,
            event_store.scan(batches, dates) if files else _no_events(catalog).lazy(),
            opening,
            catalog,
            periods,
            billable,
            lifetimes,
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
        rated = rate_period(
            billable, usage, catalog.plans, period_day, transactions, schedule.fees
        ).with_columns(
            pl.lit(run_id).alias("run_id"), pl.lit(inputs.billing_period).alias("billing_period")
        )
    with timer.stage("invoice"):
        lines = build_invoice_lines(rated, invoice_numbers(rated, inputs.billing_period))
        invoices = build_invoices(
            lines, contracts.customers, inputs.billing_period, next_month(period_day)
        )
        quarantine = pl.concat([m.quarantine for m in measured]).select(
            pl.lit(run_id).alias("run_id"), *QUARANTINE_SCHEMA
        )

    counts = {
        "events_read": sum(m.events_read for m in measured),
        "events_rated": int(status_counts.get(BillingStatus.RATED.value, 0)),
        "events_quarantined": quarantine.height,
        "events_out_of_period": int(status_counts.get(BillingStatus.OUT_OF_PERIOD.value, 0)),
        "customers_billed": invoices["customer_id"].n_unique(),
        "invoice_count": invoices.height,
        "rated_charge_count": rated.height,
    }
    accounted = sum(
        counts[k] for k in ("events_rated", "events_quarantined", "events_out_of_period")
    )
    if accounted != counts["events_read"]:
        raise RunError(
            f"event conservation failed: read {counts['events_read']} but accounted {accounted}"
        )
    run_row = pl.DataFrame(
        [
            {
                "run_id": run_id,
                "billing_period": inputs.billing_period,
                "status": "completed",
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "catalog_sha256": catalog.sha256,
                "contracts_sha256": contracts.sha256,
                "events_sha256": hashlib.sha256("\n".join(batches).encode()).hexdigest(),
                "ingest_batches": len(batches),
                **counts,
                "meterline_version": version("meterline"),
            }
        ]
    )
    with timer.stage("write"), store.connect(db_path) as con:
        if store.find_run(con, run_id) is None:
            store.write_tables(
                con,
                {
                    "billing_runs": run_row,
                    "rated_charges": rated,
                    "invoices": invoices,
                    "invoice_lines": lines,
                    "quarantine": quarantine,
                },
            )
    return RunResult(run_id, inputs.billing_period, str(db_path), False, counts, timer.seconds)

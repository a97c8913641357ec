"""The billing run: events and contracts in, rated charges and invoices in DuckDB out.

Stages, each timed: setup (catalog, contracts, input fingerprints) -> read ->
validate (and de-duplicate) -> aggregate -> rate -> invoice -> write. A run's
identity is its billing period plus the fingerprints of every input; running
the same inputs again is a no-op, and the write is one transaction.

Event conservation, recorded on ``billing_runs``::

    events_read = rated + quarantined + duplicate + out_of_period
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import fsspec
import polars as pl

from aggregation.periods import (
    billable_subscriptions,
    customer_periods,
    next_month,
    parse_billing_period,
)
from aggregation.usage import BILLING_STATUS, BillingStatus, aggregate_usage, assign_subscriptions
from jobs import store
from jobs.catalog import Catalog, load_catalog
from jobs.contracts import Contracts, load_contracts
from meter.dedup import IS_DUPLICATE, mark_duplicates
from meter.sources import read_events, resolve_sources
from meter.validate import DETAIL, FIELD, REASON, classify, measured_as_quantities, quarantine_rows
from rating.invoice import build_invoice_lines, build_invoices, invoice_numbers
from rating.rate import rate_period
from schemas.errors import RunError
from schemas.events import QUARANTINE_SCHEMA, QuarantineReason

STAGES = ("setup", "read", "validate", "aggregate", "rate", "invoice", "write")
RUN_COUNTS = (
    "events_read",
    "events_rated",
    "events_quarantined",
    "events_duplicate",
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
    events: Sequence[str]


@dataclass
class RunResult:
    run_id: str
    billing_period: str
    db_path: str
    already_done: bool
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Timer:
    seconds: dict[str, float] = field(default_factory=dict)
    on_stage: Callable[[str], None] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        if self.on_stage is not None:
            self.on_stage(name)
        started = time.perf_counter()
        yield
        self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started


def fingerprint_files(sources: Sequence[str]) -> str:
    """sha256 over the bytes of every source, in order: the events' identity."""
    digest = hashlib.sha256()
    for source in sources:
        with fsspec.open(source, "rb") as handle:
            while chunk := handle.read(1 << 22):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def run_identity(period: str, catalog: Catalog, contracts: Contracts, events_sha: str) -> str:
    key = "\n".join((period, catalog.sha256, contracts.sha256, events_sha))
    return f"run-{period}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


@dataclass(frozen=True)
class ValidatedEvents:
    accepted: pl.DataFrame
    quarantine: pl.DataFrame
    read: int
    duplicates: int


def validate_events(
    events: pl.DataFrame, contracts: Contracts, catalog: Catalog
) -> ValidatedEvents:
    """Quarantine invalid rows, then drop later arrivals of an already-seen event id."""
    classified = classify(
        events.lazy(), contracts.customers["customer_id"].to_list(), catalog.meters.values()
    ).collect()
    valid = classified.lazy().filter(pl.col(REASON).is_null()).drop(REASON, FIELD, DETAIL)
    # One pass from the classified frame to the accepted one: no intermediate copies.
    accepted = measured_as_quantities(
        mark_duplicates(valid).filter(~pl.col(IS_DUPLICATE)).drop(IS_DUPLICATE),
        catalog.meters.values(),
    ).collect()
    quarantine = quarantine_rows(classified).collect()
    return ValidatedEvents(
        accepted=accepted,
        quarantine=quarantine,
        read=events.height,
        duplicates=events.height - quarantine.height - accepted.height,
    )


def _no_subscription_quarantine(assigned: pl.DataFrame) -> pl.DataFrame:
    reason = QuarantineReason.NO_ACTIVE_SUBSCRIPTION
    return assigned.filter(pl.col(BILLING_STATUS) == reason.value).select(
        pl.col("source_file"),
        pl.col("row_number"),
        pl.col("event_id"),
        pl.lit("timestamp").alias("field"),
        pl.lit(reason.value).alias("reason"),
        pl.format("customer {} had no active subscription at {}", "customer_id", "timestamp").alias(
            "detail"
        ),
    )


def run_billing(
    inputs: RunInputs,
    db_path: str | Path,
    on_stage: Callable[[str], None] | None = None,
) -> RunResult:
    """Rate and invoice one calendar month; idempotent and atomic."""
    timer = _Timer(on_stage=on_stage)
    with timer.stage("setup"):
        period_day = parse_billing_period(inputs.billing_period)
        catalog = load_catalog(inputs.catalog)
        contracts = load_contracts(inputs.customers, inputs.subscriptions, catalog.plans)
        sources = resolve_sources(inputs.events)
        events_sha = fingerprint_files(sources)
        run_id = run_identity(inputs.billing_period, catalog, contracts, events_sha)
    with store.connect(db_path) as con:
        done = store.find_run(con, run_id)
        if done is not None:
            counts = {name: int(done[name]) for name in RUN_COUNTS}
            return RunResult(run_id, inputs.billing_period, str(db_path), True, counts)
        earlier = store.runs_for_period(con, inputs.billing_period)
        if earlier:
            raise RunError(
                f"billing period {inputs.billing_period} was already billed by {earlier[0]} "
                "from different inputs; its invoices are issued and are never rewritten "
                "(re-rating into adjustment lines is not available yet)"
            )

    started_at = datetime.now(UTC)
    with timer.stage("read"):
        events = read_events(sources).collect()
    with timer.stage("validate"):
        validated = validate_events(events, contracts, catalog)
        del events
    with timer.stage("aggregate"):
        periods = customer_periods(contracts.customers, period_day)
        billable = billable_subscriptions(contracts.subscriptions, contracts.customers, period_day)
        assigned = assign_subscriptions(validated.accepted.lazy(), periods, billable).collect()
        status_counts = dict(assigned[BILLING_STATUS].value_counts().iter_rows())
        rated_events = assigned.lazy().filter(pl.col(BILLING_STATUS) == BillingStatus.RATED.value)
        usage = aggregate_usage(rated_events, catalog.meters.values()).collect()
    with timer.stage("rate"):
        rated = rate_period(billable, usage, catalog.plans).with_columns(
            pl.lit(run_id).alias("run_id"), pl.lit(inputs.billing_period).alias("billing_period")
        )
    with timer.stage("invoice"):
        lines = build_invoice_lines(rated, invoice_numbers(rated, inputs.billing_period))
        invoices = build_invoices(
            lines, contracts.customers, inputs.billing_period, next_month(period_day)
        )
        quarantine = pl.concat(
            [validated.quarantine, _no_subscription_quarantine(assigned)], how="vertical_relaxed"
        ).select(pl.lit(run_id).alias("run_id"), *QUARANTINE_SCHEMA)

    counts = {
        "events_read": validated.read,
        "events_rated": int(status_counts.get(BillingStatus.RATED.value, 0)),
        "events_quarantined": quarantine.height,
        "events_duplicate": validated.duplicates,
        "events_out_of_period": int(status_counts.get(BillingStatus.OUT_OF_PERIOD.value, 0)),
        "customers_billed": invoices["customer_id"].n_unique(),
        "invoice_count": invoices.height,
        "rated_charge_count": rated.height,
    }
    accounted = sum(
        counts[k]
        for k in ("events_rated", "events_quarantined", "events_duplicate", "events_out_of_period")
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
                "events_sha256": events_sha,
                "source_files": len(sources),
                **counts,
                "meterline_version": version("meterline"),
            }
        ]
    )
    with timer.stage("write"), store.connect(db_path) as con:
        if store.find_run(con, run_id) is None:
            store.write_run(
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

"""The billing run: the event store and contracts in, rated charges and invoices in DuckDB out.

Stages, each timed: setup (catalog, contracts, the run's schedule, which
committed batches hold its events) -> read -> aggregate -> rate -> invoice ->
write. Events were validated and de-duplicated when they were ingested
(:mod:`jobs.ingest`); rating one period is :mod:`jobs.period`. A run's
identity is its billing period plus the fingerprints of the catalog, the
contracts and the ingestion batches it read; running the same inputs again is
a no-op, and the write is one transaction.

The run also re-rates every earlier period whose inputs changed for some
customers since it was billed (late events, a contract or catalog change) and
bills the differences as adjustment lines on this run's invoices
(:mod:`jobs.adjust`); issued invoices are never rewritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from importlib.metadata import version
from pathlib import Path

import duckdb
import polars as pl

from aggregation.hierarchy import ACCOUNT_SCHEMA
from aggregation.periods import next_month
from jobs import adjust, store
from jobs.catalog import Catalog, load_catalog
from jobs.changes import changed_segments
from jobs.contracts import Contracts, load_contracts
from jobs.period import plan_period, rate_planned_period
from jobs.stages import StageTimer
from jobs.terms import term_true_up_lines
from meter.event_store import EventStore
from rating.invoice import invoice_run
from rating.plan import price_changes
from rating.price_lists import catalog_plan_code, plan_currencies
from rating.progressive import progressive_credits
from rating.tax import treatments
from rating.wallet import ENTRY_SCHEMA, wallet_run
from schemas.errors import RunError
from schemas.events import QUARANTINE_SCHEMA
from schemas.types import ROUNDED_AMOUNT

QUARANTINED_FOR = ("billing_period", "customer_id")
"""Beside a billing run's quarantine rows: the period rated and the event's customer."""

STAGES = ("setup", "read", "validate", "aggregate", "rate", "invoice", "write")
RUN_COUNTS = (
    "events_read",
    "events_rated",
    "events_quarantined",
    "events_out_of_period",
    "customers_billed",
    "invoice_count",
    "rated_charge_count",
    "periods_adjusted",
    "adjustment_count",
)


@dataclass(frozen=True)
class RunInputs:
    billing_period: str
    catalog: str | Path
    customers: str | Path
    subscriptions: str | Path
    store: str | Path
    """The event store that ``meter ingest`` filled."""
    changes: str | Path | None = None
    """Effective-dated contract changes (``jobs.changes``), if any."""
    coupons: str | Path | None = None
    """Redeemed coupons (``coupons.csv``), if any."""
    credits: str | Path | None = None
    """Prepaid credits granted (``credits.csv``), if any."""
    draft: bool = False
    """Write the invoices as drafts: a later run of the period replaces them, until
    ``meter issue`` (or a run that is not a draft) issues them."""


@dataclass
class RunResult:
    run_id: str
    billing_period: str
    db_path: str
    already_done: bool
    counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)


def load_run_inputs(inputs: RunInputs) -> tuple[Catalog, Contracts]:
    """The catalog, and the contracts with their changes and price-list changes applied."""
    catalog = load_catalog(inputs.catalog)
    contracts = load_contracts(
        inputs.customers,
        inputs.subscriptions,
        catalog.plans,
        inputs.changes,
        price_changes(catalog.plans),
        catalog.tax,
        inputs.coupons,
        catalog.coupons,
        plan_currencies(catalog.plans, catalog.price_lists),
        inputs.credits,
    )
    return catalog, contracts


def tax_of(catalog: Catalog, contracts: Contracts) -> tuple[pl.DataFrame, set[str]]:
    """Each customer's tax treatment, and the plans whose prices include tax."""
    inclusive = {code for code, plan in catalog.plans.items() if plan.prices_include_tax}
    return treatments(contracts.customers, catalog.tax), inclusive


def run_record(
    run_id: str,
    billing_period: str,
    kind: str,
    status: str,
    started_at: datetime,
    catalog: Catalog,
    contracts: Contracts,
    batches: list[str],
    counts: dict[str, int],
) -> pl.DataFrame:
    """The ``billing_runs`` row of a run."""
    row = {
        "run_id": run_id,
        "billing_period": billing_period,
        "kind": kind,
        "status": status,
        "started_at": started_at,
        "finished_at": datetime.now(UTC),
        "catalog_sha256": catalog.sha256,
        "contracts_sha256": contracts.sha256,
        "events_sha256": hashlib.sha256("\n".join(batches).encode()).hexdigest(),
        "ingest_batches": len(batches),
        **counts,
        "meterline_version": version("meterline"),
    }
    return pl.DataFrame([row])


def account_record(run_id: str, contracts: Contracts) -> pl.DataFrame:
    """The ``account_hierarchy`` rows of a run: the trees its invoices were routed by."""
    return contracts.customers.select(pl.lit(run_id).alias("run_id"), "name", *ACCOUNT_SCHEMA)


def pay_with_credits(
    con: duckdb.DuckDBPyConnection,
    contracts: Contracts,
    invoices: pl.DataFrame,
    issue_date: date,
    run_id: str,
    replacing: str | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The invoices with their recipients' prepaid credits applied (``rating.wallet``), and
    the run's ``wallet_ledger`` rows; ``replacing``: a draft run whose entries this replaces."""
    grants = contracts.grants
    if grants is None or grants.is_empty():
        return invoices, pl.DataFrame()
    ledger = store.wallet_entries(con, grants["customer_id"].unique().sort().to_list(), replacing)
    entries, applied = wallet_run(
        grants,
        ledger,
        invoices.select("invoice_id", "customer_id", "currency", "total"),
        issue_date,
    )
    paid = (
        invoices.drop("credits_applied", "amount_due")
        .join(applied, on="invoice_id", how="left")
        .with_columns(pl.col("credits_applied").fill_null(0).cast(ROUNDED_AMOUNT))
        .with_columns(
            (pl.col("total") - pl.col("credits_applied")).cast(ROUNDED_AMOUNT).alias("amount_due")
        )
        .select(invoices.columns)
    )
    return paid, entries.select(pl.lit(run_id).alias("run_id"), *ENTRY_SCHEMA)


def run_identity(period: str, catalog: Catalog, contracts: Contracts, batches: list[str]) -> str:
    key = "\n".join((period, catalog.sha256, contracts.sha256, *sorted(batches)))
    return f"run-{period}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def run_billing(
    inputs: RunInputs,
    db_path: str | Path,
    on_stage: Callable[[str], None] | None = None,
) -> RunResult:
    """Rate and invoice one calendar month, and adjust earlier months; idempotent and atomic.

    One run at a time per database (:func:`jobs.store.exclusive`).
    """
    with store.exclusive(db_path):
        return _run_billing(inputs, db_path, StageTimer(on_stage=on_stage))


def _run_billing(inputs: RunInputs, db_path: str | Path, timer: StageTimer) -> RunResult:
    with timer.stage("setup"):
        catalog, contracts = load_run_inputs(inputs)
        event_store = EventStore(inputs.store)
        with store.connect(db_path) as con:
            committed = store.committed_batches(con)
        plan = plan_period(inputs.billing_period, catalog, contracts, event_store, committed)
        run_id = run_identity(inputs.billing_period, catalog, contracts, plan.batches)
    with store.connect(db_path) as con:
        done = store.find_run(con, run_id)
        if done is not None:
            if done["status"] == "draft" and not inputs.draft:
                store.issue_run(con, run_id)
            counts = {name: int(done[name]) for name in RUN_COUNTS}
            return RunResult(run_id, inputs.billing_period, str(db_path), True, counts)
        drafts = dict(store.draft_runs(con, inputs.billing_period))
        previous_runs = [
            run
            for run in store.runs_for_period(con, inputs.billing_period)
            if run not in drafts.values()
        ]
        if previous_runs:
            raise RunError(
                f"billing period {inputs.billing_period} was already billed by {previous_runs[0]} "
                "from different inputs; its invoices are issued and are never rewritten: "
                "the differences are billed as adjustments by the next period's run"
            )
        pending = [period for period, _ in store.draft_runs(con) if period < inputs.billing_period]
        if pending:
            raise RunError(
                f"billing period {pending[0]} is still a draft: issue it "
                f"(meter issue --period {pending[0]}) or bill it again before billing "
                f"{inputs.billing_period}"
            )
        earlier = adjust.earlier_periods(con, inputs.billing_period)

    started_at = datetime.now(UTC)
    current = rate_planned_period(plan, catalog, event_store, timer)
    adjustments = adjust.adjust_periods(
        earlier, catalog, contracts, event_store, committed, db_path, timer
    )
    with timer.stage("invoice"), store.connect(db_path) as con:
        billed_early = store.progressive_lines(
            con, current.rated["subscription_id"].unique().to_list()
        )
        billed = pl.concat(
            [
                current.rated,
                progressive_credits(current.rated, billed_early),
                adjustments.lines,
            ],
            how="vertical",
        )
        terms = term_true_up_lines(
            con, catalog, contracts, plan.first_day, billed, drafts.get(inputs.billing_period)
        )
        rated = pl.concat([billed, terms.select(billed.columns)], how="vertical").with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(inputs.billing_period).alias("billing_period"),
            catalog_plan_code(),
        )
        lines, invoices = invoice_run(
            rated,
            contracts.customers,
            *tax_of(catalog, contracts),
            inputs.billing_period,
            next_month(plan.first_day),
        )
        invoices = invoices.with_columns(
            pl.lit("draft" if inputs.draft else "issued").alias("status")
        )
        invoices, wallet = pay_with_credits(
            con,
            contracts,
            invoices,
            next_month(plan.first_day),
            run_id,
            drafts.get(inputs.billing_period),
        )
        quarantine = pl.concat(
            [
                current.quarantine.with_columns(
                    pl.lit(inputs.billing_period).alias("billing_period")
                ),
                *([] if adjustments.quarantine is None else [adjustments.quarantine]),
            ],
            how="vertical",
        ).select(pl.lit(run_id).alias("run_id"), *QUARANTINE_SCHEMA, *QUARANTINED_FOR)

    counts = {
        **current.counts,
        "customers_billed": invoices["customer_id"].n_unique(),
        "invoice_count": invoices.height,
        "rated_charge_count": rated.height,
        "periods_adjusted": adjustments.periods,
        "adjustment_count": adjustments.lines.height,
    }
    run_row = run_record(
        run_id,
        inputs.billing_period,
        "period",
        "draft" if inputs.draft else "completed",
        started_at,
        catalog,
        contracts,
        plan.batches,
        counts,
    )
    records = adjust.period_records(
        run_id,
        [
            adjust.PeriodRecord(
                plan.period, adjust.customer_fingerprints(plan, contracts, catalog), plan.batches
            ),
            *adjustments.records,
        ],
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
                    "contract_segments": changed_segments(contracts.subscriptions, run_id),
                    "account_hierarchy": account_record(run_id, contracts),
                    "wallet_ledger": wallet,
                    **records,
                },
                discard_draft=drafts.get(inputs.billing_period),
            )
    return RunResult(run_id, inputs.billing_period, str(db_path), False, counts, timer.seconds)

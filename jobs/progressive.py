"""The progressive billing run: ``meter bill --as-of 2026-10-15``.

For every subscription whose plan has ``progressive_billing``, the plan period
open on the day before ``as_of`` is rated from its start to ``as_of`` (local
midnight), usage charges only. Less what earlier progressive invoices billed
of the same lines, that is the unbilled usage; where it reaches the plan's
level an invoice is issued, dated ``as_of``, for exactly that remainder. The
period's own run deducts it later (:func:`rating.progressive.progressive_credits`).

The run is recorded in ``billing_runs`` with ``kind = 'progressive'`` and
``billing_period`` = the ``as_of`` date; it is idempotent (same inputs, no new
rows), atomic, and holds the database lock like any run.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl

from aggregation.periods import (
    ACTIVE_END,
    ACTIVE_START,
    PERIOD_END,
    PERIOD_START,
    RunSchedule,
    open_windows,
)
from jobs import store
from jobs.billing import (
    RUN_COUNTS,
    RunInputs,
    RunResult,
    account_record,
    load_run_inputs,
    pay_with_credits,
    run_record,
    tax_of,
)
from jobs.period import plan_reads, rate_planned_period
from jobs.stages import StageTimer
from meter.event_store import EventStore
from rating.adjustments import adjustment_lines
from rating.invoice import invoice_run
from rating.plan import plan_items
from rating.price_lists import catalog_plan_code
from rating.progressive import crossing
from schemas.errors import InputError
from schemas.tables import FEE_PERIOD_SCHEMA


def parse_as_of(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--as-of {text!r}: expected a date YYYY-MM-DD") from None


def run_progressive_billing(
    inputs: RunInputs, as_of: str, db_path: str | Path, timer: StageTimer | None = None
) -> RunResult:
    """Invoice the unbilled usage that reached its plan's level by ``as_of``."""
    day = parse_as_of(as_of)
    label = day.isoformat()
    with store.exclusive(db_path):
        return _run(inputs, day, label, db_path, timer or StageTimer())


def _run(
    inputs: RunInputs, day: date, label: str, db_path: str | Path, timer: StageTimer
) -> RunResult:
    with timer.stage("setup"):
        catalog, contracts = load_run_inputs(inputs)
        plans = {code: plan for code, plan in catalog.rated_plans.items() if plan.progressive}
        if not plans:
            raise InputError(
                f"{inputs.catalog}: no plan has progressive_billing; nothing to bill as of {label}"
            )
        event_store = EventStore(inputs.store)
        with store.connect(db_path) as con:
            committed = store.committed_batches(con)
        windows = open_windows(
            contracts.subscriptions.filter(pl.col("plan_code").is_in(list(plans))),
            contracts.customers,
            plan_items(plans),
            day,
        )
        # Outside its windows an event is simply not this run's: no quarantine here.
        calendar = windows.select(
            "customer_id",
            pl.col(ACTIVE_START).alias(PERIOD_START),
            pl.col(ACTIVE_END).alias(PERIOD_END),
        ).unique("customer_id", keep="first")
        schedule = RunSchedule(windows, pl.DataFrame(schema=FEE_PERIOD_SCHEMA))
        plan = plan_reads(
            label, day, calendar, schedule, catalog, contracts, event_store, committed
        )
        key = "\n".join(
            ("progressive", label, catalog.sha256, contracts.sha256, *sorted(plan.batches))
        )
        run_id = f"run-{label}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
        with store.connect(db_path) as con:
            done = store.find_run(con, run_id)
        if done is not None:
            counts = {name: int(done[name]) for name in RUN_COUNTS}
            return RunResult(run_id, label, str(db_path), True, counts)
    started_at = datetime.now(UTC)
    rated = rate_planned_period(plan, catalog, event_store, timer)
    with timer.stage("invoice"), store.connect(db_path) as con:
        usage = rated.rated.filter(pl.col("meter_code").is_not_null())
        subscriptions = usage["subscription_id"].unique().sort().to_list()
        unbilled = adjustment_lines(usage, store.progressive_lines(con, subscriptions), None)
        due = crossing(unbilled, plans)
        lines_due = unbilled.filter(pl.col("subscription_id").is_in(due.implode())).with_columns(
            pl.lit(run_id).alias("run_id"),
            pl.lit(label).alias("billing_period"),
            catalog_plan_code(),
        )
        lines, invoices = invoice_run(
            lines_due, contracts.customers, *tax_of(catalog, contracts), label.replace("-", ""), day
        )
        invoices = invoices.with_columns(pl.lit(label).alias("billing_period"))
        invoices, wallet = pay_with_credits(con, contracts, invoices, day, run_id)
    counts = {
        **rated.counts,
        "customers_billed": invoices["customer_id"].n_unique(),
        "invoice_count": invoices.height,
        "rated_charge_count": lines_due.height,
        "periods_adjusted": 0,
        "adjustment_count": 0,
    }
    run_row = run_record(
        run_id,
        label,
        "progressive",
        "completed",
        started_at,
        catalog,
        contracts,
        plan.batches,
        counts,
    )
    with timer.stage("write"), store.connect(db_path) as con:
        store.write_tables(
            con,
            {
                "billing_runs": run_row,
                "rated_charges": lines_due,
                "invoices": invoices,
                "invoice_lines": lines,
                "account_hierarchy": account_record(run_id, contracts),
                "wallet_ledger": wallet,
            },
        )
    return RunResult(run_id, label, str(db_path), False, counts, timer.seconds)

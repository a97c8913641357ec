"""Re-rating earlier periods whose inputs changed, as adjustments on the current run.

Each time a period is rated, the run records for it (``period_inputs``,
``period_batches``):

* per customer, a fingerprint of what their lines depend on besides events:
  the customer's timezone, the subscription rows the period bills or that
  are active in its month, and the catalog plans of those subscriptions (with
  the meters they read);
* the ingestion batches whose events it read.

The run of month M then looks at every earlier billed period P. A customer
is *affected* in P when their fingerprint differs from the one last recorded
for P (a subscription ended, upgraded or added retroactively, a price fixed in
the catalog), or when a batch P has not read yet holds their events on P's
dates (late events). P is re-rated for the affected customers only, and
:func:`rating.adjustments.adjustment_lines` turns the differences with what
was billed into lines on M's invoices. Nothing of P's own rows changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from aggregation.assignment import LIFE_END, LIFE_START
from aggregation.periods import PERIOD_END, PERIOD_START, SCHEDULING_COLUMNS
from jobs import store
from jobs.catalog import Catalog
from jobs.contracts import Contracts
from jobs.period import PeriodPlan, plan_period, rate_planned_period
from jobs.stages import StageTimer
from meter.event_store import EventStore
from rating.adjustments import ADJUSTMENT_COLUMNS, adjustment_lines
from rating.plan import Plan
from schemas.events import CUSTOMER_ID
from schemas.tables import RATED_CHARGE_SCHEMA

NO_INPUTS = hashlib.sha256(b"").hexdigest()
"""The fingerprint of a customer with nothing to bill in a period."""

FINGERPRINTS_SCHEMA = {CUSTOMER_ID: pl.String(), "inputs_sha256": pl.String()}


@dataclass(frozen=True)
class EarlierPeriod:
    period: str
    fingerprints: pl.DataFrame
    """The last fingerprint recorded per customer (``FINGERPRINTS_SCHEMA``)."""
    batches: frozenset[str]
    """Every batch a rating of the period has read."""


@dataclass(frozen=True)
class PeriodRecord:
    period: str
    fingerprints: pl.DataFrame
    batches: list[str]


@dataclass(frozen=True)
class Adjustments:
    lines: pl.DataFrame
    periods: int
    records: list[PeriodRecord]
    quarantine: pl.DataFrame | None = None
    """Events of the re-rated periods without an active subscription (``billing_period``:
    the period), which supersede the quarantine of earlier ratings for those customers."""


def earlier_periods(con: duckdb.DuckDBPyConnection, period: str) -> list[EarlierPeriod]:
    """Every period billed before ``period``, with what its ratings recorded."""
    found = con.execute(
        "SELECT DISTINCT billing_period FROM billing_runs "
        "WHERE billing_period < ? AND kind = 'period' ORDER BY 1",
        [period],
    ).fetchall()
    earlier = []
    for (billed,) in found:
        fingerprints = store.query_frame(
            con,
            """
            SELECT i.customer_id, arg_max(i.inputs_sha256, r.finished_at) AS inputs_sha256
            FROM period_inputs i JOIN billing_runs r USING (run_id)
            WHERE i.billing_period = ? GROUP BY i.customer_id ORDER BY 1
            """,
            [billed],
        )
        batches = con.execute(
            "SELECT DISTINCT batch_id FROM period_batches WHERE billing_period = ?", [billed]
        ).fetchall()
        earlier.append(
            EarlierPeriod(
                billed,
                fingerprints.cast(FINGERPRINTS_SCHEMA)
                if fingerprints.height
                else pl.DataFrame(schema=FINGERPRINTS_SCHEMA),
                frozenset(batch for (batch,) in batches),
            )
        )
    return earlier


def plan_fingerprint(plan: Plan, catalog: Catalog) -> str:
    """What a plan rates with: its parsed definition and the meters its charges read."""
    meters = sorted(plan.meters)
    text = repr(plan) + "".join(repr(catalog.meters.get(code)) for code in meters)
    return hashlib.sha256(text.encode()).hexdigest()


def customer_fingerprints(plan: PeriodPlan, contracts: Contracts, catalog: Catalog) -> pl.DataFrame:
    """Per customer with anything in the period, the fingerprint of their contract inputs."""
    billed = pl.concat(
        [
            plan.schedule.billable.select("subscription_id"),
            plan.schedule.fees.select("subscription_id"),
            plan.lifetimes.join(plan.calendar, on=CUSTOMER_ID)
            .filter(
                (pl.col(LIFE_START) < pl.col(PERIOD_END))
                & (pl.col(LIFE_END).is_null() | (pl.col(LIFE_END) > pl.col(PERIOD_START)))
            )
            .select("subscription_id"),
        ]
    ).unique()
    plans = pl.DataFrame(
        {
            "plan_code": list(catalog.rated_plans),
            "_plan": [plan_fingerprint(p, catalog) for p in catalog.rated_plans.values()],
        },
        schema={"plan_code": pl.String, "_plan": pl.String},
    )
    columns = [c for c in contracts.subscriptions.columns if c != CUSTOMER_ID]
    rows = (
        contracts.subscriptions.join(billed, on="subscription_id", how="semi")
        # A change of timezone or co-term date moves the periods: it re-rates them.
        .join(contracts.customers.select(CUSTOMER_ID, *SCHEDULING_COLUMNS), on=CUSTOMER_ID)
        .join(plans, on="plan_code", how="left")
        .select(
            CUSTOMER_ID,
            "subscription_id",
            pl.concat_str(
                [
                    pl.col(c).cast(pl.String).fill_null("")
                    for c in [*columns, *SCHEDULING_COLUMNS, "_plan"]
                ],
                separator="|",
            ).alias("_row"),
        )
        .sort(CUSTOMER_ID, "subscription_id")
        .group_by(CUSTOMER_ID, maintain_order=True)
        .agg(pl.col("_row").str.join("\n"))
    )
    # One hash per customer (not per event): a stable digest, unlike Polars' own hash.
    digests = [hashlib.sha256(text.encode()).hexdigest() for text in rows["_row"]]
    return pl.DataFrame(
        {CUSTOMER_ID: rows[CUSTOMER_ID], "inputs_sha256": digests}, schema=FINGERPRINTS_SCHEMA
    )


def _changed_customers(current: pl.DataFrame, recorded: pl.DataFrame) -> pl.DataFrame:
    """Customers whose fingerprint is not the recorded one, with their current one."""
    return (
        current.join(recorded, on=CUSTOMER_ID, how="full", coalesce=True, suffix="_recorded")
        .with_columns(pl.col("inputs_sha256").fill_null(NO_INPUTS))
        .filter(pl.col("inputs_sha256") != pl.col("inputs_sha256_recorded").fill_null(NO_INPUTS))
        .select(CUSTOMER_ID, "inputs_sha256")
    )


def _late_customers(plan: PeriodPlan, new_batches: set[str]) -> pl.Series:
    files = [
        f
        for f in [*plan.files, *plan.history_files]
        if Path(f).name.split(".", 1)[0] in new_batches
    ]
    if not files:
        return pl.Series(CUSTOMER_ID, [], dtype=pl.String)
    frame = pl.scan_parquet(files, hive_partitioning=False).select(CUSTOMER_ID).unique()
    return frame.collect()[CUSTOMER_ID]


def _only(contracts: Contracts, customers: pl.Series) -> Contracts:
    keep = pl.col(CUSTOMER_ID).is_in(customers.implode())
    return Contracts(
        contracts.customers.filter(keep), contracts.subscriptions.filter(keep), contracts.sha256
    )


def adjust_periods(
    earlier: list[EarlierPeriod],
    catalog: Catalog,
    contracts: Contracts,
    event_store: EventStore,
    committed: list[str],
    db_path: str | Path,
    timer: StageTimer,
) -> Adjustments:
    """Re-rate each earlier period for its affected customers; the differences as lines."""
    lines = [pl.DataFrame(schema={name: RATED_CHARGE_SCHEMA[name] for name in ADJUSTMENT_COLUMNS})]
    records: list[PeriodRecord] = []
    quarantined: list[pl.DataFrame] = []
    for period in earlier:
        with timer.stage("setup"):
            plan = plan_period(period.period, catalog, contracts, event_store, committed)
            changed = _changed_customers(
                customer_fingerprints(plan, contracts, catalog), period.fingerprints
            )
            new_batches = set(plan.batches) - period.batches
            late = _late_customers(plan, new_batches)
            affected = pl.concat([changed[CUSTOMER_ID], late]).unique().sort()
        if affected.is_empty():
            continue
        scoped = plan_period(
            period.period, catalog, _only(contracts, affected), event_store, committed
        )
        now = rate_planned_period(scoped, catalog, event_store, timer, customers=affected)
        with store.connect(db_path) as con:
            billed = store.billed_lines(con, period.period, affected.to_list())
        with timer.stage("rate"):
            lines.append(adjustment_lines(now.rated, billed, period.period))
        quarantined.append(
            now.quarantine.with_columns(pl.lit(period.period).alias("billing_period"))
        )
        fingerprints = (
            customer_fingerprints(scoped, _only(contracts, affected), catalog)
            .join(pl.DataFrame({CUSTOMER_ID: affected}), on=CUSTOMER_ID, how="full", coalesce=True)
            .with_columns(pl.col("inputs_sha256").fill_null(NO_INPUTS))
            .sort(CUSTOMER_ID)
        )
        records.append(PeriodRecord(period.period, fingerprints, sorted(new_batches)))
    quarantine = pl.concat(quarantined, how="vertical") if quarantined else None
    return Adjustments(pl.concat(lines, how="vertical"), len(records), records, quarantine)


def period_records(run_id: str, records: list[PeriodRecord]) -> dict[str, pl.DataFrame]:
    """The ``period_inputs`` and ``period_batches`` rows of a run's ratings."""
    inputs = [
        record.fingerprints.select(
            pl.lit(record.period).alias("billing_period"),
            CUSTOMER_ID,
            pl.lit(run_id).alias("run_id"),
            "inputs_sha256",
        )
        for record in records
    ]
    batches = pl.DataFrame(
        [(record.period, batch, run_id) for record in records for batch in record.batches],
        schema={"billing_period": pl.String, "batch_id": pl.String, "run_id": pl.String},
        orient="row",
    )
    return {"period_inputs": pl.concat(inputs), "period_batches": batches}

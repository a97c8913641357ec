"""Term commitments in a billing run: the true-up lines of the contract terms it closes.

A plan's ``term_commitment: {months: 12, amount: 12000.00}`` is a minimum
spend per subscription over each term of that many months. The run of the
month a term closes in sums what the subscription was billed for the term's
service periods, in every earlier run and in this one, and bills the
shortfall as one ``term_commitment`` line (:func:`rating.commitments.term_true_ups`).
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from aggregation.periods import closing_terms
from jobs import store
from jobs.catalog import Catalog
from jobs.contracts import Contracts
from rating.commitments import TERM_COMMITMENT, TERM_SCHEMA, term_true_ups
from schemas.tables import RATED_CHARGE_SCHEMA
from schemas.types import AMOUNT, QUANTITY

TERM_POSITION = 1_000_000
"""After every charge of any plan on the invoice."""


def term_true_up_lines(
    con: duckdb.DuckDBPyConnection,
    catalog: Catalog,
    contracts: Contracts,
    first_day: date,
    current: pl.DataFrame,
    replacing: str | None = None,
) -> pl.DataFrame:
    """Rated-charge rows (no run columns) for the terms closing in the run of ``first_day``'s
    month; ``current`` is what the run bills besides them."""
    columns = [name for name in RATED_CHARGE_SCHEMA if name not in ("run_id", "billing_period")]
    empty = pl.DataFrame(schema={name: RATED_CHARGE_SCHEMA[name] for name in columns})
    plans = [
        (code, plan.term_commitment.months, plan.term_commitment.amount, plan.currency)
        for code, plan in catalog.rated_plans.items()
        if plan.term_commitment is not None
    ]
    if not plans:
        return empty
    plan_terms = pl.DataFrame(
        plans,
        schema={
            "plan_code": pl.String,
            "months": pl.Int64,
            "commitment": AMOUNT,
            "currency": pl.String,
        },
        orient="row",
    )
    months = plan_terms.select("plan_code", "months")
    terms = closing_terms(contracts.subscriptions, contracts.customers, months, first_day)
    if terms.is_empty():
        return empty
    terms = terms.join(plan_terms.drop("months"), on="plan_code").select(*TERM_SCHEMA)
    spend = pl.concat(
        [
            store.term_spend(con, terms["subscription_id"].unique().sort().to_list(), replacing),
            current.filter(pl.col("charge_model") != TERM_COMMITMENT).select(
                "subscription_id", "period_start", "currency", "amount"
            ),
        ]
    )
    short = term_true_ups(terms, spend)
    partial = pl.col("covered_days") < pl.col("term_days")
    return (
        short.join(months, on="plan_code")
        .select(
            "subscription_id",
            "customer_id",
            "plan_code",
            pl.lit(TERM_COMMITMENT).alias("charge_code"),
            pl.format("Term commitment ({} months): true-up", "months").alias("charge_name"),
            pl.lit(TERM_POSITION, dtype=pl.Int32).alias("charge_position"),
            pl.lit(TERM_COMMITMENT).alias("charge_model"),
            pl.lit(None, dtype=pl.String).alias("meter_code"),
            pl.col("term_start").alias("period_start"),
            pl.col("term_end").alias("period_end"),
            pl.lit("{}").alias("dimensions"),
            pl.lit(1, dtype=QUANTITY).alias("quantity"),
            pl.lit(0, dtype=pl.Int64).alias("event_count"),
            "amount_exact",
            "amount",
            "currency",
            pl.lit(None, dtype=RATED_CHARGE_SCHEMA["tier_breakdown"]).alias("tier_breakdown"),
            pl.when(partial).then(pl.col("covered_days")).alias("prorated_days"),
            pl.when(partial).then(pl.col("term_days")).alias("period_days"),
            pl.lit(None, dtype=pl.String).alias("adjusted_period"),
        )
        .cast({name: RATED_CHARGE_SCHEMA[name] for name in columns})
        .select(columns)
    )

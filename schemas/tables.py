"""Frame shapes of the DuckDB output tables (the DDL is in ``ddl.sql`` beside this)."""

from __future__ import annotations

from importlib import resources

import polars as pl

from schemas.types import AMOUNT, PRICE, QUANTITY, ROUNDED_AMOUNT, TIMESTAMP

TIER_BREAKDOWN = pl.List(
    pl.Struct(
        {
            "tier": pl.Int32(),
            "units": QUANTITY,
            "unit_price": PRICE,
            "flat_fee": AMOUNT,
            "amount": AMOUNT,
        }
    )
)

TRANSACTION_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    "meter_code": pl.String(),
    "dimensions": pl.String(),
    "value": QUANTITY,
}
"""Aggregation to rating, not a table: one row per metered event of the meters whose
charges price each event (``ChargeModel.prices_each_event``), e.g. payment fees.
``subscription_id`` is text, or, in a billing run, the Enum of the run's subscriptions."""

PLAN_ITEMS_SCHEMA: dict[str, pl.DataType] = {
    "plan_code": pl.String(),
    "charge_code": pl.String(),
    "cadence_unit": pl.String(),
    "cadence_count": pl.Int64(),
    "alignment": pl.String(),
    "timing": pl.String(),
    "once": pl.Boolean(),
}
"""How each plan bills: one row per recurring or one-time fee, and one with a null
``charge_code`` for the plan period (usage, formulas, minimums, in arrears)."""

ADJUSTED_PERIOD = "adjusted_period"
"""On an adjustment line: the billing period whose lines it corrects."""

USAGE_DUE = "usage_due"
"""On a billable row: the plan period closes in the run, so its usage is billed."""

FEE_PERIOD_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    "customer_id": pl.String(),
    "plan_code": pl.String(),
    "charge_code": pl.String(),
    "item_quantity": pl.Int64(),
    "period_start": TIMESTAMP,
    "period_end": TIMESTAMP,
    "period_days": pl.Int32(),
    "active_days": pl.Int32(),
}
"""Aggregation to rating, not a table: one row per fee period a run bills; ``period_start,
period_end`` is the part billed, ``active_days`` of the period's ``period_days``."""

RATED_CHARGE_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "billing_period": pl.String(),
    "subscription_id": pl.String(),
    "customer_id": pl.String(),
    "plan_code": pl.String(),
    "charge_code": pl.String(),
    "charge_name": pl.String(),
    "charge_position": pl.Int32(),
    "charge_model": pl.String(),
    "meter_code": pl.String(),
    "period_start": TIMESTAMP,
    "period_end": TIMESTAMP,
    "dimensions": pl.String(),
    "quantity": QUANTITY,
    "event_count": pl.Int64(),
    "amount_exact": AMOUNT,
    "amount": ROUNDED_AMOUNT,
    "currency": pl.String(),
    "tier_breakdown": TIER_BREAKDOWN,
    "prorated_days": pl.Int32(),
    "period_days": pl.Int32(),
    "adjusted_period": pl.String(),
}

OUTPUT_TABLES = (
    "billing_runs",
    "rated_charges",
    "invoices",
    "invoice_lines",
    "quarantine",
    "ingest_batches",
    "ingest_files",
    "period_inputs",
    "period_batches",
    "contract_segments",
    "account_hierarchy",
    "wallet_ledger",
)


def ddl() -> str:
    """The DuckDB DDL of every output table (idempotent: CREATE ... IF NOT EXISTS)."""
    return resources.files("schemas").joinpath("ddl.sql").read_text(encoding="utf-8")

"""Invoices from rated charges: one invoice per customer and currency per period.

Each rated charge becomes one invoice line carrying its rounded amount; an
invoice's total is the exact sum of its lines (no second rounding).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

import polars as pl

from rating.tax import apply_taxes
from schemas.tables import ADJUSTED_PERIOD
from schemas.types import ROUNDED_AMOUNT

INVOICE_KEYS = ("customer_id", "currency")


def invoice_numbers(rated: pl.DataFrame, billing_period: str) -> pl.DataFrame:
    """``customer_id, currency, invoice_id``: numbered in customer order, deterministic.

    >>> frame = pl.DataFrame({"customer_id": ["b", "a", "b"], "currency": ["EUR"] * 3})
    >>> invoice_numbers(frame, "2026-10")["invoice_id"].to_list()
    ['INV-202610-000001', 'INV-202610-000002']
    """
    prefix = "INV-" + billing_period.replace("-", "") + "-"
    return (
        rated.select(INVOICE_KEYS)
        .unique()
        .sort(INVOICE_KEYS)
        .with_row_index("number", offset=1)
        .select(
            *INVOICE_KEYS,
            (pl.lit(prefix) + pl.col("number").cast(pl.String).str.zfill(6)).alias("invoice_id"),
        )
    )


def _description() -> pl.Expr:
    named = (
        pl.when(pl.col("dimensions") == "{}")
        .then(pl.col("charge_name"))
        .otherwise(pl.format("{} {}", "charge_name", "dimensions"))
    )
    return (
        pl.when(pl.col(ADJUSTED_PERIOD).is_null())
        .then(named)
        .otherwise(pl.format("Adjustment {}: {}", ADJUSTED_PERIOD, named))
    )


def build_invoice_lines(rated: pl.DataFrame, numbers: pl.DataFrame) -> pl.DataFrame:
    return (
        # rechunk: pl.format over columns with different chunk boundaries panics in
        # Polars 2.1 (see jobs.ingest._resolve).
        rated.join(numbers, on=list(INVOICE_KEYS), how="left")
        .sort(
            "invoice_id",
            ADJUSTED_PERIOD,
            "subscription_id",
            "charge_position",
            "charge_code",
            "period_start",
            "dimensions",
            nulls_last=False,
        )
        .rechunk()
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("invoice_id").alias("line_number"),
            _description().alias("description"),
        )
        .select(
            "invoice_id",
            "line_number",
            "run_id",
            "customer_id",
            "subscription_id",
            "plan_code",
            "charge_code",
            "description",
            "meter_code",
            "dimensions",
            "period_start",
            "period_end",
            "quantity",
            "amount",
            "currency",
            ADJUSTED_PERIOD,
        )
    )


def build_invoices(
    lines: pl.DataFrame, customers: pl.DataFrame, billing_period: str, issue_date: date
) -> pl.DataFrame:
    """Invoice headers: ``subtotal`` and ``tax_total`` are the exact sums of their lines'
    net amounts and taxes (``rating.tax.apply_taxes``; none when the lines carry no
    tax), ``total`` their sum."""
    if "tax_amount" not in lines.columns:
        lines = lines.with_columns(pl.lit(0, dtype=ROUNDED_AMOUNT).alias("tax_amount"))
    return (
        lines.group_by("invoice_id", "run_id", "customer_id", "currency")
        .agg(
            pl.col("period_start").min(),
            pl.col("period_end").max(),
            pl.len().cast(pl.Int32).alias("line_count"),
            pl.col("amount").sum().cast(ROUNDED_AMOUNT).alias("subtotal"),
            pl.col("tax_amount").sum().cast(ROUNDED_AMOUNT).alias("tax_total"),
        )
        .join(
            customers.select("customer_id", pl.col("name").alias("customer_name"), "timezone"),
            on="customer_id",
        )
        .with_columns(
            pl.lit(billing_period).alias("billing_period"),
            pl.lit(issue_date).alias("issue_date"),
            pl.lit("issued").alias("status"),
            (pl.col("subtotal") + pl.col("tax_total")).cast(ROUNDED_AMOUNT).alias("total"),
        )
        .select(
            "invoice_id",
            "run_id",
            "billing_period",
            "customer_id",
            "customer_name",
            "timezone",
            "currency",
            "period_start",
            "period_end",
            "issue_date",
            "status",
            "line_count",
            "subtotal",
            "tax_total",
            "total",
        )
        .sort("invoice_id")
    )


def invoice_run(
    rated: pl.DataFrame,
    customers: pl.DataFrame,
    tax_rules: pl.DataFrame,
    inclusive_plans: Collection[str],
    label: str,
    issue_date: date,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A run's invoice lines (numbered, taxed) and invoices, from its rated charges."""
    lines = apply_taxes(
        build_invoice_lines(rated, invoice_numbers(rated, label)), tax_rules, inclusive_plans
    )
    return lines, build_invoices(lines, customers, label, issue_date)

"""Invoices from rated charges: one invoice per recipient and currency per run.

Each rated charge becomes one invoice line carrying its rounded amount; an
invoice's total is the exact sum of its lines (no second rounding). A line
goes on the invoice of its account's ``bill_to`` (the account itself, or the
ancestor it consolidates into, :mod:`aggregation.hierarchy`): a consolidated
invoice holds the lines of several accounts, grouped by account. Routing never
changes a line: each is rated and taxed as the account's own, so a
consolidated total is exactly the sum of what each account would be billed
alone. Lines in different currencies never share an invoice: a recipient gets
one invoice per currency.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date

import polars as pl

from rating.tax import apply_taxes
from schemas.tables import ADJUSTED_PERIOD
from schemas.types import ROUNDED_AMOUNT

INVOICE_KEYS = ("bill_to", "currency")


def route(rated: pl.DataFrame, customers: pl.DataFrame) -> pl.DataFrame:
    """``rated`` with ``bill_to``: whose invoice each line goes on (by default its own
    account's, when ``customers`` has no hierarchy columns)."""
    if "bill_to" not in customers.columns:
        return rated.with_columns(pl.col("customer_id").alias("bill_to"))
    return rated.join(
        customers.select("customer_id", "bill_to"), on="customer_id", how="left"
    ).with_columns(pl.coalesce("bill_to", "customer_id").alias("bill_to"))


def invoice_numbers(rated: pl.DataFrame, billing_period: str) -> pl.DataFrame:
    """``bill_to, currency, invoice_id``: numbered in recipient order, deterministic.

    >>> frame = pl.DataFrame({"bill_to": ["b", "a", "b"], "currency": ["EUR"] * 3})
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
            "customer_id",
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
    lines: pl.DataFrame,
    numbers: pl.DataFrame,
    customers: pl.DataFrame,
    billing_period: str,
    issue_date: date,
) -> pl.DataFrame:
    """Invoice headers, addressed to their recipient (``numbers``): ``subtotal`` and
    ``tax_total`` are the exact sums of their lines' net amounts and taxes
    (``rating.tax.apply_taxes``; none when the lines carry no tax), ``total`` their
    sum; ``account_count`` how many accounts' lines the invoice holds."""
    if "tax_amount" not in lines.columns:
        lines = lines.with_columns(pl.lit(0, dtype=ROUNDED_AMOUNT).alias("tax_amount"))
    return (
        lines.group_by("invoice_id", "run_id", "currency")
        .agg(
            pl.col("period_start").min(),
            pl.col("period_end").max(),
            pl.len().cast(pl.Int32).alias("line_count"),
            pl.col("customer_id").n_unique().cast(pl.Int32).alias("account_count"),
            pl.col("amount").sum().cast(ROUNDED_AMOUNT).alias("subtotal"),
            pl.col("tax_amount").sum().cast(ROUNDED_AMOUNT).alias("tax_total"),
        )
        .join(numbers.select("invoice_id", pl.col("bill_to").alias("customer_id")), on="invoice_id")
        .join(
            customers.select("customer_id", pl.col("name").alias("customer_name"), "timezone"),
            on="customer_id",
            how="left",
        )
        .with_columns(
            # A customer since removed from the customer file may still be owed an
            # adjustment: its invoice is made all the same, under its id, in UTC.
            pl.col("customer_name").fill_null(pl.col("customer_id")),
            pl.col("timezone").fill_null("UTC"),
        )
        .with_columns(
            pl.lit(billing_period).alias("billing_period"),
            pl.lit(issue_date).alias("issue_date"),
            pl.lit("issued").alias("status"),
            (pl.col("subtotal") + pl.col("tax_total")).cast(ROUNDED_AMOUNT).alias("total"),
            pl.lit(0, dtype=ROUNDED_AMOUNT).alias("credits_applied"),
        )
        .with_columns(pl.col("total").alias("amount_due"))
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
            "account_count",
            "subtotal",
            "tax_total",
            "total",
            "credits_applied",
            "amount_due",
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
    routed = route(rated, customers)
    numbers = invoice_numbers(routed, label)
    lines = apply_taxes(build_invoice_lines(routed, numbers), tax_rules, inclusive_plans)
    return lines, build_invoices(lines, numbers, customers, label, issue_date)

"""Loading prepaid credits (``credits.csv``, ``--credits``), validated line by line.

Columns: ``credit_id`` (unique), ``customer_id`` (known), ``currency``
(ISO 4217), ``amount`` (positive, at most the currency's decimals),
``granted_on`` and optionally ``expires_on`` (``YYYY-MM-DD``; the first day the
credit no longer pays, after ``granted_on``). What a run does with them:
:mod:`rating.wallet`.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import polars as pl

from jobs.csv_input import (
    date_span,
    fail_on,
    fail_on_duplicates,
    fail_on_unknown_customers,
    read_rows,
)
from rating.money import MINOR_UNITS
from rating.wallet import GRANT_SCHEMA

CREDIT_COLUMNS = ("credit_id", "customer_id", "currency", "amount", "granted_on")


def load_credits(path: str | Path, customer_ids: Collection[str]) -> tuple[pl.DataFrame, bytes]:
    """The grants of ``credits.csv`` (:data:`rating.wallet.GRANT_SCHEMA`) and its bytes."""
    path = Path(path)
    frame, raw = read_rows(path, CREDIT_COLUMNS, ("expires_on",))
    fail_on_duplicates(frame, "credit_id", path)
    fail_on_unknown_customers(frame, customer_ids, path)
    frame = frame.with_columns(pl.col("currency").str.to_uppercase())
    fail_on(
        frame,
        ~pl.col("currency").is_in(sorted(MINOR_UNITS)),
        pl.format("unknown currency {} (use an ISO 4217 code such as EUR)", "currency"),
        path,
    )
    _check_amounts(frame, path)
    frame = date_span(frame, path, "granted_on", "expires_on")
    grants = frame.select(
        "credit_id",
        "customer_id",
        "currency",
        pl.col("amount").cast(GRANT_SCHEMA["amount"]),
        "granted_on",
        "expires_on",
    )
    return grants, raw


def _check_amounts(frame: pl.DataFrame, path: Path) -> None:
    text = pl.col("amount")
    fail_on(
        frame,
        ~text.str.contains(r"^-?\d+(\.\d+)?$"),
        pl.format("amount {} is not a number", "amount"),
        path,
    )
    fail_on(
        frame,
        text.str.starts_with("-") | ~text.str.contains(r"[1-9]"),
        pl.format("amount {} is not positive (a top-up adds credit)", "amount"),
        path,
    )
    decimals = text.str.extract(r"\.(\d+)$").str.strip_chars_end("0").str.len_chars().fill_null(0)
    minor = pl.col("currency").replace_strict(MINOR_UNITS, return_dtype=pl.UInt32)
    fail_on(
        frame,
        decimals > minor,
        pl.format("amount {} has more decimals than {} has", "amount", "currency"),
        path,
    )
    fail_on(
        frame,
        text.str.extract(r"^(\d+)").str.len_chars() > 30,
        pl.format("amount {} is too large", "amount"),
        path,
    )

"""Prepaid credits: a wallet per account and currency, topped up, consumed by invoices, expiring.

A *grant* (a top-up) puts ``amount`` in an account's wallet in one currency
on ``granted_on``; it may expire: ``expires_on`` is the first day it can no
longer pay. Every movement is an entry of the *ledger*, never edited:

=============  ==========================================  ===============
``kind``       when                                        ``amount``
=============  ==========================================  ===============
``top_up``     the first run issuing on or after           + the grant
               ``granted_on``
``expired``    the first run issuing on or after           - what is left
               ``expires_on``, if anything is left
``consumed``   an invoice the account receives pays        - what it takes
               with it
=============  ==========================================  ===============

A run issuing invoices on day ``D`` first records the new top-ups and the
expiries, then lets each invoice with a positive total take what it can from
the account's wallet in its currency: invoices in number order; the grants
soonest to expire first (never-expiring ones last), then the oldest, then by
``credit_id``. An invoice's ``credits_applied`` is what it took and
``amount_due`` the rest. Credits pay totals (tax included): they are a means
of payment, not a discount, so they change neither lines nor taxes. Every
amount is at the currency's minor unit already, so no rounding happens here.

>>> from datetime import date
>>> from decimal import Decimal as D
>>> grants = pl.DataFrame({"credit_id": ["c1"], "customer_id": ["a"], "currency": ["EUR"],
...     "amount": [D("50.00")], "granted_on": [date(2026, 10, 1)], "expires_on": [None]},
...     schema=GRANT_SCHEMA)
>>> invoices = pl.DataFrame({"invoice_id": ["INV-1"], "customer_id": ["a"],
...     "currency": ["EUR"], "total": [D("80.00")]},
...     schema_overrides={"total": ROUNDED_AMOUNT})
>>> entries, applied = wallet_run(grants, empty_ledger(), invoices, date(2026, 11, 1))
>>> entries.select("kind", "amount").rows()
[('top_up', Decimal('50.0000')), ('consumed', Decimal('-50.0000'))]
>>> applied.rows()
[('INV-1', Decimal('50.0000'))]
"""

from __future__ import annotations

from datetime import date

import polars as pl

from schemas.types import ROUNDED_AMOUNT

GRANT_SCHEMA: dict[str, pl.DataType] = {
    "credit_id": pl.String(),
    "customer_id": pl.String(),
    "currency": pl.String(),
    "amount": ROUNDED_AMOUNT,
    "granted_on": pl.Date(),
    "expires_on": pl.Date(),
}

ENTRY_SCHEMA: dict[str, pl.DataType] = {
    "credit_id": pl.String(),
    "customer_id": pl.String(),
    "currency": pl.String(),
    "entry_date": pl.Date(),
    "kind": pl.String(),
    "amount": ROUNDED_AMOUNT,
    "invoice_id": pl.String(),
}
"""One ledger entry (the ``wallet_ledger`` table adds the run that wrote it)."""

WALLET = ["customer_id", "currency"]


class EntryKind:
    TOP_UP = "top_up"
    EXPIRED = "expired"
    CONSUMED = "consumed"


def empty_ledger() -> pl.DataFrame:
    return pl.DataFrame(schema=ENTRY_SCHEMA)


def wallet_run(
    grants: pl.DataFrame, ledger: pl.DataFrame, invoices: pl.DataFrame, issue_date: date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The new ledger entries of a run issuing ``invoices`` on ``issue_date``, and each
    invoice's ``credits_applied`` (``invoice_id, credits_applied``; paid ones only).

    ``ledger`` holds the entries of earlier runs; ``invoices`` has ``invoice_id,
    customer_id`` (the recipient), ``currency, total``.
    """
    recorded = ledger.group_by("credit_id").agg(pl.col("amount").sum().alias("_left"))
    due = grants.filter(pl.col("granted_on") <= issue_date)
    top_ups = due.join(recorded, on="credit_id", how="anti").select(
        "credit_id",
        *WALLET,
        pl.col("granted_on").alias("entry_date"),
        pl.lit(EntryKind.TOP_UP).alias("kind"),
        "amount",
        pl.lit(None, dtype=pl.String).alias("invoice_id"),
    )
    balances = (
        due.join(recorded, on="credit_id", how="left")
        .with_columns(
            pl.when(pl.col("_left").is_null())
            .then(pl.col("amount"))
            .otherwise(pl.col("_left"))
            .cast(ROUNDED_AMOUNT)
            .alias("_left")
        )
        .filter(pl.col("_left") > 0)
    )
    lapsed = pl.col("expires_on").is_not_null() & (pl.col("expires_on") <= issue_date)
    expired = balances.filter(lapsed).select(
        "credit_id",
        *WALLET,
        pl.col("expires_on").alias("entry_date"),
        pl.lit(EntryKind.EXPIRED).alias("kind"),
        (-pl.col("_left")).cast(ROUNDED_AMOUNT).alias("amount"),
        pl.lit(None, dtype=pl.String).alias("invoice_id"),
    )
    consumed = _consumption(balances.filter(~lapsed), invoices, issue_date)
    entries = pl.concat(
        [frame.select(ENTRY_SCHEMA.keys()).cast(ENTRY_SCHEMA) for frame in (top_ups, expired)]
        + [consumed.select(ENTRY_SCHEMA.keys()).cast(ENTRY_SCHEMA)]
    ).sort("customer_id", "currency", "entry_date", "kind", "credit_id", "invoice_id")
    applied = (
        consumed.group_by("invoice_id")
        .agg((-pl.col("amount").sum()).cast(ROUNDED_AMOUNT).alias("credits_applied"))
        .sort("invoice_id")
    )
    return entries, applied


def _consumption(balances: pl.DataFrame, invoices: pl.DataFrame, issue_date: date) -> pl.DataFrame:
    """Grants paying invoices in order: grant ``i`` holds the wallet's money in
    ``[before_i, before_i + left_i)`` and invoice ``j`` asks for ``[asked_j, asked_j +
    total_j)`` (running sums); what one pays the other is the overlap of the two."""
    grants = (
        balances.sort(*WALLET, "expires_on", "granted_on", "credit_id", nulls_last=True)
        .with_columns(pl.col("_left").cum_sum().over(WALLET).alias("_upto"))
        .with_columns((pl.col("_upto") - pl.col("_left")).alias("_from"))
    )
    asked = (
        invoices.filter(pl.col("total") > 0)
        .sort(*WALLET, "invoice_id")
        .with_columns(pl.col("total").cum_sum().over(WALLET).alias("_asks_upto"))
        .with_columns((pl.col("_asks_upto") - pl.col("total")).alias("_asks_from"))
    )
    paid = (
        grants.select("credit_id", *WALLET, "_from", "_upto")
        .join(asked.select("invoice_id", *WALLET, "_asks_from", "_asks_upto"), on=WALLET)
        .with_columns(
            (
                pl.min_horizontal("_upto", "_asks_upto") - pl.max_horizontal("_from", "_asks_from")
            ).alias("_paid")
        )
        .filter(pl.col("_paid") > 0)
    )
    return paid.select(
        "credit_id",
        *WALLET,
        pl.lit(issue_date).alias("entry_date"),
        pl.lit(EntryKind.CONSUMED).alias("kind"),
        (-pl.col("_paid")).cast(ROUNDED_AMOUNT).alias("amount"),
        "invoice_id",
    )

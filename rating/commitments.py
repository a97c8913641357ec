"""Minimum commitments: a true-up line when a charge or a plan bills less than its minimum.

A charge's ``minimum`` compares with the rounded amounts of that charge's
lines (all dimension groups together); a plan's ``minimum_commitment`` with
every line of the subscription's period, discounts included. When the total
is below the minimum, one true-up line brings it exactly to the minimum; it is
never negative. Minimums are per billing period; a subscription covering only
part of its period (it starts or ends inside it) owes the minimum prorated by
days, exactly, unless its plan does not prorate (``proration: none``). A plan's
``term_commitment`` is a minimum spend over a contract term of several months
instead, trued up when the term closes (:func:`term_true_ups`).

Worked example: a charge with a minimum of 50.00 EUR rated 12.34 gets a
true-up of ``50.00 - 12.34 = 37.66``; one rated 80.00 gets none.

>>> import polars as pl
>>> from decimal import Decimal as D
>>> lines = pl.DataFrame({"subscription_id": ["s1", "s2"], "amount": [D("12.34"), D("80")]},
...                      schema_overrides={"amount": pl.Decimal(38, 4)})
>>> true_up_lines(lines.lazy(), D(50), "EUR").collect().rows()
[('s1', Decimal('37.660000000000000'), Decimal('37.6600'))]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import amount_lit, prorate, round_to_minor
from schemas.types import AMOUNT


def true_up_lines(
    lines: pl.LazyFrame,
    minimum: Decimal,
    currency: str,
    shares: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """``subscription_id, amount_exact, amount`` for each subscription billed under ``minimum``.

    ``lines`` holds the rounded amounts the minimum covers: ``subscription_id, amount``.
    ``shares`` (``subscription_id, _covered_days, _days``), when given, prorates the
    minimum of a subscription covering part of its period by days, exactly.
    """
    billed = lines.group_by("subscription_id").agg(
        pl.col("amount").sum().cast(AMOUNT).alias("billed")
    )
    owed = amount_lit(minimum)
    if shares is not None:
        billed = billed.join(shares, on="subscription_id", how="left")
        owed = _share_of(amount_lit(minimum), pl.col("_covered_days"), pl.col("_days"))
    shortfall = owed - pl.col("billed")
    return (
        billed.filter(shortfall > 0)
        .select(
            "subscription_id",
            shortfall.alias("amount_exact"),
            round_to_minor(shortfall, currency).alias("amount"),
        )
        .sort("subscription_id")
    )


def _share_of(minimum: pl.Expr, covered: pl.Expr, days: pl.Expr) -> pl.Expr:
    """What a minimum owes for ``covered`` of its period's ``days``: all of it, or that share
    exactly (:func:`rating.money.prorate`)."""
    return (
        pl.when(covered < days)
        .then(prorate(minimum, covered, days))
        .otherwise(minimum)
        .cast(AMOUNT)
    )


TERM_COMMITMENT = "term_commitment"
"""``charge_code`` and ``charge_model`` of a term's true-up line."""

TERM_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    "customer_id": pl.String(),
    "plan_code": pl.String(),
    "currency": pl.String(),
    "term_start": pl.Datetime("us", "UTC"),
    "term_end": pl.Datetime("us", "UTC"),
    "term_days": pl.Int32(),
    "covered_days": pl.Int32(),
    "commitment": AMOUNT,
}
"""A term that closes in a run: the subscription, its plan's commitment and the term's
``[term_start, term_end)`` (cut at the subscription's end when it ends first); a
subscription that joined the term late (co-terming) covers fewer of its days, and owes
that share of the commitment."""


@dataclass(frozen=True)
class TermCommitment:
    """A minimum spend over each term of ``months`` months of a subscription.

    The term follows the subscription's anniversary (its co-term date when it has
    one); the true-up is billed when the term closes, by the run of that month.
    """

    months: int
    amount: Decimal


def parse_term_commitment(raw: Any, path: str, problems: list[str]) -> TermCommitment | None:
    """``term_commitment: {months: 12, amount: 1200.00}``"""
    if not isinstance(raw, Mapping) or set(raw) != {"months", "amount"}:
        problems.append(f"{path}: expected {{months: <whole months>, amount: <minimum spend>}}")
        return None
    months = raw["months"]
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        problems.append(f"{path}.months: expected a whole number of months from 1 to 120")
        return None
    amount = params.fee(raw["amount"], f"{path}.amount", problems)
    if amount is None:
        return None
    if amount <= 0:
        problems.append(f"{path}.amount: must be positive")
        return None
    return TermCommitment(months, amount)


def term_true_ups(terms: pl.DataFrame, spend: pl.DataFrame) -> pl.DataFrame:
    """``terms`` (:data:`TERM_SCHEMA`) with ``amount_exact`` and ``amount``: what each
    term's spend falls short of its commitment (terms at or above it are dropped).

    ``spend`` holds every line billed to the subscriptions, in any run:
    ``subscription_id, period_start, currency, amount`` (rounded); a term's spend
    is its lines of service periods starting in the term, in the plan's currency.
    A term the subscription covers only from a later day owes the commitment
    prorated by days. Each currency rounds at its own minor unit.

    >>> from datetime import UTC, datetime
    >>> from decimal import Decimal as D
    >>> at = lambda month: datetime(2026, month, 1, tzinfo=UTC)
    >>> terms = pl.DataFrame([("s", "c", "p", "EUR", at(1), at(7), 181, 181, D("1000"))],
    ...     schema=TERM_SCHEMA, orient="row")
    >>> spend = pl.DataFrame({"subscription_id": ["s"] * 3, "period_start": [at(1), at(6),
    ...     at(7)], "currency": ["EUR"] * 3, "amount": [D("300"), D("450.55"), D("999")]},
    ...     schema_overrides={"amount": pl.Decimal(38, 4)})
    >>> term_true_ups(terms, spend).select("amount").item()
    Decimal('249.4500')
    """
    spent = (
        terms.select("subscription_id", "currency", "term_start", "term_end")
        .join(spend, on=["subscription_id", "currency"])
        .filter(pl.col("period_start").is_between("term_start", "term_end", closed="left"))
        .group_by("subscription_id", "term_start")
        .agg(pl.col("amount").sum().cast(AMOUNT).alias("_spent"))
    )
    owed = _share_of(pl.col("commitment"), pl.col("covered_days"), pl.col("term_days"))
    shortfall = owed - pl.col("_spent").fill_null(0)
    parts = [
        frame.with_columns(
            shortfall.cast(AMOUNT).alias("amount_exact"),
            round_to_minor(shortfall, currency).alias("amount"),
        )
        for (currency,), frame in terms.join(
            spent, on=["subscription_id", "term_start"], how="left"
        )
        .partition_by("currency", as_dict=True, maintain_order=True)
        .items()
    ]
    out = (
        pl.concat(parts)
        if parts
        else terms.with_columns(
            pl.lit(None, dtype=AMOUNT).alias("amount_exact"),
            pl.lit(None, dtype=AMOUNT).alias("amount"),
        )
    )
    return out.filter(pl.col("amount_exact") > 0).drop("_spent").sort("subscription_id")

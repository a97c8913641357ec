"""Prepaid credits (``rating.wallet``) against the plain-dict reference, over several runs.

Any grants (amounts, grant and expiry days, currencies, several per account) and
any invoices per monthly run: the same ledger entries and the same credits
applied per invoice as the reference, run after run; no grant ever goes below
zero, and what each grant took in, paid out and lost to expiry adds up.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from rating.wallet import ENTRY_SCHEMA, GRANT_SCHEMA, empty_ledger, wallet_run
from schemas.types import ROUNDED_AMOUNT
from tests.reference.wallet import reference_wallet_run

RUN_DAYS = [date(2026, month, 1) for month in range(2, 8)]
ACCOUNTS = ["a", "b", "c"]
CURRENCIES = ["EUR", "JPY"]
DAYS = st.dates(date(2026, 1, 1), date(2026, 7, 15))


def _money(cents: int) -> Decimal:
    return Decimal(cents).scaleb(-2)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list, list]:
    grants = []
    for i in range(draw(st.integers(0, 8))):
        granted = draw(DAYS)
        expires = draw(st.one_of(st.none(), st.dates(granted, date(2026, 9, 1))))
        expires = None if expires == granted else expires
        grants.append(
            (
                f"g{i}",
                draw(st.sampled_from(ACCOUNTS)),
                draw(st.sampled_from(CURRENCIES)),
                _money(draw(st.integers(1, 50_000))),
                granted,
                expires,
            )
        )
    runs = []
    for day in RUN_DAYS:
        invoices = [
            (
                f"INV-{day:%Y%m}-{j:03d}",
                draw(st.sampled_from(ACCOUNTS)),
                draw(st.sampled_from(CURRENCIES)),
                _money(draw(st.integers(-5_000, 40_000))),
            )
            for j in range(draw(st.integers(0, 5)))
        ]
        runs.append((day, invoices))
    return grants, runs


@given(history=histories())
def test_runs_move_the_wallets_like_the_reference(history: tuple[list, list]):
    grants, runs = history
    frame = pl.DataFrame(grants, schema=GRANT_SCHEMA, orient="row")
    ledger = empty_ledger()
    left: dict[str, Decimal] = {}
    for day, invoices in runs:
        bills = pl.DataFrame(
            invoices,
            schema={
                "invoice_id": pl.String,
                "customer_id": pl.String,
                "currency": pl.String,
                "total": ROUNDED_AMOUNT,
            },
            orient="row",
        )
        entries, applied = wallet_run(frame, ledger, bills, day)
        expected_entries, expected_applied = reference_wallet_run(grants, left, invoices, day)
        assert sorted(entries.rows(), key=repr) == sorted(expected_entries, key=repr)
        assert dict(applied.rows()) == expected_applied
        for invoice_id, _, _, total in invoices:
            assert expected_applied.get(invoice_id, Decimal(0)) <= max(total, Decimal(0))
        ledger = pl.concat([ledger, entries.cast(ENTRY_SCHEMA)])
    remaining = dict(ledger.group_by("credit_id").agg(pl.col("amount").sum()).rows())
    assert all(value >= 0 for value in remaining.values())
    assert remaining == {credit: value for credit, value in left.items()}

"""Account trees and consolidated invoices against plain-dict references.

For any generated forest (any depth, any mix of accounts billed alone and
consolidated into an ancestor, several countries' tax treatments, tax-inclusive
and exclusive plans, currencies with 0, 2 and 3 decimals):

* each account's root, depth, recipient and inherited co-term date are the
  reference's (``tests/reference/hierarchy.py``);
* every consolidated invoice's total is exactly the sum of what each of its
  accounts is billed alone (same tax rules), per currency; its subtotal and tax
  likewise; no line is lost or moved between currencies.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from aggregation.hierarchy import account_tree
from rating.invoice import invoice_run
from rating.tax import TaxConfig, treatments
from schemas.tables import RATED_CHARGE_SCHEMA
from tests.reference.hierarchy import ancestors, reference_accounts

TAX = TaxConfig("FR", {"FR": Decimal(20), "DE": Decimal(19), "IT": Decimal("22.5")})
PROFILES = [
    ("FR", None, False),
    ("DE", "DE123", False),
    ("DE", None, False),
    ("IT", None, False),
    ("US", None, False),
    ("FR", None, True),
]
MINOR_UNITS = {"EUR": 2, "JPY": 0, "BHD": 3}


@st.composite
def forests(draw: st.DrawFn) -> dict:
    size = draw(st.integers(1, 25))
    names = draw(st.permutations([f"acct-{i:02d}" for i in range(size)]))
    parents: dict[str, str | None] = {}
    for i, name in enumerate(names):
        # A parent drawn among earlier accounts: any shape of forest, never a cycle.
        parents[name] = draw(st.one_of(st.none(), st.sampled_from(names[:i]))) if i else None
    invoice_to = {
        name: draw(st.one_of(st.none(), st.sampled_from(ancestors(parents, name))))
        if parents[name]
        else None
        for name in names
    }
    coterm = {
        name: draw(st.one_of(st.none(), st.dates(date(2025, 1, 1), date(2027, 1, 1))))
        for name in names
    }
    profiles = {name: draw(st.sampled_from(PROFILES)) for name in names}
    lines = draw(
        st.lists(
            st.tuples(
                st.sampled_from(names),
                st.sampled_from(["net", "gross"]),
                st.sampled_from(sorted(MINOR_UNITS)),
                st.integers(-(10**7), 10**9),
            ),
            max_size=60,
        )
    )
    return {
        "parents": parents,
        "invoice_to": invoice_to,
        "coterm": coterm,
        "profiles": profiles,
        "lines": lines,
    }


def _accounts(world: dict) -> pl.DataFrame:
    names = list(world["parents"])
    return pl.DataFrame(
        {
            "customer_id": names,
            "parent_id": [world["parents"][n] for n in names],
            "invoice_to": [world["invoice_to"][n] for n in names],
            "coterm_date": [world["coterm"][n] for n in names],
        },
        schema={
            "customer_id": pl.String,
            "parent_id": pl.String,
            "invoice_to": pl.String,
            "coterm_date": pl.Date,
        },
    )


def _customers(world: dict, accounts: pl.DataFrame | None) -> pl.DataFrame:
    names = list(world["parents"])
    profiles = world["profiles"]
    customers = pl.DataFrame(
        {
            "customer_id": names,
            "name": names,
            "timezone": ["UTC"] * len(names),
            "country": [profiles[n][0] for n in names],
            "vat_id": [profiles[n][1] for n in names],
            "tax_exempt": [profiles[n][2] for n in names],
        },
        schema_overrides={"vat_id": pl.String},
    )
    return customers if accounts is None else customers.join(accounts, on="customer_id")


def _rated(lines: list[tuple[str, str, str, int]]) -> pl.DataFrame:
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    rows = [
        {
            "run_id": "run",
            "billing_period": "2026-10",
            "subscription_id": f"s-{account}-{plan}",
            "customer_id": account,
            "plan_code": plan,
            "charge_code": f"c{i:03d}",
            "charge_name": "charge",
            "charge_position": i,
            "charge_model": "flat_fee",
            "meter_code": None,
            "period_start": start,
            "period_end": end,
            "dimensions": "{}",
            "quantity": Decimal(1),
            "event_count": 0,
            "amount_exact": Decimal(minor).scaleb(-MINOR_UNITS[currency]),
            "amount": Decimal(minor).scaleb(-MINOR_UNITS[currency]),
            "currency": currency,
            "tier_breakdown": None,
            "prorated_days": None,
            "period_days": None,
            "adjusted_period": None,
        }
        for i, (account, plan, currency, minor) in enumerate(lines)
    ]
    return pl.DataFrame(rows, schema=RATED_CHARGE_SCHEMA)


def _bill(rated: pl.DataFrame, customers: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    return invoice_run(
        rated, customers, treatments(customers, TAX), {"gross"}, "2026-10", date(2026, 11, 1)
    )


@given(world=forests())
def test_trees_are_the_references(world: dict):
    tree = account_tree(_accounts(world))
    expected = reference_accounts(world["parents"], world["invoice_to"], world["coterm"])
    got = {
        row[0]: row[2:]
        for row in tree.accounts.select(
            "customer_id", "parent_id", "root_id", "depth", "bill_to", "coterm_date"
        ).iter_rows()
    }
    assert got == expected
    closure = {(a, b) for a, b, d in tree.ancestors.iter_rows() if d > 0}
    assert closure == {(n, a) for n in world["parents"] for a in ancestors(world["parents"], n)}


@given(world=forests())
def test_a_consolidated_invoice_is_the_sum_of_its_accounts_billed_alone(world: dict):
    rated = _rated(world["lines"])
    tree = account_tree(_accounts(world))
    lines, invoices = _bill(rated, _customers(world, tree.accounts))
    recipient = dict(tree.accounts.select("customer_id", "bill_to").iter_rows())
    alone: dict[tuple[str, str], list[Decimal]] = {}
    flat = _customers(world, None)
    for account in world["parents"]:
        _, own = _bill(rated.filter(pl.col("customer_id") == account), flat)
        for currency, subtotal, tax, total in own.select(
            "currency", "subtotal", "tax_total", "total"
        ).iter_rows():
            sums = alone.setdefault((recipient[account], currency), [Decimal(0)] * 3)
            for k, value in enumerate((subtotal, tax, total)):
                sums[k] += value
    got = {
        (to, currency): [subtotal, tax, total]
        for to, currency, subtotal, tax, total in invoices.select(
            "customer_id", "currency", "subtotal", "tax_total", "total"
        ).iter_rows()
    }
    assert got == alone
    assert lines.height == rated.height
    assert invoices["line_count"].sum() == rated.height if rated.height else invoices.is_empty()
    routed = lines.join(invoices.select("invoice_id", "customer_id"), on="invoice_id", suffix="_to")
    assert all(
        recipient[a] == to for a, to in routed.select("customer_id", "customer_id_to").rows()
    )

"""Term commitments, worked out by hand, October 2025 to January 2026. Plan ``committed``:
1.00 a call, billed monthly on the calendar, with a minimum spend of 100.00 per 3-month
term from the subscription's first day (its co-term date when it has one).

* a (from 1 October): 20 + 30 + 10 calls = 60.00 over October-December; the term closes
  on 1 January, so the December run bills 10.00 + a 40.00 true-up = 50.00.
* b (from 1 October): 50 + 40 + 20 = 110.00, above the commitment: no true-up.
* d (1 October to 15 November): the term closes with the subscription on 15 November,
  5.00 + 3.00 = 8.00 spent, the commitment owed in full: the November run bills 3.00 +
  92.00.
* e (from 16 October, its account co-termed on 1 September): its first term is
  1 September - 1 December 2025, of which it covers 46 of 91 days: 100.00 x 46 / 91 =
  50.549... -> 50.55 owed; 5.00 + 10.00 spent; the November run bills 10.00 + 35.55.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import parse_catalog_text
from schemas.errors import CatalogError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: committed
    currency: EUR
    charges:
      - {code: calls, meter: calls, model: per_unit, unit_price: 1.00}
    term_commitment: {months: 3, amount: 100.00}
"""
)
CUSTOMERS = """customer_id,name,timezone,coterm_date
a,A,UTC,
b,B,UTC,
d,D,UTC,
e,E,UTC,2025-09-01
"""
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date,end_date
s-a,a,committed,2025-10-01,
s-b,b,committed,2025-10-01,
s-d,d,committed,2025-10-01,2025-11-15
s-e,e,committed,2025-10-16,
"""
CALLS = {
    "a": (20, 30, 10),
    "b": (50, 40, 20),
    "d": (5, 3, 0),
    "e": (5, 10, 2),
}


def _events() -> list:
    events = []
    for customer, counts in CALLS.items():
        for month, count in zip((10, 11, 12), counts, strict=True):
            day = 20 if customer == "e" or month != 11 else 5  # d ends on 15 November
            # (2025: events in the future would be quarantined as far-future)
            events += [
                (
                    f"{customer}-{month}-{i}",
                    customer,
                    "call",
                    datetime(2025, month, day, 1, i, tzinfo=UTC),
                )
                for i in range(count)
            ]
    return events


@pytest.mark.integration
def test_a_term_closing_bills_the_shortfall_of_its_commitment(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.ingest(_events())
    world.bill("2025-10", "2025-11", "2025-12", "2026-01")
    assert world.query("SELECT billing_period, customer_id, total FROM invoices ORDER BY 1, 2") == [
        ("2025-10", "a", D("20.00")),
        ("2025-10", "b", D("50.00")),
        ("2025-10", "d", D("5.00")),
        ("2025-10", "e", D("5.00")),
        ("2025-11", "a", D("30.00")),
        ("2025-11", "b", D("40.00")),
        ("2025-11", "d", D("95.00")),
        ("2025-11", "e", D("45.55")),
        ("2025-12", "a", D("50.00")),
        ("2025-12", "b", D("20.00")),
        ("2025-12", "e", D("2.00")),
        ("2026-01", "a", D("0.00")),
        ("2026-01", "b", D("0.00")),
        ("2026-01", "e", D("0.00")),
    ]
    assert world.query(
        "SELECT billing_period, subscription_id, period_start::DATE, period_end::DATE, amount, "
        "prorated_days, period_days FROM rated_charges WHERE charge_model = 'term_commitment' "
        "ORDER BY 1, 2"
    ) == [
        ("2025-11", "s-d", *_dates("2025-10-01", "2025-11-15"), D("92.00"), None, None),
        ("2025-11", "s-e", *_dates("2025-09-01", "2025-12-01"), D("35.55"), 46, 91),
        ("2025-12", "s-a", *_dates("2025-10-01", "2026-01-01"), D("40.00"), None, None),
    ]


def _dates(*days: str) -> tuple:
    return tuple(datetime.fromisoformat(day).date() for day in days)


@pytest.mark.parametrize(
    ("term", "problem"),
    [
        ("{months: 0, amount: 10}", "plans.p.term_commitment.months: expected a whole number"),
        ("{months: 3, amount: -10}", "plans.p.term_commitment.amount"),
        ("{months: 3}", "plans.p.term_commitment: expected {months:"),
    ],
)
def test_a_bad_term_commitment_is_named_by_its_path(term: str, problem: str):
    catalog = f"""
event_types: {{call: {{}}}}
meters: [{{code: calls, event_type: call, aggregation: count}}]
plans:
  - code: p
    currency: EUR
    charges: [{{code: fee, model: flat_fee, amount: 10}}]
    term_commitment: {term}
"""
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(catalog, "catalog.yaml")
    assert problem in str(error.value)

"""Adjustments: a late event and a termination entered after billing, worked out by hand.

Plan ``basic``: a 31.00 EUR monthly fee in advance and calls at 0.125 EUR, in
arrears. Customers a, b and c subscribe from 1 September 2026.

1. Batch 1 holds October calls: a on 5 and 6 Oct, b on 7 Oct, c on 8 Oct.
2. The September run bills each customer September's fee (the first period, due
   on its start) and October's (due on 1 Oct): 31.00 + 31.00, calls 0.00.
3. The October run bills November's fee, 31.00, and October's calls:
   a 2 x 0.125 = 0.25; b and c 0.125 -> 0.13.
4. Then a late call of a on 20 Oct arrives (batch 2), and b's subscription is
   terminated effective 11 Oct (an end date is added to subscriptions.csv).
5. The November run bills December's fee to a and c (31.00, calls 0.00) and
   adjusts, never editing the issued invoices:
   - a, October (late event): calls 3 x 0.125 = 0.375 -> 0.38, billed 0.25: +0.13;
   - b, September run: October's fee is now 10 of 31 days, 31 x 10 / 31 = 10.00,
     billed 31.00: -21.00;
   - b, October run: no November period any more, billed 31.00: -31.00;
     October's calls (7 Oct, before the end) unchanged.
   So a: 31.00 + 0.00 + 0.13 = 31.13; b: -52.00 (a credit); c: 31.00.
6. Running November again adds nothing; December adjusts nothing more.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.scenario import Scenario, scenario

D = Decimal

CATALOG = """
event_types:
  call: {}
meters:
  - {code: calls, event_type: call, aggregation: count}
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 31.00, timing: in_advance}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.125}
"""
CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,UTC\nc,C,UTC\n"
SUBSCRIPTIONS = "subscription_id,customer_id,plan_code,start_date,end_date\n{rows}"
OPEN = "s-a,a,basic,2026-09-01,\ns-b,b,basic,2026-09-01,\ns-c,c,basic,2026-09-01,\n"
B_ENDS = "s-a,a,basic,2026-09-01,\ns-b,b,basic,2026-09-01,2026-10-11\ns-c,c,basic,2026-09-01,\n"

FIRST = [
    ("a1", "a", datetime(2026, 10, 5, tzinfo=UTC)),
    ("a2", "a", datetime(2026, 10, 6, tzinfo=UTC)),
    ("b1", "b", datetime(2026, 10, 7, tzinfo=UTC)),
    ("c1", "c", datetime(2026, 10, 8, tzinfo=UTC)),
]
LATE = [("a3", "a", datetime(2026, 10, 20, tzinfo=UTC))]


def calls(events: list[tuple]) -> list[tuple]:
    return [(event_id, customer, "call", ts) for event_id, customer, ts in events]


@pytest.fixture(scope="module")
def billing(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    world = scenario(
        tmp_path_factory.mktemp("adjust"), CATALOG, CUSTOMERS, SUBSCRIPTIONS.format(rows=OPEN)
    )
    world.ingest(calls(FIRST), "first")
    world.bill("2026-09", "2026-10")
    world.ingest(calls(LATE), "late")
    world.write("subscriptions.csv", SUBSCRIPTIONS.format(rows=B_ENDS))
    world.bill("2026-11")
    return world


def totals(billing: Scenario, period: str) -> dict[str, Decimal]:
    rows = billing.query(
        "SELECT customer_id, total FROM invoices WHERE billing_period = ? ORDER BY 1", [period]
    )
    return dict(rows)


@pytest.mark.integration
def test_issued_invoices_are_untouched(billing: Scenario):
    assert totals(billing, "2026-09") == {"a": D("62.00"), "b": D("62.00"), "c": D("62.00")}
    assert totals(billing, "2026-10") == {"a": D("31.25"), "b": D("31.13"), "c": D("31.13")}


@pytest.mark.integration
def test_the_next_run_bills_the_differences_as_adjustment_lines(billing: Scenario):
    assert totals(billing, "2026-11") == {"a": D("31.13"), "b": D("-52.00"), "c": D("31.00")}
    adjustments = billing.query(
        """
        SELECT customer_id, adjusted_period, charge_code, strftime(period_start, '%Y-%m-%d'),
               quantity, amount
        FROM rated_charges WHERE billing_period = '2026-11' AND adjusted_period IS NOT NULL
        ORDER BY ALL
        """
    )
    assert adjustments == [
        ("a", "2026-10", "calls", "2026-10-01", D("1"), D("0.13")),
        ("b", "2026-09", "fee", "2026-10-01", D("0"), D("-21.00")),
        ("b", "2026-10", "fee", "2026-11-01", D("-1"), D("-31.00")),
    ]
    descriptions = billing.query(
        "SELECT description FROM invoice_lines l JOIN invoices i USING (invoice_id) "
        "WHERE i.billing_period = '2026-11' AND i.customer_id = 'b' ORDER BY line_number"
    )
    assert descriptions == [("Adjustment 2026-09: fee",), ("Adjustment 2026-10: fee",)]


@pytest.mark.integration
def test_the_run_counts_what_it_adjusted(billing: Scenario):
    assert billing.query(
        "SELECT periods_adjusted, adjustment_count FROM billing_runs "
        "WHERE billing_period = '2026-11'"
    ) == [(2, 3)]


@pytest.mark.integration
def test_running_again_adds_nothing_and_the_next_period_adjusts_nothing(billing: Scenario):
    before = billing.query("SELECT count(*) FROM rated_charges")
    [again] = billing.bill("2026-11")
    assert again.already_done
    assert billing.query("SELECT count(*) FROM rated_charges") == before
    [december] = billing.bill("2026-12")
    assert december.counts["periods_adjusted"] == 0
    assert totals(billing, "2026-12") == {"a": D("31.00"), "c": D("31.00")}


@pytest.mark.integration
def test_a_price_fixed_in_the_catalog_is_adjusted_for_every_customer(tmp_path: Path):
    """October's calls were billed at 0.125 by mistake; the catalog is fixed to 0.15 before
    November's run: a +0.025 per call for October, a, 2 calls: 0.30 - 0.25 = +0.05; b and c,
    1 call: 0.15 - 0.13 = +0.02. The fees did not change: no line for them."""
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS.format(rows=OPEN))
    world.ingest(calls(FIRST), "first")
    world.bill("2026-10")
    world.write("catalog.yaml", CATALOG.replace("unit_price: 0.125", "unit_price: 0.15"))
    [november] = world.bill("2026-11")
    assert november.counts["periods_adjusted"] == 1
    assert world.query(
        "SELECT customer_id, charge_code, amount FROM rated_charges "
        "WHERE adjusted_period = '2026-10' ORDER BY 1"
    ) == [("a", "calls", D("0.05")), ("b", "calls", D("0.02")), ("c", "calls", D("0.02"))]

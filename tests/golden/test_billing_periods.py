"""Billing periods over four monthly runs (January to April 2026), every amount worked out by hand.

Each customer holds one subscription that shows one rule of
docs/billing-periods.md: calendar vs anniversary periods, a month-end
anniversary, first and last period proration, fees in advance vs in arrears,
a quarterly plan with a monthly fee, a one-time fee, a weekly fee and a plan
that does not prorate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: calendar
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 31.00}
  - code: anniversary
    currency: EUR
    alignment: anniversary
    charges:
      - {code: fee, model: flat_fee, amount: 30.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
  - code: advance
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 28.00, timing: in_advance}
  - code: quarterly
    currency: EUR
    billing_period: quarter
    charges:
      - {code: setup, model: one_shot, amount: 5.00}
      - {code: platform, model: flat_fee, amount: 90.00}
      - {code: seat, model: flat_fee, amount: 10.00, billing_period: month, timing: in_advance}
  - code: whole
    currency: EUR
    proration: none
    charges:
      - {code: fee, model: flat_fee, amount: 20.00}
  - code: weekly
    currency: EUR
    charges:
      - {code: week, model: flat_fee, amount: 7.00, billing_period: week}
"""
)

CUSTOMERS = """customer_id,name,timezone
cal,Calendar SARL,Europe/Paris
ann,Anniversary Ltd,UTC
adv,Advance GmbH,UTC
qtr,Quarterly BV,UTC
whole,Whole Oy,UTC
wk,Weekly AB,UTC
"""

SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date,end_date
s-cal,cal,calendar,2026-01-10,2026-03-20
s-ann,ann,anniversary,2026-01-31,
s-adv,adv,advance,2026-01-15,2026-04-16
s-qtr,qtr,quarterly,2026-02-01,
s-whole,whole,whole,2026-01-20,
s-wk,wk,weekly,2026-01-01,
"""

# The anniversary customer's calls. Periods run 31 Jan -> 28 Feb -> 31 Mar -> 30 Apr.
EVENTS = [
    ("a1", "ann", "call", datetime(2026, 2, 10, 12, tzinfo=UTC)),  # [31 Jan, 28 Feb): Feb run
    ("a2", "ann", "call", datetime(2026, 2, 28, tzinfo=UTC)),  # [28 Feb, 31 Mar): Mar run
    ("a3", "ann", "call", datetime(2026, 3, 30, 23, tzinfo=UTC)),  # [28 Feb, 31 Mar): Mar run
    ("a4", "ann", "call", datetime(2026, 3, 31, tzinfo=UTC)),  # [31 Mar, 30 Apr): Apr run
]

# (customer, charge, first local day billed, amount, prorated days, period days) per run.
#
# cal: calendar month, in arrears, 10 Jan to 20 Mar (Europe/Paris days):
#   Jan 22 of 31 days: 31.00 x 22 / 31 = 22.00; Feb whole: 31.00; Mar 19 of 31: 19.00.
# ann: anniversary from 31 Jan, in arrears: each period whole, billed in the month it
#   ends: 28 Feb (Feb run), 31 Mar (Mar run), 30 Apr (Apr run); 30.00 + 1.00 per call.
# adv: calendar month, in advance, 15 Jan to 16 Apr:
#   Jan run: first period due on its start, 17 of 31 days: 28 x 17 / 31 = 15.354.. -> 15.35,
#            and February's, due on 1 Feb (the run's invoice date): 28.00;
#   Feb run: March's, 28.00; Mar run: April's, 15 of 30 days: 28 x 15 / 30 = 14.00.
# qtr: calendar quarter from 1 Feb: setup 5.00 in the start month (Feb run); the seat
#   monthly in advance: Feb run bills February (first period) and March (due 1 Mar), Mar
#   run April's, Apr run May's; the platform fee for Q1 closes on 1 Apr (Mar run):
#   59 of 90 days, 90.00 x 59 / 90 = 59.00.
# whole: proration none: January in full, 20.00, although it starts on 20 Jan.
# wk: weekly calendar (Monday) weeks in arrears from Thursday 1 Jan: the week from
#   29 Dec covers 4 of 7 days, 4.00; the weeks ending 12, 19 and 26 Jan are whole;
#   the week ending 2 Feb is billed by the February run (it ends on 2 Feb).
JANUARY = [
    ("adv", "fee", "2026-01-15", D("15.35"), 17, 31),
    ("adv", "fee", "2026-02-01", D("28.00"), None, None),
    ("cal", "fee", "2026-01-10", D("22.00"), 22, 31),
    ("whole", "fee", "2026-01-20", D("20.00"), None, None),
    ("wk", "week", "2026-01-01", D("4.00"), 4, 7),
    ("wk", "week", "2026-01-05", D("7.00"), None, None),
    ("wk", "week", "2026-01-12", D("7.00"), None, None),
    ("wk", "week", "2026-01-19", D("7.00"), None, None),
]
FEBRUARY = [
    ("adv", "fee", "2026-03-01", D("28.00"), None, None),
    ("ann", "fee", "2026-01-31", D("30.00"), None, None),
    ("ann", "calls", "2026-01-31", D("1.00"), None, None),
    ("cal", "fee", "2026-02-01", D("31.00"), None, None),
    ("qtr", "setup", "2026-02-01", D("5.00"), None, None),
    ("qtr", "seat", "2026-02-01", D("10.00"), None, None),
    ("qtr", "seat", "2026-03-01", D("10.00"), None, None),
    ("whole", "fee", "2026-02-01", D("20.00"), None, None),
    ("wk", "week", "2026-01-26", D("7.00"), None, None),
    ("wk", "week", "2026-02-02", D("7.00"), None, None),
    ("wk", "week", "2026-02-09", D("7.00"), None, None),
    ("wk", "week", "2026-02-16", D("7.00"), None, None),
]
MARCH = [
    ("adv", "fee", "2026-04-01", D("14.00"), 15, 30),
    ("ann", "fee", "2026-02-28", D("30.00"), None, None),
    ("ann", "calls", "2026-02-28", D("2.00"), None, None),
    ("cal", "fee", "2026-03-01", D("19.00"), 19, 31),
    ("qtr", "platform", "2026-02-01", D("59.00"), 59, 90),
    ("qtr", "seat", "2026-04-01", D("10.00"), None, None),
    ("whole", "fee", "2026-03-01", D("20.00"), None, None),
    ("wk", "week", "2026-02-23", D("7.00"), None, None),
    ("wk", "week", "2026-03-02", D("7.00"), None, None),
    ("wk", "week", "2026-03-09", D("7.00"), None, None),
    ("wk", "week", "2026-03-16", D("7.00"), None, None),
    ("wk", "week", "2026-03-23", D("7.00"), None, None),
]
APRIL = [
    ("ann", "fee", "2026-03-31", D("30.00"), None, None),
    ("ann", "calls", "2026-03-31", D("1.00"), None, None),
    ("qtr", "seat", "2026-05-01", D("10.00"), None, None),
    ("whole", "fee", "2026-04-01", D("20.00"), None, None),
    ("wk", "week", "2026-03-30", D("7.00"), None, None),
    ("wk", "week", "2026-04-06", D("7.00"), None, None),
    ("wk", "week", "2026-04-13", D("7.00"), None, None),
    ("wk", "week", "2026-04-20", D("7.00"), None, None),
]
RUNS = {"2026-01": JANUARY, "2026-02": FEBRUARY, "2026-03": MARCH, "2026-04": APRIL}


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = scenario(tmp_path_factory.mktemp("periods"), CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.ingest(EVENTS)
    world.bill(*RUNS)
    return world.db


def _lines(db: Path, period: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            """
            SELECT customer_id, charge_code, period_start, amount, prorated_days, period_days
            FROM rated_charges WHERE billing_period = ?
            ORDER BY customer_id, charge_code, period_start
            """,
            [period],
        ).fetchall()


def _local_day(customer: str, instant: datetime) -> str:
    zone = "Europe/Paris" if customer == "cal" else "UTC"
    return pl.Series([instant]).dt.convert_time_zone(zone).dt.date().item().isoformat()


@pytest.mark.integration
@pytest.mark.parametrize("period", list(RUNS))
def test_each_run_bills_the_periods_due_in_it(billed: Path, period: str):
    got = [
        (customer, charge, _local_day(customer, start), amount, prorated, days)
        for customer, charge, start, amount, prorated, days in _lines(billed, period)
    ]
    assert got == sorted(RUNS[period], key=lambda line: line[:3])


@pytest.mark.integration
def test_invoice_totals_are_the_sums_of_the_lines(billed: Path):
    with duckdb.connect(str(billed), read_only=True) as con:
        rows = con.execute(
            "SELECT billing_period, customer_id, total FROM invoices ORDER BY ALL"
        ).fetchall()
    expected: dict[tuple[str, str], Decimal] = {}
    for period, lines in RUNS.items():
        for customer, _, _, amount, _, _ in lines:
            expected[period, customer] = expected.get((period, customer), D(0)) + amount
    assert {(period, customer): total for period, customer, total in rows} == expected


@pytest.mark.integration
def test_anniversary_events_outside_the_closing_period_wait_for_their_run(billed: Path):
    """Calls of 28 Feb belong to the period closing on 31 Mar: out of the February run's
    period, never quarantined as if no subscription were active."""
    with duckdb.connect(str(billed), read_only=True) as con:
        quarantined = con.execute("SELECT count(*) FROM quarantine").fetchone()
        runs = con.execute(
            "SELECT billing_period, events_rated, events_out_of_period FROM billing_runs "
            "ORDER BY billing_period"
        ).fetchall()
    assert quarantined == (0,)
    # A run reads the dates of its month and of every usage period it closes.
    # Feb: reads a1 a2; rates a1.  Mar: the quarterly plan's Q1 reaches back to 1 Feb, so
    # it reads a1..a4 and rates a2 a3.  Apr: reads a4 and rates it.
    assert runs == [
        ("2026-01", 0, 0),
        ("2026-02", 1, 1),
        ("2026-03", 2, 2),
        ("2026-04", 1, 0),
    ]

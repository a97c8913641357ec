"""Lifecycle changes (changes.csv) over October and November 2026, worked out by hand.

Plans: ``basic`` 31.00 EUR a month and calls at 1.00; ``pro`` 62.00 and calls
at 0.50; both calendar months, in arrears, prorated by day. Every subscription
starts on 1 September. October has 31 days, November 30.

* up: basic -> pro from 11 Oct (upgrade). October: basic 31 x 10/31 = 10.00 and a
  call on 5 Oct 1.00; pro 62 x 21/31 = 42.00 and a call on 20 Oct 0.50 -> 53.50.
  November: pro 62.00.
* down: pro -> basic from 21 Oct (downgrade). October: pro 62 x 20/31 = 40.00,
  basic 31 x 11/31 = 11.00 -> 51.00. November: basic 31.00.
* qty: quantity 1 -> 3 from 17 Oct. October: 31 x 1 x 16/31 = 16.00 and
  31 x 3 x 15/31 = 45.00 -> 61.00. November: 93.00.
* pause: paused 8 Oct, resumed 22 Oct. October: 7 days 7.00, no fee while paused,
  10 days 10.00; a call on 15 Oct (while paused) is still billed, 1.00 -> 18.00.
  November: 31.00.
* term: termination requested 5 Oct with 30 days' notice: ends 4 Nov. October:
  31.00. November: 3 of 30 days, 31 x 3/30 = 3.10. The reason is kept.
* tra -> trb: transferred on 16 Oct. tra, October: 31 x 15/31 = 15.00 and a call on
  10 Oct 1.00 -> 16.00; trb, October: 31 x 16/31 = 16.00 and a call on 20 Oct
  1.00 -> 17.00; November: trb 31.00, tra nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 31.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
  - code: pro
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 62.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.5}
"""
)
NAMES = ("up", "down", "qty", "pause", "term", "tra", "trb")
CUSTOMERS = "customer_id,name,timezone\n" + "".join(f"{n},{n.upper()},UTC\n" for n in NAMES)
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-up,up,basic,2026-09-01
s-down,down,pro,2026-09-01
s-qty,qty,basic,2026-09-01
s-pause,pause,basic,2026-09-01
s-term,term,basic,2026-09-01
s-tr,tra,basic,2026-09-01
"""
CHANGES = """subscription_id,effective_date,change,value,reason
s-up,2026-10-11,change_plan,pro,upgrade
s-down,2026-10-21,change_plan,basic,downgrade
s-qty,2026-10-17,change_quantity,3,
s-pause,2026-10-22,resume,,
s-pause,2026-10-08,pause,,holiday
s-term,2026-10-05,terminate,30 days,moving to a competitor
s-tr,2026-10-16,transfer,trb,acquired
"""
EVENTS = [
    ("u1", "up", datetime(2026, 10, 5, tzinfo=UTC)),
    ("u2", "up", datetime(2026, 10, 20, tzinfo=UTC)),
    ("p1", "pause", datetime(2026, 10, 15, tzinfo=UTC)),
    ("t1", "tra", datetime(2026, 10, 10, tzinfo=UTC)),
    ("t2", "trb", datetime(2026, 10, 20, tzinfo=UTC)),
]

OCTOBER = {
    "up": D("53.50"),
    "down": D("51.00"),
    "qty": D("61.00"),
    "pause": D("18.00"),
    "term": D("31.00"),
    "tra": D("16.00"),
    "trb": D("17.00"),
}
NOVEMBER = {
    "up": D("62.00"),
    "down": D("31.00"),
    "qty": D("93.00"),
    "pause": D("31.00"),
    "term": D("3.10"),
    "trb": D("31.00"),
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = scenario(
        tmp_path_factory.mktemp("lifecycle"), CATALOG, CUSTOMERS, SUBSCRIPTIONS, CHANGES
    )
    world.ingest([(event_id, customer, "call", ts) for event_id, customer, ts in EVENTS])
    world.bill("2026-10", "2026-11")
    return world.db


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


@pytest.mark.integration
@pytest.mark.parametrize(("period", "expected"), [("2026-10", OCTOBER), ("2026-11", NOVEMBER)])
def test_invoices_match_hand_computed_totals(db: Path, period: str, expected: dict):
    totals = query(db, "SELECT customer_id, total FROM invoices WHERE billing_period = ?", [period])
    assert dict(totals) == expected


@pytest.mark.integration
def test_an_upgrade_bills_each_plan_for_its_days(db: Path):
    lines = query(
        db,
        """
        SELECT plan_code, charge_code, strftime(period_start, '%d'), strftime(period_end, '%d'),
               amount, prorated_days, period_days
        FROM rated_charges WHERE billing_period = '2026-10' AND subscription_id = 's-up'
        ORDER BY period_start, charge_code
        """,
    )
    assert lines == [
        ("basic", "calls", "01", "11", D("1.00"), None, None),
        ("basic", "fee", "01", "11", D("10.00"), 10, 31),
        ("pro", "calls", "11", "01", D("0.50"), None, None),
        ("pro", "fee", "11", "01", D("42.00"), 21, 31),
    ]


@pytest.mark.integration
def test_segments_and_the_termination_reason_are_stored(db: Path):
    segments = query(
        db,
        """
        SELECT subscription_id, strftime(start_date, '%m-%d'), strftime(end_date, '%m-%d'),
               customer_id, plan_code, item_quantity, paused, end_reason
        FROM contract_segments WHERE run_id LIKE 'run-2026-11-%' ORDER BY ALL
        """,
    )
    assert segments == [
        ("s-down", "09-01", "10-21", "down", "pro", 1, False, "change_plan: downgrade"),
        ("s-down", "10-21", None, "down", "basic", 1, False, None),
        ("s-pause", "09-01", "10-08", "pause", "basic", 1, False, "pause: holiday"),
        ("s-pause", "10-08", "10-22", "pause", "basic", 1, True, "resume"),
        ("s-pause", "10-22", None, "pause", "basic", 1, False, None),
        ("s-qty", "09-01", "10-17", "qty", "basic", 1, False, "change_quantity"),
        ("s-qty", "10-17", None, "qty", "basic", 3, False, None),
        (
            "s-term",
            "09-01",
            "11-04",
            "term",
            "basic",
            1,
            False,
            "terminate: moving to a competitor",
        ),
        ("s-tr", "09-01", "10-16", "tra", "basic", 1, False, "transfer: acquired"),
        ("s-tr", "10-16", None, "trb", "basic", 1, False, None),
        ("s-up", "09-01", "10-11", "up", "basic", 1, False, "change_plan: upgrade"),
        ("s-up", "10-11", None, "up", "pro", 1, False, None),
    ]


@pytest.mark.integration
def test_every_event_is_rated_once(db: Path):
    runs = query(
        db,
        "SELECT billing_period, events_read, events_rated, events_quarantined "
        "FROM billing_runs ORDER BY 1",
    )
    assert runs[0] == ("2026-10", 5, 5, 0)


@pytest.mark.integration
def test_a_trial_bills_no_fee_until_it_ends(tmp_path: Path):
    """s-t starts 1 Oct with a 14-day trial: no fee for 1-14 Oct, then 31 x 17/31 = 17.00;
    its call on 5 Oct (in the trial) is billed, 1.00. s-u's trial of 40 days from 1 Oct
    ends on 10 Nov: October no fee; November from the 10th, 21 of 30 days, 31 x 21/30 = 21.70."""
    world = scenario(
        tmp_path,
        CATALOG,
        "customer_id,name,timezone\nt,T,UTC\nu,U,UTC\n",
        "subscription_id,customer_id,plan_code,start_date,trial_days\n"
        "s-t,t,basic,2026-10-01,14\ns-u,u,basic,2026-10-01,40\n",
    )
    world.ingest([("t1", "t", "call", datetime(2026, 10, 5, tzinfo=UTC))])
    world.bill("2026-10", "2026-11")
    db = world.db
    totals = query(db, "SELECT billing_period, customer_id, total FROM invoices ORDER BY 1, 2")
    assert totals == [
        ("2026-10", "t", D("18.00")),
        ("2026-10", "u", D("0.00")),
        ("2026-11", "t", D("31.00")),
        ("2026-11", "u", D("21.70")),
    ]
    assert query(
        db,
        "SELECT subscription_id, strftime(end_date, '%m-%d'), paused, end_reason "
        "FROM contract_segments WHERE run_id LIKE 'run-2026-11-%' ORDER BY ALL",
    ) == [
        ("s-t", "10-15", True, "trial"),
        ("s-t", None, False, None),
        ("s-u", "11-10", True, "trial"),
        ("s-u", None, False, None),
    ]


@pytest.mark.integration
def test_a_change_of_billing_period_bills_the_new_period_when_it_closes(tmp_path: Path):
    """s-bp moves from monthly ``basic`` to ``quarterly`` (93.00 a calendar quarter) on 1 Nov.
    October: basic 31.00. November: nothing is due. December closes Q4 (92 days), of which
    the subscription is quarterly for 61: 93 x 61/92 = 61.663... -> 61.66."""
    catalog = CATALOG + (
        "  - code: quarterly\n    currency: EUR\n    billing_period: quarter\n"
        "    charges:\n      - {code: fee, model: flat_fee, amount: 93.00}\n"
    )
    world = scenario(
        tmp_path,
        catalog,
        "customer_id,name,timezone\nbp,BP,UTC\n",
        "subscription_id,customer_id,plan_code,start_date\ns-bp,bp,basic,2026-09-01\n",
        "subscription_id,effective_date,change,value,reason\n"
        "s-bp,2026-11-01,change_plan,quarterly,\n",
    )
    world.bill("2026-10", "2026-11", "2026-12")
    assert world.query("SELECT billing_period, total FROM invoices ORDER BY 1") == [
        ("2026-10", D("31.00")),
        ("2026-12", D("61.66")),
    ]

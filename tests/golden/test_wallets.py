"""Prepaid credits, worked out by hand. Plan ``basic``: 31.00 a month, invoices dated the
first day of the next month.

* a: 20.00 granted on 5 October. The October invoice (31.00, 1 November) takes it all
  and 11.00 is due.
* b: b1 50.00 granted 15 September, expiring 1 December; b2 10.00 granted 10 October,
  never expiring. October: the soonest to expire pays first, b1 31.00 (19.00 left), due
  0.00. November (invoice of 1 December): b1 expires that day, 19.00 lost; b2 pays 10.00,
  21.00 due. December: nothing left, 31.00 due.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.errors import InputError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: basic
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 31.00}]
"""
)
CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,UTC\n"
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-a,a,basic,2026-09-01
s-b,b,basic,2026-09-01
"""
CREDITS = """credit_id,customer_id,currency,amount,granted_on,expires_on
a1,a,EUR,20.00,2026-10-05,
b1,b,EUR,50.00,2026-09-15,2026-12-01
b2,b,EUR,10,2026-10-10,
"""


@pytest.mark.integration
def test_credits_pay_invoices_in_order_and_expire(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.write("credits.csv", CREDITS)
    world.bill("2026-10", "2026-11", "2026-12")
    assert world.query(
        "SELECT billing_period, customer_id, total, credits_applied, amount_due FROM invoices "
        "ORDER BY 1, 2"
    ) == [
        ("2026-10", "a", D("31.00"), D("20.00"), D("11.00")),
        ("2026-10", "b", D("31.00"), D("31.00"), D("0.00")),
        ("2026-11", "a", D("31.00"), D("0.00"), D("31.00")),
        ("2026-11", "b", D("31.00"), D("10.00"), D("21.00")),
        ("2026-12", "a", D("31.00"), D("0.00"), D("31.00")),
        ("2026-12", "b", D("31.00"), D("0.00"), D("31.00")),
    ]
    assert world.query(
        "SELECT entry_date, kind, credit_id, amount, balance FROM wallet_history "
        "WHERE customer_id = 'b' ORDER BY entry_date, balance DESC"
    ) == [
        (date(2026, 9, 15), "top_up", "b1", D("50.00"), D("50.00")),
        (date(2026, 10, 10), "top_up", "b2", D("10.00"), D("60.00")),
        (date(2026, 11, 1), "consumed", "b1", D("-31.00"), D("29.00")),
        (date(2026, 12, 1), "expired", "b1", D("-19.00"), D("10.00")),
        (date(2026, 12, 1), "consumed", "b2", D("-10.00"), D("0.00")),
    ]
    assert world.query(
        "SELECT credit_id, granted, consumed, expired, balance FROM wallet_balances ORDER BY 1"
    ) == [
        ("a1", D("20.00"), D("20.00"), D("0.00"), D("0.00")),
        ("b1", D("50.00"), D("31.00"), D("19.00"), D("0.00")),
        ("b2", D("10.00"), D("10.00"), D("0.00"), D("0.00")),
    ]
    # Billing a month again with the same inputs moves no money twice.
    world.bill("2026-12")
    assert world.query("SELECT count(*) FROM wallet_ledger") == [(7,)]


@pytest.mark.integration
def test_a_replaced_draft_takes_its_wallet_entries_with_it(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.write("credits.csv", CREDITS)
    world.bill("2026-10", draft=True)
    world.write("credits.csv", CREDITS + "a2,a,EUR,5.00,2026-10-20,\n")
    world.bill("2026-10", draft=True)
    assert world.query(
        "SELECT credit_id, granted, consumed FROM wallet_balances WHERE customer_id = 'a' "
        "ORDER BY 1"
    ) == [("a1", D("20.00"), D("20.00")), ("a2", D("5.00"), D("5.00"))]
    assert world.query("SELECT amount_due FROM invoices WHERE customer_id = 'a'") == [(D("6.00"),)]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("x,a,EUR,-5.00,2026-10-01,", r"line 5: amount -5.00 is not positive"),
        ("x,a,EUR,0,2026-10-01,", r"line 5: amount 0 is not positive"),
        ("x,a,XYZ,5.00,2026-10-01,", r"line 5: unknown currency XYZ"),
        ("x,a,EUR,5.001,2026-10-01,", r"line 5: amount 5.001 has more decimals than EUR has"),
        ("x,a,JPY,5.5,2026-10-01,", r"line 5: amount 5.5 has more decimals than JPY has"),
        ("x,zz,EUR,5.00,2026-10-01,", r"line 5: unknown customer zz"),
        ("a1,a,EUR,5.00,2026-10-01,", r"line 2: duplicate credit_id a1"),
        ("x,a,EUR,5.00,2026-10-01,2026-09-01", r"line 5: expires_on must be after granted_on"),
        ("x,a,EUR,five,2026-10-01,", r"line 5: amount five is not a number"),
    ],
)
def test_a_bad_credit_is_named_by_line_and_nothing_is_written(
    tmp_path: Path, line: str, problem: str
):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.write("credits.csv", CREDITS + line + "\n")
    with pytest.raises(InputError, match=r"credits.csv: " + problem):
        world.bill("2026-10")
    assert not world.db.exists() or world.query("SELECT count(*) FROM billing_runs") == [(0,)]

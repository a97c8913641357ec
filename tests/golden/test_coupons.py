"""Coupons, worked out by hand. Plan ``basic``: 31.00 a month, calendar, in arrears.

* WELCOME10 (10 % for 3 monthly runs), redeemed by s-a on 15 October: October, November
  and December bill 31.00 - 3.10 = 27.90; January 31.00 again.
* FIVE (5.00 off the fee, plan basic only), redeemed by s-b from 1 November to 1 December:
  November 26.00; October and December 31.00.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import parse_catalog_text
from schemas.errors import CatalogError, InputError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: basic
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 31.00}]
  - code: pro
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 62.00}]
coupons:
  - {code: WELCOME10, percent: 10, periods: 3}
  - {code: FIVE, amount: 5.00, charges: [fee], plans: [basic]}
"""
)
CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,UTC\nc,C,UTC\n"
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-a,a,basic,2026-09-01
s-b,b,basic,2026-09-01
s-c,c,pro,2026-09-01
"""
COUPONS = """subscription_id,coupon_code,start_date,end_date
s-a,WELCOME10,2026-10-15,
s-b,FIVE,2026-11-01,2026-12-01
"""


@pytest.mark.integration
def test_coupons_apply_for_their_periods(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.write("coupons.csv", COUPONS)
    world.bill("2026-10", "2026-11", "2026-12", "2027-01")
    totals = world.query(
        "SELECT billing_period, customer_id, total FROM invoices WHERE customer_id <> 'c' "
        "ORDER BY 1, 2"
    )
    assert totals == [
        ("2026-10", "a", D("27.90")),
        ("2026-10", "b", D("31.00")),
        ("2026-11", "a", D("27.90")),
        ("2026-11", "b", D("26.00")),
        ("2026-12", "a", D("27.90")),
        ("2026-12", "b", D("31.00")),
        ("2027-01", "a", D("31.00")),
        ("2027-01", "b", D("31.00")),
    ]
    assert world.query(
        "SELECT charge_code, charge_model, amount FROM rated_charges "
        "WHERE billing_period = '2026-11' AND customer_id = 'b' ORDER BY charge_position"
    ) == [("fee", "flat_fee", D("31.00")), ("coupon:FIVE", "coupon", D("-5.00"))]


@pytest.mark.parametrize(
    ("coupons", "problem"),
    [
        ("s-c,FIVE,2026-10-01,\n", "line 2: coupon FIVE is not for plan pro of subscription s-c"),
        ("s-a,GOLD,2026-10-01,\n", "line 2: unknown coupon GOLD (not in the catalog's coupons)"),
        ("s-z,FIVE,2026-10-01,\n", "line 2: unknown subscription s-z"),
        ("s-a,FIVE,2026-10-01,2026-09-01\n", "line 2: end_date must be after start_date"),
    ],
)
def test_bad_redemptions_name_their_line(tmp_path: Path, coupons: str, problem: str):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.write("coupons.csv", "subscription_id,coupon_code,start_date,end_date\n" + coupons)
    with pytest.raises(InputError) as error:
        world.bill("2026-10")
    assert str(error.value) == f"{tmp_path / 'coupons.csv'}: {problem}"
    assert not world.db.exists() or world.query("SELECT count(*) FROM billing_runs") == [(0,)]


def test_a_coupon_for_an_unknown_plan_is_a_catalog_error(tmp_path: Path):
    text = CATALOG.replace("plans: [basic]}", "plans: [platinum]}")
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(text, "catalog.yaml")
    assert error.value.problems == ["coupons[1].plans: unknown plan 'platinum'"]
    world = scenario(tmp_path, text, CUSTOMERS, SUBSCRIPTIONS)
    with pytest.raises(CatalogError, match="coupons"):
        world.bill("2026-10")
    assert not world.db.exists() or world.query("SELECT count(*) FROM billing_runs") == [(0,)]

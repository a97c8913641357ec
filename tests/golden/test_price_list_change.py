"""A price-list change in the catalog (``replaced_by``), worked out by hand.

Plan ``std`` (30.00 a month) is replaced by ``std_2027`` (60.00) from 16 November
2026. No usage; calendar months, in arrears, prorated by day.

* s1 (from 1 Sep): November 30 days: std 15 days, 30 x 15/30 = 15.00; std_2027 15 days,
  60 x 15/30 = 30.00 -> 45.00. December: 60.00.
* s2 (from 5 Dec, on std): after the change, so on std_2027 from its first day:
  December 27 of 31 days, 60 x 27/31 = 52.258... -> 52.26.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from jobs.catalog import parse_catalog_text
from schemas.errors import CatalogError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: std
    currency: EUR
    replaced_by: {plan: std_2027, from: 2026-11-16}
    charges:
      - {code: fee, model: flat_fee, amount: 30.00}
  - code: std_2027
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 60.00}
"""
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = scenario(
        tmp_path_factory.mktemp("price-list"),
        CATALOG,
        "customer_id,name,timezone\na,A,UTC\nb,B,UTC\n",
        "subscription_id,customer_id,plan_code,start_date\ns1,a,std,2026-09-01\n"
        "s2,b,std,2026-12-05\n",
    )
    world.bill("2026-11", "2026-12")
    return world.db


@pytest.mark.integration
def test_subscriptions_move_to_the_new_price_list_on_its_day(db: Path):
    with duckdb.connect(str(db), read_only=True) as con:
        lines = con.execute(
            "SELECT billing_period, subscription_id, plan_code, strftime(period_start, '%m-%d'), "
            "amount FROM rated_charges ORDER BY ALL"
        ).fetchall()
    assert lines == [
        ("2026-11", "s1", "std", "11-01", D("15.00")),
        ("2026-11", "s1", "std_2027", "11-16", D("30.00")),
        ("2026-12", "s1", "std_2027", "12-01", D("60.00")),
        ("2026-12", "s2", "std_2027", "12-05", D("52.26")),
    ]


@pytest.mark.parametrize(
    ("replaced_by", "problem"),
    [
        ("{plan: gold, from: 2026-11-16}", "plans.std.replaced_by.plan: unknown plan 'gold'"),
        (
            "{plan: std_2027}",
            "plans.std.replaced_by: expected {plan: <plan code>, from: <YYYY-MM-DD>}",
        ),
        (
            "{plan: std_2027, from: soon}",
            "plans.std.replaced_by.from: 'soon' is not a date (YYYY-MM-DD)",
        ),
    ],
)
def test_bad_price_list_changes_name_the_plan(replaced_by: str, problem: str):
    text = CATALOG.replace("{plan: std_2027, from: 2026-11-16}", replaced_by)
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(text, "catalog.yaml")
    assert error.value.problems == [problem]


def test_plans_replacing_each_other_are_a_catalog_error():
    text = CATALOG.replace(
        "  - code: std_2027\n    currency: EUR\n",
        "  - code: std_2027\n    currency: EUR\n    replaced_by: {plan: std, from: 2027-01-01}\n",
    )
    with pytest.raises(CatalogError, match=r"the plans replace each other: std -> std_2027 -> std"):
        parse_catalog_text(text, "catalog.yaml")

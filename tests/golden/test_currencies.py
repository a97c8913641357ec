"""Currencies, worked out by hand: October 2026, 3 calls per customer, no tax.

Plan ``pro`` is priced in EUR (fee 100.00, 0.125 a call, minimum 150.00), USD (110.00,
0.135, minimum 100.00) and JPY (15000, 12.5, minimum 20000):

* eu (no account currency: the plan's EUR): 100.00 + 0.375 -> 0.38, under the minimum:
  true-up 49.62 -> 150.00;
* us (bills in USD): 110.00 + 0.405 -> 0.41 = 110.41 (above its minimum);
* jp (bills in JPY): 15000 + 37.5 -> 38, true-up 4962 -> 20000 (yen have no decimals).

Plan ``tokyo`` (JPY: 1000 + 0.5 a call): tk 1000 + 1.5 -> 2 = 1002. Plan ``manama`` (BHD,
three decimals: 10.500 + 0.0125 a call): bh 10.500 + 0.0375 -> 0.038 = 10.538.

A tree across currencies: hold (manama, BHD) receives its child's lines (tokyo, JPY): one
invoice per currency, 10.538 BHD and 1002 JPY.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import parse_catalog_text
from jobs.progressive import run_progressive_billing
from schemas.errors import CatalogError, InputError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
coupons:
  - {code: FIVE, amount: 5.00}
plans:
  - code: pro
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 100.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.125}
    minimum_commitment: 150.00
    prices:
      USD:
        charges: {fee: {amount: 110.00}, calls: {unit_price: 0.135}}
        minimum_commitment: 100.00
      JPY:
        charges: {fee: {amount: 15000}, calls: {unit_price: 12.5}}
        minimum_commitment: 20000
  - code: tokyo
    currency: JPY
    charges:
      - {code: fee, model: flat_fee, amount: 1000}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.5}
  - code: manama
    currency: BHD
    charges:
      - {code: fee, model: flat_fee, amount: 10.500}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.0125}
"""
)
CUSTOMERS = """customer_id,name,timezone,currency,parent_id,invoice_to
eu,EU,Europe/Paris,,,
us,US,America/New_York,USD,,
jp,JP,Asia/Tokyo,jpy,,
tk,TK,Asia/Tokyo,,,
bh,BH,Asia/Bahrain,BHD,,
hold,Hold,Asia/Bahrain,,,
hold-jp,Hold JP,Asia/Tokyo,,hold,parent
"""
PLANS = {
    "eu": "pro",
    "us": "pro",
    "jp": "pro",
    "tk": "tokyo",
    "bh": "manama",
    "hold": "manama",
    "hold-jp": "tokyo",
}
SUBSCRIPTIONS = "subscription_id,customer_id,plan_code,start_date\n" + "".join(
    f"s-{customer},{customer},{plan},2026-09-01\n" for customer, plan in PLANS.items()
)
CALLS = [
    (f"{customer}-{i}", customer, "call", datetime(2026, 10, 10, 12, i, tzinfo=UTC))
    for customer in ("eu", "us", "jp", "tk", "bh")
    for i in range(3)
]


@pytest.mark.integration
def test_each_account_bills_in_its_currency_at_its_minor_unit(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.ingest(CALLS)
    world.bill("2026-10")
    assert world.query(
        "SELECT customer_id, currency, account_count, total FROM invoices ORDER BY 1, 2"
    ) == [
        ("bh", "BHD", 1, D("10.538")),
        ("eu", "EUR", 1, D("150.00")),
        ("hold", "BHD", 1, D("10.500")),
        ("hold", "JPY", 1, D("1000")),
        ("jp", "JPY", 1, D("20000")),
        ("tk", "JPY", 1, D("1002")),
        ("us", "USD", 1, D("110.41")),
    ]
    lines = world.query(
        "SELECT customer_id, plan_code, charge_code, amount, currency FROM rated_charges "
        "WHERE customer_id IN ('us', 'jp') ORDER BY customer_id DESC, charge_position, charge_code"
    )
    assert lines == [
        ("us", "pro", "fee", D("110.00"), "USD"),
        ("us", "pro", "calls", D("0.41"), "USD"),
        ("jp", "pro", "fee", D("15000"), "JPY"),
        ("jp", "pro", "calls", D("38"), "JPY"),
        ("jp", "pro", "minimum_commitment", D("4962"), "JPY"),
    ]
    assert world.query(
        "SELECT amount FROM rated_charges WHERE customer_id = 'bh' AND charge_code = 'calls'"
    ) == [(D("0.038"),)]


def _load(text: str) -> None:
    parse_catalog_text(text, "catalog.yaml")


@pytest.mark.parametrize(
    ("prices", "problem"),
    [
        (
            "XYZ: {charges: {fee: {amount: 1}}}",
            "plans.p.prices.XYZ: unknown currency 'XYZ' (use an ISO 4217 code)",
        ),
        ("USD: {charges: {}}", "plans.p.prices.USD.charges: no USD prices for charge 'fee'"),
        (
            "USD: {charges: {fee: {amount: -1}}}",
            "plans.p.prices.USD.charges[0].amount",
        ),
        (
            "USD: {charges: {fee: {amount: 1, model: per_unit}}}",
            "plans.p.prices.USD.charges.fee.model: a price list sets prices, not a charge's model",
        ),
        ("EUR: {charges: {fee: {amount: 1}}}", "plans.p.prices.EUR: EUR is the plan's own"),
    ],
)
def test_a_bad_price_list_is_named_by_its_path(prices: str, problem: str):
    catalog = f"""
event_types: {{call: {{}}}}
meters: [{{code: calls, event_type: call, aggregation: count}}]
plans:
  - code: p
    currency: EUR
    charges: [{{code: fee, model: flat_fee, amount: 10}}]
    prices: {{{prices}}}
"""
    with pytest.raises(CatalogError) as error:
        _load(catalog)
    assert problem in str(error.value)


@pytest.mark.parametrize(
    ("customers", "subscriptions", "coupons", "problem"),
    [
        (
            CUSTOMERS + "odd,Odd,UTC,XYZ,,\n",
            SUBSCRIPTIONS,
            None,
            r"customers.csv: line 9: unknown currency XYZ of customer odd",
        ),
        (
            CUSTOMERS + "gb,GB,Europe/London,GBP,,\n",
            SUBSCRIPTIONS + "s-gb,gb,pro,2026-09-01\n",
            None,
            r"subscriptions.csv: line 9: subscription s-gb of customer gb: plan pro has no GBP "
            r"prices",
        ),
        (
            CUSTOMERS,
            SUBSCRIPTIONS,
            "subscription_id,coupon_code,start_date\ns-us,FIVE,2026-10-01\n",
            r"coupons.csv: line 2: coupon FIVE takes a fixed amount off in plan pro's currency; "
            r"subscription s-us bills in another \(pro@USD\)",
        ),
    ],
)
def test_a_currency_the_contracts_cannot_bill_in_is_named(
    tmp_path: Path, customers: str, subscriptions: str, coupons: str | None, problem: str
):
    world = scenario(tmp_path, CATALOG, customers, subscriptions)
    if coupons is not None:
        world.write("coupons.csv", coupons)
    with pytest.raises(InputError, match=problem):
        world.bill("2026-10")
    assert not world.db.exists() or world.query("SELECT count(*) FROM billing_runs") == [(0,)]


PROGRESSIVE = (
    CALLS_CATALOG
    + """
plans:
  - code: metered
    currency: EUR
    progressive_billing: {amount: 100}
    charges:
      - {code: fee, model: flat_fee, amount: 5.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 10}
    prices:
      USD:
        progressive_billing: {amount: 50}
        charges: {fee: {amount: 6.00}, calls: {unit_price: 12}}
"""
)


@pytest.mark.integration
def test_progressive_billing_uses_the_price_list_of_the_account_currency(tmp_path: Path):
    """u bills in USD: 5 calls by 7 October are 5 x 12 = 60.00 USD, past the USD level of
    50 (the EUR level, 100, would not be reached): invoiced early; the October run bills
    6.00 + 60.00 less the 60.00 already invoiced = 6.00 USD."""
    world = scenario(
        tmp_path,
        PROGRESSIVE,
        "customer_id,name,timezone,currency\nu,U,UTC,USD\n",
        "subscription_id,customer_id,plan_code,start_date\ns-u,u,metered,2026-09-01\n",
    )
    world.ingest(
        [(f"u{n}", "u", "call", datetime(2026, 10, n, 12, tzinfo=UTC)) for n in range(1, 6)]
    )
    run_progressive_billing(world.inputs(""), "2026-10-07", world.db)
    world.bill("2026-10")
    assert world.query(
        "SELECT billing_period, currency, total FROM invoices ORDER BY issue_date"
    ) == [("2026-10-07", "USD", D("60.00")), ("2026-10", "USD", D("6.00"))]
    assert world.query("SELECT DISTINCT plan_code FROM rated_charges") == [("metered",)]

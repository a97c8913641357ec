"""One plan using every composition feature, each amount worked out by hand below.

The plan has a one-time set-up fee, a flat fee, a per-unit charge with free
units and a minimum, graduated storage, two formula charges (a royalty on
another charge and a package fee once usage passes a level), two discounts
(10 % off the platform fee for this quarter, 5.00 off everything) and a plan
minimum commitment of 400.00 per period.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import polars as pl
import pytest

from aggregation.usage import USAGE_SCHEMA
from jobs.catalog import parse_catalog_text
from rating.rate import rate_period
from schemas.errors import CatalogError
from tests.billable import october_billable

D = Decimal

CATALOG = """
event_types:
  call: {}
  store: {properties: {gb: {type: number, required: true}}}
meters:
  - {code: calls, event_type: call, aggregation: count}
  - {code: gb, event_type: store, aggregation: sum, property: gb}
plans:
  - code: enterprise
    currency: EUR
    minimum_commitment: 400.00
    discounts:
      - {code: launch, percent: 10, charges: [platform], start_date: 2026-10-01,
         end_date: 2027-01-01}
      - {code: loyalty, amount: 5.00, start_date: 2026-01-01}
      - {code: expired, percent: 50, start_date: 2025-01-01, end_date: 2026-10-01}
    charges:
      - {code: setup, model: one_shot, amount: 500.00}
      - {code: platform, model: flat_fee, amount: 100.00}
      - {code: api, meter: calls, model: per_unit, unit_price: 0.01, free_units: 1000,
         minimum: 20.00}
      - code: storage
        meter: gb
        model: graduated
        tiers: [{up_to: 100, unit_price: 0.10}, {unit_price: 0.05}]
      - {code: royalty, model: formula, formula: "0.05 * charge.api"}
      - {code: overage_pack, model: formula, formula: "if(meter.calls > 5000, 49, 0)"}
"""


def rate(usage_rows: list[tuple[str, str, Decimal]], starts: dict[str, date]) -> pl.DataFrame:
    catalog = parse_catalog_text(CATALOG, "catalog.yaml")
    billable = october_billable("enterprise", starts)
    usage = pl.DataFrame(
        [(sub, meter, "{}", quantity, 1) for sub, meter, quantity in usage_rows],
        schema=USAGE_SCHEMA,
        orient="row",
    )
    return rate_period(billable, usage, catalog.plans, date(2026, 10, 1))


def lines(rated: pl.DataFrame, subscription: str) -> dict[str, Decimal]:
    rows = rated.filter(pl.col("subscription_id") == subscription)
    return dict(rows.select("charge_code", "amount").iter_rows())


@pytest.fixture(scope="module")
def rated() -> pl.DataFrame:
    return rate(
        [
            ("s1", "calls", D(3500)),
            ("s1", "gb", D("150.5")),
            ("s2", "calls", D(1200)),
            ("s3", "calls", D(6000)),
        ],
        {"s1": date(2026, 10, 5), "s2": date(2026, 9, 1), "s3": date(2026, 8, 1)},
    )


def test_new_subscription_pays_setup_and_is_above_every_minimum(rated: pl.DataFrame):
    assert lines(rated, "s1") == {
        "setup": D("500.00"),  # started 2026-10-05, inside the period
        "platform": D("100.00"),
        "api": D("25.00"),  # (3500 - 1000 free) x 0.01, above the 20.00 minimum
        "storage": D("12.53"),  # 100 x 0.10 + 50.5 x 0.05 = 12.525 -> 12.53
        "royalty": D("1.25"),  # 0.05 x 25.00
        "overage_pack": D("0.00"),  # 3500 calls, not above 5000
        "discount:launch": D("-10.00"),  # 10 % of the platform fee
        # 5.00 off, the 'expired' discount ended before the period
        "discount:loyalty": D("-5.00"),
    }  # total 623.78, above the 400.00 commitment: no true-up line


def test_charge_minimum_and_plan_commitment_true_up(rated: pl.DataFrame):
    assert lines(rated, "s2") == {
        "platform": D("100.00"),  # no setup: started in an earlier period
        "api": D("2.00"),  # (1200 - 1000) x 0.01
        "api:minimum": D("18.00"),  # 20.00 - 2.00
        "storage": D("0.00"),
        "royalty": D("0.10"),  # 0.05 x 2.00: the charge itself, before its true-up
        "overage_pack": D("0.00"),
        "discount:launch": D("-10.00"),
        "discount:loyalty": D("-5.00"),
        # 100 + 2 + 18 + 0 + 0.10 + 0 - 10 - 5 = 105.10 -> 400.00 - 105.10
        "minimum_commitment": D("294.90"),
    }


def test_formula_package_fee_once_usage_passes_the_level(rated: pl.DataFrame):
    s3 = lines(rated, "s3")
    assert s3["api"] == D("50.00")  # (6000 - 1000) x 0.01
    assert s3["royalty"] == D("2.50")
    assert s3["overage_pack"] == D("49.00")
    # 100 + 50 + 0 + 2.50 + 49 - 10 - 5 = 186.50 -> 400.00 - 186.50
    assert s3["minimum_commitment"] == D("213.50")
    assert sum(s3.values()) == D("400.00")


def test_lines_come_in_plan_order(rated: pl.DataFrame):
    codes = rated.filter(pl.col("subscription_id") == "s2")["charge_code"].to_list()
    assert codes == [
        "platform",
        "api",
        "api:minimum",
        "storage",
        "royalty",
        "overage_pack",
        "discount:launch",
        "discount:loyalty",
        "minimum_commitment",
    ]


@pytest.mark.parametrize(
    ("charges", "message"),
    [
        (
            "[{code: a, model: formula, formula: '2 * charge.b'},"
            " {code: b, model: formula, formula: 'charge.a + 1'}]",
            "plans.p.charges: formula charges reference each other in a cycle: ",
        ),
        (
            "[{code: a, model: formula, formula: 'charge.nope * 2'}]",
            "plans.p.charges[0].formula: unknown charge 'nope' in charge 'a'",
        ),
        (
            "[{code: a, model: formula, formula: 'meter.nope * 2'}]",
            "plans.p.charges[0].formula: unknown meter 'nope' in charge 'a'",
        ),
        (
            "[{code: a, model: formula, formula: '2 *'}]",
            "plans.p.charges[0].formula: ",
        ),
        (
            "[{code: a, model: flat_fee, amount: 1, free_units: 5}]",
            "plans.p.charges[0].free_units: only a charge priced on a period quantity",
        ),
        (
            "[{code: a, meter: calls, model: percentage, rate: 1}]",
            "plans.p.charges[0].meter: a percentage charge prices each event's value, "
            "so it needs a sum meter; 'calls' is count",
        ),
        (
            "[{code: a, model: flat_fee, amount: 1, minimum: -5}]",
            "plans.p.charges[0].minimum: must not be negative",
        ),
    ],
)
def test_charge_composition_errors_name_the_charge(charges: str, message: str):
    text = (
        "event_types: {call: {}}\n"
        "meters: [{code: calls, event_type: call, aggregation: count}]\n"
        f"plans: [{{code: p, currency: EUR, charges: {charges}}}]\n"
    )
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(text, "c.yaml")
    assert any(problem.startswith(message) for problem in error.value.problems), error.value


@pytest.mark.parametrize(
    ("plan_extra", "message"),
    [
        (
            "discounts: [{code: d, percent: 10, amount: 5, start_date: 2026-01-01}]",
            "plans.p.discounts[0]: give exactly one of percent or amount",
        ),
        (
            "discounts: [{code: d, percent: 120, start_date: 2026-01-01}]",
            "plans.p.discounts[0].percent: must be in (0, 100]",
        ),
        (
            "discounts: [{code: d, percent: 10, charges: [nope], start_date: 2026-01-01}]",
            "plans.p.discounts[0].charges: unknown charge 'nope'",
        ),
        (
            "discounts: [{code: d, percent: 10, start_date: 2026-02-01, end_date: 2026-01-01}]",
            "plans.p.discounts[0].end_date: must be after start_date",
        ),
        (
            "discounts: [{code: d, percent: 10}]",
            "plans.p.discounts[0].start_date: expected a date YYYY-MM-DD",
        ),
        ("minimum_commitment: abc", "plans.p.minimum_commitment: expected a number"),
        ("minimum: 5", "plans.p.minimum: unknown parameter"),
    ],
)
def test_plan_composition_errors_name_the_plan(plan_extra: str, message: str):
    text = (
        "event_types: {call: {}}\n"
        "meters: [{code: calls, event_type: call, aggregation: count}]\n"
        "plans:\n"
        "  - code: p\n    currency: EUR\n"
        "    charges: [{code: fee, model: flat_fee, amount: 1}]\n"
        f"    {plan_extra}\n"
    )
    with pytest.raises(CatalogError) as error:
        parse_catalog_text(text, "c.yaml")
    assert any(problem.startswith(message) for problem in error.value.problems), error.value

"""Catalog keys of billing periods: cadence, alignment, proration, fee timing."""

from __future__ import annotations

import pytest

from jobs.catalog import parse_catalog
from rating.plan import plan_items
from schemas.catalog import Alignment, Cadence, CadenceUnit, Proration, Timing
from schemas.errors import CatalogError

EVENTS = {"call": None}
METERS = [{"code": "calls", "event_type": "call", "aggregation": "count"}]
FEE = {"code": "fee", "model": "flat_fee", "amount": 10}
CALLS = {"code": "calls", "meter": "calls", "model": "per_unit", "unit_price": 1}
ONCE = {"code": "setup", "model": "one_shot", "amount": 5}


def plan_problems(**plan: object) -> list[str]:
    data = {
        "event_types": EVENTS,
        "meters": METERS,
        "plans": [{"code": "p", "currency": "EUR", "charges": [FEE, CALLS]} | plan],
    }
    try:
        parse_catalog(data, "catalog.yaml")
    except CatalogError as error:
        return error.problems
    return []


def test_defaults_are_calendar_months_prorated_by_day_in_arrears():
    plans = parse_catalog(
        {
            "event_types": EVENTS,
            "meters": METERS,
            "plans": [{"code": "p", "currency": "EUR", "charges": [FEE, CALLS]}],
        },
        "c",
    ).plans
    plan = plans["p"]
    assert (plan.cadence, plan.alignment, plan.proration) == (
        Cadence(CadenceUnit.MONTH, 1),
        Alignment.CALENDAR,
        Proration.DAILY,
    )
    assert plan.charges[0].timing is Timing.IN_ARREARS
    assert plan.charges[0].cadence is None


def test_plan_items_list_the_plan_period_each_fee_and_each_one_time_fee():
    seat = FEE | {"code": "seat", "billing_period": "2 weeks", "timing": "in_advance"}
    plans = parse_catalog(
        {
            "event_types": EVENTS,
            "meters": METERS,
            "plans": [
                {
                    "code": "p",
                    "currency": "EUR",
                    "billing_period": "year",
                    "alignment": "anniversary",
                    "charges": [FEE, CALLS, seat, ONCE],
                }
            ],
        },
        "c",
    ).plans
    assert plan_items(plans).rows() == [
        ("p", None, "month", 12, "anniversary", "in_arrears", False),
        ("p", "fee", "month", 12, "anniversary", "in_arrears", False),
        ("p", "seat", "week", 2, "anniversary", "in_advance", False),
        ("p", "setup", "month", 12, "anniversary", "in_advance", True),
    ]


@pytest.mark.parametrize(
    ("plan", "problem"),
    [
        (
            {"billing_period": "fortnight"},
            "plans.p.billing_period: unsupported 'fortnight' (expected week, month, quarter, "
            "semester, year, or 'N weeks' / 'N months')",
        ),
        (
            {"billing_period": "week"},
            "plans.p.billing_period: a plan is billed per month or longer ('week'); "
            "give a weekly fee its own billing_period instead",
        ),
        (
            {"alignment": "fiscal"},
            "plans.p.alignment: unsupported 'fiscal' (expected one of ['calendar', 'anniversary'])",
        ),
        (
            {"proration": "hourly"},
            "plans.p.proration: unsupported 'hourly' (expected one of ['daily', 'none'])",
        ),
        (
            {"charges": [FEE | {"timing": "upfront"}]},
            "plans.p.charges[0].timing: unsupported 'upfront' (expected one of "
            "['in_advance', 'in_arrears'])",
        ),
        (
            {"charges": [FEE | {"billing_period": "0 months"}]},
            "plans.p.charges[0].billing_period: unsupported '0 months' (expected week, month, "
            "quarter, semester, year, or 'N weeks' / 'N months')",
        ),
        (
            {"charges": [CALLS | {"timing": "in_advance"}]},
            "plans.p.charges[0].timing: only a recurring fee (flat_fee) has its own timing; "
            "per_unit charges follow the plan's billing period, in arrears",
        ),
        (
            {"charges": [ONCE | {"billing_period": "month"}]},
            "plans.p.charges[0].billing_period: only a recurring fee (flat_fee) has its own "
            "billing_period; one_shot charges are billed once, in the run of the month the "
            "subscription starts",
        ),
    ],
)
def test_schedule_errors_name_the_path(plan: dict, problem: str):
    assert plan_problems(**plan) == [problem]


@pytest.mark.parametrize(
    ("text", "unit", "count"),
    [
        ("week", CadenceUnit.WEEK, 1),
        ("3 weeks", CadenceUnit.WEEK, 3),
        ("1 month", CadenceUnit.MONTH, 1),
        ("quarter", CadenceUnit.MONTH, 3),
        ("semester", CadenceUnit.MONTH, 6),
        ("year", CadenceUnit.MONTH, 12),
        ("18 months", CadenceUnit.MONTH, 18),
    ],
)
def test_cadences_parse(text: str, unit: CadenceUnit, count: int):
    assert Cadence.parse(text) == Cadence(unit, count)

"""Minimums, discounts and plan commitments from ``rating.rate`` against the reference.

Random plans of per-unit charges (with free units and minimums), discounts
active or not in the period, and an optional plan commitment; several
subscriptions with random usage, covering all of the period or its last days
(their minimums then prorated, unless the plan does not prorate). Every line
of every subscription must equal ``tests.reference.plan.compose`` exactly,
whatever the order of the usage rows.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregation.usage import USAGE_SCHEMA
from rating.plan import parse_plan
from rating.rate import rate_period
from tests.billable import october_billable
from tests.reference import plan as ref

pytestmark = pytest.mark.hypothesis

PERIOD = date(2026, 10, 1)
CODES = ["a", "b", "c", "d"]
MONEY = st.decimals(min_value=0, max_value=Decimal(10**6), places=2)
QUANTITIES = st.decimals(min_value=0, max_value=Decimal(10**6), places=3)
PRICES = st.decimals(min_value=0, max_value=Decimal(100), places=4)
DATES = st.sampled_from([date(2026, 1, 1), date(2026, 9, 30), PERIOD, date(2026, 10, 2)])


@st.composite
def charges(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(1, len(CODES)))
    raw = []
    for code in CODES[:count]:
        charge = {"code": code, "meter": "m_" + code, "model": "per_unit"}
        charge["unit_price"] = str(draw(PRICES))
        if draw(st.booleans()):
            charge["free_units"] = str(draw(QUANTITIES))
        if draw(st.booleans()):
            charge["minimum"] = str(draw(MONEY))
        raw.append(charge)
    return raw


@st.composite
def discounts(draw: st.DrawFn, codes: list[str]) -> list[dict[str, Any]]:
    raw = []
    for index in range(draw(st.integers(0, 3))):
        discount: dict[str, Any] = {"code": f"d{index}", "start_date": draw(DATES).isoformat()}
        if draw(st.booleans()):
            discount["percent"] = str(draw(st.decimals(min_value="0.01", max_value=100, places=2)))
        else:
            discount["amount"] = str(draw(MONEY))
        if draw(st.booleans()):
            discount["end_date"] = date(2026, 10, 15).isoformat()
        if draw(st.booleans()):
            discount["charges"] = draw(st.lists(st.sampled_from(codes), min_size=1, unique=True))
        raw.append(discount)
    return raw


def reference_lines(
    raw_plan: dict[str, Any], quantities: dict[str, Decimal], covered: int = 31
) -> dict[str, Decimal]:
    charges = []
    for charge in raw_plan["charges"]:
        free = Decimal(charge.get("free_units", 0))
        priced = max(Decimal(0), quantities.get(charge["code"], Decimal(0)) - free)
        minimum = Decimal(charge["minimum"]) if "minimum" in charge else None
        exact = priced * Decimal(charge["unit_price"])
        charges.append(ref.ChargeAmount(charge["code"], exact, minimum))
    offs = [
        ref.Discount(
            d["code"],
            Decimal(d["percent"]) if "percent" in d else None,
            Decimal(d["amount"]) if "amount" in d else None,
            tuple(d.get("charges", ())),
            date.fromisoformat(d["start_date"]),
            date.fromisoformat(d["end_date"]) if "end_date" in d else None,
        )
        for d in raw_plan.get("discounts", [])
    ]
    minimum = raw_plan.get("minimum_commitment")
    plan_minimum = None if minimum is None else Decimal(minimum)
    prorates = raw_plan.get("proration", "daily") == "daily" and covered < 31
    share = (covered, 31) if prorates else None
    return ref.compose(charges, offs, plan_minimum, raw_plan["currency"], PERIOD, share)


@given(data=st.data())
def test_plan_lines_match_reference(data: st.DataObject) -> None:
    raw_charges = data.draw(charges(), label="charges")
    codes = [charge["code"] for charge in raw_charges]
    raw_plan: dict[str, Any] = {
        "code": "p",
        "currency": data.draw(st.sampled_from(["EUR", "JPY", "BHD"]), label="currency"),
        "charges": raw_charges,
        "discounts": data.draw(discounts(codes), label="discounts"),
    }
    if data.draw(st.booleans(), label="commitment"):
        raw_plan["minimum_commitment"] = str(data.draw(MONEY, label="minimum"))
    if data.draw(st.booleans(), label="no proration"):
        raw_plan["proration"] = "none"
    problems: list[str] = []
    plan = parse_plan(raw_plan, "plans[0]", {"m_" + code for code in CODES}, problems)
    assert problems == [] and plan is not None, problems

    subscriptions = ["s1", "s2", "s3"]
    usage_rows = [
        (sub, "m_" + code, "{}", data.draw(QUANTITIES, label=f"{sub} {code}"), 1)
        for sub in subscriptions
        for code in codes
        if data.draw(st.booleans(), label=f"{sub} uses {code}")
    ]
    usage_rows = data.draw(st.permutations(usage_rows), label="usage order")
    # Each subscription covers the last ``covered`` days of October (31: all of it); its
    # minimums are prorated by those days unless the plan does not prorate.
    covered = {
        sub: data.draw(st.sampled_from([31, 31, 1, 17, 30]), label=sub) for sub in subscriptions
    }
    days = pl.col("subscription_id").replace_strict(covered, return_dtype=pl.Int64)
    billable = october_billable("p", dict.fromkeys(subscriptions, date(2026, 1, 1))).with_columns(
        (pl.col("period_end") - pl.duration(days=days)).alias("active_start"),
        pl.col("period_end").alias("active_end"),
    )
    usage = pl.DataFrame(usage_rows, schema=USAGE_SCHEMA, orient="row")
    rated = rate_period(billable, usage, {"p": plan}, PERIOD)
    keys = rated.select("subscription_id", "charge_position").rows()
    assert keys == sorted(keys), "lines not sorted by subscription, then charge"

    for sub in subscriptions:
        quantities = {meter[2:]: q for s, meter, _, q, _ in usage_rows if s == sub}
        expected = reference_lines(raw_plan, quantities, covered[sub])
        rows = rated.filter(pl.col("subscription_id") == sub)
        actual = dict(rows.select("charge_code", "amount").iter_rows())
        assert actual == expected
        assert list(rows["charge_code"]) == list(expected), "lines out of plan order"

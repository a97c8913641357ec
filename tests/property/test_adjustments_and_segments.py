"""Properties of adjustments and contract segments.

* Whatever was billed for a period's lines, billed + adjustments = what the lines are
  rated at now, line by line, in rounded amounts; nothing changes, nothing is added.
* Whatever valid changes a subscription goes through, its segments tile its lifetime
  (no gap, no overlap), keep its first day as their anchor, and each day is on the
  plan, quantity, customer and pause state the changes say.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from jobs.changes import Change, ChangeKind, apply_changes
from rating.adjustments import BILLED_AMOUNTS, LINE_KEY, adjustment_lines

START = datetime(2026, 10, 1, tzinfo=UTC)
LINE_IDS = st.tuples(st.sampled_from(["s1", "s2"]), st.sampled_from(["fee", "calls"]))
AMOUNTS = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)


def lines(rows: dict[tuple[str, str], Decimal]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "subscription_id": sub,
                "customer_id": "c",
                "plan_code": "p",
                "charge_code": charge,
                "charge_name": charge,
                "charge_position": 0,
                "charge_model": "per_unit",
                "meter_code": None,
                "period_start": START,
                "period_end": START + timedelta(days=31),
                "dimensions": "{}",
                "currency": "EUR",
                "quantity": Decimal(1),
                "event_count": 1,
                "amount_exact": amount,
                "amount": amount,
            }
            for (sub, charge), amount in rows.items()
        ],
        schema_overrides={"meter_code": pl.String, **BILLED_AMOUNTS},
        schema={
            "subscription_id": pl.String,
            "customer_id": pl.String,
            "plan_code": pl.String,
            "charge_code": pl.String,
            "charge_name": pl.String,
            "charge_position": pl.Int32,
            "charge_model": pl.String,
            "meter_code": pl.String,
            "period_start": pl.Datetime("us", "UTC"),
            "period_end": pl.Datetime("us", "UTC"),
            "dimensions": pl.String,
            "currency": pl.String,
            **BILLED_AMOUNTS,
        },
    )


@given(
    now=st.dictionaries(LINE_IDS, AMOUNTS, max_size=4),
    billed=st.dictionaries(LINE_IDS, AMOUNTS, max_size=4),
)
def test_billed_plus_adjustments_is_what_is_rated_now(now, billed):
    adjustments = adjustment_lines(lines(now), lines(billed), "2026-10")
    after = dict(billed)
    for row in adjustments.iter_rows(named=True):
        key = (row["subscription_id"], row["charge_code"])
        after[key] = after.get(key, Decimal(0)) + row["amount"]
        assert row["adjusted_period"] == "2026-10" and row["amount"] != 0
    keys = set(now) | set(billed)
    assert {k: after.get(k, Decimal(0)) for k in keys} == {k: now.get(k, Decimal(0)) for k in keys}
    assert adjustments.height == sum(now.get(k, 0) != billed.get(k, 0) for k in keys)
    assert adjustments.select(LINE_KEY).is_unique().all()


# --- segments ------------------------------------------------------------------------------

FIRST = date(2026, 1, 1)
PLANS = ["basic", "pro", "team"]
KINDS = [
    ChangeKind.CHANGE_PLAN,
    ChangeKind.CHANGE_QUANTITY,
    ChangeKind.PAUSE,
    ChangeKind.RESUME,
    ChangeKind.TRANSFER,
    ChangeKind.TERMINATE,
]


@st.composite
def histories(draw: st.DrawFn) -> tuple[date | None, list[Change]]:
    """A valid history: changes on distinct days after the start, each allowed in turn."""
    end = draw(st.one_of(st.none(), st.integers(200, 700).map(lambda d: FIRST + timedelta(d))))
    days = sorted(draw(st.sets(st.integers(1, 199), max_size=6)))
    plan, quantity, paused, customer, ends = "basic", 1, False, "a", end
    changes = []
    for line, offset in enumerate(days, start=2):
        day = FIRST + timedelta(days=offset)
        if ends is not None and day >= ends:
            break
        kind = draw(st.sampled_from(KINDS))
        value = ""
        if kind is ChangeKind.CHANGE_PLAN:
            value = draw(st.sampled_from([p for p in PLANS if p != plan]))
            plan = value
        elif kind is ChangeKind.CHANGE_QUANTITY:
            quantity = draw(st.integers(1, 9))
            value = str(quantity)
        elif kind is ChangeKind.PAUSE:
            if paused:
                continue
            paused = True
        elif kind is ChangeKind.RESUME:
            if not paused:
                continue
            paused = False
        elif kind is ChangeKind.TRANSFER:
            customer = "b" if customer == "a" else "a"
            value = customer
        else:
            notice = draw(st.integers(0, 90))
            new_end = day + timedelta(days=notice)
            if ends is not None and new_end >= ends:
                continue
            ends, value = new_end, f"{notice} days"
        changes.append(Change(line, "s1", day, kind, value, ""))
    return end, changes


def state_on(day: date, changes: list[Change], end: date | None) -> tuple | None:
    """Plain replay: the subscription's (customer, plan, quantity, paused) on ``day``."""
    customer, plan, quantity, paused, ends = "a", "basic", 1, False, end
    for change in changes:
        if change.effective > day:
            if change.kind is ChangeKind.TERMINATE:
                ends = change.effective + timedelta(days=int(change.value.split()[0] or 0))
            continue
        if change.kind is ChangeKind.CHANGE_PLAN:
            plan = change.value
        elif change.kind is ChangeKind.CHANGE_QUANTITY:
            quantity = int(change.value)
        elif change.kind is ChangeKind.PAUSE:
            paused = True
        elif change.kind is ChangeKind.RESUME:
            paused = False
        elif change.kind is ChangeKind.TRANSFER:
            customer = change.value
        else:
            ends = change.effective + timedelta(days=int(change.value.split()[0] or 0))
    if ends is not None and day >= ends:
        return None
    return customer, plan, quantity, paused


@given(histories())
def test_segments_tile_the_lifetime_and_follow_the_changes(history):
    end, changes = history
    subscriptions = pl.DataFrame(
        {
            "subscription_id": ["s1"],
            "customer_id": ["a"],
            "plan_code": ["basic"],
            "start_date": [FIRST],
            "end_date": [end],
            "item_quantity": [1],
        },
        schema_overrides={"end_date": pl.Date},
    )
    segments = apply_changes(subscriptions, changes, ["a", "b"], PLANS).rows(named=True)
    assert segments[0]["start_date"] == FIRST
    for before, after in pairwise(segments):
        assert before["end_date"] == after["start_date"]  # no gap, no overlap
    assert all(segment["anchor_date"] == FIRST for segment in segments)
    assert all(segment["segment_of"] == "s1" for segment in segments)
    last_day = segments[-1]["end_date"]
    for offset in range(0, 720, 7):
        day = FIRST + timedelta(days=offset)
        holding = [
            s
            for s in segments
            if s["start_date"] <= day and (s["end_date"] is None or day < s["end_date"])
        ]
        expected = state_on(day, changes, end)
        if expected is None:
            assert holding == [] and last_day is not None and day >= last_day
            continue
        [segment] = holding
        got = (segment["customer_id"], segment["plan_code"], segment["item_quantity"])
        assert (*got, segment["paused"]) == expected

"""``aggregation.usage.assign_subscriptions`` against a plain-Python reference, event by event.

Customers with no window, one window or several windows in the period (a plan
change mid-period), and one missing from the period table; timestamps drawn
around every bound. Each event must come out exactly once, with the status,
subscription and plan the reference gives it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregation.usage import BILLING_STATUS, assign_subscriptions
from schemas.types import TIMESTAMP

pytestmark = pytest.mark.hypothesis

PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
MICRO = timedelta(microseconds=1)


def reference_status(
    customer: str, ts: datetime, periods: dict, windows: list[tuple]
) -> tuple[str, str | None, str | None]:
    """(status, subscription_id, plan_code): a window rates it; else in or out of period."""
    for window_customer, subscription, plan, start, end in windows:
        if window_customer == customer and start <= ts < end:
            return "rated", subscription, plan
    if customer not in periods:
        return "no_active_subscription", None, None
    start, end = periods[customer]
    if start <= ts < end:
        return "no_active_subscription", None, None
    return "out_of_period", None, None


@st.composite
def windows_of(draw: st.DrawFn) -> list[tuple]:
    """c0: one window (maybe partial), c1: two adjacent windows, c2: none, c3: no period row."""
    cut = PERIOD_START + draw(st.integers(1, 743)) * HOUR
    c0_start = draw(st.sampled_from([PERIOD_START, PERIOD_START + 5 * HOUR]))
    c0_end = draw(st.sampled_from([PERIOD_END, PERIOD_END - 7 * HOUR]))
    windows = [("c0", "s0", "basic", c0_start, c0_end)]
    windows += [("c1", "s1a", "basic", PERIOD_START, cut), ("c1", "s1b", "pro", cut, PERIOD_END)]
    return windows


@given(data=st.data())
def test_every_event_gets_the_reference_status(data: st.DataObject) -> None:
    windows = data.draw(windows_of(), label="windows")
    bounds = sorted({PERIOD_START, PERIOD_END} | {w[3] for w in windows} | {w[4] for w in windows})
    near_bound = st.builds(
        lambda bound, delta: bound + delta,
        st.sampled_from(bounds),
        st.sampled_from([-HOUR, -MICRO, timedelta(0), MICRO, HOUR]),
    )
    anywhere = st.datetimes(
        min_value=datetime(2026, 9, 25), max_value=datetime(2026, 11, 5), timezones=st.just(UTC)
    )
    events = data.draw(
        st.lists(
            st.tuples(st.sampled_from(["c0", "c1", "c2", "c3"]), st.one_of(near_bound, anywhere)),
            max_size=40,
        ),
        label="events",
    )
    frame = pl.DataFrame(
        [(f"e{i}", customer, ts) for i, (customer, ts) in enumerate(events)],
        schema={"event_id": pl.String, "customer_id": pl.String, "timestamp": TIMESTAMP},
        orient="row",
    )
    periods = {c: (PERIOD_START, PERIOD_END) for c in ("c0", "c1", "c2")}
    period_frame = pl.DataFrame(
        [(c, start, end) for c, (start, end) in periods.items()],
        schema={"customer_id": pl.String, "period_start": TIMESTAMP, "period_end": TIMESTAMP},
        orient="row",
    )
    billable = pl.DataFrame(
        windows,
        schema={
            "customer_id": pl.String,
            "subscription_id": pl.String,
            "plan_code": pl.String,
            "active_start": TIMESTAMP,
            "active_end": TIMESTAMP,
        },
        orient="row",
    )
    assigned = assign_subscriptions(frame, period_frame, billable)

    assert sorted(assigned["event_id"]) == sorted(frame["event_id"])  # each event exactly once
    actual = {
        row["event_id"]: (row[BILLING_STATUS], row["subscription_id"], row["plan_code"])
        for row in assigned.iter_rows(named=True)
    }
    for event_id, customer, ts in frame.iter_rows():
        assert actual[event_id] == reference_status(customer, ts, periods, windows), event_id

"""``aggregation.usage.assign_subscriptions`` against a plain-Python reference, event by event.

Customers with no window, one window or several windows in the period (a plan
change mid-period), and one missing from the period table; timestamps drawn
around every bound; lifetimes that outlast a window, or belong to customers with
no window in the run. Each event must come out exactly once, with the status and
subscription the reference gives it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation import assignment
from aggregation.assignment import BILLING_STATUS, assign_subscriptions
from schemas.types import TIMESTAMP

pytestmark = pytest.mark.hypothesis

PERIOD_START = datetime(2026, 10, 1, tzinfo=UTC)
PERIOD_END = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
MICRO = timedelta(microseconds=1)
WINDOWS = {
    "customer_id": pl.String,
    "subscription_id": pl.String,
    "plan_code": pl.String,
    "active_start": TIMESTAMP,
    "active_end": TIMESTAMP,
}
PERIODS = {"customer_id": pl.String, "period_start": TIMESTAMP, "period_end": TIMESTAMP}


def reference_status(
    customer: str, ts: datetime, periods: dict, windows: list[tuple], lives: list[tuple]
) -> tuple[str, str | None]:
    """(status, subscription_id): a window rates it; else, in the customer's period and in
    no subscription's lifetime, it has no active subscription; else another run bills it."""
    for window_customer, subscription, _plan, start, end in windows:
        if window_customer == customer and start <= ts < end:
            return "rated", subscription
    if customer not in periods:
        return "no_active_subscription", None
    start, end = periods[customer]
    alive = any(
        who == customer and born <= ts and (died is None or ts < died) for who, born, died in lives
    )
    if start <= ts < end and not alive:
        return "no_active_subscription", None
    return "out_of_period", None


@st.composite
def windows_of(draw: st.DrawFn) -> list[tuple]:
    """c0: one window (maybe partial), c1: two adjacent windows, c2: none, c3: no period row."""
    cut = PERIOD_START + draw(st.integers(1, 743)) * HOUR
    c0_start = draw(st.sampled_from([PERIOD_START, PERIOD_START + 5 * HOUR]))
    c0_end = draw(st.sampled_from([PERIOD_END, PERIOD_END - 7 * HOUR]))
    windows = [("c0", "s0", "basic", c0_start, c0_end)]
    windows += [("c1", "s1a", "basic", PERIOD_START, cut), ("c1", "s1b", "pro", cut, PERIOD_END)]
    return windows


@st.composite
def lifetimes_of(draw: st.DrawFn, windows: list[tuple]) -> list[tuple] | None:
    """None (the windows are the lifetimes), or lifetimes that may outlast the windows:
    c0's may start earlier and end later or never; c2 (no window this run) may have a
    subscription billed by another run; c3 (no period row) may have one too."""
    if draw(st.booleans()):
        return None
    c0 = next(w for w in windows if w[0] == "c0")
    born = draw(st.sampled_from([c0[3], c0[3] - 48 * HOUR]))
    died = draw(st.sampled_from([c0[4], c0[4] + 48 * HOUR, None]))
    lives = [("c0", born, died), *((w[0], w[3], w[4]) for w in windows if w[0] == "c1")]
    for customer in ("c2", "c3"):
        if draw(st.booleans()):
            start = PERIOD_START + draw(st.integers(0, 700)) * HOUR
            end = draw(st.sampled_from([None, start + draw(st.integers(1, 200)) * HOUR]))
            lives.append((customer, start, end))
    return lives


@given(data=st.data())
def test_every_event_gets_the_reference_status(data: st.DataObject) -> None:
    windows = data.draw(windows_of(), label="windows")
    given_lives = data.draw(lifetimes_of(windows), label="lifetimes")
    lives = given_lives if given_lives is not None else [(w[0], w[3], w[4]) for w in windows]
    bounds = sorted(
        {PERIOD_START, PERIOD_END}
        | {w[3] for w in windows}
        | {w[4] for w in windows}
        | {t for life in lives for t in life[1:] if t is not None}
    )
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
        schema=PERIODS,
        orient="row",
    )
    billable = pl.DataFrame(
        windows,
        schema=WINDOWS,
        orient="row",
    )
    lifetimes = (
        None
        if given_lives is None
        else pl.DataFrame(
            given_lives,
            schema={"customer_id": pl.String, "life_start": TIMESTAMP, "life_end": TIMESTAMP},
            orient="row",
        )
    )
    assigned = assign_subscriptions(frame, period_frame, billable, lifetimes)

    assert sorted(assigned["event_id"]) == sorted(frame["event_id"])  # each event exactly once
    actual = {
        row["event_id"]: (row[BILLING_STATUS], row["subscription_id"])
        for row in assigned.iter_rows(named=True)
    }
    for event_id, customer, ts in frame.iter_rows():
        expected = reference_status(customer, ts, periods, windows, lives)
        assert actual[event_id] == expected, event_id

    # Keyed by the Enum of a whole run's subscriptions (one with no window here): the same.
    ids = pl.Series(sorted({window[1] for window in windows} | {"s-elsewhere"}))
    run = assign_subscriptions(frame, period_frame, billable, lifetimes, ids.cast(pl.Enum(ids)))
    assert run.schema["subscription_id"] == pl.Enum(ids)
    as_text = pl.col("subscription_id").cast(pl.String)
    assert_frame_equal(
        run.with_columns(as_text).sort("event_id"), assigned.with_columns(as_text).sort("event_id")
    )

    # Split in two halves, each assigned on its own thread (a large shard's way): the same
    # rows in the same order.
    with patch.object(assignment, "HALF_AT_LEAST", 1):
        halves = assign_subscriptions(
            frame, period_frame, billable, lifetimes, ids.cast(pl.Enum(ids))
        )
    assert_frame_equal(halves, run)


def test_a_window_outside_the_runs_subscriptions_is_refused() -> None:
    billable = pl.DataFrame(
        [("c1", "s9", "p", PERIOD_START, PERIOD_END)],
        schema=WINDOWS,
        orient="row",
    )
    periods = pl.DataFrame(
        [("c1", PERIOD_START, PERIOD_END)],
        schema=PERIODS,
        orient="row",
    )
    events = pl.DataFrame(
        {"event_id": ["e1"], "customer_id": ["c1"], "timestamp": [PERIOD_START]},
        schema_overrides={"timestamp": TIMESTAMP},
    )
    run = pl.Series(["s1"]).cast(pl.Enum(["s1"]))
    with pytest.raises(ValueError, match="subscription s9 has a window but is not one of"):
        assign_subscriptions(events, periods, billable, None, run)

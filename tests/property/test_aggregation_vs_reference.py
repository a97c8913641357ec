"""``aggregation.usage.aggregate_usage`` against the plain-Python reference.

Events are generated as they look once assigned to subscriptions, then go
through the pipeline's own conversion of measured properties
(``meter.validate.measured_as_quantities``, as ``jobs.billing`` does) before
``aggregate_usage``. Every usage row must equal the reference's, and the
result must not depend on the order of the events.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation.usage import USAGE_SCHEMA, aggregate_usage
from meter.validate import measured_as_quantities
from schemas.catalog import Aggregation, Meter
from tests.reference import aggregation as ref

pytestmark = pytest.mark.hypothesis

SUBSCRIPTIONS = ["sub-1", "sub-2", "sub-3"]
EVENT_TYPES = ["api_call", "storage", "compute"]
# Group values, occasionally null; a few need JSON escaping or are not ASCII.
REGIONS = [None, "eu", "us", "ap", "", "zürich", 'a"b']
PLANS = [None, "free", "pro"]
ZONES = [None, 1, 2, 30]

KEY = ["subscription_id", "meter_code", "dimensions"]


# --- strategies --------------------------------------------------------------------------


@st.composite
def measured_values(draw: st.DrawFn, as_float: bool) -> int | float:
    """An int, or a float written with at most 3 decimals (e.g. 12.345)."""
    small, large = st.integers(-(10**4), 10**4), st.integers(-(10**12), 10**12)
    if as_float:
        return draw(st.one_of(small, large)) / 1000  # exactly n/1000 as its repr
    return draw(st.one_of(small, large, st.sampled_from([0, 10**12, -(10**12)])))


@st.composite
def event_sets(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bool]:
    """0..40 events; the measured property ``gb`` is all ints or all floats.

    Sometimes no event has a ``zone`` at all (the column is absent from the
    frame), which ``aggregate_usage`` must treat as null everywhere.
    """
    as_float = draw(st.booleans())
    fields = {
        "subscription_id": st.sampled_from(SUBSCRIPTIONS),
        "event_type": st.sampled_from(EVENT_TYPES),
        "region": st.sampled_from(REGIONS),
        "plan": st.sampled_from(PLANS),
        "zone": st.sampled_from(ZONES),
        "gb": measured_values(as_float),
    }
    if draw(st.booleans()):
        del fields["zone"]
    return draw(st.lists(st.fixed_dictionaries(fields), max_size=40)), as_float


@st.composite
def meter_sets(draw: st.DrawFn) -> list[Meter]:
    """1..4 meters over the generated event types: count or sum, grouped, filtered."""
    count = draw(st.integers(1, 4))
    meters = []
    for index in range(count):
        aggregation = draw(st.sampled_from([Aggregation.COUNT, Aggregation.SUM]))
        group_by = draw(st.sampled_from([(), ("region",), ("zone",), ("region", "plan")]))
        filters = draw(st.sampled_from([(), (("plan", ("pro",)),), (("zone", ("1", "2")),)]))
        meters.append(
            Meter(
                code=f"m{index}",
                event_type=draw(st.sampled_from(EVENT_TYPES)),
                aggregation=aggregation,
                property_name="gb" if aggregation is Aggregation.SUM else None,
                filters=filters,
                group_by=group_by,
            )
        )
    return meters


# --- harness -----------------------------------------------------------------------------


def events_frame(events: list[dict[str, Any]], as_float: bool) -> pl.DataFrame:
    schema = {
        "subscription_id": pl.String,
        "event_type": pl.String,
        "region": pl.String,
        "plan": pl.String,
        "zone": pl.Int64,
        "gb": pl.Float64 if as_float else pl.Int64,
    }
    if events and "zone" not in events[0]:
        del schema["zone"]
    frame = pl.DataFrame(events, schema=schema, orient="row")
    assert frame.to_dicts() == events  # the harness itself is exact
    return frame


def run_aggregation(frame: pl.DataFrame, meters: list[Meter]) -> pl.DataFrame:
    """What ``jobs.billing`` does: exact quantities per event, then aggregate."""
    return aggregate_usage(measured_as_quantities(frame.lazy(), meters), meters).collect()


def as_usage(frame: pl.DataFrame) -> dict[ref.UsageKey, ref.Usage]:
    rows = {}
    for row in frame.iter_rows(named=True):
        key = (row["subscription_id"], row["meter_code"], row["dimensions"])
        assert key not in rows, f"two usage rows for {key}"
        rows[key] = ref.Usage(row["quantity"], row["event_count"])
    return rows


# --- properties --------------------------------------------------------------------------


@given(event_set=event_sets(), meters=meter_sets())
def test_aggregate_usage_matches_reference(
    event_set: tuple[list[dict[str, Any]], bool], meters: list[Meter]
) -> None:
    events, as_float = event_set
    usage = run_aggregation(events_frame(events, as_float), meters)
    assert usage.schema == pl.Schema(USAGE_SCHEMA)
    expected = ref.aggregate_usage(events, meters)
    got = as_usage(usage)
    assert got.keys() == expected.keys()
    wrong = {key: (expected[key], got[key]) for key in expected if got[key] != expected[key]}
    assert not wrong, f"(expected, got) per key: {wrong}"


@given(event_set=event_sets(), meters=meter_sets(), data=st.data())
def test_aggregate_usage_ignores_event_order(
    event_set: tuple[list[dict[str, Any]], bool], meters: list[Meter], data: st.DataObject
) -> None:
    events, as_float = event_set
    shuffled = data.draw(st.permutations(events), label="shuffled")
    first = run_aggregation(events_frame(events, as_float), meters)
    second = run_aggregation(events_frame(shuffled, as_float), meters)
    assert_frame_equal(first.sort(KEY), second.sort(KEY))
    # aggregate_usage sorts by a key that is unique per row, so even unsorted they agree.
    assert_frame_equal(first, second)


def test_aggregate_usage_hand_example() -> None:
    events = [
        {"subscription_id": "s1", "event_type": "storage", "region": "eu", "gb": 1.5},
        {"subscription_id": "s1", "event_type": "storage", "region": "eu", "gb": 0.25},
        {"subscription_id": "s1", "event_type": "storage", "region": None, "gb": 2.0},
        {"subscription_id": "s2", "event_type": "storage", "region": "us", "gb": 0.1},
        {"subscription_id": "s2", "event_type": "storage", "region": "us", "gb": 0.2},
        {"subscription_id": "s2", "event_type": "api_call", "region": "us", "gb": None},
    ]
    meters = [
        Meter("gb", "storage", Aggregation.SUM, "gb", group_by=("region",)),
        Meter("calls", "api_call", Aggregation.COUNT),
    ]
    frame = pl.DataFrame(
        events,
        schema={"subscription_id": pl.String, "event_type": pl.String, "region": pl.String}
        | {"gb": pl.Float64},
        orient="row",
    )
    rows = run_aggregation(frame, meters).rows()
    assert rows == [
        ("s1", "gb", '{"region":"eu"}', Decimal("1.75"), 2),  # 1.5 + 0.25 = 1.75
        ("s1", "gb", '{"region":null}', Decimal("2"), 1),  # the null region is its own group
        ("s2", "calls", "{}", Decimal("1"), 1),  # one api_call, no group_by
        ("s2", "gb", '{"region":"us"}', Decimal("0.3"), 2),  # 0.1 + 0.2 = 0.3 exactly
    ]

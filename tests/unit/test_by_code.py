"""The kernels over subscription codes (``gauge``, ``latest``) where the codes run out:
events of no subscription get the answer the grouped way gives them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from aggregation.usage import aggregate_usage
from aggregation.windows import WINDOW_SCHEMA
from schemas.catalog import Aggregation, Meter
from schemas.types import QUANTITY, TIMESTAMP

START, END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
WINDOWS = pl.DataFrame([("s1", START, END, START, END)], schema=WINDOW_SCHEMA, orient="row")


def _events(subscription: pl.DataType) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "subscription_id": ["s1", None, "s1"],
            "event_id": ["a", "b", "c"],
            "event_type": ["seats"] * 3,
            "timestamp": [START, START, END.replace(day=2)],
            "seats": [4, 9, None],
        },
        schema_overrides={"timestamp": TIMESTAMP, "seats": QUANTITY},
    ).with_columns(pl.col("subscription_id").cast(subscription))


def test_latest_of_events_without_a_subscription_is_grouped_as_text_groups_it() -> None:
    meter = Meter("last", "seats", Aggregation.LATEST, "seats")
    as_text = aggregate_usage(_events(pl.String()), [meter], WINDOWS).collect()
    by_code = aggregate_usage(_events(pl.Enum(["s1"])), [meter], WINDOWS).collect()
    assert by_code.schema["subscription_id"] == pl.Enum(["s1"])  # as the events have it
    assert_frame_equal(
        by_code.cast({"subscription_id": pl.String}).sort("subscription_id"),
        as_text.sort("subscription_id"),
    )
    assert as_text.sort("subscription_id", nulls_last=True)["quantity"].to_list() == [4, 9]


@pytest.mark.parametrize("subscription", [pl.String(), pl.Enum(["s1"])], ids=["text", "code"])
def test_gauge_of_events_without_a_subscription_is_an_error(subscription: pl.DataType) -> None:
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    with pytest.raises(ValueError, match="no row for subscription None"):
        aggregate_usage(_events(subscription), [meter], WINDOWS).collect()


def _settings(subscription: str, *, day: int) -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "subscription_id": [subscription],
            "event_id": [f"{subscription}-{day}"],
            "event_type": ["seats"],
            "timestamp": [START.replace(day=day)],
            "seats": [3],
            "site": ["a"],
        },
        schema_overrides={"timestamp": TIMESTAMP, "seats": QUANTITY},
    )


@pytest.mark.parametrize("keyed", [pl.String(), pl.Enum(["s1", "s2"])], ids=["text", "code"])
def test_gauge_of_a_subscription_without_a_window_names_it(keyed: pl.DataType) -> None:
    """s2 is one of the run's subscriptions but has no window: its events cannot be
    measured, whether they fall in the period or carry in from before it."""
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    events = pl.concat([_settings("s1", day=2), _settings("s2", day=3)])
    with pytest.raises(ValueError, match="no row for subscription s2, which has usage events"):
        aggregate_usage(
            events.with_columns(pl.col("subscription_id").cast(keyed)), [meter], WINDOWS
        ).collect()
    earlier = _settings("s2", day=1).with_columns(pl.col("timestamp").dt.offset_by("-1mo"))
    with pytest.raises(ValueError, match="no row for subscription s2"):
        aggregate_usage(
            _settings("s1", day=2).with_columns(pl.col("subscription_id").cast(keyed)),
            [meter],
            WINDOWS,
            earlier,
        ).collect()


@pytest.mark.parametrize(
    "meter",
    [
        Meter("level", "seats", Aggregation.GAUGE, "seats"),
        Meter("level", "seats", Aggregation.GAUGE, "seats", group_by=("site",)),
    ],
    ids=["by code", "grouped"],
)
def test_gauge_carried_in_for_a_subscription_outside_the_run_is_an_error(meter: Meter) -> None:
    """Earlier settings of a subscription the run's Enum does not hold, whether the gauge
    is measured by subscription code or grouped (the sorted way)."""
    events = _settings("s1", day=2).with_columns(pl.col("subscription_id").cast(pl.Enum(["s1"])))
    earlier = _settings("s7", day=1).with_columns(pl.col("timestamp").dt.offset_by("-1mo"))
    with pytest.raises(ValueError, match="no row for subscription s7, which has earlier events"):
        aggregate_usage(events, [meter], WINDOWS, earlier).collect()


def test_gauge_by_code_carries_the_earlier_setting_in() -> None:
    """3 seats set in September hold until 8 are set on 11 October: 3 for 10 of October's
    31 days and 8 for 21, the same keyed by code as by text; only October's setting is
    counted."""
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    earlier = _settings("s1", day=1).with_columns(pl.col("timestamp").dt.offset_by("-1mo"))
    raised = _settings("s1", day=11).with_columns(pl.lit(8, dtype=QUANTITY).alias("seats"))
    usage = {
        name: aggregate_usage(
            raised.with_columns(pl.col("subscription_id").cast(keyed)), [meter], WINDOWS, earlier
        ).collect()
        for name, keyed in (("text", pl.String()), ("code", pl.Enum(["s0", "s1"])))
    }
    assert usage["code"].schema["subscription_id"] == pl.Enum(["s0", "s1"])
    assert_frame_equal(usage["code"].cast({"subscription_id": pl.String}), usage["text"])
    # 3 for 10 days, 8 for 21 days, over 31: (30 + 168) / 31 = 6.387097 (half to even).
    assert usage["code"].select("quantity", "event_count").row(0) == (Decimal("6.387097"), 1)


def _levels(levels: list[Decimal], subscription: pl.DataType) -> pl.LazyFrame:
    """One subscription's gauge set to ``levels``, one a day from October 1st."""
    return pl.LazyFrame(
        {
            "subscription_id": ["s1"] * len(levels),
            "event_id": [f"e{day}" for day in range(len(levels))],
            "event_type": ["seats"] * len(levels),
            "timestamp": [START.replace(day=day + 1) for day in range(len(levels))],
            "seats": levels,
        },
        schema_overrides={"timestamp": TIMESTAMP, "seats": QUANTITY},
    ).with_columns(pl.col("subscription_id").cast(subscription))


@pytest.mark.parametrize(
    "levels",
    [
        [Decimal("9.25"), Decimal("-3.5")],
        [Decimal("9300000000000"), Decimal("-1.5")],  # beyond int64 once scaled
    ],
    ids=["small", "large"],
)
def test_gauge_by_code_sums_exactly_as_the_grouped_way(levels: list[Decimal]) -> None:
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    as_text = aggregate_usage(_levels(levels, pl.String()), [meter], WINDOWS).collect()
    by_code = aggregate_usage(_levels(levels, pl.Enum(["s1"])), [meter], WINDOWS).collect()
    assert_frame_equal(by_code.cast({"subscription_id": pl.String}), as_text)
    # The first level holds one day of 31, the second the other thirty.
    expected = (levels[0] + 30 * levels[1]) / 31
    assert by_code["quantity"][0] == expected.quantize(Decimal("0.000001"))


@pytest.mark.parametrize("subscription", [pl.String(), pl.Enum(["s1"])], ids=["text", "code"])
def test_a_gauge_sum_beyond_the_decimal_range_is_an_error(subscription: pl.DataType) -> None:
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    # 1E+20 held for a month is 2.7E+38 unit-microseconds: beyond 38 digits.
    events = _levels([Decimal("1E+20")], subscription)
    with pytest.raises(pl.exceptions.ComputeError):
        aggregate_usage(events, [meter], WINDOWS).collect()

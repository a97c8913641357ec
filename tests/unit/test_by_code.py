"""The kernels over subscription codes (``gauge``, ``latest``) where the codes run out:
events of no subscription get the answer the grouped way gives them."""

from __future__ import annotations

from datetime import UTC, datetime

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
    assert_frame_equal(by_code.sort("subscription_id"), as_text.sort("subscription_id"))
    assert as_text.sort("subscription_id", nulls_last=True)["quantity"].to_list() == [4, 9]


@pytest.mark.parametrize("subscription", [pl.String(), pl.Enum(["s1"])], ids=["text", "code"])
def test_gauge_of_events_without_a_subscription_is_an_error(subscription: pl.DataType) -> None:
    meter = Meter("level", "seats", Aggregation.GAUGE, "seats")
    with pytest.raises(ValueError, match="no row for subscription None"):
        aggregate_usage(_events(subscription), [meter], WINDOWS).collect()

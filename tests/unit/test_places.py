"""Rating places each line by its subscription's place among the run's sorted ids
(``rating.rate.by_place``): the shortcuts for frames already in that order must give the
places the lookup gives."""

from __future__ import annotations

import polars as pl
from polars.testing import assert_frame_equal, assert_series_equal

from rating.rate import by_place, subscription_ids


def _looked_up(frame: pl.DataFrame, ids: pl.Series) -> pl.DataFrame:
    """The places by a join, as ``by_place`` finds them for text in any order."""
    places = pl.DataFrame({"subscription_id": ids, "place": pl.int_range(ids.len(), eager=True)})
    return (
        frame.join(places, on="subscription_id", maintain_order="left")
        .with_columns(pl.col("place").cast(pl.UInt32).alias("subscription_id"))
        .drop("place")
    )


def test_sorted_distinct_subscriptions_are_their_own_ids() -> None:
    billable = pl.DataFrame({"subscription_id": ["s1", "s2", "s3"], "n": [1, 2, 3]})
    ids = subscription_ids(billable)
    assert ids.to_list() == ["s1", "s2", "s3"]
    placed = by_place(billable, ids)
    assert placed["subscription_id"].to_list() == [0, 1, 2]
    assert_frame_equal(placed, _looked_up(billable, ids))


def test_repeated_or_unsorted_subscriptions_are_sorted_once_each() -> None:
    for column in (["s2", "s1", "s3"], ["s1", "s1", "s2"], ["s1", None, "s2"]):
        billable = pl.DataFrame({"subscription_id": column}, schema={"subscription_id": pl.String})
        assert_series_equal(subscription_ids(billable), billable["subscription_id"].unique().sort())


def test_text_that_is_not_the_ids_in_order_is_looked_up() -> None:
    ids = pl.Series("subscription_id", ["s1", "s2", "s3"])
    for column in (["s1", "s2", "s4"], ["s1", "s3", "s2"], ["s1", "s2"]):
        frame = pl.DataFrame({"subscription_id": column, "n": range(len(column))})
        assert_frame_equal(by_place(frame, ids), _looked_up(frame, ids))

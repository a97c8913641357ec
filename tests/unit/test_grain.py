"""Counting by codes: ``aggregation.lookup.dictionary``, ``aggregation.grain`` and
``aggregation.kernels.together``, against Polars' own grouping."""

from __future__ import annotations

import threading
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation import kernels
from aggregation.grain import totals_by_grain
from aggregation.lookup import DICTIONARY_LIMIT, INLINE, dictionary
from schemas.types import QUANTITY

SHORT = st.one_of(st.none(), st.text('abé"', max_size=4), st.sampled_from(["", "x" * INLINE]))


def chunked(values: list[str | None], cuts: list[int]) -> pl.Series:
    """``values`` as a Series of several chunks, cut at ``cuts``."""
    bounds = [0, *sorted({min(cut, len(values)) for cut in cuts}), len(values)]
    pieces = [pl.Series(values[a:b], dtype=pl.String) for a, b in pairwise(bounds)]
    return pl.concat(pieces, rechunk=False)


@pytest.mark.hypothesis
@given(values=st.lists(SHORT, max_size=60), cuts=st.lists(st.integers(0, 60), max_size=3))
def test_dictionary_codes_each_value_by_first_appearance(
    values: list[str | None], cuts: list[int]
) -> None:
    coded = dictionary(chunked(values, cuts))
    assert coded is not None
    codes, distinct = coded
    assert distinct.to_list() == list(dict.fromkeys(values))
    assert distinct.gather(pl.Series(codes)).to_list() == values


def test_dictionary_leaves_long_or_many_values_to_polars() -> None:
    assert dictionary(pl.Series(["eu", "x" * (INLINE + 1)])) is None
    assert dictionary(pl.Series([str(n) for n in range(DICTIONARY_LIMIT)])) is not None
    assert dictionary(pl.Series([str(n) for n in range(DICTIONARY_LIMIT + 1)])) is None


SUBSCRIPTIONS = pl.Enum(["s0", "s1", "s2"])


@pytest.mark.hypothesis
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(SUBSCRIPTIONS.categories.to_list()),
            st.sampled_from([None, "eu", "us"]),
            st.sampled_from([None, "free", "pro", "x" * INLINE]),
            st.integers(-(10**15), 10**15),
        ),
        min_size=1,
        max_size=40,
    ),
    with_sums=st.booleans(),
)
def test_totals_by_grain_match_a_polars_group_by(rows: list[tuple], with_sums: bool) -> None:
    events = pl.DataFrame(
        rows,
        schema={
            "subscription_id": SUBSCRIPTIONS,
            "region": pl.String,
            "plan": pl.String,
            "gb": pl.Int64,
        },
        orient="row",
    )
    partials = (
        [pl.col("gb").cast(QUANTITY).sum().alias("sum"), pl.col("gb").min().alias("min")]
        if with_sums
        else []
    )
    keys = ["subscription_id", "region", "plan"]
    got = totals_by_grain(events, ["region", "plan"], "events", partials)
    assert got is not None
    expected = events.group_by(keys).agg(pl.len().alias("events"), *partials)
    assert_frame_equal(got.sort(keys), expected.sort(keys))


def test_totals_by_grain_need_the_run_enum() -> None:
    events = pl.DataFrame({"subscription_id": ["s1"], "region": ["eu"]})
    assert totals_by_grain(events, ["region"], "events", []) is None


def test_together_keeps_order_and_raises_the_first_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kernels, "_kernels_threadsafe", lambda: True)
    # Two tasks that can only finish together: the caller and the helper run at once.
    meet = threading.Barrier(2, timeout=10)
    assert kernels.together([lambda: meet.wait() * 0 + 1, lambda: meet.wait() * 0 + 2]) == [1, 2]
    assert kernels.together([lambda n=n: n * n for n in range(6)]) == [0, 1, 4, 9, 16, 25]
    # Tasks that compute together themselves finish (the caller never waits on a task
    # nobody has started).
    nested = [
        lambda n=n: sum(kernels.together([lambda m=m: n * m for m in range(4)])) for n in range(4)
    ]
    assert kernels.together(nested) == [0, 6, 12, 18]

    def fails(message: str) -> int:
        raise ValueError(message)

    # The caller runs the last task first; the error raised is still the first in order.
    with pytest.raises(ValueError, match="first"):
        kernels.together([lambda: 1, lambda: fails("first"), lambda: fails("second")])
    # A threading layer that cannot run kernels from two threads: one after the other.
    monkeypatch.setattr(kernels, "_kernels_threadsafe", lambda: False)
    threads: set[int] = set()

    def task(n: int) -> int:
        threads.add(threading.get_ident())
        return n * n

    assert kernels.together([lambda n=n: task(n) for n in range(3)]) == [0, 1, 4]
    assert threads == {threading.get_ident()}

"""``aggregation.lookup.rows_of`` against a dictionary, and its confirmation of a hash match."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregation.lookup import ABSENT, _confirmed, rows_of

names = st.text(alphabet="ab\u00e9", max_size=14)


@given(
    table=st.lists(names, unique=True, max_size=30),
    keys=st.lists(st.one_of(names, st.none()), max_size=60),
)
def test_each_key_finds_its_row(table: list[str], keys: list[str | None]) -> None:
    where = {key: row for row, key in enumerate(table)}
    expected = [ABSENT if key is None else where.get(key, ABSENT) for key in keys]
    rows = rows_of(pl.Series(keys, dtype=pl.String), pl.Series(table, dtype=pl.String))
    assert rows.dtype == np.int32
    assert rows.tolist() == expected


@pytest.mark.parametrize("prefix", ["c", "customer-0000000000000000"])  # inline, or not
def test_a_hash_match_to_another_key_is_not_trusted(prefix: str) -> None:
    table = pl.Series([f"{prefix}_1", f"{prefix}_2", f"{prefix}_10"])
    # Keys in two chunks, as read from two files.
    keys = pl.concat([pl.Series([f"{prefix}_2"]), pl.Series([f"{prefix}_9"])], rechunk=False)
    assert keys.n_chunks() == 2
    assert _confirmed(keys, table, np.array([1, ABSENT], np.int32))  # confirmed in place
    assert not _confirmed(keys, table, np.array([0, ABSENT], np.int32))  # same length
    assert not _confirmed(keys, table, np.array([2, ABSENT], np.int32))  # another length
    assert not _confirmed(keys, table, np.array([ABSENT, ABSENT], np.int32))  # a miss
    assert not _confirmed(keys, table, np.array([1, 0], np.int32))  # in the second chunk


def test_keys_sliced_out_of_a_longer_series() -> None:
    table = pl.Series(["a", "b" * 20, "c"])
    keys = pl.Series(["x", "c", "b" * 20, "a", "y"]).slice(1, 3)  # views at an offset
    assert rows_of(keys, table).tolist() == [2, 1, 0]
    # Confirmed in place, not by the join that answers when confirmation fails.
    assert _confirmed(keys, table, np.array([2, 1, 0], np.int32))
    assert rows_of(keys.slice(3, 0), table).tolist() == []


def test_keys_in_many_chunks_and_empty_keys() -> None:
    table = pl.Series(["", "a" * 40, "b"])
    keys = pl.concat([pl.Series(["b", ""]), pl.Series(["a" * 40, "z" * 40])], rechunk=False)
    assert rows_of(keys, table).tolist() == [2, 0, 1, ABSENT]

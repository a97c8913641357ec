"""``aggregation.lookup.rows_of`` against a dictionary, and its confirmation of a hash match."""

from __future__ import annotations

import numpy as np
import polars as pl
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


def test_a_hash_match_to_another_key_is_not_trusted() -> None:
    table = pl.Series(["cust_1", "cust_2"])
    keys = pl.Series(["cust_2", "cust_9"])
    assert _confirmed(keys, table, np.array([1, ABSENT], np.int32))
    assert not _confirmed(keys, table, np.array([0, ABSENT], np.int32))  # a collision
    assert not _confirmed(keys, table, np.array([ABSENT, ABSENT], np.int32))  # a miss

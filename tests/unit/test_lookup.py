"""``aggregation.lookup.rows_of`` against a dictionary, and its confirmation of a hash match
(which the assignment runs beside its own work)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation import assignment
from aggregation.assignment import assign_subscriptions
from aggregation.kernels import kernel_input
from aggregation.lookup import ABSENT, _confirmed, rows_of
from schemas.types import TIMESTAMP


def _rows(rows: list[int]) -> np.ndarray:
    """Rows as a kernel takes them (read-only): one compiled signature per kernel."""
    return kernel_input(np.array(rows, np.int32))


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
    assert _confirmed(keys, table, _rows([1, ABSENT]))  # confirmed in place
    assert not _confirmed(keys, table, _rows([0, ABSENT]))  # same length
    assert not _confirmed(keys, table, _rows([2, ABSENT]))  # another length
    assert not _confirmed(keys, table, _rows([ABSENT, ABSENT]))  # a miss
    assert not _confirmed(keys, table, _rows([1, 0]))  # in the second chunk


def test_keys_sliced_out_of_a_longer_series() -> None:
    table = pl.Series(["a", "b" * 20, "c"])
    keys = pl.Series(["x", "c", "b" * 20, "a", "y"]).slice(1, 3)  # views at an offset
    assert rows_of(keys, table).tolist() == [2, 1, 0]
    # Confirmed in place, not by the join that answers when confirmation fails.
    assert _confirmed(keys, table, _rows([2, 1, 0]))
    assert rows_of(keys.slice(3, 0), table).tolist() == []


def test_keys_in_many_chunks_and_empty_keys() -> None:
    table = pl.Series(["", "a" * 40, "b"])
    keys = pl.concat([pl.Series(["b", ""]), pl.Series(["a" * 40, "z" * 40])], rechunk=False)
    assert rows_of(keys, table).tolist() == [2, 0, 1, ABSENT]


def test_the_assignment_redoes_rows_a_colliding_hash_got_wrong(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The assignment goes on with rows as the hash finds them while they are checked; when
    the check fails, it assigns again from the exact rows."""
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    mid = datetime(2026, 10, 15, tzinfo=UTC)
    events = pl.DataFrame(
        {"event_id": ["e1", "e2", "e3"], "customer_id": ["a", "b", "x"], "timestamp": [mid] * 3},
        schema_overrides={"timestamp": TIMESTAMP},
    )
    periods = pl.DataFrame(
        {"customer_id": ["a", "b"], "period_start": [start] * 2, "period_end": [end] * 2},
        schema_overrides={"period_start": TIMESTAMP, "period_end": TIMESTAMP},
    )
    billable = pl.DataFrame(
        {
            "customer_id": ["a", "b"],
            "subscription_id": ["sa", "sb"],
            "active_start": [start] * 2,
            "active_end": [end] * 2,
        },
        schema_overrides={"active_start": TIMESTAMP, "active_end": TIMESTAMP},
    )
    expected = assign_subscriptions(events, periods, billable)
    assert expected["subscription_id"].cast(pl.String).to_list() == ["sa", "sb", None]

    def collided(keys: pl.Series, table: pl.Series) -> tuple[np.ndarray, object]:
        # Every key found at the first row, and the check by value says so. Read-only, as
        # every kernel input is: the kernels compile once (tests/unit/test_kernel_types.py).
        return kernel_input(np.zeros(keys.len(), np.int32)), lambda: False

    monkeypatch.setattr(assignment, "probed_rows", collided)
    assert_frame_equal(assign_subscriptions(events, periods, billable), expected)
    # Split in halves (one event, then two), each half redoes its own rows.
    monkeypatch.setattr(assignment, "HALF_AT_LEAST", 1)
    assert_frame_equal(assign_subscriptions(events, periods, billable), expected)

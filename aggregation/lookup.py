"""Each key's row in a small table of distinct keys (an event's customer in a run's lookup).

A Polars left join of 10M string keys against 100k takes about 0.25 s on two
cores. Hashing the keys (Polars' seeded hash, parallel) and probing an
open-addressing table of the table's hashes in Numba takes about a third of
that. A 64-bit hash can collide, so the answer is confirmed by value before it
is used: every matched key equals the table's key at its row, and no unmatched
key is in the table. If either check fails (a collision), or two table keys
share a hash, the exact join answers instead.
"""

from __future__ import annotations

import numba as nb
import numpy as np
import polars as pl

ABSENT = -1
"""The row of a key the table does not hold."""

HASH_SEED = 20261129
_LOAD = 2
"""Table slots per key, at least: open addressing stays short at half load."""


@nb.njit(cache=True)
def _build(hashes: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """The slots (hash, row) of every key; False if two keys share a hash."""
    mask = np.int64((1 << bits) - 1)
    slot_hash = np.zeros(1 << bits, np.uint64)
    slot_row = np.full(1 << bits, ABSENT, np.int32)
    for row in range(hashes.shape[0]):
        key = hashes[row]
        slot = np.int64(key >> np.uint64(64 - bits))
        while slot_row[slot] != ABSENT:
            if slot_hash[slot] == key:
                return slot_hash, slot_row, False
            slot = (slot + 1) & mask
        slot_hash[slot] = key
        slot_row[slot] = row
    return slot_hash, slot_row, True


@nb.njit(cache=True, parallel=True)
def _probe(
    hashes: np.ndarray, slot_hash: np.ndarray, slot_row: np.ndarray, bits: int
) -> np.ndarray:
    mask = np.int64((1 << bits) - 1)
    rows = np.empty(hashes.shape[0], np.int32)
    for i in nb.prange(hashes.shape[0]):
        key = hashes[i]
        slot = np.int64(key >> np.uint64(64 - bits))
        found = ABSENT
        while slot_row[slot] != ABSENT:
            if slot_hash[slot] == key:
                found = slot_row[slot]
                break
            slot = (slot + 1) & mask
        rows[i] = found
    return rows


def _by_join(keys: pl.Series, table: pl.Series) -> np.ndarray:
    rows = (
        keys.to_frame("key")
        .join(
            table.to_frame("key").with_row_index("row"),
            on="key",
            how="left",
            maintain_order="left",
        )
        .get_column("row")
    )
    return rows.fill_null(ABSENT).cast(pl.Int32).to_numpy()


def _confirmed(keys: pl.Series, table: pl.Series, rows: np.ndarray) -> bool:
    """Every matched key equals its row's key, and no unmatched key is in the table."""
    found = rows != ABSENT
    same = keys == table.gather(np.where(found, rows, 0))
    if not (same | pl.Series(~found)).all():
        return False
    unmatched = keys.filter(pl.Series(~found))
    return not unmatched.len() or not unmatched.is_in(table.implode()).any()


def rows_of(keys: pl.Series, table: pl.Series) -> np.ndarray:
    """Each key's row in ``table`` (distinct keys), ``ABSENT`` (-1) if it holds none; int32.

    >>> rows_of(pl.Series(["b", "x", "a", "b"]), pl.Series(["a", "b"])).tolist()
    [1, -1, 0, 1]
    """
    if table.len() == 0:
        return np.full(keys.len(), ABSENT, np.int32)
    if keys.null_count() or table.null_count():
        return _by_join(keys, table)
    bits = max(4, int(table.len() * _LOAD - 1).bit_length())
    slot_hash, slot_row, distinct = _build(table.hash(seed=HASH_SEED).to_numpy(), bits)
    if not distinct:
        return _by_join(keys, table)
    rows = _probe(keys.hash(seed=HASH_SEED).to_numpy(), slot_hash, slot_row, bits)
    return rows if _confirmed(keys, table, rows) else _by_join(keys, table)

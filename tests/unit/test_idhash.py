"""The persisted event-id hash (XXH64) and the repeated-hash set, against plain Python."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from meter.dedup import find_candidates
from meter.event_store import INDEX_RECORD
from meter.idhash import NULL_HASH, bucket_of, group_by_bucket, hash_strings, repeated
from tests.reference import idhash as ref

# Published XXH64 values (seed 0), cross-checked with the reference xxhash library once:
# these are pinned because the index on disk depends on them never changing.
VECTORS = {
    "": 0xEF46DB3751D8E999,
    "a": 0xD24EC4F1A98C6E5B,
    "abc": 0x44BC2CF5AD770999,
    "evt-202610-0000000001": 0x82D342C8AA2C966B,
    "héllo wörld ✓": 0x34D9919C86F55AC4,
    "x" * 32: 0xE2DF261FC2EC30EB,
    "meterline exactly-once event id, forty+ bytes": 0xAD1C0BF8869D3026,
}


def test_known_answers():
    hashes = hash_strings(pl.Series(list(VECTORS)))
    assert [int(h) for h in hashes] == list(VECTORS.values())
    assert [ref.xxh64(text.encode()) for text in VECTORS] == list(VECTORS.values())


def test_nulls_slices_and_chunked_arrays():
    values = ["a", None, "abc", "x" * 32]
    full = hash_strings(pl.Series(values))
    assert int(full[1]) == NULL_HASH
    assert (hash_strings(pl.Series(values).slice(2, 2)) == full[2:]).all()
    chunked = pa.chunked_array([["a"], [None, "abc"], ["x" * 32]], type=pa.string())
    assert (hash_strings(chunked) == full).all()
    assert hash_strings(pl.Series([], dtype=pl.String)).size == 0


@given(st.lists(st.text(max_size=80), max_size=30))
def test_hash_matches_the_reference(texts: list[str]):
    hashes = hash_strings(pl.Series(texts, dtype=pl.String))
    assert [int(h) for h in hashes] == [ref.xxh64(t.encode()) for t in texts]


HASHES = st.lists(
    st.one_of(
        st.integers(0, 5),
        st.integers(0, 7).map(lambda high: high << 24 | 5),  # one slot, several partitions
        st.integers(0, 2**64 - 1),
    ),
    max_size=60,
)  # few distinct values make repeats (and the empty-slot value 0) common


@given(HASHES, HASHES, st.sampled_from([1, 3, 16, 10_000]))
def test_repeated_matches_a_python_counter(history: list[int], batch: list[int], part: int):
    # Small partitions (part_entries 1 or 3) split even a few hashes over many tables.
    in_batch, in_history = repeated(
        np.array(history, dtype=np.uint64), np.array(batch, dtype=np.uint64), part_entries=part
    )
    assert (in_batch.tolist(), in_history.tolist()) == ref.repeated(history, batch)


@pytest.mark.parametrize("bits", [0, 1, 4, 8])
def test_buckets_cover_the_range_by_top_bits(bits: int):
    hashes = np.array([0, 1, 2**63 - 1, 2**63, 2**64 - 1], dtype=np.uint64)
    buckets = bucket_of(hashes, bits)
    assert buckets.tolist() == [int(h) >> (64 - bits) if bits else 0 for h in hashes.tolist()]


SPREAD = st.lists(
    st.one_of(
        st.integers(0, 15).map(lambda top: top << 60 | 9),  # few values, in every bucket
        st.integers(0, 2**64 - 1),
    ),
    max_size=60,
)
"""Hashes whose repeats fall in different buckets, so grouping by bucket reorders them."""


@given(SPREAD, SPREAD, st.sampled_from([0, 1, 2, 4]))
def test_candidates_over_buckets_match_a_python_counter(
    history: list[int], batch: list[int], bits: int
):
    # History is handed over one bucket at a time, as the store's index files are read.
    entries = np.array([(h, day) for day, h in enumerate(history)], dtype=INDEX_RECORD).reshape(-1)
    buckets = bucket_of(entries["id_hash"], bits)
    found = find_candidates(np.array(batch, dtype=np.uint64), lambda b: entries[buckets == b], bits)
    in_batch, in_history = ref.repeated(history, batch)
    assert found.mask.tolist() == in_batch
    days = sorted({day for day, hit in enumerate(in_history) if hit})
    assert found.history_days.tolist() == days


def test_grouping_by_bucket_keeps_arrival_order_in_each_bucket():
    hashes = np.array([3 << 62, 1, 2 << 62, 5, 3 << 62 | 7, 2], dtype=np.uint64)
    grouped, positions, starts = group_by_bucket(hashes, 2)
    assert starts.tolist() == [0, 3, 3, 4, 6]
    assert positions.tolist() == [1, 3, 5, 2, 0, 4]
    assert (grouped == hashes[positions]).all()
    assert (bucket_of(grouped, 2) == np.repeat(np.arange(4), np.diff(starts))).all()

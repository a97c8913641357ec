"""Stable 64-bit hashes of event ids, and the hash set that finds repeated ones.

The hash is **XXH64 with seed 0** over each id's UTF-8 bytes (the published
algorithm, https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md).
It is persisted in the event store's index, so it must never change with a
library version: Polars documents that its own ``hash`` may, hence this
implementation. A null id hashes to ``NULL_HASH``.

Hashes can collide (two different ids, one hash), so a hash match is only a
*candidate* duplicate; :mod:`meter.dedup` confirms candidates on the real ids.
The set never gives a false negative, which is what exactly-once needs.

>>> import polars as pl
>>> hex(int(hash_strings(pl.Series([""]))[0]))
'0xef46db3751d8e999'
"""

from __future__ import annotations

import numba as nb
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_P3 = np.uint64(0x165667B19E3779F9)
_P4 = np.uint64(0x85EBCA77C2B2AE63)
_P5 = np.uint64(0x27D4EB2F165667C5)

NULL_HASH = np.uint64(0)
"""The hash given to a null id (never de-duplicated: nulls are quarantined first)."""


@nb.njit(inline="always")
def _rotl(x: np.uint64, r: int) -> np.uint64:
    return (x << np.uint64(r)) | (x >> np.uint64(64 - r))


@nb.njit(inline="always")
def _read_le(data: np.ndarray, p: int, width: int) -> np.uint64:
    """``width`` bytes at ``p`` as a little-endian unsigned integer (unaligned is fine)."""
    value = np.uint64(0)
    for i in range(width):
        value |= np.uint64(data[p + i]) << np.uint64(8 * i)
    return value


@nb.njit(inline="always")
def _round(acc: np.uint64, lane: np.uint64) -> np.uint64:
    acc = acc + lane * _P2
    return _rotl(acc, 31) * _P1


@nb.njit(inline="always")
def _merge(acc: np.uint64, lane: np.uint64) -> np.uint64:
    acc = acc ^ _round(np.uint64(0), lane)
    return acc * _P1 + _P4


@nb.njit(cache=True)
def _xxh64(data: np.ndarray, start: int, end: int) -> np.uint64:
    length = end - start
    p = start
    if length >= 32:
        v1 = _P1 + _P2
        v2 = _P2
        v3 = np.uint64(0)
        v4 = np.uint64(0) - _P1
        while p + 32 <= end:
            v1 = _round(v1, _read_le(data, p, 8))
            v2 = _round(v2, _read_le(data, p + 8, 8))
            v3 = _round(v3, _read_le(data, p + 16, 8))
            v4 = _round(v4, _read_le(data, p + 24, 8))
            p += 32
        h = _rotl(v1, 1) + _rotl(v2, 7) + _rotl(v3, 12) + _rotl(v4, 18)
        h = _merge(h, v1)
        h = _merge(h, v2)
        h = _merge(h, v3)
        h = _merge(h, v4)
    else:
        h = _P5
    h = h + np.uint64(length)
    while p + 8 <= end:
        h = h ^ _round(np.uint64(0), _read_le(data, p, 8))
        h = _rotl(h, 27) * _P1 + _P4
        p += 8
    if p + 4 <= end:
        h = h ^ (_read_le(data, p, 4) * _P1)
        h = _rotl(h, 23) * _P2 + _P3
        p += 4
    while p < end:
        h = h ^ (np.uint64(data[p]) * _P5)
        h = _rotl(h, 11) * _P1
        p += 1
    h = h ^ (h >> np.uint64(33))
    h = h * _P2
    h = h ^ (h >> np.uint64(29))
    h = h * _P3
    return h ^ (h >> np.uint64(32))


@nb.njit(cache=True, parallel=True)
def _hash_all(offsets: np.ndarray, data: np.ndarray, valid: np.ndarray) -> np.ndarray:
    out = np.empty(len(offsets) - 1, dtype=np.uint64)
    for i in nb.prange(len(out)):
        out[i] = _xxh64(data, offsets[i], offsets[i + 1]) if valid[i] else NULL_HASH
    return out


def _arrow_strings(values: pl.Series | pa.Array | pa.ChunkedArray) -> pa.LargeStringArray:
    if isinstance(values, pl.Series):
        values = values.to_arrow()
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.large_string())
    if values.type != pa.large_string():
        values = pc.cast(values, pa.large_string())
    return values


def hash_strings(values: pl.Series | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """XXH64 (seed 0) of each string's UTF-8 bytes, as ``uint64``; nulls get ``NULL_HASH``.

    >>> [hex(int(h)) for h in hash_strings(pl.Series(["a", None]))]
    ['0xd24ec4f1a98c6e5b', '0x0']
    """
    array = _arrow_strings(values)
    if len(array) == 0:
        return np.empty(0, dtype=np.uint64)
    _, offsets_buffer, data_buffer = array.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
        array.offset : array.offset + len(array) + 1
    ]
    data = (
        np.frombuffer(data_buffer, dtype=np.uint8)
        if data_buffer is not None
        else np.empty(0, dtype=np.uint8)
    )
    valid = (
        np.ones(len(array), dtype=np.bool_)
        if array.null_count == 0
        else array.is_valid().to_numpy(zero_copy_only=False)
    )
    return _hash_all(offsets, data, valid)


def bucket_of(hashes: np.ndarray, bits: int) -> np.ndarray:
    """The index bucket of each hash: its top ``bits`` bits (0 bits: one bucket).

    ``uint16``, so numpy sorts buckets by radix (several times faster than ``int64``).

    >>> bucket_of(np.array([0, 2**63, 2**64 - 1], dtype=np.uint64), 4).tolist()
    [0, 8, 15]
    """
    if not 0 <= bits <= 16:
        raise ValueError(f"bucket bits must be 0..16, got {bits}")
    if bits == 0:
        return np.zeros(len(hashes), dtype=np.uint16)
    return (hashes >> np.uint64(64 - bits)).astype(np.uint16)


def group_by_bucket(hashes: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The hashes grouped by bucket (:func:`bucket_of`), in arrival order within a bucket:
    ``(grouped, positions, starts)``, bucket ``b`` being ``grouped[starts[b]:starts[b+1]]``
    and ``positions`` where each grouped hash stands in ``hashes``.

    One counting pass instead of an argsort and a gather.

    >>> grouped, positions, starts = group_by_bucket(
    ...     np.array([2**63, 1, 2**63 + 1, 2], dtype=np.uint64), 1)
    >>> positions.tolist(), starts.tolist()
    ([1, 3, 0, 2], [0, 2, 4])
    """
    if not 0 <= bits <= 16:
        raise ValueError(f"bucket bits must be 0..16, got {bits}")
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    # A shift by 64 is undefined: with no bucket bits, every hash is in bucket 0.
    shift = np.uint64(64 - bits) if bits else np.uint64(0)
    return _partition(hashes, 1 << bits, shift)


_EMPTY = np.uint64(0)
"""Marks a free slot; the real hash 0 is counted apart."""

PART_ENTRIES = 1 << 14
"""Hashes per partition of :func:`repeated`: its table (2x as many slots) stays in L2 cache."""

_PART_SHIFT = np.uint64(24)
"""Partitions are told apart by bits 24 and up; slots by the low bits, so they stay independent."""


@nb.njit(cache=True)
def _partition(
    keys: np.ndarray, parts: int, shift: np.uint64
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``keys`` grouped by ``(key >> shift) % parts`` (a counting sort, in input order within
    a group): the grouped keys, each one's position in ``keys``, and each group's start."""
    mask = np.uint64(parts - 1)
    starts = np.zeros(parts + 1, dtype=np.int64)
    for i in range(len(keys)):
        starts[((keys[i] >> shift) & mask) + 1] += 1
    for p in range(parts):
        starts[p + 1] += starts[p]
    fill = starts[:-1].copy()
    grouped = np.empty(len(keys), dtype=np.uint64)
    order = np.empty(len(keys), dtype=np.int64)
    for i in range(len(keys)):
        p = (keys[i] >> shift) & mask
        grouped[fill[p]] = keys[i]
        order[fill[p]] = i
        fill[p] += 1
    return grouped, order, starts


@nb.njit(inline="always")
def _slot(table: np.ndarray, mask: np.uint64, key: np.uint64) -> int:
    """The slot holding ``key`` (non-zero), claiming a free one if it is new."""
    slot = key & mask
    while True:
        current = table[slot]
        if current == key:
            return int(slot)
        if current == _EMPTY:
            table[slot] = key
            return int(slot)
        slot = (slot + np.uint64(1)) & mask


@nb.njit(cache=True, parallel=True)
def _repeated_nonzero(
    history: np.ndarray, batch: np.ndarray, parts: int, in_batch: np.ndarray, in_history: np.ndarray
) -> None:
    """:func:`repeated` for non-zero hashes (zeros are skipped), one partition at a time.

    Partitions are independent (a hash lives in exactly one), so they run in
    parallel, each with a table small enough to stay in cache: one random
    memory access per hash instead of a cache miss on a table of the whole
    bucket.
    """
    # Keys are copied into their partitions, so each partition reads its keys in sequence
    # and only its results are written back at random.
    history_keys, history_order, history_starts = _partition(history, parts, _PART_SHIFT)
    batch_keys, batch_order, batch_starts = _partition(batch, parts, _PART_SHIFT)
    for p in nb.prange(parts):
        h0, h1 = history_starts[p], history_starts[p + 1]
        b0, b1 = batch_starts[p], batch_starts[p + 1]
        size = 16  # a power of two, at least twice the entries: probing stays short
        while size < 2 * (h1 - h0 + b1 - b0):
            size *= 2
        table = np.zeros(size, dtype=np.uint64)
        history_counts = np.zeros(size, dtype=np.uint8)
        batch_counts = np.zeros(size, dtype=np.uint8)
        mask = np.uint64(size - 1)
        for j in range(h0, h1):
            if history_keys[j] != _EMPTY:
                slot = _slot(table, mask, history_keys[j])
                history_counts[slot] = min(history_counts[slot] + 1, 2)
        for j in range(b0, b1):
            if batch_keys[j] != _EMPTY:
                slot = _slot(table, mask, batch_keys[j])
                batch_counts[slot] = min(batch_counts[slot] + 1, 2)
        for j in range(h0, h1):
            if history_keys[j] != _EMPTY:
                slot = _slot(table, mask, history_keys[j])
                in_history[history_order[j]] = batch_counts[slot] >= 1
        for j in range(b0, b1):
            if batch_keys[j] != _EMPTY:
                slot = _slot(table, mask, batch_keys[j])
                in_batch[batch_order[j]] = history_counts[slot] + batch_counts[slot] >= 2


def repeated(
    history: np.ndarray, batch: np.ndarray, *, part_entries: int = PART_ENTRIES
) -> tuple[np.ndarray, np.ndarray]:
    """Which hashes occur more than once across ``history`` and ``batch``.

    Returns ``(in_batch, in_history)``: per batch hash, whether it also occurs
    in history or elsewhere in the batch; per history hash, whether the batch
    holds it too. Every row of a repeated hash is marked, first arrival
    included, because which row is first is decided later on the real ids.
    The hashes are split into partitions of about ``part_entries``; memory is
    an ``int64`` position per hash plus one small table per partition.

    >>> in_batch, in_history = repeated(
    ...     np.array([7, 8], dtype=np.uint64), np.array([5, 7, 5, 9], dtype=np.uint64))
    >>> in_batch.tolist(), in_history.tolist()
    ([True, True, True, False], [True, False])
    """
    history = np.ascontiguousarray(history, dtype=np.uint64)
    batch = np.ascontiguousarray(batch, dtype=np.uint64)
    parts = 1
    while parts * part_entries < len(history) + len(batch):
        parts *= 2
    in_batch = np.zeros(len(batch), dtype=np.bool_)
    in_history = np.zeros(len(history), dtype=np.bool_)
    _repeated_nonzero(history, batch, parts, in_batch, in_history)
    # 0 is the empty-slot mark (and the hash of a null id): its rows are counted here.
    history_zero, batch_zero = history == _EMPTY, batch == _EMPTY
    zeros = int(history_zero.sum()) + int(batch_zero.sum())
    in_batch[batch_zero] = zeros >= 2
    in_history[history_zero] = bool(batch_zero.any())
    return in_batch, in_history

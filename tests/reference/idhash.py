"""XXH64 (seed 0) in plain Python, written from the specification for obviousness."""

from __future__ import annotations

from collections import Counter

MASK = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5


def rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def lane_round(acc: int, lane: int) -> int:
    return rotl((acc + lane * P2) & MASK, 31) * P1 & MASK


def merge(acc: int, lane: int) -> int:
    return ((acc ^ lane_round(0, lane)) * P1 + P4) & MASK


def xxh64(data: bytes) -> int:
    p, n = 0, len(data)
    if n >= 32:
        lanes = [(P1 + P2) & MASK, P2, 0, (-P1) & MASK]
        while p + 32 <= n:
            for i in range(4):
                lanes[i] = lane_round(lanes[i], int.from_bytes(data[p : p + 8], "little"))
                p += 8
        h = sum(rotl(v, r) for v, r in zip(lanes, (1, 7, 12, 18), strict=True)) & MASK
        for lane in lanes:
            h = merge(h, lane)
    else:
        h = P5
    h = (h + n) & MASK
    while p + 8 <= n:
        h ^= lane_round(0, int.from_bytes(data[p : p + 8], "little"))
        h = (rotl(h, 27) * P1 + P4) & MASK
        p += 8
    if p + 4 <= n:
        h ^= int.from_bytes(data[p : p + 4], "little") * P1 & MASK
        h = (rotl(h, 23) * P2 + P3) & MASK
        p += 4
    while p < n:
        h ^= data[p] * P5 & MASK
        h = rotl(h, 11) * P1 & MASK
        p += 1
    h ^= h >> 33
    h = h * P2 & MASK
    h ^= h >> 29
    h = h * P3 & MASK
    return h ^ (h >> 32)


def repeated(history: list[int], batch: list[int]) -> tuple[list[bool], list[bool]]:
    """Per batch hash: occurs twice or more overall; per history hash: occurs in the batch."""
    everywhere = Counter(history) + Counter(batch)
    in_batch = set(batch)
    return [everywhere[h] >= 2 for h in batch], [h in in_batch for h in history]

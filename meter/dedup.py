"""Exactly-once: an event id counts once; the first arrival wins.

Arrival order is history first (everything already in the store), then the
batch's files in the order given, then row order within a file. A later row
with an already-seen ``event_id`` is a *duplicate* when its content equals the
first arrival's, a *conflict* when it differs; neither is rated.

At batch scale this runs in two steps (see ``PERFORMANCE.md``):

1. :func:`find_candidates` hashes every ``event_id`` to 64 bits and, bucket
   by bucket, probes a hash set of the history's hashes and the batch's
   earlier ones. A row whose hash was never seen before is certainly a first
   arrival. Every row sharing a hash with another row or with history is a
   *candidate*: hashes can collide, so nothing is decided on a hash alone.
2. :func:`resolve_candidates` decides the candidates (a few percent of rows)
   exactly, on the real ``event_id`` and content, together with the history
   rows that carry the same ids.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import polars as pl

from meter.idhash import group_by_bucket, repeated
from schemas.events import EVENT_ID, ROW_NUMBER, SOURCE_FILE

ARRIVAL = "_arrival"
CONTENT = "_content"
DEDUP_STATUS = "dedup_status"
FIRST_ARRIVAL = "first_arrival"
"""On a duplicate or conflict: where the winning row came from (batch, file, row)."""


class DedupStatus(StrEnum):
    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class Candidates:
    """Result of the hash pass over one batch."""

    mask: np.ndarray
    """Per batch row (in arrival order): true where the row must be resolved exactly."""
    history_days: np.ndarray
    """UTC day numbers of history entries whose hash a candidate shares: partitions to read."""


def find_candidates(
    batch_hashes: np.ndarray, history_bucket: Callable[[int], np.ndarray], bucket_bits: int
) -> Candidates:
    """Mark every row whose ``event_id`` hash occurs twice in the batch or once in history.

    ``history_bucket(b)`` returns the history index entries (``id_hash``,
    ``day``) of bucket ``b``; only one bucket of history is in memory at a time.

    >>> from meter.event_store import INDEX_RECORD
    >>> history = np.array([(7, 100)], dtype=INDEX_RECORD)
    >>> found = find_candidates(np.array([5, 7, 9, 5], dtype=np.uint64), lambda b: history, 0)
    >>> found.mask.tolist(), found.history_days.tolist()
    ([True, True, False, True], [100])
    """
    mask = np.zeros(len(batch_hashes), dtype=bool)
    days: list[np.ndarray] = []
    grouped, positions, starts = group_by_bucket(batch_hashes, bucket_bits)
    for bucket in range(1 << bucket_bits):
        rows = slice(starts[bucket], starts[bucket + 1])
        if rows.start == rows.stop:
            continue
        history = history_bucket(bucket)
        in_batch, in_history = repeated(history["id_hash"], grouped[rows])
        mask[positions[rows]] = in_batch
        days.append(history["day"][in_history])
    history_days = np.unique(np.concatenate(days)) if days else np.empty(0, dtype=np.int32)
    return Candidates(mask, history_days)


def content_key(columns: Sequence[str]) -> pl.Expr:
    """One text per row naming every non-null value: equal texts mean equal content.

    Values are compared in store form (after the catalog's type conversion), so
    ``1.50`` and ``1.5`` in a number property are the same content.

    >>> frame = pl.DataFrame({"a": ["x", None], "b": [1, 2]})
    >>> frame.select(content_key(["a", "b"])).to_series().to_list()
    ['a=x\\x1fb=1', 'b=2']
    """
    parts = [
        pl.when(pl.col(name).is_not_null()).then(pl.format(f"{name}={{}}", pl.col(name)))
        for name in sorted(columns)
    ]
    return pl.concat_str(parts, separator="\x1f", ignore_nulls=True).alias(CONTENT)


def resolve_candidates(candidates: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """Decide each candidate row: accepted, duplicate or conflict.

    ``candidates`` are batch rows with ``event_id``, ``_content``, ``_arrival``
    (their position in the batch's arrival order) and lineage; ``history`` the
    stored rows with the same ids (``event_id``, ``_content``, lineage and
    ``ingest_batch_id``). Adds ``dedup_status`` and ``first_arrival``.

    >>> batch = pl.DataFrame({"event_id": ["a", "a", "b"], "_content": ["x", "y", "z"],
    ...     "_arrival": [0, 1, 2], "source_file": ["f"] * 3, "row_number": [1, 2, 3]})
    >>> stored = pl.DataFrame({"event_id": ["b"], "_content": ["z"], "source_file": ["old"],
    ...     "row_number": [9], "ingest_batch_id": ["b-1"]})
    >>> resolve_candidates(batch, stored)["dedup_status"].to_list()
    ['accepted', 'conflict', 'duplicate']
    """
    lineage = pl.format(
        "{} row {}", pl.col(SOURCE_FILE), pl.col(ROW_NUMBER)
    )  # where the winner came from, as a user would look it up
    stored = history.select(
        EVENT_ID,
        CONTENT,
        pl.lit(-1, dtype=pl.Int64).alias(ARRIVAL),
        pl.format("batch {}: {}", pl.col("ingest_batch_id"), lineage).alias(FIRST_ARRIVAL),
    )
    incoming = candidates.select(
        EVENT_ID,
        CONTENT,
        pl.col(ARRIVAL).cast(pl.Int64),
        lineage.alias(FIRST_ARRIVAL),
    )
    winners = (
        pl.concat([stored, incoming])
        .sort(ARRIVAL)
        .group_by(EVENT_ID, maintain_order=True)
        .first()
        .rename({CONTENT: "_winner_content", ARRIVAL: "_winner_arrival"})
    )
    status = (
        pl.when(pl.col(ARRIVAL) == pl.col("_winner_arrival"))
        .then(pl.lit(DedupStatus.ACCEPTED.value))
        .when(pl.col(CONTENT) == pl.col("_winner_content"))
        .then(pl.lit(DedupStatus.DUPLICATE.value))
        .otherwise(pl.lit(DedupStatus.CONFLICT.value))
    )
    return (
        candidates.join(winners, on=EVENT_ID, how="left", maintain_order="left")
        .with_columns(
            status.alias(DEDUP_STATUS),
            pl.when(pl.col(ARRIVAL) == pl.col("_winner_arrival"))
            .then(None)
            .otherwise(pl.col(FIRST_ARRIVAL))
            .alias(FIRST_ARRIVAL),
        )
        .drop("_winner_content", "_winner_arrival")
    )

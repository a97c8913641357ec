"""Exactly-once: an event id counts once; the first arrival wins.

Arrival order is source order (files sorted as given), then row order within
a file. Later rows with an already-seen ``event_id`` are duplicates: counted,
never rated.
"""

from __future__ import annotations

import polars as pl

from schemas.events import EVENT_ID

IS_DUPLICATE = "is_duplicate"


def mark_duplicates(events: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``is_duplicate``: true on every arrival of an id after its first.

    >>> frame = pl.LazyFrame({"event_id": ["a", "b", "a", "a"]})
    >>> mark_duplicates(frame).collect()["is_duplicate"].to_list()
    [False, False, True, True]
    """
    return events.with_columns((~pl.col(EVENT_ID).is_first_distinct()).alias(IS_DUPLICATE))

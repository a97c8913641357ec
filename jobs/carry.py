"""Checkpoints of the state gauge and duration meters carry between periods.

A gauge level or a running session carries into a period from its last setting
before the subscription's window, however long ago that was
(:func:`aggregation.usage.opening_state`). Reading every event since the oldest
subscription started would make each month's run slower than the last. So a
run keeps a checkpoint instead: each customer's last settings of the
time-based meters before the UTC date its reads start. The next run starts
from the latest valid checkpoint and reads only the events dated after it; the
state is associative, so the checkpoint plus those events give the same
opening state as the whole history.

Checkpoints live in the event store under ``carried/<meters>/``, one per date:
a Parquet file of events and a manifest naming it and the committed batches it
was made from. ``<meters>`` digests the time-based meters' definitions: a
catalog that changes them starts afresh. A checkpoint is valid while the
committed batches holding events dated before it are exactly those; a batch
that adds an older event (a late event) invalidates it, and the run starts
from an earlier checkpoint, or from the first event. The checkpoints are a
cache: deleting them changes nothing but speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from aggregation.usage import opening_state
from meter.event_store import EventStore, batch_of, date_of, write_json
from schemas.catalog import Meter
from schemas.events import CUSTOMER_ID, EVENT_ID, EVENT_TYPE, TIMESTAMP_COLUMN

FORMAT = 1
"""Bumped when what a checkpoint holds changes: older ones are then ignored."""
FOLDER = "carried"


def carried_columns(
    meters: Sequence[Meter], schema: Mapping[str, pl.DataType]
) -> dict[str, pl.DataType]:
    """The event columns the carried state of ``meters`` needs, typed as the store has them."""
    names = sorted({name for meter in meters for name in meter.referenced_properties})
    return {
        name: schema[name]
        for name in (EVENT_ID, CUSTOMER_ID, EVENT_TYPE, TIMESTAMP_COLUMN, *names)
        if name in schema
    }


def carried_events(
    events: pl.LazyFrame, meters: Sequence[Meter], columns: Sequence[str]
) -> pl.LazyFrame:
    """The events of ``meters``' event types, with only ``columns``."""
    types = sorted({meter.event_type for meter in meters})
    return events.filter(pl.col(EVENT_TYPE).is_in(types)).select(columns)


@dataclass(frozen=True)
class Checkpoint:
    day: str
    """The state is of the events dated before this UTC date (``YYYY-MM-DD``)."""
    batches: frozenset[str]
    """The committed batches holding events dated before ``day`` when it was made."""
    state: Path


def meters_digest(meters: Sequence[Meter]) -> str:
    """A name for the definitions of ``meters`` (and the checkpoint format)."""
    text = repr((FORMAT, sorted(repr(meter) for meter in meters)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _checkpoints(folder: Path) -> list[Checkpoint]:
    """The folder's complete checkpoints, latest first (a manifest is written last)."""
    found = []
    for manifest in folder.glob("*.json"):
        try:
            record = json.loads(manifest.read_text(encoding="utf-8"))
            checkpoint = Checkpoint(
                record["day"], frozenset(record["batches"]), folder / record["state"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            continue  # a manifest being replaced, or not ours: not a checkpoint
        if checkpoint.state.exists():
            found.append(checkpoint)
    return sorted(found, key=lambda checkpoint: checkpoint.day, reverse=True)


def _write(folder: Path, day: str, batches: set[str], state: pl.DataFrame) -> None:
    """Publish a checkpoint: its state file first, then the manifest that names it."""
    digest = hashlib.sha256("\n".join(sorted(batches)).encode()).hexdigest()[:16]
    name = f"{day}.{digest}.parquet"
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / f".{name}.{uuid.uuid4().hex}.tmp"
    state.write_parquet(temporary)
    os.replace(temporary, folder / name)
    record = {"day": day, "batches": sorted(batches), "state": name, "rows": state.height}
    write_json(folder / f"{day}.json", record)
    for stale in folder.glob(f"{day}.*.parquet"):
        if stale.name != name:
            stale.unlink(missing_ok=True)


def carried_state(
    event_store: EventStore,
    committed: Sequence[str],
    day: str,
    meters: Sequence[Meter],
    columns: Mapping[str, pl.DataType],
) -> pl.DataFrame:
    """Each customer's last settings of the time-based ``meters`` in the committed events
    dated before ``day``: the events (``columns``) that decide the state any window
    starting on or after ``day`` opens with, once filtered to the subscription's own
    events (``aggregation.usage.opening_state``, per customer).

    Starts from the latest valid checkpoint before ``day`` and leaves one for ``day``.
    """
    folder = event_store.root / FOLDER / meters_digest(meters)
    files = event_store.event_files(committed, [d for d in event_store.dates() if d < day])
    start, parts = None, []
    for checkpoint in _checkpoints(folder):
        if checkpoint.day > day:
            continue
        covered = {batch_of(f) for f in files if date_of(f) < checkpoint.day}
        if covered == checkpoint.batches:
            start = checkpoint.day
            parts.append(pl.scan_parquet(checkpoint.state).cast(dict(columns)))
            break
    if start == day:
        return parts[0].collect()
    newer = [f for f in files if start is None or date_of(f) >= start]
    if newer:
        scanned = pl.scan_parquet(newer, hive_partitioning=False)
        parts.append(carried_events(scanned, meters, list(columns)))
    if not parts:
        return pl.DataFrame(schema=columns)
    state = opening_state(pl.concat(parts, how="vertical"), meters, owner=CUSTOMER_ID).collect()
    # A cache: a store we cannot write to is read from its first event next time.
    with contextlib.suppress(OSError):
        _write(folder, day, {batch_of(f) for f in files}, state)
    return state

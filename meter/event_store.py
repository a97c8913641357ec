"""The event store: accepted usage events as a Parquet dataset partitioned by event date.

Layout under the store root::

    store.json                                the store's format
    events/date=2026-10-01/<batch_id>.<part>.<chunk>.parquet   accepted events, zstd: a part
                                              per source file, a file per date of each chunk
    index/bucket=07/<batch_id>.idx            the de-duplication index of one batch
    _staging/<batch_id>/...                   a batch being written (same layout)
    _staging/<batch_id>/prepared.json         written last: the batch is complete on disk

A batch is written whole into ``_staging``, marked prepared, then its files are
moved into place one ``os.replace`` at a time. The batch becomes visible when
the caller records it as committed (in DuckDB); readers only ever read files
of committed batches (:meth:`EventStore.event_files`), so a reader never sees
part of a batch. A process killed before ``prepared.json`` exists leaves only
staging, which :meth:`EventStore.discard` removes; after it, the batch can be
rolled forward from staging alone (:meth:`EventStore.publish` is idempotent).

The index holds, per accepted event, the stable 64-bit hash of its
``event_id`` (:func:`meter.idhash.hash_strings`) and its event day, split into
``2**INDEX_BUCKET_BITS`` buckets by the hash's top bits so that history is
checked one bucket at a time in bounded memory. The day says which date
partitions to read when a hash match has to be confirmed on the real id.

Each event file is sorted by ``customer_bucket`` (:func:`customer_buckets`, a
stable hash of ``customer_id``) and written in row groups of ``ROW_GROUP_ROWS``:
a billing run split into customer shards reads, for each shard, only the row
groups whose buckets it holds (Parquet statistics), rather than decoding every
event once per shard. A store written before buckets existed (format 1, no
``store.json``) keeps its format, and a run computes the buckets as it reads.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from polars.io.partition import FileProviderArgs

from meter.idhash import group_by_bucket, hash_strings
from schemas.catalog import EventType, PropertyType
from schemas.errors import InputError
from schemas.events import (
    CUSTOMER_ID,
    INVOICED_PERIOD,
    REQUIRED_COLUMNS,
    ROW_NUMBER,
    SOURCE_FILE,
    TIMESTAMP_COLUMN,
    property_as_quantity,
)
from schemas.types import QUANTITY

INDEX_BUCKET_BITS = 4
INDEX_BUCKETS = 1 << INDEX_BUCKET_BITS
INDEX_RECORD = np.dtype([("id_hash", "<u8"), ("day", "<i4")])
"""One index entry, packed (12 bytes): the event_id hash and the event's UTC day number."""

EVENT_DATE = "event_date"
"""The partition key: the UTC calendar date of the event's timestamp."""

PREPARED = "prepared.json"
_STAGING = "_staging"
_ZSTD_LEVEL = 1
"""Level 1: most of zstd's size gain at a fraction of level 3's time."""


CUSTOMER_BUCKET = "customer_bucket"
CUSTOMER_BUCKET_BITS = 10
CUSTOMER_BUCKETS = 1 << CUSTOMER_BUCKET_BITS
ROW_GROUP_ROWS = 65_536
"""Rows per Parquet row group: small enough that a shard skips most of a day's events."""
FORMAT_FILE = "store.json"
BUCKETED = 2
"""The store format whose event files carry and are sorted by ``customer_bucket``."""


def write_json(path: Path, record: Mapping[str, Any]) -> None:
    """Write ``record`` as JSON to ``path`` atomically: a reader sees the old file or the
    whole new one (a temporary file beside it, then one ``os.replace``)."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    temporary.write_text(json.dumps(record, default=str, sort_keys=True), encoding="utf-8")
    os.replace(temporary, path)


def customer_buckets(customer_ids: pl.Series) -> pl.Series:
    """Each customer's bucket: the top ``CUSTOMER_BUCKET_BITS`` bits of the XXH64 of its
    id (:func:`meter.idhash.hash_strings`), stable across versions and machines.

    >>> customer_buckets(pl.Series(["acme", "globex"])).to_list()
    [748, 265]
    """
    hashes = hash_strings(customer_ids) >> np.uint64(64 - CUSTOMER_BUCKET_BITS)
    return pl.Series(CUSTOMER_BUCKET, hashes.astype(np.uint16))


INGEST_BATCH_ID = "ingest_batch_id"
LINEAGE_COLUMNS: dict[str, pl.DataType] = {
    INVOICED_PERIOD: pl.String(),
    INGEST_BATCH_ID: pl.String(),
    SOURCE_FILE: pl.String(),
    ROW_NUMBER: pl.Int64(),
}
"""Columns the store adds to every event: the late-event flag and where the row came from."""

PROPERTY_DTYPES: dict[PropertyType, pl.DataType] = {
    PropertyType.STRING: pl.String(),
    PropertyType.NUMBER: QUANTITY,
    PropertyType.INTEGER: pl.Int64(),
    PropertyType.BOOLEAN: pl.Boolean(),
}


def store_properties(event_types: Mapping[str, EventType]) -> dict[str, pl.DataType]:
    """Every declared property with its store type, sorted by name.

    A property declared by several event types has one type (checked when the
    catalog loads); columns that no event type declares are not stored.
    """
    found = {
        prop.name: PROPERTY_DTYPES[prop.type]
        for event_type in event_types.values()
        for prop in event_type.properties
    }
    return dict(sorted(found.items()))


def store_schema(
    event_types: Mapping[str, EventType], bucketed: bool = False
) -> dict[str, pl.DataType]:
    """Column order and types of the store's event files (of a ``bucketed`` store: then
    with ``customer_bucket`` last)."""
    buckets = {CUSTOMER_BUCKET: pl.UInt16()} if bucketed else {}
    return {**REQUIRED_COLUMNS, **store_properties(event_types), **LINEAGE_COLUMNS, **buckets}


def date_of(event_file: str | Path) -> str:
    """The UTC date partition (``YYYY-MM-DD``) an event file is stored under.

    >>> date_of("store/events/date=2026-10-01/b-0123456789abcdef.00001.parquet")
    '2026-10-01'
    """
    return Path(event_file).parent.name.removeprefix("date=")


def batch_of(event_file: str | Path) -> str:
    """The ingestion batch an event file belongs to (``<batch_id>.<part>.<chunk>.parquet``).

    >>> batch_of("store/events/date=2026-10-01/b-0123456789abcdef.00001.parquet")
    'b-0123456789abcdef'
    """
    return Path(event_file).name.split(".", 1)[0]


def _as_declared(name: str, dtype: pl.DataType, target: pl.DataType) -> pl.Expr:
    """A validated property column in its store type (validation rejected what cannot convert)."""
    column = pl.col(name)
    if target == QUANTITY:
        return property_as_quantity(name, dtype)
    if target == pl.Boolean() and dtype == pl.String:
        return column.str.to_lowercase().replace_strict(
            {"true": True, "false": False}, default=None, return_dtype=pl.Boolean
        )
    return column.cast(target, strict=False)


def to_store_form(events: pl.DataFrame, event_types: Mapping[str, EventType]) -> pl.DataFrame:
    """Validated events (contract form, with lineage) as store columns plus ``event_date``.

    ``invoiced_period`` and ``ingest_batch_id`` are left null here and set by
    the caller. Missing property columns become nulls of the declared type.
    """
    columns = [pl.col(name) for name in REQUIRED_COLUMNS]
    for name, target in store_properties(event_types).items():
        if name in events.columns:
            columns.append(_as_declared(name, events.schema[name], target).alias(name))
        else:
            columns.append(pl.lit(None, dtype=target).alias(name))
    columns += [
        pl.col(name) if name in events.columns else pl.lit(None, dtype=dtype).alias(name)
        for name, dtype in LINEAGE_COLUMNS.items()
    ]
    return events.select(*columns, pl.col(TIMESTAMP_COLUMN).dt.date().alias(EVENT_DATE))


class PartWriter:
    """Writes one part of a batch (one source file's accepted rows) into staging.

    Each chunk of the part becomes one Parquet file per event date
    (``<batch_id>.<part>.<chunk>.parquet``); index entries are buffered (12
    bytes per event) and only appended to the batch's bucket files on
    :meth:`commit`. :meth:`abort` removes every trace of the part, so a file
    that fails half-way leaves nothing behind.

    Splitting by date, encoding and compression run on a background thread
    (Polars' writer releases the GIL), so a chunk is written while the next one
    is read and validated; at most one chunk is in flight, which bounds memory.
    """

    def __init__(
        self,
        staging: Path,
        batch_id: str,
        part: str,
        schema: Mapping[str, pl.DataType],
        pool: ThreadPoolExecutor,
    ) -> None:
        self.staging = staging
        self.name = f"{batch_id}.{part}"
        self.batch_id = batch_id
        self.schema = pl.Schema(schema)
        self._pool = pool
        self._pending: Future[None] | None = None
        self._files: list[Path] = []
        self._chunks = 0
        self._index: list[np.ndarray] = []
        self.rows = 0

    def write(self, events: pl.DataFrame, id_hashes: np.ndarray) -> None:
        """Append accepted events (store columns plus ``event_date``) and their id hashes."""
        if events.is_empty():
            return
        records = np.empty(len(id_hashes), dtype=INDEX_RECORD)
        records["id_hash"] = id_hashes
        records["day"] = events[EVENT_DATE].cast(pl.Int32).to_numpy()
        self._index.append(records)
        self._wait()
        self._pending = self._pool.submit(self._write_chunk, events, self._chunks)
        self._chunks += 1
        self.rows += events.height

    def _write_chunk(self, events: pl.DataFrame, chunk: int) -> None:
        row_group_size = None
        if CUSTOMER_BUCKET in self.schema:
            # Sorted by bucket, keeping arrival order within one (it compresses better).
            events = events.with_columns(customer_buckets(events[CUSTOMER_ID])).sort(
                CUSTOMER_BUCKET, maintain_order=True
            )
            row_group_size = ROW_GROUP_ROWS
        if events.select(pl.exclude(EVENT_DATE)).schema != self.schema:
            events = events.select(*self.schema.names(), EVENT_DATE).cast(self.schema)

        def path(file: FileProviderArgs) -> str:
            day = file.partition_keys[EVENT_DATE][0].isoformat()
            # One file per date and chunk (Polars splits only beyond 4 GiB of rows).
            split = f"-{file.index_in_partition}" if file.index_in_partition else ""
            # Relative to the sink's base: Polars puts a relative path under it.
            relative = f"date={day}/{self.name}.{chunk:05d}{split}.parquet"
            self._files.append(self.staging / "events" / relative)
            return relative

        # One partitioned sink: no copy of the chunk per date, and dates are encoded
        # in parallel.
        events.lazy().sink_parquet(
            pl.PartitionBy(
                self.staging / "events", key=EVENT_DATE, include_key=False, file_path_provider=path
            ),
            compression="zstd",
            compression_level=_ZSTD_LEVEL,
            row_group_size=row_group_size,
            mkdir=True,
        )

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def commit(self) -> None:
        """Finish the part's files and add its index entries to the batch's bucket files."""
        self._wait()
        if not self._index:
            return
        records = np.concatenate(self._index)
        self._index.clear()
        _, positions, starts = group_by_bucket(records["id_hash"], INDEX_BUCKET_BITS)
        # take: several times faster than fancy indexing on a structured array
        records = np.take(records, positions)
        for bucket in range(INDEX_BUCKETS):
            chunk = records[starts[bucket] : starts[bucket + 1]]
            if chunk.size:
                path = self.staging / "index" / f"bucket={bucket:02d}" / f"{self.batch_id}.idx"
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("ab") as handle:
                    handle.write(chunk.tobytes())

    def abort(self) -> None:
        with suppress(Exception):  # the part is being thrown away; its files go below
            self._wait()
        self._index.clear()
        for path in self._files:
            path.unlink(missing_ok=True)
        self._files.clear()


class EventStore:
    """A store root on the local filesystem (atomic renames need one filesystem)."""

    def __init__(self, root: str | Path) -> None:
        if "://" in str(root) and not str(root).startswith("file://"):
            raise InputError(f"{root}: the event store must be a local directory")
        self.root = Path(str(root).removeprefix("file://"))

    # ---------------------------------------------------------------- format

    @property
    def bucketed(self) -> bool:
        """Whether the event files carry ``customer_bucket`` and are sorted by it."""
        return self._format() >= BUCKETED

    def _format(self) -> int:
        path = self.root / FORMAT_FILE
        if path.exists():
            try:
                return int(json.loads(path.read_text(encoding="utf-8"))["format"])
            except (ValueError, KeyError, TypeError):
                raise InputError(
                    f'{path}: not a store format record (expected {{"format": 1}} or '
                    f'{{"format": {BUCKETED}}}); restore it from a backup of the store'
                ) from None
        # Without the file: a store from before formats existed, or no store yet.
        return 1 if any((self.root / "events").glob("date=*")) else BUCKETED

    def settle_format(self) -> None:
        """Record the store's format before its first batch (an existing store keeps its
        own: every file of a store has the same columns)."""
        path = self.root / FORMAT_FILE
        if path.exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(path, {"format": self._format()})

    # ---------------------------------------------------------------- writing

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive use of the store for one ingestion; a second one fails clearly."""
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise InputError(
                    f"{self.root}: another ingestion is writing to this event store; "
                    "wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def staging(self, batch_id: str) -> Path:
        return self.root / _STAGING / batch_id

    def start_batch(self, batch_id: str) -> None:
        """A fresh, empty staging directory for the batch."""
        staging = self.staging(batch_id)
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)

    def part_writer(
        self,
        batch_id: str,
        part: str,
        schema: Mapping[str, pl.DataType],
        pool: ThreadPoolExecutor,
    ) -> PartWriter:
        """A writer for one part; ``pool`` (one thread) runs its compression in the background."""
        return PartWriter(self.staging(batch_id), batch_id, part, schema, pool)

    def prepare(self, batch_id: str, record: Mapping[str, Any]) -> None:
        """Mark a fully written batch as complete on disk (atomic: write then rename)."""
        write_json(self.staging(batch_id) / PREPARED, record)

    def prepared(self, batch_id: str) -> dict[str, Any] | None:
        path = self.staging(batch_id) / PREPARED
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8"))

    def staged_batches(self) -> list[str]:
        base = self.root / _STAGING
        return sorted(p.name for p in base.iterdir()) if base.is_dir() else []

    def publish(self, batch_id: str) -> None:
        """Move a prepared batch's files into place; safe to repeat after a crash."""
        staging = self.staging(batch_id)
        for kind in ("events", "index"):
            for source in sorted((staging / kind).glob("*/*")):
                target = self.root / source.relative_to(staging)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, target)

    def finish(self, batch_id: str) -> None:
        """Drop a batch's staging directory once its files are in place and it is committed."""
        shutil.rmtree(self.staging(batch_id), ignore_errors=True)

    def discard(self, batch_id: str) -> None:
        """Remove every trace of an uncommitted batch: staging and any file already moved."""
        shutil.rmtree(self.staging(batch_id), ignore_errors=True)
        for kind in ("events", "index"):
            for path in (self.root / kind).glob(f"*/{batch_id}.*"):  # parts and index
                path.unlink()

    # ---------------------------------------------------------------- reading

    def event_files(
        self, batch_ids: Iterable[str], dates: Iterable[str] | None = None
    ) -> list[str]:
        """Files of the given (committed) batches, optionally only some ``YYYY-MM-DD`` dates."""
        wanted = set(batch_ids)
        if not wanted:
            return []
        folders = (
            [self.root / "events" / f"date={d}" for d in sorted(set(dates))]
            if dates is not None
            else sorted((self.root / "events").glob("date=*"))
        )
        return [
            str(path)
            for folder in folders
            for path in sorted(folder.glob("*.parquet"))
            if batch_of(path) in wanted
        ]

    def dates(self) -> list[str]:
        """The UTC dates (``YYYY-MM-DD``) the store has a partition for, committed or not."""
        folder = self.root / "events"
        return sorted(p.name.removeprefix("date=") for p in folder.glob("date=*"))

    def index_bucket(self, bucket: int, batch_ids: Iterable[str]) -> np.ndarray:
        """Every index entry of one bucket over the given (committed) batches."""
        folder = self.root / "index" / f"bucket={bucket:02d}"
        parts = [
            np.fromfile(folder / f"{batch_id}.idx", dtype=INDEX_RECORD)
            for batch_id in sorted(set(batch_ids))
            if (folder / f"{batch_id}.idx").exists()
        ]
        return np.concatenate(parts) if parts else np.empty(0, dtype=INDEX_RECORD)

    def scan(self, batch_ids: Iterable[str], dates: Iterable[str] | None = None) -> pl.LazyFrame:
        """The committed events of the given batches as one lazy frame (no ``event_date``)."""
        files = self.event_files(batch_ids, dates)
        if not files:
            raise InputError(f"{self.root}: the event store holds no committed events")
        return pl.scan_parquet(files, hive_partitioning=False)

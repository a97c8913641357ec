"""Ingestion: usage-event files in, an exactly-once event store and a conserved count out.

``run_ingest`` takes files (paths, globs, fsspec URLs) and lands their valid,
first-arrival events in the event store (:mod:`meter.event_store`) as one
*batch*. Per file and per batch it records, in DuckDB::

    rows_read = rows_accepted + rows_quarantined + rows_duplicate + rows_conflict

Steps, each in bounded memory (one chunk of one file at a time, plus 8 bytes
of id hash per batch row and one bucket of the history index):

1. fingerprint: a file whose bytes were already ingested is skipped (re-delivery
   is a no-op);
2. hash: every ``event_id`` of the batch is hashed and probed against the
   history index and the batch's earlier rows (:func:`meter.dedup.find_candidates`);
3. validate and write: each chunk is classified; bad rows go to quarantine,
   rows that are certainly first arrivals are written to staging, candidate
   rows are held back;
4. resolve: candidates are decided exactly on their real ids and content
   against the stored rows with the same ids (:func:`meter.dedup.resolve_candidates`);
5. publish: the batch is marked prepared, moved into place, then committed in
   DuckDB in one transaction. A run killed at any point is rolled back or
   forward by :func:`recover` at the start of the next one.

A file that cannot be read at all is rejected whole: nothing of it lands, the
others still do, and the result lists the error naming the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import numpy as np
import polars as pl

from aggregation.periods import flag_invoiced_period, invoiced_windows
from jobs import store
from jobs.catalog import Catalog, load_catalog
from jobs.contracts import load_customers
from jobs.stages import StageTimer
from meter.dedup import (
    ARRIVAL,
    CONTENT,
    DEDUP_STATUS,
    FIRST_ARRIVAL,
    DedupStatus,
    content_key,
    find_candidates,
    resolve_candidates,
)
from meter.event_store import (
    EVENT_DATE,
    INDEX_BUCKET_BITS,
    INGEST_BATCH_ID,
    INVOICED_PERIOD,
    LINEAGE_COLUMNS,
    EventStore,
    PartWriter,
    store_schema,
    to_store_form,
)
from meter.idhash import hash_strings
from meter.sources import EventFile, fingerprint, resolve_sources
from meter.validate import REASON, classify, quarantine_rows
from schemas.errors import InputError, RunError
from schemas.events import EVENT_ID, QUARANTINE_SCHEMA, QuarantineReason

STAGES = ("setup", "fingerprint", "hash", "read", "validate", "resolve", "write", "commit")
DEFAULT_CHUNK_ROWS = 1_000_000
FUTURE_TOLERANCE = timedelta(days=1)
"""How far past the ingestion time an event's timestamp may be (clock skew)."""

COUNTS = ("rows_read", "rows_accepted", "rows_quarantined", "rows_duplicate", "rows_conflict")


@dataclass(frozen=True)
class IngestInputs:
    sources: Sequence[str]
    catalog: str | Path
    customers: str | Path


@dataclass
class FileReport:
    """What happened to one source file."""

    source_file: str
    sha256: str
    size_bytes: int
    status: str = "ingested"
    """ingested | rejected (unreadable) | skipped (ingested before) | repeated (in this call)"""
    error: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_conflict: int = 0
    rows_late: int = 0
    skipped_because: str | None = None
    """For a skipped file: the batch and file that already delivered the same bytes."""

    def add(self, counts: dict[str, int]) -> None:
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)

    def balanced(self) -> bool:
        return self.rows_read == (
            self.rows_accepted + self.rows_quarantined + self.rows_duplicate + self.rows_conflict
        )


@dataclass
class IngestResult:
    batch_id: str | None
    """None when every file had already been ingested (nothing to do)."""
    files: list[FileReport]
    seconds: dict[str, float] = field(default_factory=dict)
    recovered: list[str] = field(default_factory=list)
    """Batches left by an interrupted ingestion and completed or rolled back first."""

    def total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files if f.status == "ingested")

    @property
    def rejected(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "rejected"]


# --------------------------------------------------------------------------- publish


def _db_rows(record: dict) -> dict[str, pl.DataFrame]:
    batch = pl.DataFrame([record["batch"]]).with_columns(
        pl.col("started_at", "finished_at").str.to_datetime(time_zone="UTC")
    )
    return {"ingest_batches": batch, "ingest_files": pl.DataFrame(record["files"])}


def _commit(store_: EventStore, batch_id: str, db_path: str | Path) -> None:
    """The commit point: record the prepared batch in DuckDB, in one transaction."""
    record = store_.prepared(batch_id)
    if record is None:
        raise RunError(f"batch {batch_id}: not prepared, cannot commit")
    tables = _db_rows(record)
    quarantine_path = store_.staging(batch_id) / "quarantine.parquet"
    tables["quarantine"] = pl.read_parquet(quarantine_path)
    with store.connect(db_path) as con:
        if not store.batch_exists(con, batch_id):
            store.write_tables(con, tables)


def recover(store_: EventStore, db_path: str | Path) -> list[str]:
    """Finish or undo batches an interrupted ingestion left in staging.

    Committed in DuckDB or prepared on disk: roll forward (move the files,
    commit, clean up). Neither: the batch never completed; remove it.
    """
    handled = []
    for batch_id in store_.staged_batches():
        with store.connect(db_path) as con:
            committed = store.batch_exists(con, batch_id)
        if committed or store_.prepared(batch_id) is not None:
            store_.publish(batch_id)
            if not committed:
                _commit(store_, batch_id, db_path)
            store_.finish(batch_id)
        else:
            store_.discard(batch_id)
        handled.append(batch_id)
    return handled


# --------------------------------------------------------------------------- batch


def batch_identity(fingerprints: Sequence[str], catalog: Catalog, customers_sha: str) -> str:
    """Deterministic, so a re-run after a crash rebuilds the same batch."""
    key = "\n".join([*fingerprints, catalog.sha256, customers_sha])
    return f"b-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass
class _Batch:
    """State of one batch while its files are read."""

    batch_id: str
    catalog: Catalog
    customers: pl.DataFrame
    windows: pl.DataFrame
    latest_allowed: datetime
    candidate_mask: np.ndarray
    hashes: np.ndarray
    quarantine: list[pl.DataFrame] = field(default_factory=list)
    held_back: list[pl.DataFrame] = field(default_factory=list)
    held_hashes: list[np.ndarray] = field(default_factory=list)


def _stamp(events: pl.DataFrame, batch: _Batch) -> pl.DataFrame:
    flagged = flag_invoiced_period(events.drop(INVOICED_PERIOD), batch.windows)
    return flagged.with_columns(pl.lit(batch.batch_id).alias(INGEST_BATCH_ID)).select(
        events.columns
    )


def _content_columns(frame: pl.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in LINEAGE_COLUMNS and c != EVENT_DATE]


def _detached(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy that owns its text: a filtered Polars string column still points into the
    whole chunk's buffers, so keeping a few rows of every chunk would keep every chunk."""
    return pl.from_arrow(frame.to_arrow())


def _read_file(
    events: EventFile,
    offset: int,
    batch: _Batch,
    writer: PartWriter,
    report: FileReport,
    timer: StageTimer,
    chunk_rows: int,
) -> None:
    """Validate one file chunk by chunk; write certain first arrivals, hold back candidates."""
    customer_ids = batch.customers["customer_id"]
    chunks = events.chunks(chunk_rows)
    start = offset
    while True:
        with timer.stage("read"):
            chunk = next(chunks, None)
        if chunk is None:
            return
        rows = slice(start, start + chunk.height)
        start += chunk.height
        with timer.stage("validate"):
            classified = classify(
                chunk.lazy(),
                customer_ids,
                batch.catalog.meters.values(),
                batch.catalog.event_types,
                latest_allowed=batch.latest_allowed,
            ).collect()
            quarantined = quarantine_rows(classified).collect()
            valid = classified[REASON].is_null().to_numpy()
            held = valid & batch.candidate_mask[rows]
            certain = valid & ~held
            accepted = to_store_form(
                classified.filter(pl.Series(certain)), batch.catalog.event_types
            )
            batch.quarantine.append(_detached(quarantined))
        report.add({"rows_read": chunk.height, "rows_quarantined": quarantined.height})
        with timer.stage("write"):
            stamped = _stamp(accepted, batch)
            writer.write(stamped, batch.hashes[rows][certain])
        report.add(
            {
                "rows_accepted": stamped.height,
                "rows_late": stamped[INVOICED_PERIOD].is_not_null().sum(),
            }
        )
        if held.any():
            # After the write is handed over, so the chunk's files encode meanwhile.
            with timer.stage("validate"):
                candidates = to_store_form(
                    classified.filter(pl.Series(held)), batch.catalog.event_types
                )
                arrival = np.arange(rows.start, rows.stop)[held]
                held_back = candidates.with_columns(pl.Series(ARRIVAL, arrival))
                batch.held_back.append(_detached(held_back))
                batch.held_hashes.append(batch.hashes[rows][held])


def _resolve(
    batch: _Batch,
    store_: EventStore,
    committed: list[str],
    history_days: np.ndarray,
    reports: dict[str, FileReport],
    writer: PartWriter,
) -> None:
    """Decide the held-back candidates exactly and write the accepted ones."""
    if not batch.held_back:
        return
    held = pl.concat(batch.held_back)
    hashes = np.concatenate(batch.held_hashes)
    columns = _content_columns(held.drop(ARRIVAL))
    held = held.with_columns(content_key(columns))
    history = pl.DataFrame(
        schema={EVENT_ID: pl.String, CONTENT: pl.String, "source_file": pl.String}
        | {"row_number": pl.Int64, INGEST_BATCH_ID: pl.String}
    )
    if history_days.size and committed:
        dates = [(date(1970, 1, 1) + timedelta(days=int(d))).isoformat() for d in history_days]
        ids = held[EVENT_ID].unique()
        stored = store_.scan(committed, dates).filter(pl.col(EVENT_ID).is_in(ids.implode()))
        history = stored.collect().with_columns(content_key(columns)).select(history.columns)
    decided = resolve_candidates(held, history)
    status = decided[DEDUP_STATUS]
    accepted_mask = (status == DedupStatus.ACCEPTED.value).to_numpy()
    accepted = _stamp(decided.filter(pl.Series(accepted_mask)).select(held.columns), batch)
    writer.write(accepted.drop(ARRIVAL, CONTENT), hashes[accepted_mask])
    # rechunk: pl.format over columns whose chunk boundaries differ panics in Polars 2.1
    # (found by tests/property/test_ingest_vs_reference.py).
    conflicts = (
        decided.filter(status == DedupStatus.CONFLICT.value)
        .rechunk()
        .select(
            "source_file",
            "row_number",
            EVENT_ID,
            pl.lit(EVENT_ID).alias("field"),
            pl.lit(QuarantineReason.CONFLICTING_DUPLICATE.value).alias("reason"),
            pl.format(
                "event_id {} was first delivered with different content ({})",
                pl.col(EVENT_ID),
                pl.col(FIRST_ARRIVAL),
            ).alias("detail"),
        )
    )
    batch.quarantine.append(conflicts)
    per_file = decided.group_by("source_file").agg(
        (pl.col(DEDUP_STATUS) == DedupStatus.ACCEPTED.value).sum().alias("rows_accepted"),
        (pl.col(DEDUP_STATUS) == DedupStatus.DUPLICATE.value).sum().alias("rows_duplicate"),
        (pl.col(DEDUP_STATUS) == DedupStatus.CONFLICT.value).sum().alias("rows_conflict"),
    )
    late = accepted.group_by("source_file").agg(
        pl.col(INVOICED_PERIOD).is_not_null().sum().alias("rows_late")
    )
    for row in per_file.join(late, on="source_file", how="left").fill_null(0).iter_rows(named=True):
        source = row.pop("source_file")
        reports[source].add({k: int(v) for k, v in row.items()})


def _hash_event_ids(source: str, chunk_rows: int) -> tuple[np.ndarray, EventFile]:
    """Open a file and hash its ids one chunk at a time: only 8 bytes per row are kept."""
    events = EventFile(source)
    try:
        parts = [hash_strings(ids) for ids in events.event_ids(chunk_rows)]
    except InputError:
        events.close()
        raise
    return (np.concatenate(parts) if parts else np.empty(0, dtype=np.uint64)), events


def run_ingest(
    inputs: IngestInputs,
    store_root: str | Path,
    db_path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    now: datetime | None = None,
    on_stage: Callable[[str], None] | None = None,
    on_file: Callable[[str, int, int], None] | None = None,
) -> IngestResult:
    """Ingest event files into the store as one batch; idempotent and atomic.

    ``on_file(source, index, total)`` hears each file as its rows are read.
    """
    timer = StageTimer(on_stage=on_stage)
    started_at = now or datetime.now(UTC)
    with timer.stage("setup"):
        catalog = load_catalog(inputs.catalog)
        customers, customers_raw = load_customers(inputs.customers)
        customers_sha = hashlib.sha256(customers_raw).hexdigest()
        sources = resolve_sources(inputs.sources)
        store_ = EventStore(store_root)
    with store_.lock():
        recovered = recover(store_, db_path)
        with store.connect(db_path) as con:
            seen_files = store.ingested_files(con)
            committed = store.committed_batches(con)
            windows = invoiced_windows(customers, store.invoiced_periods(con))

        reports: list[FileReport] = []
        with timer.stage("fingerprint"):
            for source in sources:
                sha, size = fingerprint(source)
                report = FileReport(source, sha, size)
                if sha in seen_files:
                    earlier_batch, earlier_file = seen_files[sha]
                    report.status = "skipped" if earlier_batch else "repeated"
                    report.skipped_because = f"same bytes as {earlier_file}" + (
                        f", ingested in batch {earlier_batch}" if earlier_batch else ""
                    )
                else:
                    seen_files[sha] = ("", source)
                reports.append(report)
        todo = [r for r in reports if r.status == "ingested"]
        if not todo:
            return IngestResult(None, reports, timer.seconds, recovered)
        batch_id = batch_identity([r.sha256 for r in todo], catalog, customers_sha)

        with timer.stage("hash"):
            files: list[tuple[EventFile, FileReport]] = []
            hashes: list[np.ndarray] = []
            for report in todo:
                try:
                    file_hashes, events = _hash_event_ids(report.source_file, chunk_rows)
                except InputError as error:
                    report.status, report.error = "rejected", str(error)
                    continue
                hashes.append(file_hashes)
                files.append((events, report))
            all_hashes = np.concatenate(hashes) if hashes else np.empty(0, dtype=np.uint64)
            found = find_candidates(
                all_hashes, lambda b: store_.index_bucket(b, committed), INDEX_BUCKET_BITS
            )

        batch = _Batch(
            batch_id,
            catalog,
            customers,
            windows,
            started_at + FUTURE_TOLERANCE,
            found.mask,
            all_hashes,
        )
        store_.settle_format()
        schema = store_schema(catalog.event_types, bucketed=store_.bucketed)
        store_.start_batch(batch_id)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet") as pool:
            offset = 0
            for index, (events, report) in enumerate(files):
                if on_file is not None:
                    on_file(report.source_file, index, len(files))
                writer = store_.part_writer(batch_id, f"{index:05d}", schema, pool)
                marks = (len(batch.quarantine), len(batch.held_back))
                try:
                    _read_file(events, offset, batch, writer, report, timer, chunk_rows)
                    with timer.stage("write"):
                        writer.commit()
                except InputError as error:
                    writer.abort()
                    del batch.quarantine[marks[0] :], batch.held_back[marks[1] :]
                    del batch.held_hashes[marks[1] :]
                    rejected = FileReport(report.source_file, report.sha256, report.size_bytes)
                    rejected.status, rejected.error = "rejected", str(error)
                    reports[reports.index(report)] = rejected
                finally:
                    events.close()
                offset += events.rows

            with timer.stage("resolve"):
                by_source = {r.source_file: r for r in reports if r.status == "ingested"}
                writer = store_.part_writer(batch_id, "candidates", schema, pool)
                _resolve(batch, store_, committed, found.history_days, by_source, writer)
                writer.commit()

        for report in reports:
            if report.status == "ingested" and not report.balanced():
                raise RunError(
                    f"{report.source_file}: row conservation failed: read {report.rows_read}, "
                    f"accounted {report.rows_accepted + report.rows_quarantined} "
                    f"+ {report.rows_duplicate} + {report.rows_conflict}"
                )
        with timer.stage("commit"):
            _prepare(store_, batch, reports, catalog, customers_sha, started_at)
            store_.publish(batch_id)
            _commit(store_, batch_id, db_path)
            store_.finish(batch_id)
    return IngestResult(batch_id, reports, timer.seconds, recovered)


def _prepare(
    store_: EventStore,
    batch: _Batch,
    reports: list[FileReport],
    catalog: Catalog,
    customers_sha: str,
    started_at: datetime,
) -> None:
    files = [r for r in reports if r.status in ("ingested", "rejected")]
    ingested = [r for r in files if r.status == "ingested"]
    quarantine = (
        pl.concat([q.select(*QUARANTINE_SCHEMA) for q in batch.quarantine], how="vertical_relaxed")
        if batch.quarantine
        else pl.DataFrame(schema=QUARANTINE_SCHEMA)
    )
    quarantine.select(pl.lit(batch.batch_id).alias("batch_id"), *QUARANTINE_SCHEMA).write_parquet(
        store_.staging(batch.batch_id) / "quarantine.parquet"
    )
    totals = {name: sum(getattr(r, name) for r in ingested) for name in (*COUNTS, "rows_late")}
    record = {
        "batch": {
            "batch_id": batch.batch_id,
            "status": "committed",
            "started_at": started_at.isoformat(),
            "finished_at": datetime.now(UTC).isoformat(),
            "store_path": str(store_.root.resolve()),
            "catalog_sha256": catalog.sha256,
            "customers_sha256": customers_sha,
            "source_files": len(files),
            "files_rejected": len(files) - len(ingested),
            **totals,
            "meterline_version": version("meterline"),
        },
        "files": [
            {"batch_id": batch.batch_id}
            | {k: v for k, v in asdict(r).items() if k != "skipped_because"}
            for r in files
        ],
    }
    store_.prepare(batch.batch_id, record)

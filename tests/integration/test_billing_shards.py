"""A period too large for one pass is billed in customer shards, with the same result.

The shipped sample (about 200k events) is billed again with shards of 30,000
events (7 shards) from the same store, and every rated charge, quarantined
row and count must equal the one-shard run of the ``sample_db`` fixture.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs import period as period_job
from jobs.billing import RunInputs, run_billing
from jobs.store import RUN_TABLES
from meter.event_store import (
    CUSTOMER_BUCKET,
    FORMAT_FILE,
    EventStore,
    batch_of,
    customer_buckets,
)
from schemas.errors import InputError

pytestmark = pytest.mark.integration

RATED = (
    "SELECT subscription_id, charge_code, dimensions, quantity, event_count, amount_exact, amount"
    " FROM rated_charges ORDER BY ALL"
)
QUARANTINED = "SELECT source_file, row_number, reason FROM quarantine WHERE run_id IS NOT NULL"
COUNTS = (
    "SELECT events_read, events_rated, events_quarantined, events_out_of_period FROM billing_runs"
)


def read(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return sorted(con.execute(sql).fetchall())


def legacy_copy(store: Path, target: Path) -> Path:
    """The store as a version before customer buckets wrote it: no ``customer_bucket``
    column, events in arrival order, no ``store.json``."""
    shutil.copytree(store, target)
    (target / FORMAT_FILE).unlink()
    for path in (target / "events").glob("date=*/*.parquet"):
        frame = pl.read_parquet(path)
        frame.sort(["source_file", "row_number"]).drop(CUSTOMER_BUCKET).write_parquet(path)
    return target


def test_event_files_are_sorted_by_customer_bucket(sample_db: Path) -> None:
    store = EventStore(sample_db.parent / "store")
    assert store.bucketed
    for path in store.event_files([batch_of(p) for p in store.root.glob("events/*/*")]):
        frame = pl.read_parquet(path)
        assert frame[CUSTOMER_BUCKET].equals(customer_buckets(frame["customer_id"]))
        assert frame[CUSTOMER_BUCKET].is_sorted()


@pytest.mark.parametrize("legacy", [False, True], ids=["bucketed", "legacy"])
def test_sharded_run_bills_the_same(
    sample_db: Path,
    sample_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    legacy: bool,
):
    """Also from a store without buckets: each shard then computes its customers'."""
    store = sample_db.parent / "store"
    if legacy:
        store = legacy_copy(store, tmp_path / "legacy")
        assert not EventStore(store).bucketed
    db = tmp_path / "sharded.duckdb"
    # The ingestion batches are in the fixture's database: start from a copy without its run.
    shutil.copy(sample_db, db)
    with duckdb.connect(str(db)) as con:
        for table in RUN_TABLES:
            con.execute(f"DELETE FROM {table} WHERE run_id IS NOT NULL")
    monkeypatch.setattr(period_job, "SHARD_ROWS", 30_000)
    shards: list[period_job.Shard] = []
    measure = period_job._measure_shard

    def counted(shard: period_job.Shard, *args: object) -> period_job.ShardUsage:
        shards.append(shard)
        return measure(shard, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(period_job, "_measure_shard", counted)
    result = run_billing(
        RunInputs(
            "2026-10",
            sample_dir / "catalog.yaml",
            sample_dir / "customers.csv",
            sample_dir / "subscriptions.csv",
            store,
        ),
        db,
    )
    assert len(shards) == 7 and {s.count for s in shards} == {7}
    assert result.counts["events_read"] > 6 * 30_000
    assert read(db, RATED) == read(sample_db, RATED)
    assert read(db, QUARANTINED) == read(sample_db, QUARANTINED)
    assert read(db, COUNTS) == read(sample_db, COUNTS)


def test_a_store_keeps_its_format(sample_db: Path, tmp_path: Path) -> None:
    """An ingestion into a store from before buckets records it as such (every file of a
    store has the same columns); a new store starts bucketed."""
    legacy = EventStore(legacy_copy(sample_db.parent / "store", tmp_path / "legacy"))
    legacy.settle_format()
    assert not legacy.bucketed and (legacy.root / FORMAT_FILE).exists()
    fresh = EventStore(tmp_path / "fresh")
    fresh.settle_format()
    assert fresh.bucketed


def test_a_damaged_format_record_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / FORMAT_FILE).write_text("{format: two}")
    with pytest.raises(InputError, match="not a store format record"):
        _ = EventStore(tmp_path).bucketed

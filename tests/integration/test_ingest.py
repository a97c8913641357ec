"""Ingestion end to end: conservation, exactly-once across batches, rejection, late events."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import fsspec
import polars as pl
import pytest

from jobs.billing import RunInputs, run_billing
from jobs.generate import MALFORMED_KINDS, generate
from jobs.ingest import IngestInputs, run_ingest
from meter.event_store import LINEAGE_COLUMNS, EventStore
from schemas.errors import InputError

pytestmark = pytest.mark.integration

COUNTS = ("rows_read", "rows_accepted", "rows_quarantined", "rows_duplicate", "rows_conflict")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20k events in 3 files with 3% duplicates and 2% malformed rows of every kind."""
    out = tmp_path_factory.mktemp("messy")
    generate(out, 20_000, files=3, duplicate_share=0.03, malformed_share=0.02, seed=11)
    return out


def ingest(data: Path, root: Path, *sources: str | Path, **options) -> object:
    inputs = IngestInputs(
        [str(s) for s in sources] or [str(data / "events")],
        data / "catalog.yaml",
        data / "customers.csv",
    )
    return run_ingest(inputs, root / "store", root / "db.duckdb", **options)


def stored(root: Path, lineage: bool = False) -> pl.DataFrame:
    with duckdb.connect(str(root / "db.duckdb"), read_only=True) as con:
        batches = [r[0] for r in con.execute("SELECT batch_id FROM ingest_batches").fetchall()]
    store = EventStore(root / "store")
    if not store.event_files(batches):
        return pl.DataFrame()
    frame = store.scan(batches).collect()
    if not lineage:
        frame = frame.drop(*LINEAGE_COLUMNS)
    return frame.sort(frame.columns)


def db_rows(root: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(root / "db.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_every_row_is_accepted_quarantined_or_duplicate(messy: Path, tmp_path: Path):
    result = ingest(messy, tmp_path)
    files = db_rows(
        tmp_path,
        f"SELECT source_file, {', '.join(COUNTS)} FROM ingest_files ORDER BY source_file",
    )
    assert len(files) == 3
    for _, read, accepted, quarantined, duplicate, conflict in files:
        assert read == accepted + quarantined + duplicate + conflict
        assert duplicate > 0 and quarantined > 0
    # Every generated row is read, and the batch totals are the sums of its files.
    generated = pl.scan_parquet(str(messy / "events" / "*.parquet")).select(pl.len()).collect()
    batch = db_rows(tmp_path, f"SELECT {', '.join(COUNTS)} FROM ingest_batches")[0]
    assert batch[0] == generated.item() == result.total("rows_read")
    assert list(batch) == [sum(f[i] for f in files) for i in range(1, 6)]
    # The store holds exactly the accepted rows, each event_id once.
    events = stored(tmp_path)
    assert events.height == batch[1]
    assert events["event_id"].n_unique() == events.height
    # The quarantine table holds exactly the quarantined and conflicting rows.
    quarantined = db_rows(tmp_path, "SELECT count(*) FROM quarantine")[0][0]
    assert quarantined == batch[2] + batch[4]


def test_a_store_given_as_a_relative_path_has_the_same_layout(
    messy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # `meter demo` and the CLI default pass a relative store root; nothing may nest under it.
    absolute = tmp_path / "absolute"
    ingest(messy, absolute)
    monkeypatch.chdir(tmp_path)
    ingest(messy, Path("relative"))
    layouts = [
        sorted(str(p.relative_to(root / "store")) for p in (root / "store").rglob("*.parquet"))
        for root in (absolute, tmp_path / "relative")
    ]
    assert layouts[0] == layouts[1]
    assert layouts[0] and all(p.startswith("events/date=") for p in layouts[0])
    assert (
        stored(tmp_path / "relative", lineage=True)
        .drop("source_file")
        .equals(stored(absolute, lineage=True).drop("source_file"))
    )


def test_reingesting_the_same_files_is_a_no_op(messy: Path, tmp_path: Path):
    ingest(messy, tmp_path)
    before = stored(tmp_path, lineage=True)
    again = ingest(messy, tmp_path)
    assert again.batch_id is None
    assert [f.status for f in again.files] == ["skipped"] * 3
    assert stored(tmp_path, lineage=True).equals(before)
    assert db_rows(tmp_path, "SELECT count(*) FROM ingest_batches") == [(1,)]


def test_a_redelivered_copy_under_another_name_is_all_duplicates(messy: Path, tmp_path: Path):
    first = sorted((messy / "events").glob("*.parquet"))[0]
    earlier = ingest(messy, tmp_path, first).files[0]
    before = stored(tmp_path)
    # Same rows, different bytes (other compression): not skipped as a file, but every
    # valid row is a duplicate of history; the bad rows are quarantined again.
    copy = tmp_path / "copy.parquet"
    pl.read_parquet(first).write_parquet(copy, compression="lz4")
    report = ingest(messy, tmp_path, copy).files[0]
    assert report.status == "ingested"
    assert (report.rows_read, report.rows_quarantined) == (
        earlier.rows_read,
        earlier.rows_quarantined,
    )
    assert report.rows_accepted == report.rows_conflict == 0
    assert report.rows_duplicate == earlier.rows_accepted + earlier.rows_duplicate
    assert stored(tmp_path).equals(before)


def test_first_arrival_wins_and_changed_content_is_a_conflict(messy: Path, tmp_path: Path):
    ids = pl.read_parquet(messy / "events").filter(pl.col("event_type") == "storage").head(2)
    ingest(messy, tmp_path, messy / "events")
    original = stored(tmp_path).filter(pl.col("event_id").is_in(ids["event_id"].implode()))
    changed = ids.with_columns(pl.col("gb") + 1.0)
    changed.write_parquet(tmp_path / "changed.parquet")
    result = ingest(messy, tmp_path, tmp_path / "changed.parquet")
    assert result.files[0].rows_conflict == 2
    after = stored(tmp_path).filter(pl.col("event_id").is_in(ids["event_id"].implode()))
    assert after.equals(original)
    reasons = db_rows(
        tmp_path,
        "SELECT reason, detail FROM quarantine WHERE source_file LIKE '%changed.parquet'",
    )
    assert len(reasons) == 2
    assert all(r[0] == "conflicting_duplicate" and "different content" in r[1] for r in reasons)


def test_unreadable_file_is_rejected_whole_and_the_others_land(messy: Path, tmp_path: Path):
    good = sorted((messy / "events").glob("*.parquet"))[:2]
    broken = tmp_path / "broken.parquet"
    data = good[0].read_bytes()
    broken.write_bytes(data[: len(data) // 2] + data[-1000:])  # damaged middle
    no_id = tmp_path / "no_id.parquet"
    pl.read_parquet(good[1]).drop("event_id").write_parquet(no_id)
    result = ingest(messy, tmp_path, good[0], broken, no_id)
    status = {Path(f.source_file).name: f.status for f in result.files}
    assert status == {
        good[0].name: "ingested",
        "broken.parquet": "rejected",
        "no_id.parquet": "rejected",
    }
    errors = {Path(f.source_file).name: f.error for f in result.rejected}
    assert str(broken) in errors["broken.parquet"]
    assert "missing required column 'event_id'" in errors["no_id.parquet"]
    only_good = tmp_path / "only_good"
    ingest(messy, only_good, good[0])
    assert stored(tmp_path).equals(stored(only_good))
    assert db_rows(
        tmp_path, "SELECT status, rows_read FROM ingest_files WHERE status = 'rejected'"
    ) == [
        ("rejected", 0),
        ("rejected", 0),
    ]


def test_events_for_an_invoiced_period_are_flagged_late(tmp_path: Path, sample_dir: Path):
    data = tmp_path / "data"
    shutil.copytree(sample_dir, data)
    ingest(data, tmp_path)
    run_billing(
        RunInputs(
            "2026-10",
            data / "catalog.yaml",
            data / "customers.csv",
            data / "subscriptions.csv",
            tmp_path / "store",
        ),
        tmp_path / "db.duckdb",
    )
    late = (
        pl.read_parquet(data / "events")
        .filter(pl.col("event_type") == "api_call", pl.col("customer_id").is_not_null())
        .head(3)
        .with_columns(pl.col("event_id") + "-late")
    )
    late.write_parquet(tmp_path / "late.parquet")
    result = ingest(data, tmp_path, tmp_path / "late.parquet")
    assert result.files[0].rows_late == result.files[0].rows_accepted > 0
    flagged = stored(tmp_path, lineage=True).filter(pl.col("event_id").str.ends_with("-late"))
    assert flagged["invoiced_period"].unique().to_list() == ["2026-10"]


def test_second_ingestion_waits_for_none_and_fails_clearly(messy: Path, tmp_path: Path):
    store = EventStore(tmp_path / "store")
    with store.lock(), pytest.raises(InputError, match="another ingestion"):
        ingest(messy, tmp_path)


def test_every_generated_kind_of_bad_row_lands_in_quarantine_with_its_reason(
    messy: Path, tmp_path: Path
):
    result = ingest(messy, tmp_path)
    reasons = {
        reason: count
        for reason, count in db_rows(tmp_path, "SELECT reason, count(*) FROM quarantine GROUP BY 1")
    }
    assert set(reasons) == {reason for _, reason in MALFORMED_KINDS}
    # The good rows of the same files survive: everything else is stored or a duplicate.
    assert stored(tmp_path).height == result.total("rows_accepted")
    assert result.total("rows_accepted") + result.total("rows_duplicate") == result.total(
        "rows_read"
    ) - sum(reasons.values())


def test_memory_url_sources_are_ingested(messy: Path, tmp_path: Path):
    fs = fsspec.filesystem("memory")
    first = sorted((messy / "events").glob("*.parquet"))[0]
    with fs.open("/meterline-ingest/events.parquet", "wb") as handle:
        handle.write(first.read_bytes())
    from_memory = ingest(messy, tmp_path / "a", "memory://meterline-ingest/*.parquet")
    from_disk = ingest(messy, tmp_path / "b", first)
    source = from_memory.files[0].source_file
    assert source.startswith("memory://") and source.endswith("/meterline-ingest/events.parquet")
    assert from_memory.total("rows_accepted") == from_disk.total("rows_accepted") > 0
    assert stored(tmp_path / "a").equals(stored(tmp_path / "b"))

"""Reading events from paths, globs and fsspec URLs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import fsspec
import polars as pl
import pytest

from meter.sources import read_events, resolve_sources
from schemas.errors import InputError


def events(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": [f"e{i}" for i in range(n)],
            "customer_id": ["c"] * n,
            "event_type": ["call"] * n,
            "timestamp": [datetime(2026, 10, 1, tzinfo=UTC)] * n,
        }
    )


def test_directory_and_glob_resolve_in_sorted_order(tmp_path: Path):
    for name in ("b.parquet", "a.parquet"):
        events(1).write_parquet(tmp_path / name)
    expected = [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]
    assert resolve_sources([str(tmp_path)]) == expected
    assert resolve_sources([str(tmp_path / "*.parquet"), str(tmp_path / "a.parquet")]) == expected


def test_memory_url_is_read_with_lineage():
    fs = fsspec.filesystem("memory")
    with fs.open("/meterline-test/events.parquet", "wb") as handle:
        events(3).write_parquet(handle)
    sources = resolve_sources(["memory://meterline-test/*.parquet"])
    frame = read_events(sources).collect()
    assert frame["row_number"].to_list() == [1, 2, 3]
    assert frame["source_file"].unique().to_list() == sources


def test_non_utc_offsets_become_utc(tmp_path: Path):
    frame = events(1).with_columns(pl.col("timestamp").dt.convert_time_zone("Asia/Tokyo"))
    frame.write_parquet(tmp_path / "e.parquet")
    read = read_events([str(tmp_path / "e.parquet")]).collect()
    assert read["timestamp"].dtype == pl.Datetime("us", "UTC")
    assert read["timestamp"][0] == datetime(2026, 10, 1, tzinfo=UTC)


def test_missing_glob_match():
    with pytest.raises(InputError, match="no such file"):
        resolve_sources(["/nonexistent/*.parquet"])

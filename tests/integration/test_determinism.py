"""Same events, same amounts: whatever the row order, the file split and the thread count.

One generated month (with retries and malformed rows) is ingested and billed
twice by the ``meter`` command in separate processes: once as generated with
Polars and Numba on one thread, once shuffled and re-split into a different
number of files on every core. Every rated charge, invoice line and invoice
total must be identical.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.generate import generate

METER = str(Path(sys.executable).parent / "meter")

pytestmark = pytest.mark.integration

RATED = (
    "SELECT subscription_id, charge_code, dimensions, quantity, event_count, amount_exact,"
    " amount, currency FROM rated_charges ORDER BY ALL"
)
INVOICES = "SELECT customer_id, currency, line_count, total FROM invoices ORDER BY ALL"
COUNTS = (
    "SELECT sum(rows_read), sum(rows_accepted), sum(rows_quarantined), sum(rows_duplicate)"
    " FROM ingest_batches"
)
LINES = (
    "SELECT customer_id, line_number, charge_code, description, quantity, amount"
    " FROM invoice_lines ORDER BY ALL"
)


def run(data: Path, work: Path, sources: list[Path], threads: str | None) -> Path:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": "/tmp"}
    if threads is not None:
        env |= {"POLARS_MAX_THREADS": threads, "NUMBA_NUM_THREADS": threads}
    db = work / "out.duckdb"
    common = ["--catalog", str(data / "catalog.yaml"), "--customers", str(data / "customers.csv")]
    common += ["--db", str(db), "--store", str(work / "store")]
    bill = ["bill", "--period", "2026-10", "--subscriptions", str(data / "subscriptions.csv")]
    steps = [["ingest", *common, *map(str, sources)], [*bill, *common]]
    for step in steps:
        done = subprocess.run(
            [METER, *step], capture_output=True, text=True, env=env, timeout=300, check=False
        )
        assert done.returncode == 0, done.stderr
    return db


def read(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_order_split_and_threads_do_not_change_any_amount(tmp_path: Path):
    data = generate(
        tmp_path / "data",
        40_000,
        customers=60,
        files=3,
        duplicate_share=0.03,
        malformed_share=0.01,
        seed=11,
    )
    shuffled_dir = tmp_path / "shuffled"
    shuffled_dir.mkdir()
    events = pl.concat([pl.read_parquet(path) for path in data.event_files])
    events = events.sample(fraction=1.0, shuffle=True, seed=5)
    split = []
    for index, part in enumerate(events.iter_slices(7_001)):
        split.append(shuffled_dir / f"part-{index:02d}.parquet")
        part.write_parquet(split[-1])

    one_thread = run(data.out_dir, tmp_path / "a", data.event_files, threads="1")
    every_core = run(data.out_dir, tmp_path / "b", split, threads=None)

    rated = read(one_thread, RATED)
    assert len(rated) > 100
    assert rated == read(every_core, RATED)
    assert read(one_thread, LINES) == read(every_core, LINES)
    assert read(one_thread, INVOICES) == read(every_core, INVOICES)
    assert read(one_thread, COUNTS) == read(every_core, COUNTS)

"""Same events, same amounts: whatever the row order, the file split and the thread count.

One generated month (with retries and malformed rows) is ingested and billed
twice by the ``meter`` command in separate processes: once as generated with
Polars and Numba on one thread, once shuffled and re-split into a different
number of files on every core. Every rated charge, invoice line and invoice
total must be identical. Twice over: with the generator's own catalog, and with
the benchmark's, where every aggregation the generated events can feed and every
charge model is active.
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
ALL_MODELS = Path(__file__).resolve().parents[2] / "benchmarks" / "all_models_catalog.yaml"

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


def run(data: Path, catalog: Path, work: Path, sources: list[Path], threads: str | None) -> Path:
    env = {"PATH": str(Path(sys.executable).parent), "HOME": "/tmp"}
    if threads is not None:
        env |= {"POLARS_MAX_THREADS": threads, "NUMBA_NUM_THREADS": threads}
    db = work / "out.duckdb"
    common = ["--catalog", str(catalog), "--customers", str(data / "customers.csv")]
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


@pytest.mark.parametrize("all_models", [False, True], ids=["sample catalog", "every model"])
def test_order_split_and_threads_do_not_change_any_amount(tmp_path: Path, all_models: bool):
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

    catalog = ALL_MODELS if all_models else data.out_dir / "catalog.yaml"
    one_thread = run(data.out_dir, catalog, tmp_path / "a", data.event_files, threads="1")
    every_core = run(data.out_dir, catalog, tmp_path / "b", split, threads=None)

    rated = read(one_thread, RATED)
    assert len(rated) > 100
    if all_models:  # the time-based kernels had levels to weigh
        measured = "SELECT count(*) FROM rated_charges WHERE meter_code = ? AND quantity > 0"
        with duckdb.connect(str(one_thread), read_only=True) as con:
            for meter in ("storage_level", "storage_last", "api_regions"):
                assert con.execute(measured, [meter]).fetchone()[0] > 10, meter
    assert rated == read(every_core, RATED)
    assert read(one_thread, LINES) == read(every_core, LINES)
    assert read(one_thread, INVOICES) == read(every_core, INVOICES)
    assert read(one_thread, COUNTS) == read(every_core, COUNTS)

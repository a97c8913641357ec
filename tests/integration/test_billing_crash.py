"""A killed ``meter bill`` leaves DuckDB with the whole run or none of it; a re-run completes it.

Two kinds of crash: ``kill -9`` of a real ``meter bill`` at several moments of a
clean run's wall time, and ``os._exit`` in the middle of the DuckDB write (some
tables inserted, the transaction not committed), which timing alone rarely hits.
Also: a second run while one holds the database fails clearly.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from jobs import store
from jobs.billing import RunInputs, run_billing
from jobs.generate import generate
from jobs.ingest import IngestInputs, run_ingest
from schemas.errors import RunError

pytestmark = pytest.mark.integration

METER = str(Path(sys.executable).parent / "meter")
ENV = {"PATH": str(Path(sys.executable).parent), "HOME": "/tmp", "COLUMNS": "200"}

CRASH_MID_WRITE = r"""
import os, sys
import polars as pl
from jobs import store

original_write = store.write_tables

def write_tables(con, tables, **kwargs):
    exported = []
    to_arrow = pl.DataFrame.to_arrow
    def dying_to_arrow(self, *args, **kwargs):
        exported.append(1)
        if len(exported) == 3:  # two tables inserted, the transaction still open
            os._exit(137)
        return to_arrow(self, *args, **kwargs)
    pl.DataFrame.to_arrow = dying_to_arrow
    original_write(con, tables, **kwargs)

store.write_tables = write_tables
from jobs.cli import main
sys.exit(main(sys.argv[1:]))
"""

TABLES = {
    "billing_runs": "SELECT * EXCLUDE (started_at, finished_at) FROM billing_runs",
    "rated_charges": "SELECT * FROM rated_charges",
    "invoice_lines": "SELECT * FROM invoice_lines",
    "invoices": "SELECT * FROM invoices",
    "quarantine": "SELECT * FROM quarantine",
    "period_inputs": "SELECT * FROM period_inputs",
    "period_batches": "SELECT * FROM period_batches",
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An event store and database holding one ingested month, not yet billed."""
    root = tmp_path_factory.mktemp("bill-crash")
    generate(root / "data", 1_000_000, files=2, seed=11)
    data = root / "data"
    inputs = IngestInputs([str(data / "events")], data / "catalog.yaml", data / "customers.csv")
    run_ingest(inputs, root / "store", root / "db.duckdb")
    return root


def bill_args(root: Path, data: Path) -> list[str]:
    return [
        "bill",
        "--period",
        "2026-10",
        "--catalog",
        str(data / "catalog.yaml"),
        "--customers",
        str(data / "customers.csv"),
        "--subscriptions",
        str(data / "subscriptions.csv"),
        "--store",
        str(root / "store"),
        "--db",
        str(root / "db.duckdb"),
    ]


def snapshot(root: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(root / "db.duckdb"), read_only=True) as con:
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in TABLES.items()}


def copy_of(ingested: Path, target: Path) -> Path:
    (target / "store").parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(ingested / "store", target / "store")
    shutil.copy(ingested / "db.duckdb", target / "db.duckdb")
    return target


def meter(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METER, *args], capture_output=True, text=True, env=ENV, timeout=300, check=False
    )


@pytest.fixture(scope="module")
def clean(ingested: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict, float]:
    """Snapshots before and after a clean run, and its wall time."""
    root = copy_of(ingested, tmp_path_factory.mktemp("clean"))
    before = snapshot(root)
    started = time.perf_counter()
    result = meter(bill_args(root, ingested / "data"))
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    after = snapshot(root)
    assert after["invoices"] and not before["invoices"]
    return before, after, seconds


@pytest.mark.parametrize("fraction", [0.5, 0.75, 0.9, 0.97])
def test_kill_9_then_rerun_equals_a_clean_run(
    fraction: float, ingested: Path, tmp_path: Path, clean: tuple[dict, dict, float]
):
    before, after, seconds = clean
    root = copy_of(ingested, tmp_path)
    process = subprocess.Popen(
        [METER, *bill_args(root, ingested / "data")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    time.sleep(seconds * fraction)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert snapshot(root) in (before, after)
    rerun = meter(bill_args(root, ingested / "data"))
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(root) == after


def test_crash_in_the_middle_of_the_write_leaves_nothing(
    ingested: Path, tmp_path: Path, clean: tuple[dict, dict, float]
):
    before, after, _ = clean
    root = copy_of(ingested, tmp_path)
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_MID_WRITE, *bill_args(root, ingested / "data")],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr
    assert snapshot(root) == before
    assert meter(bill_args(root, ingested / "data")).returncode == 0
    assert snapshot(root) == after


def test_running_the_same_run_twice_adds_no_rows(
    ingested: Path, tmp_path: Path, clean: tuple[dict, dict, float]
):
    _, after, _ = clean
    root = copy_of(ingested, tmp_path)
    assert meter(bill_args(root, ingested / "data")).returncode == 0
    second = meter(bill_args(root, ingested / "data"))
    assert second.returncode == 0
    assert "already" in second.stdout
    assert snapshot(root) == after


def test_a_second_run_on_a_busy_database_fails_clearly(ingested: Path, tmp_path: Path):
    root = copy_of(ingested, tmp_path)
    data = ingested / "data"
    inputs = RunInputs(
        "2026-10",
        data / "catalog.yaml",
        data / "customers.csv",
        data / "subscriptions.csv",
        root / "store",
    )
    with store.exclusive(root / "db.duckdb"):
        with pytest.raises(RunError, match=r"another billing run .* is using this database"):
            run_billing(inputs, root / "db.duckdb")
        busy = meter(bill_args(root, data))
    assert busy.returncode == 2
    assert busy.stderr.count("\n") == 1 and "another billing run" in busy.stderr
    assert snapshot(root)["billing_runs"] == []

"""A killed ingestion leaves the store without the batch or with all of it; a re-run completes it.

Two kinds of crash: ``kill -9`` of a real ``meter ingest`` at several moments, and
``os._exit`` at exact points of the publish protocol (between prepare, the file
moves, the DuckDB commit and the clean-up), which timing alone rarely hits.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.generate import generate
from meter.event_store import EventStore

pytestmark = pytest.mark.integration

METER = str(Path(sys.executable).parent / "meter")
ENV = {"PATH": str(Path(sys.executable).parent), "HOME": "/tmp", "COLUMNS": "200"}

CRASH_AT = r"""
import os, sys
from jobs import ingest
from meter import event_store

point = sys.argv[1]

def die(*_args, **_kwargs):
    os._exit(137)

if point == "after-first-part":
    original = event_store.PartWriter.commit
    def commit(self):
        original(self)
        die()
    event_store.PartWriter.commit = commit
elif point == "after-prepare":
    original = event_store.EventStore.prepare
    def prepare(self, *args):
        original(self, *args)
        die()
    event_store.EventStore.prepare = prepare
elif point == "mid-publish":
    moves = []
    real_replace = os.replace
    def replace(src, dst):
        real_replace(src, dst)
        moves.append(dst)
        if len(moves) == 3:
            die()
    event_store.os.replace = replace
elif point == "after-commit":
    event_store.EventStore.finish = die

from jobs.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("crash-data")
    generate(out, 300_000, files=4, duplicate_share=0.02, malformed_share=0.005, seed=3)
    return out


def ingest_args(data: Path, root: Path) -> list[str]:
    return [
        "ingest",
        "--catalog",
        str(data / "catalog.yaml"),
        "--customers",
        str(data / "customers.csv"),
        "--store",
        str(root / "store"),
        "--db",
        str(root / "db.duckdb"),
        str(data / "events"),
    ]


def run_meter(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METER, *args], capture_output=True, text=True, env=ENV, timeout=300, check=False
    )


def snapshot(root: Path) -> dict[str, object]:
    """Everything a reader can see: committed events with lineage, and the DuckDB records."""
    db = root / "db.duckdb"
    if not db.exists():
        return {"batches": []}
    with duckdb.connect(str(db), read_only=True) as con:

        def rows(sql: str) -> list[tuple]:
            return sorted(con.execute(sql).fetchall(), key=repr)

        batches = rows("SELECT * EXCLUDE (started_at, finished_at, store_path) FROM ingest_batches")
        files = rows("SELECT * FROM ingest_files")
        quarantine = rows("SELECT * FROM quarantine")
    store = EventStore(root / "store")
    committed = [b[0] for b in batches]
    paths = sorted(str(Path(p).relative_to(root / "store")) for p in store.event_files(committed))
    events = store.scan(committed).collect() if paths else pl.DataFrame()
    return {
        "batches": batches,
        "files": files,
        "quarantine": quarantine,
        "paths": paths,
        "events": events.sort(events.columns).rows() if paths else [],
    }


@pytest.fixture(scope="module")
def clean(data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, float]:
    root = tmp_path_factory.mktemp("clean")
    started = time.perf_counter()
    result = run_meter(ingest_args(data, root))
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    return snapshot(root), seconds


def leftovers(root: Path) -> list[str]:
    staging = root / "store" / "_staging"
    return sorted(p.name for p in staging.iterdir()) if staging.exists() else []


@pytest.mark.parametrize("fraction", [0.55, 0.7, 0.85, 0.95])
def test_kill_9_then_rerun_equals_a_clean_run(
    fraction: float, data: Path, tmp_path: Path, clean: tuple[dict, float]
):
    """Killed at a fraction of a clean run's wall time (start-up, hashing, writing, commit)."""
    expected, seconds = clean
    process = subprocess.Popen(
        [METER, *ingest_args(data, tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
    )
    time.sleep(seconds * fraction)
    process.send_signal(signal.SIGKILL)
    process.wait()
    seen = snapshot(tmp_path)
    # Whatever a reader sees after a kill is nothing, or the whole batch.
    assert seen.get("batches", []) == [] or seen == expected
    assert run_meter(ingest_args(data, tmp_path)).returncode == 0
    assert snapshot(tmp_path) == expected
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "point", ["after-first-part", "after-prepare", "mid-publish", "after-commit"]
)
def test_crash_at_each_step_of_publishing_then_rerun_equals_a_clean_run(
    point: str, data: Path, tmp_path: Path, clean: tuple[dict, float]
):
    expected, _ = clean
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_AT, point, *ingest_args(data, tmp_path)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
        check=False,
    )
    assert crashed.returncode == 137, crashed.stderr
    seen = snapshot(tmp_path)
    if point == "after-commit":
        assert seen == expected  # committed: visible whole, only staging is left to clean
    else:
        assert seen.get("batches", []) == []
    assert leftovers(tmp_path) != []
    rerun = run_meter(ingest_args(data, tmp_path))
    assert rerun.returncode == 0, rerun.stderr
    assert snapshot(tmp_path) == expected
    assert leftovers(tmp_path) == []
    assert os.listdir(tmp_path / "store" / "_staging") == []

"""``meter backfill``: months in order, resumable after an interruption, same result."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from jobs import backfill as backfill_job
from jobs.backfill import run_backfill
from jobs.billing import RunInputs
from jobs.cli import main
from jobs.generate import generate
from jobs.ingest import IngestInputs, run_ingest

pytestmark = pytest.mark.integration

TABLES = (
    "SELECT * EXCLUDE (started_at, finished_at) FROM billing_runs",
    "SELECT * FROM rated_charges",
    "SELECT * FROM invoices",
    "SELECT * FROM invoice_lines",
)


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("backfill")
    generate(root / "data", 40_000, seed=5)
    data = root / "data"
    inputs = IngestInputs([str(data / "events")], data / "catalog.yaml", data / "customers.csv")
    run_ingest(inputs, root / "store", root / "db.duckdb")
    return root


def fresh(ingested: Path, target: Path) -> tuple[RunInputs, Path]:
    shutil.copytree(ingested / "store", target / "store")
    shutil.copy(ingested / "db.duckdb", target / "db.duckdb")
    data = ingested / "data"
    inputs = RunInputs(
        "unused",
        data / "catalog.yaml",
        data / "customers.csv",
        data / "subscriptions.csv",
        target / "store",
    )
    return inputs, target / "db.duckdb"


def contents(db: Path) -> list[list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return [sorted(con.execute(sql).fetchall(), key=repr) for sql in TABLES]


def test_an_interrupted_backfill_resumes_and_ends_as_a_clean_one(
    ingested: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    inputs, clean_db = fresh(ingested, tmp_path / "clean")
    months = run_backfill(inputs, "2026-08", "2026-11", clean_db)
    assert [m.period for m in months] == ["2026-08", "2026-09", "2026-10", "2026-11"]
    assert all(m.result is not None and not m.result.already_done for m in months)

    inputs, db = fresh(ingested, tmp_path / "interrupted")
    real = backfill_job.run_billing
    billed: list[str] = []

    def interrupted(run_inputs: RunInputs, *args: object):  # type: ignore[no-untyped-def]
        if run_inputs.billing_period == "2026-10":
            raise KeyboardInterrupt
        billed.append(run_inputs.billing_period)
        return real(run_inputs, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(backfill_job, "run_billing", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_backfill(inputs, "2026-08", "2026-11", db)
    assert billed == ["2026-08", "2026-09"]
    monkeypatch.setattr(backfill_job, "run_billing", real)

    resumed = run_backfill(inputs, "2026-08", "2026-11", db)
    assert [(m.period, m.result is None) for m in resumed] == [
        ("2026-08", True),
        ("2026-09", True),
        ("2026-10", False),
        ("2026-11", False),
    ]
    assert contents(db) == contents(clean_db)


def test_cli_backfill_prints_each_month_and_rejects_a_reversed_range(
    ingested: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    inputs, db = fresh(ingested, tmp_path)
    args = [
        "--catalog",
        str(inputs.catalog),
        "--customers",
        str(inputs.customers),
        "--subscriptions",
        str(inputs.subscriptions),
        "--store",
        str(inputs.store),
        "--db",
        str(db),
    ]
    assert main(["backfill", "--from", "2026-09", "--to", "2026-10", *args]) == 0
    out = capsys.readouterr().out
    assert "2026-09" in out and "2026-10" in out and "Billed 2 of 2 month(s)" in out
    assert main(["backfill", "--from", "2026-11", "--to", "2026-10", *args]) == 2
    err = capsys.readouterr().err
    assert "the first month is after the last" in err

"""Shared fixtures: the shipped sample and small hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.billing import RunInputs, run_billing
from jobs.ingest import IngestInputs, run_ingest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped sample, ingested and billed once for the whole session (2026-10)."""
    root = tmp_path_factory.mktemp("sample")
    db = root / "sample.duckdb"
    run_ingest(
        IngestInputs(
            [str(SAMPLES / "events")], SAMPLES / "catalog.yaml", SAMPLES / "customers.csv"
        ),
        root / "store",
        db,
    )
    run_billing(
        RunInputs(
            billing_period="2026-10",
            catalog=SAMPLES / "catalog.yaml",
            customers=SAMPLES / "customers.csv",
            subscriptions=SAMPLES / "subscriptions.csv",
            store=root / "store",
        ),
        db,
    )
    return db

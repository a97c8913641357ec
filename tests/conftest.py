"""Shared fixtures: the shipped sample and small hand-made inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.billing import RunInputs, run_billing

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return SAMPLES


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped sample, billed once for the whole session (2026-10)."""
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    run_billing(
        RunInputs(
            billing_period="2026-10",
            catalog=SAMPLES / "catalog.yaml",
            customers=SAMPLES / "customers.csv",
            subscriptions=SAMPLES / "subscriptions.csv",
            events=[str(SAMPLES / "events")],
        ),
        db,
    )
    return db

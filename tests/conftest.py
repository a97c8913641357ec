"""Shared fixtures (the shipped sample) and the Hypothesis profiles of every test.

``ci`` (the default) keeps the suite fast; ``expensive`` is for a long local hunt::

    HYPOTHESIS_PROFILE=expensive .venv/bin/python -m pytest tests/property -q
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

from jobs.billing import RunInputs, run_billing
from jobs.ingest import IngestInputs, run_ingest

# Polars and Numba compile on first use, so the first examples are slow: no deadline.
settings.register_profile("ci", max_examples=100, deadline=None, print_blob=True)
settings.register_profile("expensive", parent=settings.get_profile("ci"), max_examples=2000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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

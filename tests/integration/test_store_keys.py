"""The large tables' keys are checked on each write instead of indexed (jobs/store.py)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from jobs import store
from schemas.errors import RunError


def test_rows_sharing_a_key_are_refused_and_nothing_is_written(tmp_path: Path):
    db = tmp_path / "keys.duckdb"
    run = pl.DataFrame({"run_id": ["r1"], "billing_period": ["2026-10"]})
    lines = pl.DataFrame(
        {"invoice_id": ["INV-1", "INV-1", "INV-2"], "line_number": [1, 1, 1]},
        schema={"invoice_id": pl.String, "line_number": pl.Int32},
    )
    with store.connect(db) as con:
        with pytest.raises(RunError, match=r"invoice_lines: two rows share a key"):
            store.write_tables(con, {"billing_runs": run, "invoice_lines": lines})
        assert con.execute("SELECT count(*) FROM billing_runs").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM invoice_lines").fetchone() == (0,)

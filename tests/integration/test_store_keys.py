"""The large tables' keys are checked on each write instead of indexed (jobs/store.py)."""

from __future__ import annotations

from pathlib import Path

import duckdb
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


def test_a_database_from_before_gains_the_new_columns(tmp_path: Path):
    """A file written before hierarchies, credits and reconciled quarantine still opens."""
    db = tmp_path / "old.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE quarantine (batch_id VARCHAR, run_id VARCHAR, source_file VARCHAR "
            "NOT NULL, row_number BIGINT NOT NULL, event_id VARCHAR, field VARCHAR NOT NULL, "
            "reason VARCHAR NOT NULL, detail VARCHAR NOT NULL)"
        )
        con.execute("INSERT INTO quarantine VALUES ('b1', NULL, 'f', 1, 'e', 'x', 'r', 'd')")
    with store.connect(db) as con:
        columns = [row[0] for row in con.execute("DESCRIBE quarantine").fetchall()]
        assert columns[-2:] == ["billing_period", "customer_id"]
        assert con.execute("SELECT count(*) FROM quarantine_current").fetchone() == (1,)

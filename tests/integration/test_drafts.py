"""Draft invoices: billed again until issued, then never changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.billing import RunInputs, run_billing
from jobs.cli import main
from jobs.ingest import IngestInputs, run_ingest
from schemas.errors import RunError

pytestmark = pytest.mark.integration
D = Decimal

CATALOG = """
event_types:
  call: {}
meters:
  - {code: calls, event_type: call, aggregation: count}
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 10.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
"""


class Setup:
    def __init__(self, root: Path) -> None:
        self.root, self.db = root, root / "out.duckdb"
        (root / "catalog.yaml").write_text(CATALOG)
        (root / "customers.csv").write_text("customer_id,name,timezone\na,A,UTC\n")
        (root / "subscriptions.csv").write_text(
            "subscription_id,customer_id,plan_code,start_date\ns-a,a,basic,2026-09-01\n"
        )
        self.inputs = RunInputs(
            "2026-10",
            root / "catalog.yaml",
            root / "customers.csv",
            root / "subscriptions.csv",
            root / "store",
            draft=True,
        )

    def ingest(self, name: str, days: list[int]) -> None:
        folder = self.root / name
        folder.mkdir()
        pl.DataFrame(
            {
                "event_id": [f"{name}{d}" for d in days],
                "customer_id": ["a"] * len(days),
                "event_type": ["call"] * len(days),
                "timestamp": [datetime(2026, 10, d, tzinfo=UTC) for d in days],
            }
        ).write_parquet(folder / "calls.parquet")
        inputs = IngestInputs(
            [str(folder)], self.root / "catalog.yaml", self.root / "customers.csv"
        )
        run_ingest(inputs, self.root / "store", self.db)

    def invoices(self) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(
                "SELECT billing_period, status, total FROM invoices ORDER BY 1"
            ).fetchall()

    def runs(self) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(
                "SELECT billing_period, status FROM billing_runs ORDER BY 1"
            ).fetchall()


def test_a_draft_is_replaced_until_issued_then_never_changed(tmp_path: Path):
    setup = Setup(tmp_path)
    setup.ingest("first", [5, 6])
    first = run_billing(setup.inputs, setup.db)
    assert setup.invoices() == [("2026-10", "draft", D("12.00"))]

    setup.ingest("late", [20])
    second = run_billing(setup.inputs, setup.db)
    assert second.run_id != first.run_id
    assert setup.invoices() == [("2026-10", "draft", D("13.00"))]
    assert setup.runs() == [("2026-10", "draft")]

    november = replace(setup.inputs, billing_period="2026-11", draft=False)
    with pytest.raises(RunError, match="billing period 2026-10 is still a draft: issue it"):
        run_billing(november, setup.db)

    assert main(["issue", "--period", "2026-10", "--db", str(setup.db)]) == 0
    assert setup.invoices() == [("2026-10", "issued", D("13.00"))]
    assert setup.runs() == [("2026-10", "completed")]
    assert main(["issue", "--period", "2026-10", "--db", str(setup.db)]) == 2

    setup.ingest("later", [21])
    with pytest.raises(RunError, match=r"already billed .* never rewritten"):
        run_billing(setup.inputs, setup.db)
    run_billing(november, setup.db)
    assert setup.invoices() == [
        ("2026-10", "issued", D("13.00")),
        ("2026-11", "issued", D("11.00")),  # November's fee and October's late call
    ]


def test_billing_a_draft_again_without_draft_issues_it(tmp_path: Path):
    setup = Setup(tmp_path)
    setup.ingest("first", [5])
    draft = run_billing(setup.inputs, setup.db)
    issued = run_billing(replace(setup.inputs, draft=False), setup.db)
    assert issued.already_done and issued.run_id == draft.run_id
    assert setup.invoices() == [("2026-10", "issued", D("11.00"))]

"""Draft invoices: billed again until issued, then never changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.billing import run_billing
from jobs.cli import main
from schemas.errors import RunError
from tests.scenario import CALLS_CATALOG, scenario

pytestmark = pytest.mark.integration
D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 10.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
"""
)


class Setup:
    def __init__(self, root: Path) -> None:
        self.world = scenario(
            root,
            CATALOG,
            "customer_id,name,timezone\na,A,UTC\n",
            "subscription_id,customer_id,plan_code,start_date\ns-a,a,basic,2026-09-01\n",
        )
        self.db = self.world.db
        self.inputs = self.world.inputs("2026-10", draft=True)

    def ingest(self, name: str, days: list[int]) -> None:
        events = [(f"{name}{d}", "a", "call", datetime(2026, 10, d, tzinfo=UTC)) for d in days]
        self.world.ingest(events, name)

    def invoices(self) -> list[tuple]:
        return self.world.query("SELECT billing_period, status, total FROM invoices ORDER BY 1")

    def runs(self) -> list[tuple]:
        return self.world.query("SELECT billing_period, status FROM billing_runs ORDER BY 1")


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

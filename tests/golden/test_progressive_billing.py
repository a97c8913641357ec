"""Progressive (threshold) billing over October 2026, worked out by hand.

* x, plan ``metered`` (fee 5.00, calls at 10.00, progressive at an amount of 100):
  6 calls on 1-6 Oct, 5 on 8-12 Oct, 4 on 20-23 Oct.
  - as of 7 Oct: 6 x 10 = 60.00 unbilled, below 100: nothing;
  - as of 13 Oct: 11 calls, 110.00 unbilled: an invoice of 110.00 (11 calls);
  - as of 25 Oct: 15 calls, 150.00 less 110.00 billed = 40.00: nothing;
  - the October run bills the month whole, 5.00 + 150.00, and deducts the 110.00
    invoiced progressively: 45.00.
* y, plan ``counted`` (calls graduated: 2 free, then 1.00; progressive at 3 calls):
  4 calls on 2-5 Oct.
  - as of 7 Oct: 4 calls unbilled, at least 3: an invoice of 2 x 1.00 = 2.00;
  - as of 13 and 25 Oct: nothing new;
  - October run: calls 2.00, less 2.00: 0.00.
* z, plan ``plain`` (no progressive billing): one call, only the October run bills it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from jobs.billing import RunInputs
from jobs.cli import main
from jobs.progressive import run_progressive_billing
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: metered
    currency: EUR
    progressive_billing: {amount: 100}
    charges:
      - {code: fee, model: flat_fee, amount: 5.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 10}
  - code: counted
    currency: EUR
    progressive_billing: {meter: calls, quantity: 3}
    charges:
      - code: calls
        meter: calls
        model: graduated
        tiers: [{up_to: 2, unit_price: 0}, {unit_price: 1}]
  - code: plain
    currency: EUR
    charges:
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
"""
)
CUSTOMERS = "customer_id,name,timezone\nx,X,UTC\ny,Y,UTC\nz,Z,UTC\n"
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-x,x,metered,2026-09-01
s-y,y,counted,2026-09-01
s-z,z,plain,2026-09-01
"""


def day(n: int) -> datetime:
    return datetime(2026, 10, 1, 12, tzinfo=UTC) + timedelta(days=n - 1)


EVENTS = (
    [(f"x{n}", "x", day(n)) for n in range(1, 7)]
    + [(f"x{n}", "x", day(n)) for n in range(8, 13)]
    + [(f"x{n}", "x", day(n)) for n in range(20, 24)]
    + [(f"y{n}", "y", day(n)) for n in range(2, 6)]
    + [("z1", "z", day(3))]
)
AS_OF = ("2026-10-07", "2026-10-13", "2026-10-25")


@pytest.fixture(scope="module")
def billed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RunInputs]:
    world = scenario(tmp_path_factory.mktemp("progressive"), CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.ingest([(event_id, customer, "call", ts) for event_id, customer, ts in EVENTS])
    inputs = world.inputs("2026-10")
    for as_of in AS_OF:
        run_progressive_billing(inputs, as_of, world.db)
    world.bill("2026-10")
    return world.db, inputs


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.integration
def test_invoices_are_issued_when_the_level_is_reached(billed: tuple[Path, RunInputs]):
    db, _ = billed
    assert query(
        db,
        "SELECT billing_period, invoice_id, customer_id, issue_date::VARCHAR, total "
        "FROM invoices ORDER BY issue_date, customer_id",
    ) == [
        ("2026-10-07", "INV-20261007-000001", "y", "2026-10-07", D("2.00")),
        ("2026-10-13", "INV-20261013-000001", "x", "2026-10-13", D("110.00")),
        ("2026-10", "INV-202610-000001", "x", "2026-11-01", D("45.00")),
        ("2026-10", "INV-202610-000002", "y", "2026-11-01", D("0.00")),
        ("2026-10", "INV-202610-000003", "z", "2026-11-01", D("1.00")),
    ]


@pytest.mark.integration
def test_the_period_run_bills_the_whole_month_and_deducts(billed: tuple[Path, RunInputs]):
    db, _ = billed
    assert query(
        db,
        "SELECT description, quantity, amount FROM invoice_lines "
        "WHERE invoice_id = 'INV-202610-000001' ORDER BY line_number",
    ) == [
        ("fee", D("1"), D("5.00")),
        ("calls", D("15"), D("150.00")),
        ("Usage already invoiced progressively", D("1"), D("-110.00")),
    ]
    assert query(
        db,
        "SELECT description, quantity, amount FROM invoice_lines "
        "WHERE invoice_id = 'INV-20261013-000001'",
    ) == [("calls", D("11"), D("110.00"))]


@pytest.mark.integration
def test_progressive_runs_are_recorded_and_idempotent(billed: tuple[Path, RunInputs]):
    db, inputs = billed
    kinds = query(db, "SELECT billing_period, kind, invoice_count FROM billing_runs ORDER BY 1")
    assert kinds == [
        ("2026-10", "period", 3),
        ("2026-10-07", "progressive", 1),
        ("2026-10-13", "progressive", 1),
        ("2026-10-25", "progressive", 0),
    ]
    before = query(db, "SELECT count(*) FROM rated_charges")
    assert run_progressive_billing(inputs, "2026-10-13", db).already_done
    assert query(db, "SELECT count(*) FROM rated_charges") == before


@pytest.mark.integration
def test_cli_needs_one_of_period_and_as_of(billed: tuple[Path, RunInputs], capsys):
    db, inputs = billed
    args = [
        "bill",
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
    assert main(args) == 2
    assert "either --period YYYY-MM or --as-of YYYY-MM-DD" in capsys.readouterr().err
    assert main([*args, "--as-of", "2026-13-01"]) == 2
    assert "--as-of '2026-13-01': expected a date YYYY-MM-DD" in capsys.readouterr().err

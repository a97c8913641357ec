"""Events a run set aside are reconciled when a later run re-rates their period (and a
customer dropped from the files still gets its correction).

October 2026, 1.00 a call. a has a subscription; b has none when October is billed, so
its 3 calls are quarantined (no active subscription); d never has one.

Then b's subscription is entered retroactively from 1 October, and a late call of d's
for 20 October arrives. The November run re-rates October for b and d: b's 3 calls are
billed as an October adjustment (3.00) and leave the current quarantine; d's late call
is set aside by the November run, for October. The quarantine table keeps the history.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: basic
    currency: EUR
    charges: [{code: calls, meter: calls, model: per_unit, unit_price: 1.00}]
"""
)
CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,UTC\nd,D,UTC\n"
HEADER = "subscription_id,customer_id,plan_code,start_date\n"


def _calls(customer: str, count: int, day: int) -> list:
    return [
        (f"{customer}-{day}-{i}", customer, "call", datetime(2026, 10, day, 9, i, tzinfo=UTC))
        for i in range(count)
    ]


@pytest.mark.integration
def test_a_retroactive_subscription_releases_and_a_late_event_is_set_aside(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, HEADER + "s-a,a,basic,2026-09-01\n")
    world.ingest(_calls("a", 2, 5) + _calls("b", 3, 6))
    [october] = world.bill("2026-10")
    current = "SELECT customer_id, billing_period, run_id FROM quarantine_current ORDER BY ALL"
    assert world.query(current) == [("b", "2026-10", october.run_id)] * 3
    assert world.query(
        "SELECT field, reason, detail FROM quarantine WHERE customer_id = 'b' ORDER BY detail"
    )[0] == (
        "timestamp",
        "no_active_subscription",
        "customer b had no active subscription at 2026-10-06 09:00:00.000000+00:00",
    )

    world.write("subscriptions.csv", HEADER + "s-a,a,basic,2026-09-01\ns-b,b,basic,2026-10-01\n")
    world.ingest(_calls("d", 1, 20), name="late")
    [november] = world.bill("2026-11")
    assert world.query(
        "SELECT customer_id, adjusted_period, amount FROM invoice_lines "
        "WHERE adjusted_period IS NOT NULL"
    ) == [("b", "2026-10", D("3.00"))]
    assert world.query(current) == [("d", "2026-10", november.run_id)]
    assert world.query(
        "SELECT customer_id, run_id, count(*) FROM quarantine WHERE run_id IS NOT NULL "
        "GROUP BY ALL ORDER BY ALL"
    ) == sorted([("b", october.run_id, 3), ("d", november.run_id, 1)])


@pytest.mark.integration
def test_a_customer_removed_from_the_files_still_gets_its_correction(tmp_path: Path):
    """Dropping z from customers.csv and subscriptions.csv after October was billed
    re-rates October for z: its 2.00 is credited on a credit note under its id, never
    written as lines without an invoice."""
    world = scenario(
        tmp_path,
        CATALOG,
        CUSTOMERS + "z,Z,Europe/Paris\n",
        HEADER + "s-a,a,basic,2026-09-01\ns-z,z,basic,2026-09-01\n",
    )
    world.ingest(_calls("z", 2, 5))
    world.bill("2026-10")
    world.write("customers.csv", CUSTOMERS)
    world.write("subscriptions.csv", HEADER + "s-a,a,basic,2026-09-01\n")
    world.bill("2026-11")
    assert world.query(
        "SELECT billing_period, customer_name, timezone, total FROM invoices "
        "WHERE customer_id = 'z' ORDER BY 1"
    ) == [("2026-10", "Z", "Europe/Paris", D("2.00")), ("2026-11", "z", "UTC", D("-2.00"))]
    assert world.query(
        "SELECT count(*) FROM invoice_lines l ANTI JOIN invoices i USING (invoice_id)"
    ) == [(0,)]

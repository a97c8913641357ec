"""Minimums for part of a period, worked out by hand. October 2026 (31 days), 3 calls at
1.00 each; the ``calls`` charge has a minimum of 10.00, the plan a commitment of 62.00.

* a, the whole month: 3.00 + 7.00 (charge minimum) + 52.00 (commitment) = 62.00.
* b (Paris, whose October has a 25-hour day), from 11 October: 21 of 31 days. The charge
  minimum is 10.00 x 21/31 = 6.774193...: true-up 3.774193... -> 3.77; the commitment
  62.00 x 21/31 = 42.00: true-up 42.00 - (3.00 + 3.77) = 35.23; total 42.00.
* c, the same from 11 October on a plan with ``proration: none``: minimums in full, 62.00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from tests.scenario import scenario

D = Decimal

PLAN = """
    currency: EUR
    minimum_commitment: 62.00
    charges:
      - {code: calls, meter: calls, model: per_unit, unit_price: 1.00, minimum: 10.00}
"""
CATALOG = f"""
event_types:
  call: {{}}
meters:
  - {{code: calls, event_type: call, aggregation: count}}
plans:
  - code: daily{PLAN}
  - code: whole
    proration: none{PLAN}
"""
CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,Europe/Paris\nc,C,UTC\n"
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-a,a,daily,2026-10-01
s-b,b,daily,2026-10-11
s-c,c,whole,2026-10-11
"""
CALLS = [
    (f"{customer}-{i}", customer, "call", datetime(2026, 10, 20, 12, i, tzinfo=UTC))
    for customer in "abc"
    for i in range(3)
]


@pytest.mark.integration
def test_minimums_are_prorated_like_fees(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.ingest(CALLS)
    world.bill("2026-10")
    assert world.query("SELECT customer_id, total FROM invoices ORDER BY 1") == [
        ("a", D("62.00")),
        ("b", D("42.00")),
        ("c", D("62.00")),
    ]
    assert world.query(
        "SELECT charge_code, amount, prorated_days, period_days FROM rated_charges "
        "WHERE customer_id = 'b' ORDER BY charge_position, charge_code"
    ) == [
        ("calls", D("3.00"), None, None),
        ("calls:minimum", D("3.77"), 21, 31),
        ("minimum_commitment", D("35.23"), 21, 31),
    ]

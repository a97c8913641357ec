"""Cross-sell: an add-on subscription beside the main one, worked out by hand.

Customer x holds ``basic`` (31.00 a month, calls at 1.00) from 1 September and,
from 16 October to 16 November, the add-on ``storage`` (10.00 a month, 1.00 per
GB stored). The plans price different meters, so one customer may hold both;
each event belongs to the subscription whose plan meters it.

* October: basic 31.00 + 2 calls 2.00; storage 10 x 16/31 = 5.161... -> 5.16, and
  3 GB -> 3.00. Total 41.16.
* November: basic 31.00; storage 10 x 15/30 = 5.00. Total 36.00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from jobs.ingest import IngestInputs, run_ingest
from schemas.errors import InputError
from tests.scenario import scenario

D = Decimal

CATALOG = """
event_types:
  call: {}
  store: {properties: {gb: {type: number, required: true}}}
meters:
  - {code: calls, event_type: call, aggregation: count}
  - {code: gb, event_type: store, aggregation: sum, property: gb}
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 31.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 1}
  - code: storage
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 10.00}
      - {code: gb, meter: gb, model: per_unit, unit_price: 1}
"""
SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date,end_date
s-base,x,basic,2026-09-01,
s-addon,x,storage,2026-10-16,2026-11-16
"""


@pytest.mark.integration
def test_an_add_on_is_billed_beside_the_main_subscription(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, "customer_id,name,timezone\nx,X,UTC\n", SUBSCRIPTIONS)
    (tmp_path / "events").mkdir()
    pl.DataFrame(
        {
            "event_id": ["c1", "g1", "c2"],
            "customer_id": ["x"] * 3,
            "event_type": ["call", "store", "call"],
            "timestamp": [datetime(2026, 10, d, tzinfo=UTC) for d in (5, 20, 25)],
            "gb": [None, 3.0, None],
        }
    ).write_parquet(tmp_path / "events" / "events.parquet")
    run_ingest(
        IngestInputs(
            [str(tmp_path / "events")], tmp_path / "catalog.yaml", tmp_path / "customers.csv"
        ),
        tmp_path / "store",
        world.db,
    )
    world.bill("2026-10", "2026-11")
    assert world.query("SELECT billing_period, total FROM invoices ORDER BY 1") == [
        ("2026-10", D("41.16")),
        ("2026-11", D("36.00")),
    ]
    assert world.query(
        "SELECT subscription_id, charge_code, quantity, amount FROM rated_charges "
        "WHERE billing_period = '2026-10' ORDER BY ALL"
    ) == [
        ("s-addon", "fee", D(1), D("5.16")),
        ("s-addon", "gb", D(3), D("3.00")),
        ("s-base", "calls", D(2), D("2.00")),
        ("s-base", "fee", D(1), D("31.00")),
    ]
    # Three events read, each rated once, although two subscriptions were active.
    assert world.query(
        "SELECT events_read, events_rated, events_quarantined, events_out_of_period "
        "FROM billing_runs WHERE billing_period = '2026-10'"
    ) == [(3, 3, 0, 0)]


def test_two_subscriptions_pricing_the_same_meter_at_once_are_refused(tmp_path: Path):
    world = scenario(
        tmp_path,
        CATALOG,
        "customer_id,name,timezone\nx,X,UTC\n",
        SUBSCRIPTIONS + "s-twice,x,basic,2026-10-01,\n",
    )
    with pytest.raises(
        InputError,
        match=r"line 4: subscription s-twice of customer x overlaps "
        r"the one on line 2 \(their plans price a common meter\)",
    ):
        world.bill("2026-10")

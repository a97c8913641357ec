"""Every aggregation and every charge model in one ingest + billing run, worked out by hand.

One customer (UTC, so October is 744 hours) subscribes on 1 October to a plan
with one charge per model, over meters of every aggregation, plus two formulas,
a discount and a minimum commitment. The comments beside ``EXPECTED`` hold the
arithmetic.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl

from jobs.billing import RunInputs, run_billing
from jobs.ingest import IngestInputs, run_ingest

D = Decimal

CATALOG = """
event_types:
  call: {properties: {user: {type: string, required: true}}}
  disk: {properties: {gb: {type: number, required: true}}}
  seat: {properties: {seats: {type: integer, required: true}}}
  vm: {properties: {vm: {type: string, required: true}, action: {type: string}}}
  pay: {properties: {amount: {type: number, required: true}}}
meters:
  - {code: calls, event_type: call, aggregation: count}
  - {code: users, event_type: call, aggregation: count_distinct, property: user}
  - {code: peak_gb, event_type: disk, aggregation: max, property: gb}
  - {code: floor_gb, event_type: disk, aggregation: min, property: gb}
  - {code: last_gb, event_type: disk, aggregation: latest, property: gb}
  - {code: seats, event_type: seat, aggregation: gauge, property: seats}
  - code: vm_hours
    event_type: vm
    aggregation: duration
    property: vm
    state: {property: action}
    unit: hour
    rounding: up
  - {code: payments, event_type: pay, aggregation: sum, property: amount}
plans:
  - code: all
    currency: EUR
    minimum_commitment: 600
    discounts:
      - {code: welcome, percent: 50, charges: [setup], start_date: 2026-10-01}
    charges:
      - {code: setup, model: one_shot, amount: 250.00}
      - {code: seats, meter: seats, model: per_unit, unit_price: 8.00}
      - {code: calls, meter: calls, model: package, package_size: 3, package_price: 1.00}
      - code: users
        meter: users
        model: volume
        tiers: [{up_to: 2, unit_price: 5}, {unit_price: 4}]
      - code: storage_peak
        meter: peak_gb
        model: stairstep
        bands: [{up_to: 10, price: 10}, {up_to: 50, price: 30}, {price: 100}]
      - {code: storage_floor, meter: floor_gb, model: per_unit, unit_price: 0.5}
      - code: storage_last
        meter: last_gb
        model: graduated
        tiers: [{up_to: 10, unit_price: 1}, {unit_price: 0.1}]
      - {code: compute, meter: vm_hours, model: per_unit, unit_price: 0.35}
      - code: card_fees
        meter: payments
        model: percentage
        rate: 2.9
        fixed_fee: 0.30
        min_per_transaction: 0.50
        max_per_transaction: 20
      - code: volume_fee
        meter: payments
        model: graduated_percentage
        tiers: [{up_to: 500, rate: 1}, {rate: 0.5}]
      - {code: royalty, model: formula, formula: "0.05 * charge.card_fees"}
      - {code: overage, model: formula, formula: "if(meter.calls > 3, 49, 0)"}
"""

CUSTOMERS = "customer_id,name,timezone\nacme,Acme,UTC\n"
SUBSCRIPTIONS = "subscription_id,customer_id,plan_code,start_date\ns-acme,acme,all,2026-10-01\n"

COLUMNS = ("user", "gb", "seats", "vm", "action", "amount")
EVENTS = [
    # id, type, timestamp (UTC), then one of the properties
    ("c1", "call", "2026-10-02T10:00:00", {"user": "u1"}),
    ("c2", "call", "2026-10-03T10:00:00", {"user": "u2"}),
    ("c3", "call", "2026-10-04T10:00:00", {"user": "u1"}),
    ("c4", "call", "2026-10-05T10:00:00", {"user": "u3"}),
    ("d1", "disk", "2026-10-02T00:00:00", {"gb": 5.0}),
    ("d2", "disk", "2026-10-10T00:00:00", {"gb": 20.0}),
    ("d3", "disk", "2026-10-20T00:00:00", {"gb": 12.5}),
    ("s1", "seat", "2026-10-01T00:00:00", {"seats": 10}),
    ("s2", "seat", "2026-10-16T12:00:00", {"seats": 20}),
    ("v1", "vm", "2026-10-01T01:00:00", {"vm": "a", "action": "start"}),
    ("v2", "vm", "2026-10-01T03:30:00", {"vm": "a", "action": "stop"}),
    ("v3", "vm", "2026-10-31T22:15:00", {"vm": "b", "action": "start"}),
    ("p1", "pay", "2026-10-07T00:00:00", {"amount": 100.0}),
    ("p2", "pay", "2026-10-08T00:00:00", {"amount": 10.0}),
    ("p3", "pay", "2026-10-09T00:00:00", {"amount": 1000.0}),
]

EXPECTED = {
    "setup": D("250.00"),  # subscribed on 1 Oct: the one-time fee is due this period
    "seats": D("120.00"),  # gauge: (10 seats x 372 h + 20 x 372 h) / 744 h = 15; x 8.00
    "calls": D("2.00"),  # 4 calls in blocks of 3: ceil(4 / 3) = 2 blocks x 1.00
    "users": D("12.00"),  # u1, u2, u3 = 3 distinct, volume tier 2: all 3 x 4
    "storage_peak": D("30.00"),  # max 20 GB is in the band (10, 50]
    "storage_floor": D("2.50"),  # min 5 GB x 0.5
    "storage_last": D("10.25"),  # latest 12.5 GB: 10 x 1 + 2.5 x 0.1
    # a: 01:00-03:30 = 2.5 h -> 3 h; b: 22:15 to the end of the period = 1.75 h -> 2 h
    "compute": D("1.75"),  # 5 h x 0.35
    # each payment: 2.9 % + 0.30, at least 0.50, at most 20:
    # 100 -> 3.20; 10 -> 0.59; 1000 -> 29.30 capped at 20.00
    "card_fees": D("23.79"),
    "volume_fee": D("8.05"),  # 1,110 paid: 500 x 1 % + 610 x 0.5 % = 5.00 + 3.05
    "royalty": D("1.19"),  # 0.05 x 23.79 = 1.1895 -> 1.19
    "overage": D("49.00"),  # 4 calls > 3
    "discount:welcome": D("-125.00"),  # 50 % of the set-up fee
    # lines so far: 510.53 - 125.00 = 385.53; 600 - 385.53
    "minimum_commitment": D("214.47"),
}


# Each line's charge: (model, meter, position in the plan); names as the catalog gives none.
DESCRIBED = {
    "setup": ("one_shot", None, 0),
    "seats": ("per_unit", "seats", 1),
    "calls": ("package", "calls", 2),
    "users": ("volume", "users", 3),
    "storage_peak": ("stairstep", "peak_gb", 4),
    "storage_floor": ("per_unit", "floor_gb", 5),
    "storage_last": ("graduated", "last_gb", 6),
    "compute": ("per_unit", "vm_hours", 7),
    "card_fees": ("percentage", "payments", 8),
    "volume_fee": ("graduated_percentage", "payments", 9),
    "royalty": ("formula", None, 10),
    "overage": ("formula", None, 11),
    "discount:welcome": ("discount", None, 12),
    "minimum_commitment": ("minimum_commitment", None, 13),
}


def test_every_aggregation_and_model_in_one_run(tmp_path: Path):
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "customers.csv").write_text(CUSTOMERS)
    (tmp_path / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    rows = [
        {"event_id": i, "customer_id": "acme", "event_type": t, "timestamp": ts}
        | {name: props.get(name) for name in COLUMNS}
        for i, t, ts, props in EVENTS
    ]
    events = pl.DataFrame(
        rows,
        schema={
            "event_id": pl.String,
            "customer_id": pl.String,
            "event_type": pl.String,
            "timestamp": pl.String,
            "user": pl.String,
            "gb": pl.Float64,
            "seats": pl.Int64,
            "vm": pl.String,
            "action": pl.String,
            "amount": pl.Float64,
        },
    ).with_columns(pl.col("timestamp").str.to_datetime().dt.replace_time_zone("UTC"))
    (tmp_path / "events").mkdir()
    events.write_parquet(tmp_path / "events" / "october.parquet")
    db = tmp_path / "out.duckdb"
    catalog, customers = tmp_path / "catalog.yaml", tmp_path / "customers.csv"
    run_ingest(IngestInputs([str(tmp_path / "events")], catalog, customers), tmp_path / "store", db)
    result = run_billing(
        RunInputs(
            "2026-10", catalog, customers, tmp_path / "subscriptions.csv", tmp_path / "store"
        ),
        db,
    )
    assert result.counts["events_rated"] == len(EVENTS)
    with duckdb.connect(str(db), read_only=True) as con:
        lines = con.execute(
            "SELECT charge_code, amount FROM invoice_lines ORDER BY line_number"
        ).fetchall()
        quantities = dict(con.execute("SELECT charge_code, quantity FROM rated_charges").fetchall())
        total = con.execute("SELECT total FROM invoices").fetchone()
        described = con.execute(
            "SELECT charge_code, charge_model, meter_code, charge_position, charge_name, "
            "plan_code, currency, adjusted_period FROM rated_charges"
        ).fetchall()
    assert dict(lines) == EXPECTED
    assert [code for code, _ in lines] == list(EXPECTED)  # invoice lines in plan order
    assert quantities["seats"] == D(15) and quantities["compute"] == D(5)
    assert quantities["card_fees"] == D(1110)  # the transactions' total volume
    assert total == (D("600.00"),)
    assert {code: (model, meter, at) for code, model, meter, at, *_ in described} == DESCRIBED
    named = {"discount:welcome": "Discount welcome", "minimum_commitment": "Minimum commitment"}
    assert {code: name for code, _, _, _, name, *_ in described} == {
        code: named.get(code, code) for code in DESCRIBED
    }
    assert {tuple(row[5:]) for row in described} == {("all", "EUR", None)}

"""Seats and running VMs carry over from one period into the next, worked out by hand.

The customer (UTC: October is 744 hours) has been subscribed since August.
September's events set the state October opens with: 12 seats, VM ``a``
running, VM ``b`` running until 02:00 on 1 October, VM ``c`` stopped.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs import period as period_job
from jobs.billing import RunInputs, run_billing
from jobs.ingest import IngestInputs, run_ingest

CATALOG = """
event_types:
  seat: {properties: {seats: {type: integer, required: true}}}
  vm: {properties: {vm: {type: string, required: true}, action: {type: string}}}
meters:
  - {code: seats, event_type: seat, aggregation: gauge, property: seats}
  - code: vm_hours
    event_type: vm
    aggregation: duration
    property: vm
    state: {property: action}
    unit: hour
plans:
  - code: team
    currency: EUR
    charges:
      - {code: seats, meter: seats, model: per_unit, unit_price: 1.00}
      - {code: compute, meter: vm_hours, model: per_unit, unit_price: 0.10}
"""

EVENTS = [
    # id, type, timestamp (UTC), seats, vm, action
    ("s0", "seat", "2026-08-03T00:00:00", 5, None, None),  # replaced by s1 before October
    ("s1", "seat", "2026-09-10T00:00:00", 12, None, None),  # holds until 16 Oct 12:00
    ("s2", "seat", "2026-10-16T12:00:00", 20, None, None),
    ("a1", "vm", "2026-09-30T20:00:00", None, "a", "start"),  # runs all October
    ("b1", "vm", "2026-09-29T00:00:00", None, "b", "start"),
    ("b2", "vm", "2026-10-01T02:00:00", None, "b", "stop"),
    ("c1", "vm", "2026-09-20T00:00:00", None, "c", "start"),
    ("c2", "vm", "2026-09-21T00:00:00", None, "c", "stop"),
    ("c3", "vm", "2026-10-05T00:00:00", None, "c", "stop"),  # stop while stopped: ignored
]


def _contracts(tmp_path: Path) -> None:
    (tmp_path / "catalog.yaml").write_text(CATALOG)
    (tmp_path / "customers.csv").write_text("customer_id,name,timezone\nacme,Acme,UTC\n")
    (tmp_path / "subscriptions.csv").write_text(
        "subscription_id,customer_id,plan_code,start_date\ns-acme,acme,team,2026-08-01\n"
    )


def _ingest(tmp_path: Path, name: str, rows: list[tuple]) -> None:
    events = pl.DataFrame(
        [(i, "acme", t, ts, seats, vm, action) for i, t, ts, seats, vm, action in rows],
        schema={
            "event_id": pl.String,
            "customer_id": pl.String,
            "event_type": pl.String,
            "timestamp": pl.String,
            "seats": pl.Int64,
            "vm": pl.String,
            "action": pl.String,
        },
        orient="row",
    ).with_columns(pl.col("timestamp").str.to_datetime().dt.replace_time_zone("UTC"))
    folder = tmp_path / name
    folder.mkdir()
    events.write_parquet(folder / "events.parquet")
    inputs = IngestInputs([str(folder)], tmp_path / "catalog.yaml", tmp_path / "customers.csv")
    run_ingest(inputs, tmp_path / "store", tmp_path / "out.duckdb")


def _bill(tmp_path: Path, period: str) -> list[tuple]:
    run_billing(
        RunInputs(
            period,
            tmp_path / "catalog.yaml",
            tmp_path / "customers.csv",
            tmp_path / "subscriptions.csv",
            tmp_path / "store",
        ),
        tmp_path / "out.duckdb",
    )
    with duckdb.connect(str(tmp_path / "out.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT charge_code, adjusted_period, quantity, amount FROM rated_charges "
            "WHERE billing_period = ? AND charge_code = 'seats' ORDER BY ALL",
            [period],
        ).fetchall()


def test_a_late_level_reaches_the_periods_after_it(tmp_path: Path) -> None:
    """October's run leaves a checkpoint of the state before October; a level set on
    25 September arrives late. November's run adjusts October (the checkpoint no
    longer matches the store, so the state is worked out again) and opens November
    with October's last level."""
    _contracts(tmp_path)
    _ingest(tmp_path, "first", EVENTS)
    assert _bill(tmp_path, "2026-10") == [("seats", None, Decimal(16), Decimal("16.00"))]
    assert list((tmp_path / "store" / "carried").glob("*/*.json"))
    _ingest(tmp_path, "late", [("s9", "seat", "2026-09-25T00:00:00", 40, None, None)])
    # October again: (40 seats x 372 h + 20 x 372 h) / 744 h = 30, 14 more than billed.
    # November: 20 seats all month.
    assert _bill(tmp_path, "2026-11") == [
        ("seats", "2026-10", Decimal(14), Decimal("14.00")),
        ("seats", None, Decimal(20), Decimal("20.00")),
    ]


@pytest.mark.parametrize("shard_rows", [period_job.SHARD_ROWS, 2])
def test_september_state_carries_into_october(
    tmp_path: Path, shard_rows: int, monkeypatch: pytest.MonkeyPatch
):
    """Also with shards of two events: the carried state must reach the right shard."""
    monkeypatch.setattr(period_job, "SHARD_ROWS", shard_rows)
    _contracts(tmp_path)
    _ingest(tmp_path, "events", EVENTS)
    db, store = tmp_path / "out.duckdb", tmp_path / "store"
    catalog, customers = tmp_path / "catalog.yaml", tmp_path / "customers.csv"
    run_billing(RunInputs("2026-10", catalog, customers, tmp_path / "subscriptions.csv", store), db)
    with duckdb.connect(str(db), read_only=True) as con:
        rated = {
            code: (quantity, events, amount)
            for code, quantity, events, amount in con.execute(
                "SELECT charge_code, quantity, event_count, amount FROM rated_charges"
            ).fetchall()
        }
    # (12 seats x 372 h + 20 x 372 h) / 744 h = 16; only s2 is an October event
    assert rated["seats"] == (Decimal(16), 1, Decimal("16.00"))
    # a: 744 h (all October), b: 2 h (00:00-02:00), c: 0 (stopped since September)
    assert rated["compute"] == (Decimal(746), 2, Decimal("74.60"))

"""A small billing run whose every amount is worked out by hand below."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.billing import RunInputs, RunResult, run_billing
from jobs.ingest import IngestInputs, IngestResult, run_ingest

D = Decimal

CATALOG = """
event_types:
  call: {properties: {region: {type: string}}}
  store: {properties: {gb: {type: number, required: true}}}
meters:
  - {code: calls, event_type: call, aggregation: count, group_by: [region]}
  - {code: gb, event_type: store, aggregation: sum, property: gb}
plans:
  - code: basic
    currency: EUR
    charges:
      - {code: base, model: flat_fee, amount: 10.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.125}
      - code: storage
        meter: gb
        model: graduated
        tiers:
          - {up_to: 10, unit_price: 0, flat_fee: 1.50}
          - {up_to: 20, unit_price: 0.5}
          - {unit_price: 0.25, flat_fee: 2}
  - code: yen
    currency: JPY
    charges:
      - {code: base, model: flat_fee, amount: 1000}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.4}
"""

CUSTOMERS = """customer_id,name,timezone
paris,Paris SA,Europe/Paris
tokyo,Tokyo KK,Asia/Tokyo
late,Late Starter,UTC
"""

SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date,end_date,quantity
s-paris,paris,basic,2026-01-01,,2
s-tokyo,tokyo,yen,2025-06-01,,1
s-late,late,basic,2026-10-15,,1
"""


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


EVENTS = [
    # id, customer, type, timestamp (UTC), region, gb
    # 23:30 UTC on 30 Sep is 01:30 on 1 Oct in Paris: October for paris.
    ("p1", "paris", "call", "2026-09-30T23:30:00", "eu", None),
    ("p2", "paris", "call", "2026-10-10T10:00:00", "eu", None),
    ("p3", "paris", "call", "2026-10-11T10:00:00", "us", None),
    ("p2", "paris", "call", "2026-10-10T10:00:00", "eu", None),  # retry of p2: duplicate
    ("p3", "paris", "call", "2026-10-11T10:00:00", "eu", None),  # p3 changed: conflict, p3 stands
    ("p4", "paris", "store", "2026-10-05T00:00:00", None, 12.5),
    ("p5", "paris", "store", "2026-10-06T00:00:00", None, 10.0),
    ("p6", "paris", "store", "2026-10-07T00:00:00", None, float("nan")),  # quarantined
    # 23:30 UTC on 31 Oct is 00:30 on 1 Nov in Paris: November, not this run.
    ("p7", "paris", "call", "2026-10-31T23:30:00", "eu", None),
    # Tokyo is UTC+9: 2026-09-30T15:00Z is 1 Oct 00:00 local (in), 31 Oct 15:00Z is Nov.
    ("t1", "tokyo", "call", "2026-09-30T15:00:00", "apac", None),
    ("t2", "tokyo", "call", "2026-10-31T14:59:59", "apac", None),
    ("t3", "tokyo", "call", "2026-10-31T15:00:00", "apac", None),  # November
    ("t4", "tokyo", "call", "2026-10-20T00:00:00", "apac", None),
    ("l1", "late", "call", "2026-10-10T00:00:00", "eu", None),  # before start: quarantined
    ("l2", "late", "call", "2026-10-15T00:00:00", "eu", None),
    ("x1", "nobody", "call", "2026-10-15T00:00:00", "eu", None),  # unknown customer
    ("x2", "paris", "teleport", "2026-10-15T00:00:00", None, None),  # unknown event type
    (None, "paris", "call", "2026-10-15T00:00:00", "eu", None),  # missing event_id
]

# paris, basic plan, quantity 2, period 1 Oct 00:00 Paris (30 Sep 22:00Z) to 1 Nov:
#   base:           2 x 10.00                                   = 20.00
#   calls {eu}:     p1, p2 = 2 x 0.125 = 0.25                   =  0.25
#   calls {us}:     p3     = 1 x 0.125 = 0.125 -> half away up  =  0.13
#   storage:        12.5 + 10 = 22.5 GB
#                   tier 1: 10 x 0 + fee 1.50 = 1.50
#                   tier 2: 10 x 0.5          = 5.00
#                   tier 3: 2.5 x 0.25 + 2    = 2.625
#                   1.50 + 5.00 + 2.625 = 9.125 -> 9.13
#   total: 20.00 + 0.25 + 0.13 + 9.13                            = 29.51
# tokyo, yen plan: 1000 + 3 calls (t1, t2, t4) x 0.4 = 1.2 -> 1  = 1001
# late, basic plan from 15 Oct: the fee covers 17 of October's 31 days,
#   10.00 x 17 / 31 = 5.4838... -> 5.48; 1 x 0.125 -> 0.13; storage 0
#   total: 5.48 + 0.13 + 0.00                                    = 5.61
EXPECTED_TOTALS = {
    "paris": ("EUR", D("29.51")),
    "tokyo": ("JPY", D("1001")),
    "late": ("EUR", D("5.61")),
}


def write_inputs(root: Path, events: list[tuple], files: int = 1) -> tuple[IngestInputs, RunInputs]:
    root.mkdir(exist_ok=True)
    (root / "catalog.yaml").write_text(CATALOG)
    (root / "customers.csv").write_text(CUSTOMERS)
    (root / "subscriptions.csv").write_text(SUBSCRIPTIONS)
    frame = pl.DataFrame(
        events,
        schema={
            "event_id": pl.String,
            "customer_id": pl.String,
            "event_type": pl.String,
            "timestamp": pl.String,
            "region": pl.String,
            "gb": pl.Float64,
        },
        orient="row",
    ).with_columns(pl.col("timestamp").str.to_datetime().dt.replace_time_zone("UTC"))
    (root / "events").mkdir()
    size = -(-frame.height // files)
    for index in range(files):
        frame.slice(index * size, size).write_parquet(root / "events" / f"part-{index}.parquet")
    ingest = IngestInputs([str(root / "events")], root / "catalog.yaml", root / "customers.csv")
    bill = RunInputs(
        "2026-10",
        root / "catalog.yaml",
        root / "customers.csv",
        root / "subscriptions.csv",
        root / "store",
    )
    return ingest, bill


def ingest_and_bill(
    root: Path, events: list[tuple] = EVENTS, files: int = 1
) -> tuple[IngestResult, RunResult, Path]:
    ingest, bill = write_inputs(root, events, files)
    db = root / "out.duckdb"
    return run_ingest(ingest, root / "store", db), run_billing(bill, db), db


def totals(db: Path) -> dict[str, tuple[str, Decimal]]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT customer_id, currency, total FROM invoices").fetchall()
    return {customer: (currency, total) for customer, currency, total in rows}


@pytest.mark.integration
def test_invoices_match_hand_computed_totals(tmp_path: Path):
    ingested, billed, db = ingest_and_bill(tmp_path)
    assert totals(db) == EXPECTED_TOTALS
    # Ingestion, 18 rows: quarantined p6 x1 x2 (no id) = 4; duplicate p2 = 1; conflict p3 = 1;
    # accepted the other 12.
    assert [
        ingested.total(k)
        for k in (
            "rows_read",
            "rows_accepted",
            "rows_quarantined",
            "rows_duplicate",
            "rows_conflict",
        )
    ] == [18, 12, 4, 1, 1]
    # Billing the 12 stored: rated p1 p2 p3 p4 p5 t1 t2 t4 l2 = 9; l1 before its
    # subscription = 1; out of period p7 t3 = 2.
    assert {
        k: billed.counts[k]
        for k in ("events_read", "events_rated", "events_quarantined", "events_out_of_period")
    } == {
        "events_read": 12,
        "events_rated": 9,
        "events_quarantined": 1,
        "events_out_of_period": 2,
    }


@pytest.mark.integration
def test_quarantine_names_file_row_and_reason(tmp_path: Path):
    _, _, db = ingest_and_bill(tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT row_number, event_id, field, reason FROM quarantine ORDER BY row_number"
        ).fetchall()
    assert rows == [
        (5, "p3", "event_id", "conflicting_duplicate"),
        (8, "p6", "gb", "non_finite"),
        (14, "l1", "timestamp", "no_active_subscription"),
        (16, "x1", "customer_id", "unknown_customer"),
        (17, "x2", "event_type", "unknown_event_type"),
        (18, None, "event_id", "missing_field"),
    ]


@pytest.mark.integration
def test_invoice_lines_sum_to_invoice_total_and_show_groups(tmp_path: Path):
    _, _, db = ingest_and_bill(tmp_path)
    with duckdb.connect(str(db), read_only=True) as con:
        mismatched = con.execute(
            "SELECT i.invoice_id FROM invoices i JOIN invoice_lines l USING (invoice_id) "
            "GROUP BY i.invoice_id, i.total HAVING sum(l.amount) <> i.total"
        ).fetchall()
        lines = con.execute(
            "SELECT description, quantity, amount FROM invoice_lines "
            "WHERE customer_id = 'paris' ORDER BY line_number"
        ).fetchall()
    assert mismatched == []
    assert lines == [
        ("base", D(2), D("20.00")),
        ('calls {"region":"eu"}', D(2), D("0.25")),
        ('calls {"region":"us"}', D(1), D("0.13")),
        ("storage", D("22.5"), D("9.13")),
    ]


@pytest.mark.integration
def test_rerun_is_a_no_op(tmp_path: Path):
    ingest, bill = write_inputs(tmp_path, EVENTS)
    db = tmp_path / "out.duckdb"
    run_ingest(ingest, tmp_path / "store", db)
    first = run_billing(bill, db)
    assert run_ingest(ingest, tmp_path / "store", db).batch_id is None
    second = run_billing(bill, db)
    assert not first.already_done and second.already_done
    assert second.run_id == first.run_id and second.counts == first.counts
    with duckdb.connect(str(db), read_only=True) as con:
        counts = [
            con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
            for t in (
                "billing_runs",
                "invoices",
                "invoice_lines",
                "rated_charges",
                "ingest_batches",
            )
        ]
    assert counts == [1, 3, 9, 9, 1]


@pytest.mark.integration
def test_amounts_do_not_depend_on_file_split_or_row_order(tmp_path: Path):
    # The retry of p2 and the changed p3 stay after their originals, so the first
    # arrival is the same event.
    reordered = list(reversed(EVENTS[5:])) + EVENTS[:5]
    ingest_and_bill(tmp_path / "a", EVENTS, files=3)
    ingest_and_bill(tmp_path / "b", reordered, files=2)
    assert (
        totals(tmp_path / "a" / "out.duckdb")
        == totals(tmp_path / "b" / "out.duckdb")
        == EXPECTED_TOTALS
    )

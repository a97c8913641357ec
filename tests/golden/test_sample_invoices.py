"""The shipped sample, billed end to end, against totals computed here by hand.

The expected amounts are computed in this file from the raw Parquet with
plain Python and ``decimal``: its own de-duplication, its own local-time
month, and the sample catalog's prices copied below. Nothing of meterline's
rating, aggregation or validation code is called to produce them.
"""

from __future__ import annotations

import csv
import math
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pyarrow.parquet as pq
import pytest

D = Decimal
MINOR = {"EUR": D("0.01"), "USD": D("0.01"), "JPY": D("1")}


def graduated(quantity: Decimal, tiers: list[tuple[Decimal | None, Decimal, Decimal]]) -> Decimal:
    """Sum over tiers of units-in-tier x price, plus a tier's fee when it is reached."""
    total, lower = D(0), D(0)
    for up_to, price, fee in tiers:
        if quantity > lower:
            top = quantity if up_to is None else min(quantity, up_to)
            total += (top - lower) * price + fee
        if up_to is not None:
            lower = up_to
    return total


# The sample catalog (data/samples/catalog.yaml), written out by hand. Each charge
# maps the month's usage {meter: {dimensions: quantity}} to a list of line amounts.
def per_unit(meter: str, price: str):
    return lambda usage: [q * D(price) for q in usage.get(meter, {"": D(0)}).values()]


def tiered(meter: str, tiers):
    return lambda usage: [graduated(q, tiers) for q in usage.get(meter, {"": D(0)}).values()]


def fee(amount: str):
    return lambda usage, quantity=1: [D(amount) * quantity]


PLANS = {
    "starter": (
        "EUR",
        fee("29.00"),
        [
            per_unit("api_calls", "0.002"),
            tiered(
                "storage_gb",
                [(D(100), D("0.10"), D(0)), (D(1000), D("0.08"), D(0)), (None, D("0.05"), D(0))],
            ),
        ],
    ),
    "pro": (
        "EUR",
        fee("199.00"),
        [
            tiered(
                "api_calls",
                [(D(10000), D(0), D(0)), (D(100000), D("0.001"), D(0)), (None, D("0.0005"), D(0))],
            ),
            per_unit("storage_gb", "0.06"),
            per_unit("compute_seconds", "0.00002"),
            per_unit("payment_volume", "0.005"),
        ],
    ),
    "scale_usd": (
        "USD",
        fee("499.00"),
        [
            tiered(
                "api_calls",
                [
                    (D(50000), D(0), D(0)),
                    (D(500000), D("0.0008"), D(25)),
                    (None, D("0.0004"), D(0)),
                ],
            ),
            tiered(
                "compute_seconds", [(D(1000000), D("0.000015"), D(0)), (None, D("0.00001"), D(0))]
            ),
            per_unit("storage_gb", "0.05"),
            per_unit("payment_volume", "0.0035"),
        ],
    ),
    "tokyo_jpy": (
        "JPY",
        fee("30000"),
        [
            per_unit("api_calls", "0.25"),
            per_unit("storage_gb", "12.5"),
        ],
    ),
}
METER_OF = {
    "api_call": "api_calls",
    "storage": "storage_gb",
    "compute": "compute_seconds",
    "payment": "payment_volume",
}
PROPERTY_OF = {"storage": "gb", "compute": "cpu_seconds", "payment": "amount"}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def month_bounds(timezone: str) -> tuple[datetime, datetime]:
    tz = ZoneInfo(timezone)
    return (
        datetime(2026, 10, 1, tzinfo=tz).astimezone(UTC),
        datetime(2026, 11, 1, tzinfo=tz).astimezone(UTC),
    )


def expected_invoice_total(sample_dir: Path, customer_id: str) -> tuple[str, Decimal]:
    customer = next(
        c for c in read_csv(sample_dir / "customers.csv") if c["customer_id"] == customer_id
    )
    subscription = next(
        s for s in read_csv(sample_dir / "subscriptions.csv") if s["customer_id"] == customer_id
    )
    assert subscription["end_date"] == "" and date.fromisoformat(
        subscription["start_date"]
    ) <= date(2026, 10, 1), "pick a full-month customer"
    start, end = month_bounds(customer["timezone"])

    seen: set[str] = set()
    latest = datetime.now(UTC) + timedelta(days=1)  # later timestamps are quarantined
    usage: dict[str, dict[str, Decimal]] = {}
    for path in sorted((sample_dir / "events").glob("*.parquet")):
        table = pq.read_table(path, filters=[("customer_id", "=", customer_id)])
        for row in table.to_pylist():
            if row["event_id"] is None or len(row["event_id"]) > 256:
                continue
            kind, ts = row["event_type"], row["timestamp"]
            if kind not in METER_OF or ts is None or ts > latest:
                continue
            if kind == "api_call" and len(row["region"] or "") > 64:
                continue
            value = D(1)
            if kind in PROPERTY_OF:
                raw = row[PROPERTY_OF[kind]]
                # Quarantined: null, NaN, infinite, too large for a quantity, negative.
                if raw is None or not math.isfinite(raw) or not 0 <= raw < 1e32:
                    continue
                value = D(repr(raw)).quantize(D("0.000001"))
            if row["event_id"] in seen:
                continue
            seen.add(row["event_id"])
            if not start <= ts < end:
                continue
            group = f'{{"region":"{row["region"]}"}}' if kind == "api_call" else ""
            meter = usage.setdefault(METER_OF[kind], {})
            meter[group] = meter.get(group, D(0)) + value

    currency, flat_fee, charges = PLANS[subscription["plan_code"]]
    quantity = int(subscription["quantity"] or 1)
    amounts = flat_fee(usage, quantity) + [a for charge in charges for a in charge(usage)]
    rounded = [a.quantize(MINOR[currency], rounding=ROUND_HALF_UP) for a in amounts]
    return currency, sum(rounded, D(0))


def invoice_total(db: Path, customer_id: str) -> tuple[str, Decimal]:
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute(
            "SELECT currency, total FROM invoices WHERE customer_id = ?", [customer_id]
        ).fetchone()
    assert row is not None, f"no invoice for {customer_id}"
    return row[0], row[1]


def full_month_customers(sample_dir: Path) -> dict[str, list[str]]:
    """Customers per plan whose subscription covers all of 2026-10."""
    by_plan: dict[str, list[str]] = {}
    for s in read_csv(sample_dir / "subscriptions.csv"):
        if s["end_date"] == "" and date.fromisoformat(s["start_date"]) <= date(2026, 10, 1):
            by_plan.setdefault(s["plan_code"], []).append(s["customer_id"])
    return by_plan


@pytest.mark.integration
@pytest.mark.parametrize("plan", sorted(PLANS))
def test_invoice_totals_match_hand_computation(sample_dir: Path, sample_db: Path, plan: str):
    # Two customers of every plan: the one with most events (every tier reached)
    # and the first in the file.
    customers = full_month_customers(sample_dir)[plan]
    with duckdb.connect(str(sample_db), read_only=True) as con:
        biggest = con.execute(
            "SELECT customer_id FROM invoices WHERE customer_id IN (SELECT unnest(?)) "
            "ORDER BY total DESC LIMIT 1",
            [customers],
        ).fetchone()[0]
    for customer_id in dict.fromkeys([biggest, customers[0]]):
        expected = expected_invoice_total(sample_dir, customer_id)
        assert expected[1] > 0
        assert invoice_total(sample_db, customer_id) == expected, customer_id

"""Synthetic usage data: customers, subscriptions, a catalog and a month of events.

Vectorised with NumPy and Polars (no per-event Python): 10 million events
take seconds. Customer sizes are skewed (log-normal), as real usage is: a few
customers send most events. On request it mixes in exact duplicates
(retries) and malformed rows of every kind in ``MALFORMED_KINDS``, so every
path of ingestion is exercised.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

from aggregation.periods import next_month, parse_billing_period

EVENT_TYPES = ("api_call", "storage", "compute", "payment")
EVENT_TYPE_SHARE = (0.6, 0.1, 0.22, 0.08)
REGIONS = ("eu", "us", "apac")

# (plan, timezone) pairs a generated customer is drawn from; the plan fixes the currency.
ACCOUNT_KINDS = (
    ("starter", "Europe/Paris"),
    ("starter", "Europe/Berlin"),
    ("pro", "Europe/Paris"),
    ("pro", "UTC"),
    ("scale_usd", "America/New_York"),
    ("tokyo_jpy", "Asia/Tokyo"),
)
MALFORMED_KINDS = (
    # (kind, the quarantine reason meter.validate gives it)
    ("null_event_id", "missing_field"),
    ("null_customer", "missing_field"),
    ("null_timestamp", "missing_field"),
    ("future_timestamp", "future_timestamp"),
    ("long_event_id", "id_too_long"),
    ("unknown_customer", "unknown_customer"),
    ("unknown_event_type", "unknown_event_type"),
    ("null_gb", "missing_field"),
    ("long_region", "value_too_long"),
    ("nan_gb", "non_finite"),
    ("infinite_amount", "non_finite"),
    ("huge_gb", "out_of_range"),
    ("negative_amount", "negative_value"),
)
"""Malformed rows the generator mixes in, one kind per broken row, drawn uniformly.

Every column of the generated files is typed (``timestamp`` is a timestamp,
``gb`` and ``amount`` floats, ``cpu_seconds`` an integer), so neither an
unparseable timestamp (``invalid_timestamp``) nor a value of the wrong type
(``wrong_type``) can be written: those reasons are exercised by the unit tests.
"""


@dataclass(frozen=True)
class GeneratedData:
    out_dir: Path
    event_files: list[Path]
    events: int
    customers: int
    duplicates: int
    malformed: int


def sample_catalog() -> str:
    """The catalog that matches the generated event types and plans."""
    return resources.files("jobs").joinpath("sample_catalog.yaml").read_text(encoding="utf-8")


def generate_contracts(
    customers: int, period: date, rng: np.random.Generator
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Customers and one subscription each; a few start or end inside the period."""
    ids = [f"cust_{i:05d}" for i in range(1, customers + 1)]
    kinds = rng.integers(0, len(ACCOUNT_KINDS), customers)
    customer_frame = pl.DataFrame(
        {
            "customer_id": ids,
            "name": [f"Customer {i:05d}" for i in range(1, customers + 1)],
            "timezone": [ACCOUNT_KINDS[k][1] for k in kinds],
        }
    )
    month_index = period.year * 12 + period.month - 1 - rng.integers(1, 24, customers)
    starts = [date(int(i) // 12, int(i) % 12 + 1, 1) for i in month_index]
    roll = rng.random(customers)
    end_day = rng.integers(5, 26, customers)
    start_dates = [
        date(period.year, period.month, int(d)) if r < 0.02 else s
        for r, s, d in zip(roll, starts, end_day, strict=True)
    ]
    end_dates = [
        date(period.year, period.month, int(d)) if 0.02 <= r < 0.04 else None
        for r, d in zip(roll, end_day, strict=True)
    ]
    subscriptions = pl.DataFrame(
        {
            "subscription_id": [f"sub_{i:05d}" for i in range(1, customers + 1)],
            "customer_id": ids,
            "plan_code": [ACCOUNT_KINDS[k][0] for k in kinds],
            "start_date": start_dates,
            "end_date": end_dates,
            "quantity": np.where(rng.random(customers) < 0.1, 2, 1),
        }
    )
    # Every 100th customer has no subscription: their events are quarantined.
    subscriptions = subscriptions.filter(pl.int_range(pl.len()) % 100 != 99)
    return customer_frame, subscriptions


def generate_events(
    events: int,
    customer_ids: list[str],
    period: date,
    rng: np.random.Generator,
    duplicate_share: float = 0.0,
    malformed_share: float = 0.0,
) -> tuple[pl.DataFrame, int, int]:
    """A month of events in arrival order, plus the numbers of duplicates and malformed rows."""
    weights = rng.lognormal(mean=0.0, sigma=1.6, size=len(customer_ids))
    customer = rng.choice(len(customer_ids), size=events, p=weights / weights.sum())
    event_type = rng.choice(len(EVENT_TYPES), size=events, p=EVENT_TYPE_SHARE)
    start = np.datetime64(period.isoformat(), "us")
    span = (np.datetime64(next_month(period).isoformat(), "us") - start).astype(np.int64)
    offsets = np.sort(rng.integers(0, span, events))
    prefix = f"evt-{period:%Y%m}-"
    frame = pl.DataFrame(
        {
            "n": np.arange(events, dtype=np.int64),
            "customer": customer.astype(np.int32),
            "kind": event_type.astype(np.int8),
            "timestamp": (start + offsets.astype("timedelta64[us]")),
            "region_index": rng.integers(0, len(REGIONS), events).astype(np.int8),
            "gb": np.round(rng.gamma(2.0, 20.0, events), 3),
            "cpu_seconds": rng.integers(1, 3600, events),
            "amount": np.round(rng.lognormal(3.0, 1.0, events), 2),
        }
    )
    kind = pl.col("kind")
    frame = frame.select(
        (pl.lit(prefix) + pl.col("n").cast(pl.String).str.zfill(10)).alias("event_id"),
        pl.lit(pl.Series("customer_ids", customer_ids))
        .gather(pl.col("customer"))
        .alias("customer_id"),
        pl.lit(pl.Series("types", EVENT_TYPES)).gather(kind).alias("event_type"),
        pl.col("timestamp").dt.replace_time_zone("UTC"),
        pl.when(kind == 0)
        .then(pl.lit(pl.Series("regions", REGIONS)).gather(pl.col("region_index")))
        .alias("region"),
        pl.when(kind == 1).then(pl.col("gb")).alias("gb"),
        pl.when(kind == 2).then(pl.col("cpu_seconds")).alias("cpu_seconds"),
        pl.when(kind == 3).then(pl.col("amount")).alias("amount"),
    )
    malformed = int(events * malformed_share)
    if malformed:
        frame = _break_rows(frame, rng.choice(events, size=malformed, replace=False), rng)
    duplicates = int(events * duplicate_share)
    if duplicates:
        copies = frame[np.sort(rng.choice(events, size=duplicates, replace=False))]
        # A retry arrives later than the original: place each copy after it.
        order = np.concatenate([np.arange(events), rng.integers(0, events, duplicates)])
        source = np.concatenate([np.arange(events), np.arange(duplicates) + events])
        positions = np.lexsort((source, order))
        frame = pl.concat([frame, copies])[positions]
    return frame, duplicates, malformed


def _break_rows(frame: pl.DataFrame, rows: np.ndarray, rng: np.random.Generator) -> pl.DataFrame:
    """Break ``rows`` in place, one of ``MALFORMED_KINDS`` each (vectorised)."""
    kinds = rng.integers(0, len(MALFORMED_KINDS), rows.size)
    broken = np.full(frame.height, -1, dtype=np.int8)
    broken[rows] = kinds
    b = pl.Series("broken", broken)
    kind = {name: b == index for index, (name, _) in enumerate(MALFORMED_KINDS)}
    forced_type = (
        pl.when(kind["unknown_event_type"])
        .then(pl.lit("bogus_type"))
        .when(kind["null_gb"] | kind["nan_gb"] | kind["huge_gb"])
        .then(pl.lit("storage"))
        .when(kind["infinite_amount"] | kind["negative_amount"])
        .then(pl.lit("payment"))
        .when(kind["long_region"])
        .then(pl.lit("api_call"))
    )
    return frame.with_columns(
        pl.when(kind["null_event_id"])
        .then(None)
        .when(kind["long_event_id"])
        .then(pl.col("event_id") + pl.lit("-" + "x" * 300))
        .otherwise(pl.col("event_id"))
        .alias("event_id"),
        pl.when(kind["null_customer"])
        .then(None)
        .when(kind["unknown_customer"])
        .then(pl.lit("cust_unknown"))
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
        forced_type.otherwise(pl.col("event_type")).alias("event_type"),
        pl.when(kind["null_timestamp"])
        .then(None)
        .when(kind["future_timestamp"])
        .then(pl.col("timestamp") + pl.duration(days=100 * 365))
        .otherwise(pl.col("timestamp"))
        .alias("timestamp"),
        pl.when(kind["long_region"])
        .then(pl.lit("region-" + "r" * 100))
        .otherwise(pl.col("region"))
        .alias("region"),
        pl.when(kind["null_gb"])
        .then(None)
        .when(kind["nan_gb"])
        .then(float("nan"))
        .when(kind["huge_gb"])
        .then(1e40)
        .otherwise(pl.col("gb"))
        .alias("gb"),
        pl.when(kind["infinite_amount"])
        .then(float("inf"))
        .when(kind["negative_amount"])
        .then(-1 - pl.col("amount").fill_null(19.99).abs())
        .otherwise(pl.col("amount"))
        .alias("amount"),
    )


def generate(
    out_dir: str | Path,
    events: int,
    customers: int | None = None,
    files: int = 1,
    billing_period: str = "2026-10",
    duplicate_share: float = 0.0,
    malformed_share: float = 0.0,
    seed: int = 7,
) -> GeneratedData:
    """Write ``catalog.yaml``, ``customers.csv``, ``subscriptions.csv`` and ``events/*.parquet``."""
    out = Path(out_dir)
    (out / "events").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    period = parse_billing_period(billing_period)
    count = customers or max(10, min(100_000, events // 1000))
    customer_frame, subscriptions = generate_contracts(count, period, rng)
    frame, duplicates, malformed = generate_events(
        events,
        customer_frame["customer_id"].to_list(),
        period,
        rng,
        duplicate_share,
        malformed_share,
    )
    (out / "catalog.yaml").write_text(sample_catalog(), encoding="utf-8")
    customer_frame.write_csv(out / "customers.csv")
    subscriptions.write_csv(out / "subscriptions.csv")
    paths = []
    bounds = np.linspace(0, frame.height, files + 1, dtype=np.int64)
    for index in range(files):
        path = out / "events" / f"events-{billing_period}-{index:03d}.parquet"
        part = frame.slice(int(bounds[index]), int(bounds[index + 1] - bounds[index]))
        part.write_parquet(path, compression="zstd", statistics=True, row_group_size=1_000_000)
        paths.append(path)
    return GeneratedData(out, paths, frame.height, count, duplicates, malformed)

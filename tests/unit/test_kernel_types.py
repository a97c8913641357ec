"""Each Numba kernel of aggregation compiles once, whatever the run's data looks like.

Numba compiles a kernel per argument type; a writable and a read-only array are
different types, and so are 8-, 16- and 32-bit codes. A second type would mean a
second compilation (about a second) the first time a billing run met it, so the
kernels take ``aggregation.kernels.kernel_input`` arrays and 32-bit codes only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from aggregation import assignment as assignment_module
from aggregation import gauge, latest, lookup
from aggregation.assignment import assign_subscriptions
from aggregation.windows import WINDOW_END, WINDOW_SCHEMA, WINDOW_START
from schemas.types import QUANTITY, TIMESTAMP

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)


def _assign(customers: int, chunks: int) -> None:
    ids = [f"c{i}" for i in range(customers)]
    periods = pl.DataFrame(
        {"customer_id": ids, "period_start": [START] * customers, "period_end": [END] * customers},
        schema_overrides={"period_start": TIMESTAMP, "period_end": TIMESTAMP},
    )
    billable = pl.DataFrame(
        {
            "customer_id": ids,
            "subscription_id": [f"s{i}" for i in range(customers)],
            "plan_code": ["p"] * customers,
            "active_start": [START] * customers,
            "active_end": [END] * customers,
        },
        schema_overrides={"active_start": TIMESTAMP, "active_end": TIMESTAMP},
    )
    parts = [
        pl.DataFrame(
            {
                "event_id": [f"e{part}-{i}" for i in range(customers)],
                "customer_id": ids,
                "timestamp": [START + timedelta(hours=part)] * customers,
            },
            schema_overrides={"timestamp": TIMESTAMP},
        )
        for part in range(chunks)
    ]
    events = pl.concat(parts, rechunk=False)
    assigned = assign_subscriptions(events, periods, billable)
    assert assigned["billing_status"].eq("rated").all()


def _gauge(rows: int, chunks: int) -> None:
    parts = [
        pl.DataFrame(
            {
                "subscription_id": ["s"] * rows,
                "event_id": [f"e{part}-{i}" for i in range(rows)],
                "timestamp": [START + timedelta(minutes=part * rows + i) for i in range(rows)],
                "gb": [1] * rows,
                WINDOW_START: [START] * rows,
                WINDOW_END: [END] * rows,
            },
            schema_overrides={
                "timestamp": TIMESTAMP,
                WINDOW_START: TIMESTAMP,
                WINDOW_END: TIMESTAMP,
            },
        )
        for part in range(chunks)
    ]
    gauge.with_value_times(
        pl.concat(parts, rechunk=False), pl.col("gb").cast(QUANTITY), ["subscription_id"], "v"
    )


def _by_code(subscriptions: int, chunks: int) -> None:
    """The kernels over subscription codes, on one event per subscription and chunk."""
    ids = [f"s{i}" for i in range(subscriptions)]
    parts = [
        pl.DataFrame(
            {
                "subscription_id": pl.Series(ids, dtype=pl.Enum(ids)),
                "event_id": [f"e{part}-{i}" for i in range(subscriptions)],
                "timestamp": [START + timedelta(hours=part)] * subscriptions,
                "gb": [1] * subscriptions,
            },
            schema_overrides={"timestamp": TIMESTAMP},
        )
        for part in range(chunks)
    ]
    windows = pl.DataFrame(
        [(i, START, END, START, END) for i in ids], schema=WINDOW_SCHEMA, orient="row"
    )
    events = pl.concat(parts, rechunk=False)
    gauge.usage_by_code(events, None, windows, "gb")
    latest.latest_by_code(events, "gb")


def test_each_kernel_has_one_signature() -> None:
    for customers, chunks in ((3, 1), (300, 1), (300, 3), (70_000, 2)):  # 8/16/32-bit codes
        _assign(customers, chunks)
    for rows, chunks in ((4, 1), (4, 3)):
        _gauge(rows, chunks)
    for subscriptions, chunks in ((3, 1), (300, 2), (70_000, 1)):  # 8/16/32-bit codes
        _by_code(subscriptions, chunks)
    kernels = (
        assignment_module._classify,
        lookup._build,
        lookup._probe,
        lookup._views_match,
        gauge._held,
        gauge._held_by_code,
        latest._last_by_code,
    )
    for kernel in kernels:
        assert len(kernel.signatures) == 1, (kernel.__name__, kernel.signatures)

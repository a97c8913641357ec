"""Steady state: the same customers month after month; does a month's cost grow with history?

Generates one set of contracts, then for each month a month of events for
those customers (2 % duplicates, 0.5 % malformed rows), ingests it into one
event store and bills it, and prints each month's ingestion and billing
seconds per stage. A stage whose seconds rise month after month does work in
proportion to the whole history rather than to the month.

Usage, from the repository root::

    .venv/bin/python benchmarks/months.py                      # 6 months of 2M events
    .venv/bin/python benchmarks/months.py --months 12 --events 10000000 --customers 100000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from jobs.billing import RunInputs, run_billing
from jobs.generate import generate, generate_events
from jobs.ingest import IngestInputs, run_ingest

CATALOG = Path(__file__).resolve().parent / "all_models_catalog.yaml"
FIRST_MONTH = date(2025, 1, 1)
"""Months are in the past, so no event is later than the clock allows."""


def _month(index: int) -> date:
    months = FIRST_MONTH.month - 1 + index
    return date(FIRST_MONTH.year + months // 12, months % 12 + 1, 1)


def _seconds(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in stages.items())


def run(root: Path, months: int, events: int, customers: int) -> None:
    contracts = root / "contracts"
    first = generate(
        contracts,
        events,
        customers=customers,
        files=2,
        billing_period=_month(0).strftime("%Y-%m"),
        duplicate_share=0.02,
        malformed_share=0.005,
    )
    ids = pl.read_csv(contracts / "customers.csv")["customer_id"].to_list()
    store, db = root / "store", root / "meterline.duckdb"
    print(f"{months} months of {events:,} events for {customers:,} customers, in {root}")
    for index in range(months):
        month = _month(index)
        period = month.strftime("%Y-%m")
        if index == 0:
            files = [str(path) for path in first.event_files]
        else:
            frame, _, _ = generate_events(
                events, ids, month, np.random.default_rng(index), 0.02, 0.005
            )
            path = root / "events" / f"events-{period}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            frame.write_parquet(path, row_group_size=1_000_000)
            files = [str(path)]
        started = time.perf_counter()
        ingested = run_ingest(IngestInputs(files, CATALOG, contracts / "customers.csv"), store, db)
        ingest_seconds = time.perf_counter() - started
        started = time.perf_counter()
        billed = run_billing(
            RunInputs(
                period,
                CATALOG,
                contracts / "customers.csv",
                contracts / "subscriptions.csv",
                store,
            ),
            db,
        )
        bill_seconds = time.perf_counter() - started
        print(f"{period}  ingest {ingest_seconds:5.2f} s ({_seconds(ingested.seconds)})")
        print(
            f"         bill   {bill_seconds:5.2f} s ({_seconds(billed.seconds)}); "
            f"{billed.counts['invoice_count']:,} invoices, "
            f"{billed.counts['adjustment_count']:,} adjustment lines",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=6)
    parser.add_argument("--events", type=int, default=2_000_000, help="events per month")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--workdir", type=Path, default=None, help="parent of the data directory")
    parser.add_argument("--keep", action="store_true", help="keep the store and database")
    args = parser.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="meterline-months-", dir=args.workdir))
    try:
        run(root, args.months, args.events, args.customers)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Backfill: bill a range of past months in order, resumable after an interruption.

Each month is one ordinary billing run (:func:`jobs.billing.run_billing`):
atomic, so an interrupted backfill has billed some months whole and none in
part; a month already billed is skipped (an interrupted backfill run again
resumes where it stopped). A month billed earlier from other inputs is skipped
too: its invoices are issued, and the next month's run adjusts the differences.
Months run in order because each run adjusts the months before it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

from aggregation.periods import next_month, parse_billing_period
from jobs import store
from jobs.billing import RunInputs, RunResult, run_billing
from schemas.errors import InputError

MAX_MONTHS = 600


@dataclass(frozen=True)
class BackfillMonth:
    period: str
    result: RunResult | None
    """The run, or None when the month had been billed before the backfill reached it."""
    billed_by: str | None = None


def months_between(first: str, last: str) -> list[str]:
    """Every ``YYYY-MM`` from ``first`` to ``last``, both included.

    >>> months_between("2025-11", "2026-02")
    ['2025-11', '2025-12', '2026-01', '2026-02']
    """
    start, end = parse_billing_period(first), parse_billing_period(last)
    if start > end:
        raise InputError(f"backfill from {first} to {last}: the first month is after the last")
    months: list[date] = [start]
    while months[-1] < end:
        months.append(next_month(months[-1]))
        if len(months) > MAX_MONTHS:
            raise InputError(f"backfill from {first} to {last}: more than {MAX_MONTHS} months")
    return [f"{m.year:04d}-{m.month:02d}" for m in months]


def run_backfill(
    inputs: RunInputs,
    first: str,
    last: str,
    db_path: str | Path,
    on_month: Callable[[str, int, int], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> list[BackfillMonth]:
    """Bill every month from ``first`` to ``last`` that is not billed yet, in order.

    ``inputs.billing_period`` is ignored; ``on_month(period, index, total)`` is
    called before each month.
    """
    months = months_between(first, last)
    done = []
    for index, period in enumerate(months):
        if on_month is not None:
            on_month(period, index, len(months))
        with store.connect(db_path) as con:
            previous = store.runs_for_period(con, period)
        if previous:
            done.append(BackfillMonth(period, None, previous[0]))
            continue
        result = run_billing(replace(inputs, billing_period=period), db_path, on_stage)
        done.append(BackfillMonth(period, result))
    return done

"""Service periods: which periods of each subscription a monthly billing run bills.

A *service period* is ``[start, end)`` in local dates of the customer's
timezone, of a :class:`~schemas.catalog.Cadence` (N weeks or N months),
aligned either on the calendar (months counted from January 2000, so quarters
start in January, April, July and October; weeks start on Monday) or on the
anniversary of the subscription's start date. An anniversary on the 29th to
31st falls on the last day of shorter months and returns to its own day after
them: a 31 January start bills 28 February, then 31 March.

A subscription covers ``[start_date, end_date)``; the part of a period it
covers is the period's *active* span, and a fee is prorated over it. A
subscription changed over time (a plan change, a pause) is billed as
consecutive *segments*, each covering its own dates; every segment keeps the
subscription's first day as its ``anchor_date``: anniversaries and the first
period are the subscription's, not the segment's.

*Co-terming* moves an anniversary: a subscription with a ``coterm_date``
(its account's, or an ancestor's, :mod:`aggregation.hierarchy`) renews on
that date's anniversaries instead of its own, so every subscription of a tree
renews on one day; its first period runs from its start to the next co-term
anniversary and is prorated like any partial period. Calendar-aligned items
are co-termed already and keep the calendar.

The run of month M (first day ``F``, next month's first day ``D``, the
invoice date) bills exactly the periods *due* in it:

* in arrears (usage, and fees by default): due on the active span's end, in ``(F, D]``;
* in advance: due on the active span's start, in ``(F, D]``; a subscription's
  first period (the one holding its anchor date) is due on its start date, in
  ``[F, D)``, so no run before the start month bills it;
* a one-time fee: the first plan period, due in the run of the start month.

Across the runs of consecutive months every period a subscription touches is
due exactly once (tests/property/test_schedule_vs_reference.py). The loops
below run over distinct schedules (start date, end date, cadence, ...), not
over subscriptions, and each yields the one or few periods near the run.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import date, timedelta

import polars as pl

from schemas.catalog import Alignment, Cadence, CadenceUnit, Timing

CALENDAR_MONTHS_FROM = date(2000, 1, 1)
"""Calendar month cadences count from here: N-month periods start at multiples of N."""
CALENDAR_WEEKS_FROM = date(2000, 1, 3)
"""A Monday: calendar week cadences count from here."""


def add_months(anchor: date, months: int) -> date:
    """``anchor`` moved by whole months, on the anchor's day or the month's last day.

    >>> add_months(date(2026, 1, 31), 1), add_months(date(2026, 1, 31), 2)
    (datetime.date(2026, 2, 28), datetime.date(2026, 3, 31))
    """
    index = anchor.year * 12 + anchor.month - 1 + months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(anchor.day, monthrange(year, month + 1)[1]))


def period_bounds(anchor: date, cadence: Cadence, index: int) -> tuple[date, date]:
    """Start and end of the ``index``-th period counted from ``anchor``.

    >>> period_bounds(date(2026, 1, 31), Cadence(CadenceUnit.MONTH, 1), 1)
    (datetime.date(2026, 2, 28), datetime.date(2026, 3, 31))
    """
    if cadence.unit is CadenceUnit.WEEK:
        days = 7 * cadence.count
        return anchor + timedelta(days=days * index), anchor + timedelta(days=days * (index + 1))
    return (
        add_months(anchor, cadence.count * index),
        add_months(anchor, cadence.count * (index + 1)),
    )


def period_index(anchor: date, cadence: Cadence, day: date) -> int:
    """The index of the period (counted from ``anchor``) that contains ``day``.

    >>> period_index(date(2000, 1, 1), Cadence(CadenceUnit.MONTH, 3), date(2026, 11, 30))
    107
    """
    if cadence.unit is CadenceUnit.WEEK:
        return (day - anchor).days // (7 * cadence.count)
    months = (day.year - anchor.year) * 12 + day.month - anchor.month
    index = months // cadence.count
    if add_months(anchor, cadence.count * index) > day:
        index -= 1
    return index


def period_anchor(
    cadence: Cadence, alignment: Alignment, start_date: date, coterm_date: date | None = None
) -> date:
    """Where periods are counted from; a co-term date may lie before or after the start."""
    if alignment is Alignment.ANNIVERSARY:
        return start_date if coterm_date is None else coterm_date
    return CALENDAR_WEEKS_FROM if cadence.unit is CadenceUnit.WEEK else CALENDAR_MONTHS_FROM


@dataclass(frozen=True)
class Schedule:
    """How one item of a subscription is billed."""

    cadence: Cadence
    alignment: Alignment
    timing: Timing
    once: bool = False
    """A one-time fee: only the first period, billed in the run of the start month."""


@dataclass(frozen=True)
class ServicePeriod:
    start: date
    end: date
    active_start: date
    active_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def active_days(self) -> int:
        return (self.active_end - self.active_start).days


def due_periods(
    schedule: Schedule,
    start_date: date,
    end_date: date | None,
    run_first: date,
    run_next: date,
    anchor_date: date | None = None,
    coterm_date: date | None = None,
) -> list[ServicePeriod]:
    """The service periods of one subscription item that the run ``[run_first, run_next)`` bills.

    ``anchor_date`` is the subscription's first day when ``start_date`` starts a
    later segment of it (default: ``start_date``); ``coterm_date`` the date its
    anniversaries fall on instead of the first day's, when co-termed.

    >>> monthly = Schedule(Cadence(CadenceUnit.MONTH, 1), Alignment.CALENDAR, Timing.IN_ADVANCE)
    >>> october = (date(2026, 10, 1), date(2026, 11, 1))
    >>> [(p.start.isoformat(), p.active_start.day, p.end.month)
    ...  for p in due_periods(monthly, date(2026, 10, 15), None, *october)]
    [('2026-10-01', 15, 11), ('2026-11-01', 1, 12)]
    """
    first_day = start_date if anchor_date is None else anchor_date
    anchor = period_anchor(schedule.cadence, schedule.alignment, first_day, coterm_date)
    first_index = period_index(anchor, schedule.cadence, start_date)
    if schedule.once:
        if first_day != start_date or not run_first <= start_date < run_next:
            return []
        start, end = period_bounds(anchor, schedule.cadence, first_index)
        active_end = end if end_date is None else min(end, end_date)
        return [ServicePeriod(start, end, start_date, active_end)]
    lowest = max(first_index, period_index(anchor, schedule.cadence, run_first))
    highest = period_index(anchor, schedule.cadence, run_next)
    if end_date is not None:
        highest = min(highest, period_index(anchor, schedule.cadence, end_date - timedelta(days=1)))
    due = []
    for index in range(lowest, highest + 1):
        start, end = period_bounds(anchor, schedule.cadence, index)
        active_start = max(start, start_date)
        active_end = end if end_date is None else min(end, end_date)
        if active_start >= active_end:
            continue
        if schedule.timing is Timing.IN_ARREARS:
            is_due = run_first < active_end <= run_next
        elif active_start == first_day:
            is_due = run_first <= active_start < run_next
        else:
            is_due = run_first < active_start <= run_next
        if is_due:
            due.append(ServicePeriod(start, end, active_start, active_end))
    return due


SCHEDULE_KEYS = (
    "start_date",
    "end_date",
    "anchor_date",
    "coterm_date",
    "cadence_unit",
    "cadence_count",
    "alignment",
    "timing",
)
"""The columns that decide a schedule's periods (plus ``once``); rows sharing them share periods."""

SERVICE_PERIOD_SCHEMA: dict[str, pl.DataType] = {
    "service_start": pl.Date(),
    "service_end": pl.Date(),
    "active_from": pl.Date(),
    "active_until": pl.Date(),
    "period_days": pl.Int32(),
    "active_days": pl.Int32(),
}


def schedule_periods(items: pl.DataFrame, run_first: date, run_next: date) -> pl.DataFrame:
    """``items`` (one row per subscription item) with one row per due service period.

    ``items`` has the columns of :data:`SCHEDULE_KEYS` (``anchor_date``
    defaults to ``start_date``, ``coterm_date`` to none) and ``once``; the
    output adds :data:`SERVICE_PERIOD_SCHEMA` (local dates) and drops items
    with nothing due. Periods are computed once per distinct schedule.
    """
    items = _with_anchors(items)
    keys = [*SCHEDULE_KEYS, "once"]
    rows = []
    for values in items.select(keys).unique().iter_rows():
        start_date, end_date, anchor_date, coterm_date, unit, count, alignment, timing, once = (
            values
        )
        schedule = Schedule(
            Cadence(CadenceUnit(unit), count), Alignment(alignment), Timing(timing), once
        )
        due = due_periods(
            schedule, start_date, end_date, run_first, run_next, anchor_date, coterm_date
        )
        rows.extend(
            (*values, p.start, p.end, p.active_start, p.active_end, p.days, p.active_days)
            for p in due
        )
    periods = pl.DataFrame(
        rows,
        schema={**{key: items.schema[key] for key in keys}, **SERVICE_PERIOD_SCHEMA},
        orient="row",
    )
    return items.join(periods, on=keys, how="inner", nulls_equal=True)


def _with_anchors(items: pl.DataFrame) -> pl.DataFrame:
    if "anchor_date" not in items.columns:
        items = items.with_columns(pl.col("start_date").alias("anchor_date"))
    if "coterm_date" not in items.columns:
        items = items.with_columns(pl.lit(None, dtype=pl.Date).alias("coterm_date"))
    return items


def open_period(
    schedule: Schedule,
    start_date: date,
    end_date: date | None,
    day: date,
    anchor_date: date | None = None,
    coterm_date: date | None = None,
) -> ServicePeriod | None:
    """The period holding ``day``, when the subscription is active on it (else None).

    >>> quarterly = Schedule(Cadence(CadenceUnit.MONTH, 3), Alignment.CALENDAR, Timing.IN_ARREARS)
    >>> open_period(quarterly, date(2026, 8, 20), None, date(2026, 10, 14))
    ServicePeriod(start=datetime.date(2026, 10, 1), end=datetime.date(2027, 1, 1), \
active_start=datetime.date(2026, 10, 1), active_end=datetime.date(2027, 1, 1))
    """
    if day < start_date or (end_date is not None and day >= end_date):
        return None
    first_day = start_date if anchor_date is None else anchor_date
    anchor = period_anchor(schedule.cadence, schedule.alignment, first_day, coterm_date)
    start, end = period_bounds(
        anchor, schedule.cadence, period_index(anchor, schedule.cadence, day)
    )
    active_end = end if end_date is None else min(end, end_date)
    return ServicePeriod(start, end, max(start, start_date), active_end)


def open_periods(items: pl.DataFrame, day: date) -> pl.DataFrame:
    """``items`` (as for :func:`schedule_periods`) with the period holding ``day`` (if any)."""
    items = _with_anchors(items)
    keys = [key for key in SCHEDULE_KEYS if key != "timing"]
    rows = []
    for values in items.select(keys).unique().iter_rows():
        start_date, end_date, anchor_date, coterm_date, unit, count, alignment = values
        schedule = Schedule(
            Cadence(CadenceUnit(unit), count), Alignment(alignment), Timing.IN_ARREARS
        )
        p = open_period(schedule, start_date, end_date, day, anchor_date, coterm_date)
        if p is not None:
            rows.append(
                (*values, p.start, p.end, p.active_start, p.active_end, p.days, p.active_days)
            )
    periods = pl.DataFrame(
        rows,
        schema={**{key: items.schema[key] for key in keys}, **SERVICE_PERIOD_SCHEMA},
        orient="row",
    )
    return items.join(periods, on=keys, how="inner", nulls_equal=True)

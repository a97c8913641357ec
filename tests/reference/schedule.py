"""Reference service periods: walk a subscription's periods one by one, in plain dates.

Restates the rules of ``aggregation/schedule.py`` as directly as possible, and
imports nothing from the project:

* month cadences step month by month (a loop of single months) from the
  anchor, each start on the anchor's day or the month's last day;
  week cadences step seven days at a time;
* the anchor is the subscription's first day (anniversary), its co-term date
  when it has one (anniversary; stepped back whole periods until it is not
  after the start), or 2000-01-01 / Monday 2000-01-03 (calendar);
* a period is billed by the monthly run whose ``(first, next]`` holds its due
  day (in arrears: the end of its covered part; in advance: the start), or
  whose ``[first, next)`` holds the start date (the first period in advance, a
  one-time fee).

>>> periods = all_periods("month", 1, "anniversary", date(2026, 1, 31), date(2026, 5, 1))
>>> [p[0].isoformat() for p in periods]
['2026-01-31', '2026-02-28', '2026-03-31', '2026-04-30']
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, timedelta
from itertools import pairwise

CALENDAR_MONTHS = date(2000, 1, 1)
CALENDAR_WEEKS = date(2000, 1, 3)

Period = tuple[date, date, date, date]
"""``(start, end, active_start, active_end)``"""


def _month_step(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _month_back(year: int, month: int) -> tuple[int, int]:
    return (year - 1, 12) if month == 1 else (year, month - 1)


def _on_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, monthrange(year, month)[1]))


def _starts(unit: str, count: int, anchor: date, until: date, begin: date) -> list[date]:
    """Every period start counted from ``anchor``: from the last one at or before
    ``begin`` up to the first one at or after ``until``."""
    year, month = anchor.year, anchor.month
    first = anchor
    while first > begin:
        if unit == "week":
            first -= timedelta(days=7 * count)
            continue
        for _ in range(count):
            year, month = _month_back(year, month)
        first = _on_day(year, month, anchor.day)
    starts = [first]
    while starts[-1] < until:
        if unit == "week":
            starts.append(starts[-1] + timedelta(days=7 * count))
            continue
        for _ in range(count):
            year, month = _month_step(year, month)
        starts.append(_on_day(year, month, anchor.day))
    return starts


def all_periods(
    unit: str,
    count: int,
    alignment: str,
    start: date,
    end: date,
    anchor_date: date | None = None,
    coterm_date: date | None = None,
) -> list[Period]:
    """Every period that ``[start, end)`` touches, with its covered part."""
    first_day = anchor_date or start
    if alignment == "anniversary":
        anchor = coterm_date or first_day
    else:
        anchor = CALENDAR_WEEKS if unit == "week" else CALENDAR_MONTHS
    starts = _starts(unit, count, anchor, end, start)
    periods = []
    for left, right in pairwise(starts):
        active_start, active_end = max(left, start), min(right, end)
        if active_start < active_end:
            periods.append((left, right, active_start, active_end))
    return periods


def run_month_of(day: date, inclusive_end: bool) -> date:
    """The first day of the monthly run that holds ``day``: in ``(first, next]`` when
    ``inclusive_end``, else in ``[first, next)``."""
    if inclusive_end:
        day -= timedelta(days=1)
    return date(day.year, day.month, 1)


def due_run(period: Period, timing: str, once: bool, first_day: date) -> date:
    """The first day of the run that bills ``period``."""
    _, _, active_start, active_end = period
    if once or (timing == "in_advance" and active_start == first_day):
        return run_month_of(active_start, inclusive_end=False)
    if timing == "in_advance":
        return run_month_of(active_start, inclusive_end=True)
    return run_month_of(active_end, inclusive_end=True)


def reference_due_periods(
    unit: str,
    count: int,
    alignment: str,
    timing: str,
    once: bool,
    start: date,
    end: date | None,
    run_first: date,
    anchor_date: date | None = None,
    coterm_date: date | None = None,
) -> list[Period]:
    """The periods the run of ``run_first``'s month bills."""
    horizon = end or date(run_first.year + 3, 1, 1)
    periods = all_periods(unit, count, alignment, start, horizon, anchor_date, coterm_date)
    first_day = anchor_date or start
    if once:
        periods = periods[:1] if first_day == start else []
    if end is None:
        # An open subscription: the last walked period is cut at the horizon, not ended.
        periods = [p for p in periods if p[1] <= horizon] or periods[:0]
    return [p for p in periods if due_run(p, timing, once, first_day) == run_first]

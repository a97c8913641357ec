"""Service periods (``aggregation.schedule``) against the plain-date reference.

The backbone: for every cadence, alignment, timing and lifetime, the periods a
monthly run bills are the reference's, and across the runs of consecutive
months every period a subscription touches is billed exactly once, its covered
days adding up to the subscription's days.
"""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from aggregation.schedule import Schedule, ServicePeriod, due_periods, schedule_periods
from schemas.catalog import Alignment, Cadence, CadenceUnit, Timing
from tests.reference.schedule import all_periods, reference_due_periods

CADENCES = st.one_of(
    st.sampled_from([("week", 1), ("week", 2), ("month", 1), ("month", 2), ("month", 3)]),
    st.sampled_from([("month", 6), ("month", 12)]),
    st.tuples(st.just("month"), st.integers(1, 24)),
    st.tuples(st.just("week"), st.integers(1, 8)),
)


def _last_days(year: int, month: int, day: int) -> date:
    """The ``day``-th of the month, or its last day when it has fewer."""
    for candidate in (day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("every month has a 28th")


# Month ends and leap days are where anniversaries go wrong.
DAYS = st.one_of(
    st.dates(date(2000, 2, 1), date(2040, 12, 31)),
    st.builds(
        _last_days,
        st.integers(2000, 2040),
        st.integers(1, 12),
        st.integers(28, 31),
    ),
)


def month_of(day: date) -> date:
    return date(day.year, day.month, 1)


def next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


def schedule_of(cadence: tuple[str, int], alignment: str, timing: str, once: bool) -> Schedule:
    unit, count = cadence
    return Schedule(Cadence(CadenceUnit(unit), count), Alignment(alignment), Timing(timing), once)


def as_tuples(periods: list[ServicePeriod]) -> list[tuple[date, date, date, date]]:
    return [(p.start, p.end, p.active_start, p.active_end) for p in periods]


@given(
    cadence=CADENCES,
    alignment=st.sampled_from(["calendar", "anniversary"]),
    timing=st.sampled_from(["in_advance", "in_arrears"]),
    once=st.booleans(),
    start=DAYS,
    length=st.one_of(st.none(), st.integers(1, 1200)),
    offset=st.integers(-2, 40),
    coterm=st.one_of(st.none(), DAYS),
)
def test_due_periods_are_the_references(
    cadence, alignment, timing, once, start, length, offset, coterm
):
    end = None if length is None else start + timedelta(days=length)
    run_first = month_of(start)
    for _ in range(offset % 40):
        run_first = next_month(run_first)
    if offset < 0:
        run_first = month_of(run_first - timedelta(days=1))
    got = due_periods(
        schedule_of(cadence, alignment, timing, once),
        start,
        end,
        run_first,
        next_month(run_first),
        coterm_date=coterm,
    )
    unit, count = cadence
    expected = reference_due_periods(
        unit, count, alignment, timing, once, start, end, run_first, coterm_date=coterm
    )
    assert as_tuples(got) == expected


@given(
    cadence=CADENCES,
    alignment=st.sampled_from(["calendar", "anniversary"]),
    timing=st.sampled_from(["in_advance", "in_arrears"]),
    start=DAYS,
    length=st.integers(1, 1100),
    coterm=st.one_of(st.none(), DAYS),
)
def test_consecutive_runs_bill_every_period_once(cadence, alignment, timing, start, length, coterm):
    end = start + timedelta(days=length)
    schedule = schedule_of(cadence, alignment, timing, once=False)
    billed = []
    run_first = month_of(start - timedelta(days=1))
    while run_first <= next_month(next_month(month_of(end))):
        billed += as_tuples(
            due_periods(schedule, start, end, run_first, next_month(run_first), None, coterm)
        )
        run_first = next_month(run_first)
    unit, count = cadence
    assert sorted(billed) == all_periods(unit, count, alignment, start, end, None, coterm)
    assert len(set(billed)) == len(billed)
    assert sum((active_end - active_start).days for _, _, active_start, active_end in billed) == (
        length
    )
    once = schedule_of(cadence, alignment, timing, once=True)
    firsts = [
        p
        for month in range(-1, 3)
        for p in due_periods(once, start, end, *_run(month_of(start), month))
    ]
    assert len(firsts) == 1 and firsts[0].active_start == start


def _run(first: date, months: int) -> tuple[date, date]:
    if months < 0:
        first = month_of(first - timedelta(days=1))
    for _ in range(max(months, 0)):
        first = next_month(first)
    return first, next_month(first)


def test_month_end_anniversaries_come_back_to_their_day():
    monthly = all_periods("month", 1, "anniversary", date(2026, 1, 31), date(2026, 5, 1))
    assert [p[0] for p in monthly] == [
        date(2026, 1, 31),
        date(2026, 2, 28),
        date(2026, 3, 31),
        date(2026, 4, 30),
    ]
    schedule = schedule_of(("month", 1), "anniversary", "in_arrears", once=False)
    march = due_periods(schedule, date(2026, 1, 31), None, date(2026, 3, 1), date(2026, 4, 1))
    assert as_tuples(march) == [
        (date(2026, 2, 28), date(2026, 3, 31), date(2026, 2, 28), date(2026, 3, 31))
    ]
    yearly = all_periods("month", 12, "anniversary", date(2024, 2, 29), date(2028, 3, 1))
    assert [p[0] for p in yearly] == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_a_co_termed_subscription_renews_on_the_co_term_date():
    """Started on 10 March, co-termed to the 15th: 10-15 March (5 of February-March's 28
    days), then 15th to 15th; the co-term date may come before or after the start."""
    schedule = schedule_of(("month", 1), "anniversary", "in_arrears", once=False)
    for coterm in (date(2025, 1, 15), date(2027, 6, 15)):
        march = due_periods(
            schedule, date(2026, 3, 10), None, date(2026, 3, 1), date(2026, 4, 1), None, coterm
        )
        assert as_tuples(march) == [
            (date(2026, 2, 15), date(2026, 3, 15), date(2026, 3, 10), date(2026, 3, 15))
        ]
        assert (march[0].active_days, march[0].days) == (5, 28)
    calendar = schedule_of(("month", 1), "calendar", "in_arrears", once=False)
    ignored = due_periods(
        calendar, date(2026, 3, 10), None, date(2026, 3, 1), date(2026, 4, 1), None, coterm
    )
    assert as_tuples(ignored) == [
        (date(2026, 3, 1), date(2026, 4, 1), date(2026, 3, 10), date(2026, 4, 1))
    ]


@given(
    rows=st.lists(
        st.tuples(
            DAYS,
            st.one_of(st.none(), st.integers(1, 400)),
            CADENCES,
            st.sampled_from(["calendar", "anniversary"]),
            st.sampled_from(["in_advance", "in_arrears"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    month=st.integers(0, 14),
)
def test_the_frame_version_gives_each_rows_periods(rows, month):
    first = month_of(rows[0][0])
    run_first, run_next = _run(first, month)
    items = pl.DataFrame(
        [
            (
                f"s{index}",
                start,
                None if length is None else start + timedelta(days=length),
                unit,
                count,
                alignment,
                timing,
                once,
            )
            for index, (start, length, (unit, count), alignment, timing, once) in enumerate(
                [*rows, rows[0]]  # a duplicate schedule shares its periods
            )
        ],
        schema={
            "subscription_id": pl.String,
            "start_date": pl.Date,
            "end_date": pl.Date,
            "cadence_unit": pl.String,
            "cadence_count": pl.Int64,
            "alignment": pl.String,
            "timing": pl.String,
            "once": pl.Boolean,
        },
        orient="row",
    )
    got = sorted(
        schedule_periods(items, run_first, run_next)
        .select("subscription_id", "service_start", "service_end", "active_from", "active_until")
        .rows()
    )
    expected = sorted(
        (row["subscription_id"], *period)
        for row in items.iter_rows(named=True)
        for period in as_tuples(
            due_periods(
                schedule_of(
                    (row["cadence_unit"], row["cadence_count"]),
                    row["alignment"],
                    row["timing"],
                    row["once"],
                ),
                row["start_date"],
                row["end_date"],
                run_first,
                run_next,
            )
        )
    )
    assert got == expected

"""Late events: the invoiced period an accepted event falls in, against a plain-Python month."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from aggregation.periods import flag_invoiced_period, invoiced_windows

ZONES = {"c1": "Europe/Paris", "c2": "America/Los_Angeles", "c3": "Asia/Tokyo"}
MONTHS = [f"{year}-{month:02d}" for year in (2025, 2026) for month in range(1, 13)]
START = datetime(2025, 1, 1, tzinfo=UTC)


def local_month(customer: str, instant: datetime) -> str:
    return instant.astimezone(ZoneInfo(ZONES[customer])).strftime("%Y-%m")


@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(ZONES)), st.integers(0, 730 * 24 * 60)),
        min_size=1,
        max_size=40,
    ),
    st.sets(st.sampled_from(MONTHS), max_size=14),
)
def test_each_event_is_flagged_with_its_customers_invoiced_month(
    events: list[tuple[str, int]], invoiced: set[str]
):
    # Events over two years and up to 14 invoiced months: most windows are out of reach of
    # any event, and events near a month's end fall in a neighbouring month in some zones.
    customers = pl.DataFrame({"customer_id": list(ZONES), "timezone": list(ZONES.values())})
    frame = pl.DataFrame(
        {
            "customer_id": [customer for customer, _ in events],
            "timestamp": [START + timedelta(minutes=minutes) for _, minutes in events],
        },
        schema={"customer_id": pl.String, "timestamp": pl.Datetime("us", "UTC")},
    )
    flagged = flag_invoiced_period(frame, invoiced_windows(customers, sorted(invoiced)))
    expected = []
    for customer, minutes in events:
        month = local_month(customer, START + timedelta(minutes=minutes))
        expected.append(month if month in invoiced else None)
    assert flagged["invoiced_period"].to_list() == expected
    assert flagged.drop("invoiced_period").equals(frame)

"""``aggregation.usage.aggregate_usage`` against the plain-Python reference.

Events are generated as they look once assigned to subscriptions, then go
through the pipeline's own conversion of measured properties
(``meter.validate.measured_as_quantities``) before ``aggregate_usage``. Every
usage row must equal the reference's, for every aggregation, and the result
must not depend on the order or chunking of the events.

Time is where the aggregations are subtle, so timestamps are drawn to collide:
most are the bounds of their subscription's period and window (events exactly
on a bound), or a handful of shared instants (ties, broken by event_id), and
the rest are any microsecond from an hour before the period to an hour after
it (sessions crossing the window bounds). Windows are sometimes empty.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation.usage import USAGE_SCHEMA, aggregate_usage
from aggregation.windows import WINDOW_SCHEMA
from meter.validate import measured_as_quantities
from schemas.catalog import Aggregation, DurationRounding, DurationSpec, Meter, TimeUnit
from schemas.types import TIMESTAMP
from tests.reference import aggregation as ref

pytestmark = pytest.mark.hypothesis

SUBSCRIPTIONS = ["sub-1", "sub-2", "sub-3"]
EVENT_TYPES = ["api_call", "storage", "compute"]
# Group values, occasionally null; a few need JSON escaping or are not ASCII, one is longer
# than an Arrow string view holds inline (aggregation.lookup.dictionary codes only those).
REGIONS = [None, "eu", "us", "ap", "", "zürich", 'a"b', "ap-southeast-1"]
PLANS = [None, "free", "pro"]
ZONES = [None, 1, 2, 30]
USERS = [None, "u1", "u2", "U1", "u1 ", "ü"]
VMS = [None, "vm-1", "vm-2", "vm-3"]
ACTIONS = [None, "start", "stop", "started", "stopped", "paused"]
STATES = [("start", "stop"), ("started", "stopped")]

BASE = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)
PERIOD_LENGTHS = [HOUR, timedelta(days=1), timedelta(days=30), timedelta(days=31)]
# An odd period: 1 h 30 min 7 us, so proration rarely divides evenly.
PERIOD_LENGTHS.append(timedelta(minutes=90, microseconds=7))

KEY = ["subscription_id", "meter_code", "dimensions"]
MEASURING = [Aggregation.SUM, Aggregation.MIN, Aggregation.MAX, Aggregation.LATEST]
MEASURING += [Aggregation.GAUGE]


# --- strategies --------------------------------------------------------------------------


@st.composite
def measured_values(draw: st.DrawFn, as_float: bool) -> int | float | None:
    """An int, or a float written with at most 3 decimals (e.g. 12.345); sometimes null."""
    if draw(st.integers(0, 9)) == 0:
        return None
    small, large = st.integers(-(10**4), 10**4), st.integers(-(10**12), 10**12)
    if as_float:
        return draw(st.one_of(small, large)) / 1000  # exactly n/1000 as its repr
    return draw(st.one_of(small, large, st.sampled_from([0, 10**12, -(10**12)])))


@st.composite
def windows(draw: st.DrawFn) -> ref.Window:
    """A period of one of ``PERIOD_LENGTHS`` near ``BASE`` and an active span within it.

    The active span is usually the whole period, sometimes a part of it, and
    sometimes empty (``active_start == active_end``).
    """
    start = BASE + draw(st.integers(-4, 4)) * timedelta(minutes=30)
    length = draw(st.sampled_from(PERIOD_LENGTHS))
    micros = length // ref.MICROSECOND
    active_from = draw(st.one_of(st.just(0), st.integers(0, micros)))
    active_to = draw(st.one_of(st.just(micros), st.just(active_from), st.integers(0, micros)))
    active_from, active_to = sorted((active_from, active_to))
    return ref.Window(
        start,
        start + length,
        start + active_from * ref.MICROSECOND,
        start + active_to * ref.MICROSECOND,
    )


@st.composite
def instants(draw: st.DrawFn, window: ref.Window, shared: list[datetime]) -> datetime:
    """A bound of the window, one of a few shared instants, or any microsecond near it."""
    bounds = [window.period_start, window.active_start, window.active_end, window.period_end]
    lowest, highest = window.period_start - HOUR, window.period_end + HOUR
    anywhere = st.integers(0, (highest - lowest) // ref.MICROSECOND).map(
        lambda micros: lowest + micros * ref.MICROSECOND
    )
    return draw(st.one_of(st.sampled_from(bounds), st.sampled_from(shared), anywhere))


@st.composite
def scenarios(
    draw: st.DrawFn,
    event_types: list[str] = EVENT_TYPES,
    max_events: int = 40,
    min_events: int = 0,
    subscriptions: list[str] = SUBSCRIPTIONS,
    vms: list[str | None] = VMS,
    actions: list[str | None] = ACTIONS,
) -> tuple[list[dict[str, Any]], bool, dict[str, ref.Window]]:
    """Events, whether ``gb`` is written as floats, and every subscription's window.

    Event ids are unique (de-duplication guarantees it) and short, so their
    order differs from the order the events are drawn in. Sometimes no event
    has a ``zone`` at all (the column is absent from the frame), which
    ``aggregate_usage`` must treat as null everywhere.
    """
    as_float = draw(st.booleans())
    spans = {subscription: draw(windows()) for subscription in SUBSCRIPTIONS}
    shared = {
        subscription: draw(st.lists(instants(spans[subscription], [BASE]), min_size=1, max_size=3))
        for subscription in subscriptions
    }
    ids = st.text("abcdef", min_size=1, max_size=3)
    event_ids = draw(st.lists(ids, min_size=min_events, max_size=max_events, unique=True))
    with_zone = draw(st.booleans())
    events = []
    for event_id in event_ids:
        subscription = draw(st.sampled_from(subscriptions))
        event = {
            "subscription_id": subscription,
            "event_id": event_id,
            "event_type": draw(st.sampled_from(event_types)),
            "timestamp": draw(instants(spans[subscription], shared[subscription])),
            "region": draw(st.sampled_from(REGIONS)),
            "plan": draw(st.sampled_from(PLANS)),
            "gb": draw(measured_values(as_float)),
            "user": draw(st.sampled_from(USERS)),
            "vm": draw(st.sampled_from(vms)),
            "action": draw(st.sampled_from(actions)),
        }
        if with_zone:
            event["zone"] = draw(st.sampled_from(ZONES))
        events.append(event)
    return events, as_float, spans


GROUPINGS = [(), ("region",), ("zone",), ("region", "plan")]
FILTERS = [(), (("plan", ("pro",)),), (("zone", ("1", "2")),)]


@st.composite
def meters(
    draw: st.DrawFn,
    aggregation: Aggregation,
    index: int,
    event_types: list[str] = EVENT_TYPES,
    groupings: list[tuple[str, ...]] = GROUPINGS,
    filters: list[tuple] = FILTERS,
) -> Meter:
    """A meter of ``aggregation`` over one of the event types, grouped and filtered."""
    prop, spec = None, None
    if aggregation in MEASURING:
        prop = "gb"
    elif aggregation is Aggregation.COUNT_DISTINCT:
        prop = draw(st.sampled_from(["user", "zone", "region"]))
    elif aggregation is Aggregation.DURATION:
        prop = draw(st.sampled_from(["vm", "vm", "vm", "zone"]))  # the session key
        start, stop = draw(st.sampled_from(STATES))
        spec = DurationSpec(
            "action",
            draw(st.sampled_from(list(TimeUnit))),
            start,
            stop,
            draw(st.sampled_from(list(DurationRounding))),
        )
    return Meter(
        code=f"m{index}",
        event_type=draw(st.sampled_from(event_types)),
        aggregation=aggregation,
        property_name=prop,
        filters=draw(st.sampled_from(filters)),
        group_by=draw(st.sampled_from(groupings)),
        duration=spec,
    )


@st.composite
def meter_sets(draw: st.DrawFn, aggregations: list[Aggregation] | None = None, **kw: Any) -> list:
    """1..4 meters of any (or the given) aggregations; ``kw`` narrows :func:`meters`."""
    choices = aggregations or list(Aggregation)
    kinds = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=4))
    return [draw(meters(kind, index, **kw)) for index, kind in enumerate(kinds)]


# --- harness -----------------------------------------------------------------------------


def events_frame(events: list[dict[str, Any]], as_float: bool) -> pl.DataFrame:
    schema = {
        "subscription_id": pl.String,
        "event_id": pl.String,
        "event_type": pl.String,
        "timestamp": TIMESTAMP,
        "region": pl.String,
        "plan": pl.String,
        "gb": pl.Float64 if as_float else pl.Int64,
        "user": pl.String,
        "vm": pl.String,
        "action": pl.String,
        "zone": pl.Int64,
    }
    if not events or "zone" not in events[0]:
        del schema["zone"]
    frame = pl.DataFrame(events, schema=schema, orient="row")
    assert frame.to_dicts() == events  # the harness itself is exact
    return frame


def windows_frame(spans: dict[str, ref.Window]) -> pl.DataFrame:
    rows = [(subscription, *window) for subscription, window in sorted(spans.items())]
    return pl.DataFrame(rows, schema=WINDOW_SCHEMA, orient="row")


USAGE_KEY = ["subscription_id", "meter_code", "dimensions"]


def run_subscriptions(spans: dict[str, ref.Window]) -> pl.Enum:
    """Subscriptions as ``assign_subscriptions`` keys a run's events: an Enum of the run's
    subscriptions (here with one that has neither events nor a window)."""
    return pl.Enum(sorted([*spans, "sub-0"]))


def as_text(usage: pl.DataFrame) -> pl.DataFrame:
    """Usage keyed by the run's Enum, as the same usage keyed by text would be."""
    return usage.with_columns(pl.col("subscription_id").cast(pl.String))


def run_aggregation(
    frame: pl.DataFrame, meters: list[Meter], spans: dict[str, ref.Window]
) -> pl.DataFrame:
    """What ``jobs.billing`` does: exact quantities per event, then aggregate; sorted by
    the usage key (aggregate_usage returns its rows in no particular order).

    Subscriptions keyed by text and by the run's Enum (which takes the kernels over
    subscription codes) must give the same usage."""
    events = measured_as_quantities(frame.lazy(), meters)
    usage = aggregate_usage(events, meters, windows_frame(spans)).collect()
    keyed = events.with_columns(pl.col("subscription_id").cast(run_subscriptions(spans)))
    by_code = aggregate_usage(keyed, meters, windows_frame(spans)).collect()
    assert_frame_equal(as_text(by_code).sort(USAGE_KEY), usage.sort(USAGE_KEY))
    return usage.sort(USAGE_KEY)


def as_usage(frame: pl.DataFrame) -> dict[ref.UsageKey, ref.Usage]:
    rows = {}
    for row in frame.iter_rows(named=True):
        key = (row["subscription_id"], row["meter_code"], row["dimensions"])
        assert key not in rows, f"two usage rows for {key}"
        rows[key] = ref.Usage(row["quantity"], row["event_count"])
    return rows


def assert_matches_reference(
    events: list[dict[str, Any]], as_float: bool, spans: dict[str, ref.Window], meters: list
) -> None:
    usage = run_aggregation(events_frame(events, as_float), meters, spans)
    assert usage.schema == pl.Schema(USAGE_SCHEMA)
    expected = ref.aggregate_usage(events, meters, spans)
    got = as_usage(usage)
    assert got.keys() == expected.keys()
    wrong = {key: (expected[key], got[key]) for key in expected if got[key] != expected[key]}
    assert not wrong, f"(expected, got) per key: {wrong}"


# --- properties --------------------------------------------------------------------------


@given(scenario=scenarios(), meters=meter_sets())
def test_aggregate_usage_matches_reference(scenario: tuple, meters: list[Meter]) -> None:
    assert_matches_reference(*scenario, meters)


@given(
    scenario=scenarios(["api_call"], 40, 1),
    meters=meter_sets([Aggregation.COUNT, Aggregation.COUNT_DISTINCT], event_types=["api_call"]),
)
def test_counts_sharing_a_grain_match_reference(scenario: tuple, meters: list[Meter]) -> None:
    """Counts of one event type, the meters that one pre-aggregation serves by counting
    alone (aggregation.grain)."""
    assert_matches_reference(*scenario, meters)


# One pre-aggregation by (region, plan) serves them all: the first two read its rows as
# they are, the last counts regions that each of its rows holds once.
SPLIT_BY_THEIR_GROUPS = [
    Meter("calls", "api_call", Aggregation.COUNT, group_by=("region", "plan")),
    Meter("each", "api_call", Aggregation.COUNT_DISTINCT, "region", group_by=("region", "plan")),
    Meter("regions", "api_call", Aggregation.COUNT_DISTINCT, "region", group_by=("plan",)),
]


@given(scenario=scenarios(["api_call"], 40, 1))
def test_groups_read_from_the_pre_aggregation_match_reference(scenario: tuple) -> None:
    """Meters split as their pre-aggregation is (a null region is no distinct value)."""
    assert_matches_reference(*scenario, SPLIT_BY_THEIR_GROUPS)


@given(
    scenario=scenarios(["compute"], 24, 6, SUBSCRIPTIONS[:2], VMS[:3], ACTIONS[1:] + ACTIONS[1:5]),
    meters=meter_sets(
        [Aggregation.GAUGE, Aggregation.DURATION, Aggregation.LATEST],
        event_types=["compute"],
        groupings=[(), (), ("plan",)],
        filters=[()],
    ),
)
def test_time_based_aggregations_match_reference(scenario: tuple, meters: list[Meter]) -> None:
    """Only the aggregations that read time, on few keys: sessions, ties and resets abound."""
    assert_matches_reference(*scenario, meters)


@st.composite
def long_timelines(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bool, dict[str, ref.Window]]:
    """Many events per subscription at distinct instants (ties send the kernels over
    subscription codes back to sorting by event id): one subscription with more events
    than the kernels sort by insertion, one with any number."""
    as_float = draw(st.booleans())
    spans = {subscription: draw(windows()) for subscription in SUBSCRIPTIONS[:2]}
    events = []
    for subscription, at_least in zip(spans, (33, 0), strict=True):
        window = spans[subscription]
        lowest = window.period_start - HOUR
        length = (window.period_end + HOUR - lowest) // ref.MICROSECOND
        offsets = draw(
            st.lists(st.integers(0, length), min_size=at_least, max_size=80, unique=True)
        )
        events += [
            {
                "subscription_id": subscription,
                "event_id": f"{subscription}-{n}",
                "event_type": "storage",
                "timestamp": lowest + offset * ref.MICROSECOND,
                **dict.fromkeys(["region", "plan"]),
                "gb": draw(measured_values(as_float)),
                **dict.fromkeys(["user", "vm", "action"]),
            }
            for n, offset in enumerate(offsets)
        ]
    order = draw(st.permutations(range(len(events))))
    return [events[n] for n in order], as_float, spans


@given(timelines=long_timelines())
def test_long_timelines_match_reference(timelines: tuple) -> None:
    events, as_float, spans = timelines
    meters = [
        Meter("level", "storage", Aggregation.GAUGE, "gb"),
        Meter("last", "storage", Aggregation.LATEST, "gb"),
    ]
    expected = ref.aggregate_usage(events, meters, spans)
    assert as_usage(run_aggregation(events_frame(events, as_float), meters, spans)) == expected


@given(scenario=scenarios(), meters=meter_sets(), data=st.data())
def test_aggregate_usage_ignores_event_order(
    scenario: tuple, meters: list[Meter], data: st.DataObject
) -> None:
    events, as_float, spans = scenario
    shuffled = data.draw(st.permutations(events), label="shuffled")
    cut = data.draw(st.integers(0, len(events)), label="cut")
    first = run_aggregation(events_frame(events, as_float), meters, spans)
    # The same events, reordered and in two chunks (as frames read from two files are).
    chunks = [events_frame(shuffled[:cut], as_float), events_frame(shuffled[cut:], as_float)]
    if all(chunk.height for chunk in chunks):
        second_frame = pl.concat(chunks, rechunk=False)
    else:
        second_frame = events_frame(shuffled, as_float)
    second = run_aggregation(second_frame, meters, spans)
    # One row per key, so the sorted frames must be identical.
    assert first.select(USAGE_KEY).n_unique() == first.height
    assert_frame_equal(first, second)


@given(
    scenario=scenarios(["compute"], 24, 6, SUBSCRIPTIONS[:2], VMS[:3], ACTIONS[1:] + ACTIONS[1:5]),
    meters=meter_sets(
        [Aggregation.GAUGE, Aggregation.DURATION],
        event_types=["compute"],
        groupings=[(), (), ("plan",)],
        filters=[()],
    ),
)
def test_state_before_the_window_carries_in(scenario: tuple, meters: list[Meter]) -> None:
    """Events before the window given as ``earlier`` bill like one timeline of every event.

    The reference sees all events at once; ``aggregate_usage`` sees the window's
    events plus the earlier ones apart, as a billing run reads them (the period's
    dates, and the history since each subscription started). Earlier events set
    the opening state but are not counted in ``event_count``.
    """
    events, as_float, spans = scenario
    before = [e for e in events if e["timestamp"] < spans[e["subscription_id"]].active_start]
    inside = [e for e in events if e not in before]
    frames = [events_frame(part, as_float) if part else None for part in (inside, before)]
    lazy = [
        measured_as_quantities(frame.lazy(), meters) if frame is not None else None
        for frame in frames
    ]
    window_events = (
        lazy[0]
        if lazy[0] is not None
        else measured_as_quantities(events_frame(events, as_float).clear().lazy(), meters)
    )
    keyed = pl.col("subscription_id").cast(run_subscriptions(spans))
    usage = aggregate_usage(window_events, meters, windows_frame(spans), lazy[1]).collect()
    by_code = aggregate_usage(
        window_events.with_columns(keyed), meters, windows_frame(spans), lazy[1]
    ).collect()
    assert_frame_equal(as_text(by_code).sort(USAGE_KEY), usage.sort(USAGE_KEY))
    whole_timeline = ref.aggregate_usage(events, meters, spans)
    counted = ref.aggregate_usage(inside, meters, spans)
    got = as_usage(usage)
    assert got.keys() <= whole_timeline.keys()
    nothing = ref.Usage(Decimal(0), 0)
    for key, expected in whole_timeline.items():
        # A group whose earlier events set nothing (a null level, an unknown state) and
        # that has no event in the window needs no row: it measures zero.
        usage_row = got.get(key, nothing)
        assert usage_row.quantity == expected.quantity, key
        assert usage_row.event_count == counted.get(key, nothing).event_count, key


# --- worked examples (docs/aggregations.md) ----------------------------------------------

SEPTEMBER = ref.Window(
    datetime(2026, 9, 1, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
    datetime(2026, 9, 1, tzinfo=UTC),
    datetime(2026, 10, 1, tzinfo=UTC),
)
DAY = timedelta(days=1)


def usage_rows(rows: list[tuple], columns: dict, meters: list[Meter], spans: dict) -> list:
    schema = {"subscription_id": pl.String, "event_id": pl.String, "event_type": pl.String}
    frame = pl.DataFrame(rows, schema=schema | {"timestamp": TIMESTAMP} | columns, orient="row")
    return run_aggregation(frame, meters, spans).rows()


def test_count_distinct_min_max_latest_example() -> None:
    at = SEPTEMBER.period_start
    rows = [  # (subscription, event_id, type, timestamp, user, gb)
        ("s1", "e1", "login", at + 2 * DAY, "ana", 3),
        ("s1", "e2", "login", at + 1 * DAY, "bob", 7),
        ("s1", "e3", "login", at + 2 * DAY, "ana", 5),  # ties e1 at day 2: e3 > e1 wins
        ("s1", "e4", "login", at + 3 * DAY, None, None),  # no user, no value
    ]
    meters = [
        Meter("users", "login", Aggregation.COUNT_DISTINCT, "user"),
        Meter("low", "login", Aggregation.MIN, "gb"),
        Meter("high", "login", Aggregation.MAX, "gb"),
        Meter("last", "login", Aggregation.LATEST, "gb"),
    ]
    columns = {"user": pl.String, "gb": pl.Int64}
    assert usage_rows(rows, columns, meters, {"s1": SEPTEMBER}) == [
        ("s1", "high", "{}", Decimal(7), 4),  # max(3, 7, 5)
        ("s1", "last", "{}", Decimal(5), 4),  # e3: day 2, and "e3" > "e1"
        ("s1", "low", "{}", Decimal(3), 4),  # min(3, 7, 5)
        ("s1", "users", "{}", Decimal(2), 4),  # ana, bob
    ]


def test_gauge_example() -> None:
    at = SEPTEMBER.period_start
    rows = [  # (subscription, event_id, type, timestamp, seats)
        ("s1", "e1", "seats", at, 10),
        ("s1", "e2", "seats", at + 10 * DAY, 12),
        ("s1", "e3", "seats", at + 10 * DAY, 15),  # same instant, later id: 15 wins
        ("s2", "e4", "seats", at + 20 * DAY, 30),
    ]
    meters = [Meter("seats", "seats", Aggregation.GAUGE, "seats")]
    subscribed_on_16th = SEPTEMBER._replace(active_start=at + 15 * DAY)
    spans = {"s1": SEPTEMBER, "s2": subscribed_on_16th}
    assert usage_rows(rows, {"seats": pl.Int64}, meters, spans) == [
        ("s1", "seats", "{}", Decimal("13.333333"), 3),  # (10*10 + 15*20) / 30 = 13.3333...
        ("s2", "seats", "{}", Decimal(10), 1),  # 0 until day 20, then 30 * 10 / 30
    ]


def test_duration_example() -> None:
    at = SEPTEMBER.period_start
    minute = timedelta(minutes=1)
    rows = [  # (subscription, event_id, type, timestamp, vm, action)
        ("s1", "e1", "vm", at + 30 * minute, "a", "stopped"),  # ran since the window start
        ("s1", "e2", "vm", at + DAY, "a", "started"),
        ("s1", "e3", "vm", at + DAY + 90 * minute, "a", "stopped"),  # 1.5 h
        ("s1", "e4", "vm", at + 2 * DAY, "b", "rebooted"),  # neither state: ignored
        ("s1", "e5", "vm", SEPTEMBER.period_end - 10 * minute, "b", "started"),  # to the end
    ]
    columns = {"vm": pl.String, "action": pl.String}
    got = {}
    for rounding in DurationRounding:
        spec = DurationSpec("action", TimeUnit.HOUR, "started", "stopped", rounding)
        meter = Meter("vm_hours", "vm", Aggregation.DURATION, "vm", duration=spec)
        got[rounding.value] = usage_rows(rows, columns, [meter], {"s1": SEPTEMBER})[0][3]
    assert got == {
        "up": Decimal(4),  # 30 min -> 1, 1.5 h -> 2, 10 min -> 1
        "down": Decimal(1),  # 0 + 1 + 0
        "nearest": Decimal(3),  # 0.5 -> 1 (half up), 1.5 -> 2, 0.1667 -> 0
        "none": Decimal("2.166667"),  # 0.5 + 1.5 + 0.166667 (10/60 h, each rounded to 6 places)
    }


def test_zero_length_window_gives_zero() -> None:
    at = SEPTEMBER.period_start
    empty = SEPTEMBER._replace(active_start=at + DAY, active_end=at + DAY)
    rows = [("s1", "e1", "vm", at + DAY, "a", "start", 5)]
    meters = [
        Meter(
            "up", "vm", Aggregation.DURATION, "vm", duration=DurationSpec("action", TimeUnit.HOUR)
        ),
        Meter("level", "vm", Aggregation.GAUGE, "gb"),
    ]
    columns = {"vm": pl.String, "action": pl.String, "gb": pl.Int64}
    assert usage_rows(rows, columns, meters, {"s1": empty}) == [
        ("s1", "level", "{}", Decimal(0), 1),
        ("s1", "up", "{}", Decimal(0), 1),
    ]


def test_events_of_a_subscription_without_window_are_refused() -> None:
    rows = [("s9", "e1", "vm", SEPTEMBER.period_start, 5)]
    meters = [Meter("level", "vm", Aggregation.GAUGE, "gb")]
    with pytest.raises(ValueError, match="no row for subscription s9"):
        usage_rows(rows, {"gb": pl.Int64}, meters, {"s1": SEPTEMBER})


def test_float_measured_property_is_refused() -> None:
    frame = pl.DataFrame(
        {"subscription_id": ["s1"], "event_type": ["vm"], "gb": [0.1]},
    )
    meters = [Meter("total", "vm", Aggregation.SUM, "gb")]
    with pytest.raises(TypeError, match="must be exact"):
        aggregate_usage(frame.lazy(), meters, windows_frame({"s1": SEPTEMBER}))


def test_windows_are_checked() -> None:
    meters = [Meter("calls", "api_call", Aggregation.COUNT)]
    events = pl.LazyFrame(schema={"subscription_id": pl.String, "event_type": pl.String})
    both = windows_frame({"s1": SEPTEMBER})
    with pytest.raises(ValueError, match="missing column 'active_end'"):
        aggregate_usage(events, meters, both.drop("active_end"))
    backwards = both.with_columns(period_end=pl.col("period_start"))
    with pytest.raises(ValueError, match="subscription s1 has no period"):
        aggregate_usage(events, meters, backwards)

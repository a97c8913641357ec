"""Reference aggregation: usage per (subscription, meter, dimension group) from dict events.

Plain Python over a list of dicts, written to be obviously right. Nothing here
imports the project: it restates the contract of
``aggregation.usage.aggregate_usage`` (docs/aggregations.md):

* a meter keeps the events of its ``event_type`` whose filter properties (as
  text) are in the allowed values (a null never is);
* one row per subscription x meter x group, where ``dimensions`` is the JSON
  object of the group values as text (``null`` for a missing one) in
  ``group_by`` order, and ``{}`` without ``group_by``; ``event_count`` is the
  number of kept events in the row; groups without events have no row;
* a measured value is first converted exactly to a quantity with 6 decimal
  places; a null value measures nothing, and a group with nothing measured
  has quantity 0;
* ``count`` counts events; ``sum``, ``min`` and ``max`` are what they say;
  ``count_distinct`` counts distinct non-null values as text; ``latest`` is
  the value of the last event in (timestamp, event_id) order;
* ``gauge`` and ``duration`` are measured over the subscription's window
  ``[max(period_start, active_start), min(period_end, active_end))``; see
  :func:`gauge` and :func:`duration`.

A meter is anything with the attributes of ``schemas.catalog.Meter``
(``code, event_type, aggregation, property_name, filters, group_by, duration``;
``duration`` has ``state_property, unit, start, stop, rounding``).

>>> from types import SimpleNamespace as Meter
>>> storage = Meter(code="gb", event_type="storage", aggregation="sum", property_name="gb",
...                 filters=(), group_by=("region",))
>>> events = [
...     {"subscription_id": "s1", "event_type": "storage", "gb": 1.5, "region": "eu"},
...     {"subscription_id": "s1", "event_type": "storage", "gb": 2, "region": "eu"},
...     {"subscription_id": "s1", "event_type": "storage", "gb": 0.25, "region": None},
...     {"subscription_id": "s1", "event_type": "api_call", "region": "eu"},
... ]
>>> for key, row in sorted(aggregate_usage(events, [storage]).items()):
...     print(key, row)  # eu: 1.5 + 2 = 3.5 over 2 events; null region: 0.25 over 1
('s1', 'gb', '{"region":"eu"}') Usage(quantity=Decimal('3.500000'), event_count=2)
('s1', 'gb', '{"region":null}') Usage(quantity=Decimal('0.250000'), event_count=1)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded
from fractions import Fraction
from typing import Any, NamedTuple

QUANTUM = Decimal("0.000001")  # Decimal(38, 6)

_EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation])

MICROSECOND = timedelta(microseconds=1)
UNIT_MICROSECONDS = {
    "second": 1_000_000,
    "minute": 60 * 1_000_000,
    "hour": 3600 * 1_000_000,
    "day": 86400 * 1_000_000,
}


class Usage(NamedTuple):
    quantity: Decimal
    event_count: int


class Window(NamedTuple):
    """A subscription's billing period and active span (UTC datetimes)."""

    period_start: datetime
    period_end: datetime
    active_start: datetime
    active_end: datetime

    @property
    def start(self) -> datetime:
        return max(self.period_start, self.active_start)

    @property
    def end(self) -> datetime:
        return min(self.period_end, self.active_end)


UsageKey = tuple[str, str, str]
"""(subscription_id, meter_code, dimensions)."""

Event = Mapping[str, Any]


def to_quantity(value: int | float | Decimal) -> Decimal:
    """An event property as an exact quantity with 6 decimal places.

    A float is taken as its shortest text (``repr``), i.e. as the decimal the
    event producer wrote. The reference supports only values that need at most
    6 decimal places; anything else raises rather than round.

    >>> to_quantity(0.1), to_quantity(7), to_quantity(-1.005)
    (Decimal('0.100000'), Decimal('7.000000'), Decimal('-1.005000'))
    """
    if isinstance(value, bool):
        raise TypeError("a boolean is not a quantity")
    text = repr(value) if isinstance(value, float) else str(value)
    return Decimal(text).quantize(QUANTUM, context=_EXACT)


def rounded_quantity(value: Fraction) -> Decimal:
    """An exact rational rounded half to even to 6 decimal places.

    >>> rounded_quantity(Fraction(1, 3)), rounded_quantity(Fraction(5, 10**7))  # 0.0000005
    (Decimal('0.333333'), Decimal('0.000000'))
    """
    millionths = round(value * 10**6)  # round() on a Fraction is half to even
    return (Decimal(millionths) / 10**6).quantize(QUANTUM, context=_EXACT)


def microseconds(start: datetime, end: datetime) -> int:
    """Length of ``[start, end)`` in microseconds, or 0 when it is empty."""
    return max(0, (end - start) // MICROSECOND)


def clipped(start: datetime, end: datetime, window: Window) -> int:
    """Microseconds of ``[start, end)`` inside the window."""
    return microseconds(max(start, window.start), min(end, window.end))


def dimensions(event: Event, group_by: Iterable[str]) -> str:
    """JSON of the group values as text, in ``group_by`` order; ``{}`` without groups.

    >>> dimensions({"region": "eu", "zone": 3}, ("region", "zone"))
    '{"region":"eu","zone":"3"}'
    >>> dimensions({"region": None}, ("region",)), dimensions({}, ())
    ('{"region":null}', '{}')
    """
    values = {}
    for name in group_by:
        value = event.get(name)
        values[name] = None if value is None else str(value)
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def keeps(meter: Any, event: Event) -> bool:
    """True when the meter counts this event: its event type, then every filter."""
    if event["event_type"] != meter.event_type:
        return False
    for name, allowed in meter.filters:
        value = event.get(name)
        if value is None or str(value) not in allowed:
            return False
    return True


def in_order(events: Iterable[Event]) -> list[Event]:
    """Events in their total order: timestamp, then event_id."""
    return sorted(events, key=lambda event: (event["timestamp"], event["event_id"]))


def values(meter: Any, events: Iterable[Event]) -> list[Decimal]:
    """The non-null measured values, as quantities."""
    found = (event.get(meter.property_name) for event in events)
    return [to_quantity(value) for value in found if value is not None]


# --- one function per aggregation: (meter, the group's events, its window) -> quantity ---


def count(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    return Decimal(len(events))


def sum_(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    return sum(values(meter, events), Decimal(0))


def count_distinct(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    """Distinct non-null values as text: ``"u1"`` and ``"U1"`` differ, 7 and ``"7"`` do not.

    >>> from types import SimpleNamespace as Meter
    >>> users = [{"user": u} for u in ("u1", "U1", "u1", None, "u2")]
    >>> count_distinct(Meter(property_name="user"), users, None)  # u1, U1, u2
    Decimal('3')
    """
    found = (event.get(meter.property_name) for event in events)
    return Decimal(len({str(value) for value in found if value is not None}))


def minimum(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    return min(values(meter, events), default=Decimal(0))


def maximum(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    return max(values(meter, events), default=Decimal(0))


def latest(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    """The value of the last event with a value, in (timestamp, event_id) order.

    >>> from datetime import UTC
    >>> from types import SimpleNamespace as Meter
    >>> noon = datetime(2026, 10, 1, 12, tzinfo=UTC)
    >>> events = [
    ...     {"event_id": "b", "timestamp": noon, "gb": 5},
    ...     {"event_id": "a", "timestamp": noon, "gb": 7},  # same instant: "b" > "a" wins
    ...     {"event_id": "c", "timestamp": noon - MICROSECOND, "gb": 9},
    ...     {"event_id": "d", "timestamp": noon + MICROSECOND, "gb": None},  # no value
    ... ]
    >>> latest(Meter(property_name="gb"), events, None)
    Decimal('5.000000')
    """
    measured = [event for event in in_order(events) if event.get(meter.property_name) is not None]
    return to_quantity(measured[-1][meter.property_name]) if measured else Decimal(0)


def gauge(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    """Time-weighted level over the whole period.

    Each event with a value sets the level at its timestamp; it holds until
    the next setting (in (timestamp, event_id) order) or the window end, and
    only its part inside the window counts. Before the first setting the
    level is 0. The sum of value x microseconds held is divided by the
    period's microseconds and rounded once, half to even, to 6 places.

    >>> from datetime import UTC
    >>> from types import SimpleNamespace as Meter
    >>> day = timedelta(days=1)
    >>> start = datetime(2026, 9, 1, tzinfo=UTC)
    >>> september = Window(start, start + 30 * day, start, start + 30 * day)
    >>> seats = [
    ...     {"event_id": "e1", "timestamp": start, "seats": 10},
    ...     {"event_id": "e2", "timestamp": start + 10 * day, "seats": 15},
    ... ]
    >>> gauge(Meter(property_name="seats"), seats, september)  # (10*10 + 15*20) / 30 days
    Decimal('13.333333')
    >>> half = september._replace(active_start=start + 15 * day)  # subscribed on the 16th
    >>> gauge(Meter(property_name="seats"), seats, half)  # 15 seats * 15 days / 30 days
    Decimal('7.500000')
    """
    assert window is not None
    settings = [event for event in in_order(events) if event.get(meter.property_name) is not None]
    total = Fraction(0)
    for index, event in enumerate(settings):
        until = settings[index + 1]["timestamp"] if index + 1 < len(settings) else window.end
        held = clipped(event["timestamp"], until, window)
        total += Fraction(to_quantity(event[meter.property_name])) * held
    period = microseconds(window.period_start, window.period_end)
    return rounded_quantity(total / period)


def session_length(length_microseconds: int, unit: str, rounding: str) -> Decimal:
    """One session's length in the unit, rounded by the rule.

    >>> minutes_90 = 90 * 60 * 10**6
    >>> [session_length(minutes_90, "hour", r) for r in ("up", "down", "nearest", "none")]
    [Decimal('2'), Decimal('1'), Decimal('2'), Decimal('1.500000')]
    >>> session_length(10**6, "minute", "none")  # 1/60 minute = 0.0166666...
    Decimal('0.016667')
    """
    units = Fraction(length_microseconds, UNIT_MICROSECONDS[unit])
    if rounding == "up":
        return Decimal(math.ceil(units))
    if rounding == "down":
        return Decimal(math.floor(units))
    if rounding == "nearest":  # half up
        return Decimal(math.floor(units + Fraction(1, 2)))
    if rounding == "none":
        return rounded_quantity(units)
    raise ValueError(f"unknown rounding {rounding!r}")


def sessions(
    events: Sequence[Event], spec: Any, key_property: str, window: Window
) -> list[tuple[datetime, datetime]]:
    """Every session ``(start, end)`` of a group's events, by session key.

    A state machine per key, over the events whose key is not null and whose
    state is the start or the stop value, in (timestamp, event_id) order.

    >>> from datetime import UTC
    >>> from types import SimpleNamespace as Spec
    >>> spec = Spec(state_property="action", start="on", stop="off")
    >>> t = [datetime(2026, 10, 1, hour, tzinfo=UTC) for hour in range(10)]
    >>> w = Window(t[0], t[9], t[0], t[9])
    >>> events = [
    ...     {"event_id": "1", "timestamp": t[2], "vm": "a", "action": "off"},  # ran since t0
    ...     {"event_id": "2", "timestamp": t[3], "vm": "a", "action": "on"},
    ...     {"event_id": "3", "timestamp": t[4], "vm": "a", "action": "on"},  # already on
    ...     {"event_id": "4", "timestamp": t[5], "vm": "a", "action": "reboot"},  # ignored
    ...     {"event_id": "5", "timestamp": t[6], "vm": "a", "action": "off"},
    ...     {"event_id": "6", "timestamp": t[7], "vm": "a", "action": "off"},  # already off
    ...     {"event_id": "7", "timestamp": t[8], "vm": "b", "action": "on"},  # runs to t9
    ... ]
    >>> [(s.hour, e.hour) for s, e in sessions(events, spec, "vm", w)]
    [(0, 2), (3, 6), (8, 9)]
    """
    by_key: dict[str, list[Event]] = {}
    for event in in_order(events):
        key, state = event.get(key_property), event.get(spec.state_property)
        if key is not None and state in (spec.start, spec.stop):
            by_key.setdefault(str(key), []).append(event)
    found = []
    for _, keyed in sorted(by_key.items()):
        running_since: datetime | None = None
        for position, event in enumerate(keyed):
            if event[spec.state_property] == spec.start:
                if running_since is None:
                    running_since = event["timestamp"]
            elif running_since is not None:
                found.append((running_since, event["timestamp"]))
                running_since = None
            elif position == 0:  # a stop first: started before the window
                found.append((window.start, event["timestamp"]))
        if running_since is not None:
            found.append((running_since, window.end))
    return found


def duration(meter: Any, events: Sequence[Event], window: Window | None) -> Decimal:
    """Sum over sessions of each session's clipped length, in the unit, rounded on its own."""
    assert window is not None
    spec = meter.duration
    return sum(
        (
            session_length(clipped(start, end, window), str(spec.unit), str(spec.rounding))
            for start, end in sessions(events, spec, meter.property_name, window)
        ),
        Decimal(0),
    )


AGGREGATIONS: dict[str, Callable[[Any, Sequence[Event], Window | None], Decimal]] = {
    "count": count,
    "sum": sum_,
    "count_distinct": count_distinct,
    "min": minimum,
    "max": maximum,
    "latest": latest,
    "gauge": gauge,
    "duration": duration,
}


def aggregate_usage(
    events: Iterable[Event], meters: Iterable[Any], windows: Mapping[str, Window] | None = None
) -> dict[UsageKey, Usage]:
    """Usage rows keyed by (subscription_id, meter_code, dimensions)."""
    events = list(events)
    windows = windows or {}
    result: dict[UsageKey, Usage] = {}
    for meter in meters:
        groups: dict[UsageKey, list[Event]] = {}
        for event in events:
            if keeps(meter, event):
                key = (event["subscription_id"], meter.code, dimensions(event, meter.group_by))
                groups.setdefault(key, []).append(event)
        aggregate = AGGREGATIONS[str(meter.aggregation)]
        for key, group in groups.items():
            quantity = aggregate(meter, group, windows.get(key[0]))
            result[key] = Usage(quantity.quantize(QUANTUM, context=_EXACT), len(group))
    return result

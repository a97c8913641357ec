"""Reference aggregation: usage per (subscription, meter, dimension group) from dict events.

Plain Python over a list of dicts, written to be obviously right. Restates the
contract of ``aggregation.usage.aggregate_usage``:

* a meter keeps the events of its ``event_type`` whose filter properties (as
  text) are in the allowed values (a null never is);
* ``count`` counts those events; ``sum`` adds the measured property, each
  event's value first converted exactly to a quantity with 6 decimal places;
* one row per subscription x meter x group, where ``dimensions`` is the JSON
  object of the group values as text (``null`` for a missing one) in
  ``group_by`` order, and ``{}`` without ``group_by``;
* ``event_count`` is the number of events in the row; groups without events
  have no row.

A meter is anything with the attributes of ``schemas.catalog.Meter``
(``code, event_type, aggregation, property_name, filters, group_by``).

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
from collections.abc import Iterable, Mapping
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded
from typing import Any, NamedTuple

QUANTUM = Decimal("0.000001")  # Decimal(38, 6)

_EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation])


class Usage(NamedTuple):
    quantity: Decimal
    event_count: int


UsageKey = tuple[str, str, str]
"""(subscription_id, meter_code, dimensions)."""


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


def dimensions(event: Mapping[str, Any], group_by: Iterable[str]) -> str:
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


def keeps(meter: Any, event: Mapping[str, Any]) -> bool:
    """True when the meter counts this event: its event type, then every filter."""
    if event["event_type"] != meter.event_type:
        return False
    for name, allowed in meter.filters:
        value = event.get(name)
        if value is None or str(value) not in allowed:
            return False
    return True


def aggregate_usage(
    events: Iterable[Mapping[str, Any]], meters: Iterable[Any]
) -> dict[UsageKey, Usage]:
    """Usage rows keyed by (subscription_id, meter_code, dimensions)."""
    events = list(events)
    result: dict[UsageKey, Usage] = {}
    for meter in meters:
        for event in events:
            if not keeps(meter, event):
                continue
            key = (event["subscription_id"], meter.code, dimensions(event, meter.group_by))
            if str(meter.aggregation) == "count":
                amount = Decimal(1)
            elif str(meter.aggregation) == "sum":
                amount = to_quantity(event[meter.property_name])
            else:
                raise ValueError(f"unknown aggregation {meter.aggregation!r}")
            before = result.get(key, Usage(Decimal(0).quantize(QUANTUM), 0))
            result[key] = Usage(
                _EXACT.add(before.quantity, amount).quantize(QUANTUM, context=_EXACT),
                before.event_count + 1,
            )
    return result

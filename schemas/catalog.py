"""Catalog types shared by metering, aggregation and rating.

The catalog is a human-written YAML file (see docs/data-contract.md). These are
the parsed, validated forms of its event types and meters; plans and charges
live in ``rating.plan`` because their parameters are owned by the charge models.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class Aggregation(StrEnum):
    """How a meter turns its events into one quantity per billing period.

    Every rule, with a worked example, is in docs/aggregations.md.
    """

    COUNT = "count"
    """Number of matching events."""
    SUM = "sum"
    """Sum of the measured property."""
    COUNT_DISTINCT = "count_distinct"
    """Number of distinct non-null values of the property, compared as text."""
    MIN = "min"
    """Smallest value of the measured property."""
    MAX = "max"
    """Largest value of the measured property."""
    LATEST = "latest"
    """Value of the last event in (timestamp, event_id) order."""
    GAUGE = "gauge"
    """Time-weighted average over the period of a level each event sets (seats, GB stored)."""
    DURATION = "duration"
    """Time between start and stop events of each session key, in a time unit (VM hours)."""

    @property
    def needs_property(self) -> bool:
        """Whether a meter of this aggregation reads a ``property`` of its events."""
        return self is not Aggregation.COUNT

    @property
    def needs_numeric_property(self) -> bool:
        """Whether the property is a measured number, not a key.

        A measured property must be a number or integer property; it is
        converted to a quantity and its negative values are checked at ingestion.
        """
        return self in _NUMERIC

    @property
    def needs_window(self) -> bool:
        """Whether the quantity depends on the subscription's window and period too."""
        return self in (Aggregation.GAUGE, Aggregation.DURATION)


_NUMERIC = frozenset(
    (Aggregation.SUM, Aggregation.MIN, Aggregation.MAX, Aggregation.LATEST, Aggregation.GAUGE)
)


class TimeUnit(StrEnum):
    """The unit a ``duration`` meter counts time in."""

    SECOND = "second"
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"

    @property
    def microseconds(self) -> int:
        """Length of one unit; every unit is a whole number of seconds, so of microseconds.

        >>> TimeUnit.HOUR.microseconds
        3600000000
        """
        return _UNIT_SECONDS[self] * 1_000_000


_UNIT_SECONDS = {TimeUnit.SECOND: 1, TimeUnit.MINUTE: 60, TimeUnit.HOUR: 3600, TimeUnit.DAY: 86400}


class DurationRounding(StrEnum):
    """How each session's length, in a ``duration`` meter's unit, is rounded."""

    UP = "up"
    """To the next whole unit: any started unit counts (the default)."""
    DOWN = "down"
    """To the whole units completed."""
    NEAREST = "nearest"
    """To the nearest whole unit, half a unit up."""
    NONE = "none"
    """Not to whole units: to the 6 decimal places of a quantity, half to even."""


@dataclass(frozen=True)
class DurationSpec:
    """What a ``duration`` meter needs besides its session key (the meter's ``property``).

    ``state_property`` is a string property of the event type; an event whose
    state is ``start`` starts its session, ``stop`` stops it, and any other
    state (or none) is ignored.
    """

    state_property: str
    unit: TimeUnit
    start: str = "start"
    stop: str = "stop"
    rounding: DurationRounding = DurationRounding.UP


class PropertyType(StrEnum):
    """The declared type of an event property (catalog ``event_types``)."""

    STRING = "string"
    """Text (integers in the file are read as text); at most ``max_length`` characters."""
    NUMBER = "number"
    """An exact decimal: integers, decimals, finite floats, or text such as ``"1.25"``."""
    INTEGER = "integer"
    """A whole number: integers, or floats, decimals and text with no fractional part."""
    BOOLEAN = "boolean"
    """A boolean, or the text ``true`` / ``false`` (any case)."""

    @property
    def is_numeric(self) -> bool:
        """Whether a meter may measure a property of this type."""
        return self in (PropertyType.NUMBER, PropertyType.INTEGER)


@dataclass(frozen=True)
class EventProperty:
    """One declared property of an event type.

    ``required`` properties quarantine an event of the type when they are null
    (or absent from the file); ``max_length`` (strings only) bounds the text.
    """

    name: str
    type: PropertyType
    required: bool = False
    max_length: int | None = None


@dataclass(frozen=True)
class EventType:
    """A kind of usage event and the properties its events carry.

    >>> gb = EventProperty("gb", PropertyType.NUMBER)
    >>> EventType("storage", (gb,)).get_property("gb") is gb
    True
    """

    name: str
    properties: tuple[EventProperty, ...] = field(default=())

    def get_property(self, name: str) -> EventProperty | None:
        """The declared property called ``name``, or None."""
        return next((p for p in self.properties if p.name == name), None)


class CadenceUnit(StrEnum):
    WEEK = "week"
    MONTH = "month"


_NAMED_CADENCES = {
    "week": (CadenceUnit.WEEK, 1),
    "month": (CadenceUnit.MONTH, 1),
    "quarter": (CadenceUnit.MONTH, 3),
    "semester": (CadenceUnit.MONTH, 6),
    "year": (CadenceUnit.MONTH, 12),
}
_EVERY = re.compile(r"^(\d{1,3}) (week|month)s?$")


@dataclass(frozen=True)
class Cadence:
    """How long a billing period is: ``count`` weeks or months.

    Written in the catalog as ``week``, ``month``, ``quarter``, ``semester``,
    ``year`` or ``N weeks`` / ``N months``.

    >>> Cadence.parse("quarter")
    Cadence(unit=<CadenceUnit.MONTH: 'month'>, count=3)
    >>> Cadence.parse("2 weeks").text
    '2 weeks'
    >>> Cadence.parse("fortnight") is None
    True
    """

    unit: CadenceUnit
    count: int

    @classmethod
    def parse(cls, text: object) -> Cadence | None:
        if not isinstance(text, str):
            return None
        named = _NAMED_CADENCES.get(text.strip())
        if named is not None:
            return cls(*named)
        match = _EVERY.match(text.strip())
        if match is None or int(match.group(1)) < 1:
            return None
        return cls(CadenceUnit(match.group(2)), int(match.group(1)))

    @property
    def text(self) -> str:
        for name, (unit, count) in _NAMED_CADENCES.items():
            if (unit, count) == (self.unit, self.count):
                return name
        return f"{self.count} {self.unit.value}s"


MONTHLY = Cadence(CadenceUnit.MONTH, 1)


class Alignment(StrEnum):
    """Where billing periods start: on calendar boundaries (the 1st of the month, of
    the quarter, Monday...) or on the anniversary of the subscription's start date."""

    CALENDAR = "calendar"
    ANNIVERSARY = "anniversary"


class Proration(StrEnum):
    """How a recurring fee is charged for a period the subscription covers only in part."""

    DAILY = "daily"
    """By days: the fee times the days covered over the days of the period."""
    NONE = "none"
    """The whole fee for any part of a period."""


class Timing(StrEnum):
    """When a recurring fee is billed: at the start of its period or after its end."""

    IN_ADVANCE = "in_advance"
    IN_ARREARS = "in_arrears"


@dataclass(frozen=True)
class Meter:
    """Which events count, which property is measured, and how usage is split.

    ``filters`` keeps only events whose property is in the listed values;
    ``group_by`` yields one quantity (and one rated charge) per distinct
    combination of those properties. A negative measured value quarantines
    its event unless ``allow_negative`` is set. ``duration`` is set exactly on
    ``duration`` meters.
    """

    code: str
    event_type: str
    aggregation: Aggregation
    property_name: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    group_by: tuple[str, ...] = field(default=())
    allow_negative: bool = False
    duration: DurationSpec | None = None

    def __post_init__(self) -> None:
        # The catalog loader reports these to the user; this only stops a Meter built in
        # code from carrying settings its aggregation would silently ignore.
        if (self.aggregation is Aggregation.DURATION) != (self.duration is not None):
            raise ValueError(f"meter {self.code}: duration settings go with a duration meter")

    @property
    def referenced_properties(self) -> tuple[str, ...]:
        """Event properties this meter reads, in a stable order.

        >>> spec = DurationSpec("action", TimeUnit.HOUR)
        >>> Meter("vm", "vm", Aggregation.DURATION, "vm_id", duration=spec).referenced_properties
        ('vm_id', 'action')
        """
        names = [self.property_name] if self.property_name else []
        if self.duration is not None:
            names.append(self.duration.state_property)
        names += [name for name, _ in self.filters]
        names += list(self.group_by)
        return tuple(dict.fromkeys(names))

    @property
    def measured_property(self) -> str | None:
        """The property read as a number (converted to a quantity), or None."""
        return self.property_name if self.aggregation.needs_numeric_property else None

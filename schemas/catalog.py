"""Catalog types shared by metering, aggregation and rating.

The catalog is a human-written YAML file (see docs/data-contract.md). These are
the parsed, validated forms of its event types and meters; plans and charges
live in ``rating.plan`` because their parameters are owned by the charge models.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Aggregation(StrEnum):
    """How a meter turns its events into one quantity per billing period."""

    COUNT = "count"
    """Number of matching events."""
    SUM = "sum"
    """Sum of the measured property."""

    @property
    def needs_property(self) -> bool:
        return self is not Aggregation.COUNT


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


class BillingPeriod(StrEnum):
    """Length of a plan's billing period. Calendar-aligned, in the customer's timezone."""

    MONTH = "month"


@dataclass(frozen=True)
class Meter:
    """Which events count, which property is measured, and how usage is split.

    ``filters`` keeps only events whose property is in the listed values;
    ``group_by`` yields one quantity (and one rated charge) per distinct
    combination of those properties. A negative measured value quarantines
    its event unless ``allow_negative`` is set.
    """

    code: str
    event_type: str
    aggregation: Aggregation
    property_name: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    group_by: tuple[str, ...] = field(default=())
    allow_negative: bool = False

    @property
    def referenced_properties(self) -> tuple[str, ...]:
        """Event properties this meter reads, in a stable order."""
        names = [self.property_name] if self.property_name else []
        names += [name for name, _ in self.filters]
        names += list(self.group_by)
        return tuple(dict.fromkeys(names))

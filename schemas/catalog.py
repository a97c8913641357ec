"""Catalog types shared by metering, aggregation and rating.

The catalog is a human-written YAML file (see docs/data-contract.md). These are
the parsed, validated forms of its meters; plans and charges live in
``rating.plan`` because their parameters are owned by the charge models.
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


class BillingPeriod(StrEnum):
    """Length of a plan's billing period. Calendar-aligned, in the customer's timezone."""

    MONTH = "month"


@dataclass(frozen=True)
class Meter:
    """Which events count, which property is measured, and how usage is split.

    ``filters`` keeps only events whose property is in the listed values;
    ``group_by`` yields one quantity (and one rated charge) per distinct
    combination of those properties.
    """

    code: str
    event_type: str
    aggregation: Aggregation
    property_name: str | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    group_by: tuple[str, ...] = field(default=())

    @property
    def referenced_properties(self) -> tuple[str, ...]:
        """Event properties this meter reads, in a stable order."""
        names = [self.property_name] if self.property_name else []
        names += [name for name, _ in self.filters]
        names += list(self.group_by)
        return tuple(dict.fromkeys(names))

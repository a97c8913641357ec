"""Parsing the catalog's ``meters`` section into :class:`schemas.catalog.Meter`.

:func:`parse_meters` checks each meter on its own; :func:`check_meters` then
checks them against the declared event types: a meter reads only a declared
event type and its declared properties, and measures a number or integer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from schemas.catalog import Aggregation, EventType, Meter, PropertyType
from schemas.events import REQUIRED_COLUMNS

_MAPPING_KEYS = {
    "code",
    "name",
    "event_type",
    "aggregation",
    "property",
    "filters",
    "group_by",
    "allow_negative",
}


def _names(value: Any, path: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str):
        problems.append(f"{path}: expected a list of property names")
        return ()
    names = tuple(str(item) for item in value)
    for name in names:
        if name in REQUIRED_COLUMNS:
            problems.append(f"{path}: {name!r} is a required event column, not a property")
    return names


def _filters(value: Any, path: str, problems: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        problems.append(f"{path}: expected a mapping of property -> list of values")
        return ()
    filters = []
    for name, raw_allowed in sorted(value.items()):
        allowed = raw_allowed
        if isinstance(allowed, str | int) and not isinstance(allowed, bool):
            allowed = [allowed]
        if not isinstance(allowed, Sequence) or isinstance(allowed, str) or not allowed:
            problems.append(f"{path}.{name}: expected a non-empty list of values")
            continue
        filters.append((str(name), tuple(str(item) for item in allowed)))
    return tuple(filters)


def parse_meter(raw: Any, path: str, problems: list[str]) -> Meter | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code, event_type = raw.get("code"), raw.get("event_type")
    if isinstance(code, str) and code:
        path = f"meters.{code}"
    else:
        problems.append(f"{path}.code: missing or not a text value")
    for key in sorted(set(raw) - _MAPPING_KEYS):
        problems.append(f"{path}.{key}: unknown key (expected one of {sorted(_MAPPING_KEYS)})")
    if not isinstance(event_type, str) or not event_type:
        problems.append(f"{path}.event_type: missing or not a text value")
    aggregation_text = raw.get("aggregation")
    try:
        aggregation = Aggregation(aggregation_text)
    except ValueError:
        problems.append(
            f"{path}.aggregation: unknown aggregation {aggregation_text!r} "
            f"(expected one of {[a.value for a in Aggregation]})"
        )
        aggregation = None
    measured = raw.get("property")
    if aggregation is not None and aggregation.needs_property and not measured:
        problems.append(f"{path}.property: a {aggregation} meter needs the property it measures")
    if aggregation is Aggregation.COUNT and measured:
        problems.append(f"{path}.property: a count meter measures no property")
    if measured is not None:
        _names([measured], f"{path}.property", problems)
    filters = _filters(raw.get("filters"), f"{path}.filters", problems)
    group_by = _names(raw.get("group_by"), f"{path}.group_by", problems)
    allow_negative = raw.get("allow_negative", False)
    if not isinstance(allow_negative, bool):
        problems.append(f"{path}.allow_negative: expected true or false, got {allow_negative!r}")
    elif allow_negative and aggregation is Aggregation.COUNT:
        problems.append(
            f"{path}.allow_negative: a count meter measures no value that can be negative"
        )
    if not isinstance(code, str) or not isinstance(event_type, str) or aggregation is None:
        return None
    return Meter(
        code=code,
        event_type=event_type,
        aggregation=aggregation,
        property_name=str(measured) if measured else None,
        filters=filters,
        group_by=group_by,
        allow_negative=allow_negative is True,
    )


def parse_meters(raw: Any, problems: list[str]) -> dict[str, Meter]:
    """Every meter of the catalog, keyed by code; problems name each bad path."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.append("meters: expected a non-empty list")
        return {}
    meters: dict[str, Meter] = {}
    for index, item in enumerate(raw):
        meter = parse_meter(item, f"meters[{index}]", problems)
        if meter is None:
            continue
        if meter.code in meters:
            problems.append(f"meters[{index}].code: duplicate meter code {meter.code!r}")
        meters[meter.code] = meter
    return meters


_BOOLEAN_TEXT = ("true", "false")


def _undeclared(path: str, name: str, event_type: EventType) -> str:
    declared = sorted(p.name for p in event_type.properties)
    return (
        f"{path}: {name!r} is not a property of event type {event_type.name!r} "
        f"(declared: {declared})"
    )


def check_meters(
    meters: Mapping[str, Meter],
    event_types: Mapping[str, EventType],
    problems: list[str],
    invalid: Collection[tuple[str, str]] = (),
) -> dict[str, Meter]:
    """Check every meter against the declared event types; problems name the meter.

    ``invalid`` holds ``(event type, property)`` pairs declared with a problem
    already reported: a meter reading one is not reported again. Returns the
    meters with boolean filter values in the form a boolean column takes as
    text (``true`` / ``false``), so a filter ``[true]`` matches.
    """

    def undeclared(path: str, name: str, event_type: EventType) -> None:
        if (event_type.name, name) not in invalid:
            problems.append(_undeclared(path, name, event_type))

    checked: dict[str, Meter] = {}
    for code, meter in meters.items():
        path = f"meters.{code}"
        checked[code] = meter
        event_type = event_types.get(meter.event_type)
        if event_type is None:
            problems.append(
                f"{path}.event_type: event type {meter.event_type!r} is not declared in "
                f"event_types (declared: {sorted(event_types)})"
            )
            continue
        if meter.property_name is not None:
            measured = event_type.get_property(meter.property_name)
            if measured is None:
                undeclared(f"{path}.property", meter.property_name, event_type)
            elif not measured.type.is_numeric:
                problems.append(
                    f"{path}.property: {measured.name!r} is a {measured.type} property; "
                    f"a {meter.aggregation} meter measures a number or integer property"
                )
        filters = []
        for name, allowed in meter.filters:
            prop = event_type.get_property(name)
            if prop is None:
                undeclared(f"{path}.filters.{name}", name, event_type)
            elif prop.type is PropertyType.BOOLEAN:
                bad = [value for value in allowed if value.lower() not in _BOOLEAN_TEXT]
                if bad:
                    problems.append(
                        f"{path}.filters.{name}: {name!r} is a boolean property; "
                        f"expected true or false, got {bad[0]!r}"
                    )
                filters.append((name, tuple(dict.fromkeys(v.lower() for v in allowed))))
                continue
            filters.append((name, allowed))
        for name in meter.group_by:
            if event_type.get_property(name) is None:
                undeclared(f"{path}.group_by", name, event_type)
        checked[code] = dataclasses.replace(meter, filters=tuple(filters))
    return checked

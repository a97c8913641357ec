"""Parsing the catalog's ``meters`` section into :class:`schemas.catalog.Meter`.

:func:`parse_meters` checks each meter on its own; :func:`check_meters` then
checks them against the declared event types: a meter reads only a declared
event type and its declared properties, a measuring aggregation (``sum``,
``min``, ``max``, ``latest``, ``gauge``) measures a number or integer, and a
``duration`` meter's state is a string property. Rules of each aggregation:
docs/aggregations.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeVar

from schemas.catalog import (
    Aggregation,
    DurationRounding,
    DurationSpec,
    EventType,
    Meter,
    PropertyType,
    TimeUnit,
)
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
    "state",
    "unit",
    "rounding",
}
_DURATION_KEYS = ("state", "unit", "rounding")
_Choice = TypeVar("_Choice", TimeUnit, DurationRounding)
_STATE_KEYS = {"property", "start", "stop"}


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


def _state_value(raw: Any, default: str, path: str, problems: list[str]) -> str | None:
    if raw is None:
        return default
    # YAML reads an unquoted on/off/yes/no as a boolean: the state would never match.
    if isinstance(raw, bool) or not isinstance(raw, str | int) or raw == "":
        problems.append(f"{path}: expected a non-empty text value (quote it), got {raw!r}")
        return None
    return str(raw)


def _choice(
    kind: type[_Choice], raw: Any, what: str, path: str, problems: list[str]
) -> _Choice | None:
    try:
        return kind(raw)
    except ValueError:
        problems.append(
            f"{path}: unknown {what} {raw!r} (expected one of {[item.value for item in kind]})"
        )
        return None


def _duration(raw: Mapping[str, Any], path: str, problems: list[str]) -> DurationSpec | None:
    """The ``state``, ``unit`` and ``rounding`` of a duration meter."""
    state = raw.get("state")
    state_property = start = stop = None
    if state is None:
        problems.append(
            f"{path}.state: a duration meter needs its state: "
            "{property: <string property>, start: <value>, stop: <value>}"
        )
    elif not isinstance(state, Mapping):
        problems.append(f"{path}.state: expected a mapping {{property, start, stop}}")
    else:
        for key in sorted(set(state) - _STATE_KEYS, key=str):
            problems.append(
                f"{path}.state.{key}: unknown key (expected one of {sorted(_STATE_KEYS)})"
            )
        state_property = state.get("property")
        if not isinstance(state_property, str) or not state_property:
            problems.append(f"{path}.state.property: missing or not a text value")
            state_property = None
        else:
            _names([state_property], f"{path}.state.property", problems)
        start = _state_value(state.get("start"), "start", f"{path}.state.start", problems)
        stop = _state_value(state.get("stop"), "stop", f"{path}.state.stop", problems)
        if start is not None and start == stop:
            problems.append(f"{path}.state.stop: must differ from start ({start!r})")
            stop = None
    unit = None
    if raw.get("unit") is None:
        problems.append(
            f"{path}.unit: a duration meter needs its unit "
            f"(one of {[item.value for item in TimeUnit]})"
        )
    else:
        unit = _choice(TimeUnit, raw["unit"], "unit", f"{path}.unit", problems)
    rounding: DurationRounding | None = DurationRounding.UP
    if raw.get("rounding") is not None:
        rounding = _choice(
            DurationRounding, raw["rounding"], "rounding", f"{path}.rounding", problems
        )
    if state_property is None or start is None or stop is None:
        return None
    if unit is None or rounding is None:
        return None
    return DurationSpec(state_property, unit, start, stop, rounding)


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
        needed = {
            Aggregation.COUNT_DISTINCT: "the property whose distinct values it counts",
            Aggregation.DURATION: "its session key property (events with one value pair up)",
        }.get(aggregation, "the property it measures")
        problems.append(f"{path}.property: a {aggregation} meter needs {needed}")
    if aggregation is Aggregation.COUNT and measured:
        problems.append(f"{path}.property: a count meter measures no property")
    if measured is not None:
        _names([measured], f"{path}.property", problems)
    filters = _filters(raw.get("filters"), f"{path}.filters", problems)
    group_by = _names(raw.get("group_by"), f"{path}.group_by", problems)
    allow_negative = raw.get("allow_negative", False)
    if not isinstance(allow_negative, bool):
        problems.append(f"{path}.allow_negative: expected true or false, got {allow_negative!r}")
    elif allow_negative and aggregation is not None and not aggregation.needs_numeric_property:
        problems.append(
            f"{path}.allow_negative: a {aggregation} meter measures no value that can be negative"
        )
    duration = None
    if aggregation is Aggregation.DURATION:
        duration = _duration(raw, path, problems)
    elif aggregation is not None:
        for key in _DURATION_KEYS:
            if key in raw:
                problems.append(
                    f"{path}.{key}: only a duration meter has a {key} "
                    f"(this is a {aggregation} meter)"
                )
    if not isinstance(code, str) or not isinstance(event_type, str) or aggregation is None:
        return None
    if aggregation is Aggregation.DURATION and duration is None:
        return None
    return Meter(
        code=code,
        event_type=event_type,
        aggregation=aggregation,
        property_name=str(measured) if measured else None,
        filters=filters,
        group_by=group_by,
        allow_negative=allow_negative is True,
        duration=duration,
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
            elif meter.aggregation.needs_numeric_property and not measured.type.is_numeric:
                problems.append(
                    f"{path}.property: {measured.name!r} is a {measured.type} property; "
                    f"a {meter.aggregation} meter measures a number or integer property"
                )
        if meter.duration is not None:
            name = meter.duration.state_property
            state = event_type.get_property(name)
            if state is None:
                undeclared(f"{path}.state.property", name, event_type)
            elif state.type is not PropertyType.STRING:
                problems.append(
                    f"{path}.state.property: {name!r} is a {state.type} property; "
                    "the state of a duration meter is a string property"
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

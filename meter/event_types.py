"""Parsing the catalog's ``event_types`` section into :class:`schemas.catalog.EventType`.

Every event type the pipeline accepts is declared here, with the properties its
events carry and their types; rows of an undeclared type are quarantined, and
meters may only read declared properties (checked in :mod:`meter.meters`).

>>> problems: list[str] = []
>>> storage = {"properties": {"gb": {"type": "number", "required": True}}}
>>> parse_event_types({"storage": storage}, problems)["storage"].get_property("gb").required
True
>>> parse_event_types({"storage": {"properties": {"gb": {"type": "float"}}}}, problems)
{'storage': EventType(name='storage', properties=())}
>>> problems  # doctest: +ELLIPSIS
["event_types.storage.properties.gb.type: unknown property type 'float' (expected one of ..."]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from meter.sources import TIMESTAMP_UNPARSED
from schemas.catalog import EventProperty, EventType, PropertyType
from schemas.events import MAX_ID_LENGTH, RESERVED_COLUMNS

_EVENT_TYPE_KEYS = {"description", "properties"}
_PROPERTY_KEYS = {"description", "type", "required", "max_length"}
_TYPE_NAMES = [t.value for t in PropertyType]


def _name(value: Any, what: str, path: str, problems: list[str]) -> str | None:
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}: {what} names must be non-empty text, got {value!r}")
        return None
    if len(value) > MAX_ID_LENGTH:
        problems.append(f"{path}: {what} names are at most {MAX_ID_LENGTH} characters")
        return None
    return value


def _unknown_keys(
    raw: Mapping[str, Any], allowed: set[str], path: str, problems: list[str]
) -> None:
    for key in sorted(set(raw) - allowed, key=str):
        problems.append(f"{path}.{key}: unknown key (expected one of {sorted(allowed)})")


def parse_property(raw: Any, name: str, path: str, problems: list[str]) -> EventProperty | None:
    """One ``{type, required, max_length}`` mapping; problems name each bad path."""
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping such as {{type: number}}")
        return None
    _unknown_keys(raw, _PROPERTY_KEYS, path, problems)
    if name in RESERVED_COLUMNS or name == TIMESTAMP_UNPARSED:
        problems.append(f"{path}: {name!r} is a column meterline reserves, not a property")
    type_text = raw.get("type")
    try:
        kind = PropertyType(type_text)
    except ValueError:
        problems.append(
            f"{path}.type: unknown property type {type_text!r} (expected one of {_TYPE_NAMES})"
        )
        kind = None
    required = raw.get("required", False)
    if not isinstance(required, bool):
        problems.append(f"{path}.required: expected true or false, got {required!r}")
    max_length = raw.get("max_length")
    if max_length is not None:
        if kind is not None and kind is not PropertyType.STRING:
            problems.append(f"{path}.max_length: only string properties have a max_length")
        elif isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            problems.append(f"{path}.max_length: expected a positive integer, got {max_length!r}")
    if kind is None or not isinstance(required, bool):
        return None
    if kind is PropertyType.STRING:
        length = max_length if isinstance(max_length, int) and max_length >= 1 else MAX_ID_LENGTH
        return EventProperty(name, kind, required, length)
    return EventProperty(name, kind, required)


def parse_event_type(
    raw: Any, name: str, path: str, problems: list[str], invalid: set[tuple[str, str]]
) -> EventType:
    """One event type; a bad property is reported, left out and added to ``invalid``."""
    if raw is None:
        return EventType(name)
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping with 'properties'")
        return EventType(name)
    _unknown_keys(raw, _EVENT_TYPE_KEYS, path, problems)
    raw_properties = raw.get("properties")
    if raw_properties is None:
        return EventType(name)
    if not isinstance(raw_properties, Mapping):
        problems.append(f"{path}.properties: expected a mapping of property name -> {{type: ...}}")
        return EventType(name)
    properties = []
    for raw_name, raw_property in raw_properties.items():
        property_path = f"{path}.properties.{raw_name}"
        prop_name = _name(raw_name, "property", property_path, problems)
        if prop_name is None:
            continue
        parsed = parse_property(raw_property, prop_name, property_path, problems)
        if parsed is None:
            invalid.add((name, prop_name))
        else:
            properties.append(parsed)
    return EventType(name, tuple(properties))


def parse_event_types(
    raw: Any, problems: list[str], invalid: set[tuple[str, str]] | None = None
) -> dict[str, EventType]:
    """Every declared event type, keyed by name; problems name each bad path.

    ``invalid`` collects the ``(event type, property)`` pairs that were declared
    but could not be parsed, so checks that read them need not report them again.
    """
    invalid = set() if invalid is None else invalid
    if not isinstance(raw, Mapping) or not raw:
        problems.append(
            "event_types: expected a non-empty mapping of event type -> {properties: ...}"
        )
        return {}
    event_types: dict[str, EventType] = {}
    first: dict[str, tuple[str, PropertyType]] = {}
    for raw_name, raw_type in raw.items():
        path = f"event_types.{raw_name}"
        name = _name(raw_name, "event type", path, problems)
        if name is None:
            continue
        event_types[name] = parse_event_type(raw_type, name, path, problems, invalid)
        for prop in event_types[name].properties:
            owner, kind = first.setdefault(prop.name, (name, prop.type))
            if kind is not prop.type:
                problems.append(
                    f"{path}.properties.{prop.name}.type: {prop.name!r} is a {kind} property "
                    f"of event type {owner!r}; a property has one type in every event type"
                )
    return event_types

"""Parsing the catalog's ``meters`` section into :class:`schemas.catalog.Meter`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from schemas.catalog import Aggregation, Meter
from schemas.events import REQUIRED_COLUMNS

_MAPPING_KEYS = {"code", "name", "event_type", "aggregation", "property", "filters", "group_by"}


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
    if not isinstance(code, str) or not isinstance(event_type, str) or aggregation is None:
        return None
    return Meter(
        code=code,
        event_type=event_type,
        aggregation=aggregation,
        property_name=str(measured) if measured else None,
        filters=filters,
        group_by=group_by,
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

"""Catalog loading: exact numbers, every problem reported with its path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from jobs.catalog import load_catalog, parse_catalog, parse_catalog_text
from meter.validate import classify, measured_as_quantities
from rating.models.graduated import GraduatedSpec, Tier
from schemas.catalog import (
    Aggregation,
    DurationRounding,
    DurationSpec,
    EventProperty,
    EventType,
    Meter,
    PropertyType,
    TimeUnit,
)
from schemas.errors import CatalogError, InputError


def test_sample_catalog_loads(sample_dir: Path):
    catalog = load_catalog(sample_dir / "catalog.yaml")
    assert set(catalog.plans) == {"starter", "pro", "scale_usd", "tokyo_jpy"}
    assert catalog.meters["storage_gb"].aggregation is Aggregation.SUM
    assert len(catalog.sha256) == 64
    assert set(catalog.event_types) == {"api_call", "storage", "compute", "payment"}
    assert catalog.event_types["api_call"] == EventType(
        "api_call", (EventProperty("region", PropertyType.STRING, max_length=64),)
    )


def test_shipped_sample_catalog_is_the_generators_catalog(sample_dir: Path):
    generator = Path(__file__).resolve().parents[2] / "jobs" / "sample_catalog.yaml"
    assert (sample_dir / "catalog.yaml").read_bytes() == generator.read_bytes()


def test_yaml_numbers_are_exact_decimals(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "event_types: {e: }\n"
        "meters: [{code: m, event_type: e, aggregation: count}]\n"
        "plans:\n"
        "  - code: p\n"
        "    currency: EUR\n"
        "    charges:\n"
        "      - {code: c, meter: m, model: graduated,\n"
        "         tiers: [{up_to: 0.1, unit_price: 0.1}, {unit_price: 0.000000001}]}\n"
    )
    charge = load_catalog(path).plans["p"].charges[0]
    assert charge.spec == GraduatedSpec(
        (Tier(Decimal("0.1"), Decimal("0.1")), Tier(None, Decimal("0.000000001")))
    )


def test_every_problem_is_reported_with_its_path():
    data = {
        "event_types": {"x": None, "y": {}},
        "meters": [
            {"code": "a", "event_type": "x", "aggregation": "sum"},
            {"code": "a", "event_type": "x", "aggregation": "count"},
            {"code": "b", "event_type": "y", "aggregation": "count", "colour": "red"},
        ],
        "plans": [
            {
                "code": "p",
                "currency": "EUR",
                "charges": [
                    {"code": "c1", "model": "per_unit", "meter": "zzz", "unit_price": "1"},
                    {"code": "c2", "model": "per_unit", "meter": "b", "unit_price": "0.1234567891"},
                    {"code": "c3", "model": "stairway", "meter": "b"},
                    {"code": "c3", "model": "flat_fee", "amount": -5},
                ],
            }
        ],
    }
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, "catalog.yaml")
    assert caught.value.problems == [
        "meters.a.property: a sum meter needs the property it measures",
        "meters[1].code: duplicate meter code 'a'",
        "meters.b.colour: unknown key (expected one of ['aggregation', 'allow_negative', 'code', "
        "'event_type', 'filters', 'group_by', 'name', 'property', 'rounding', 'state', 'unit'])",
        "plans.p.charges[0].meter: unknown meter 'zzz'",
        "plans.p.charges[1].unit_price: at most 9 decimal places allowed, got 0.1234567891",
        "plans.p.charges[2].model: unknown charge model 'stairway' "
        "(expected one of ['flat_fee', 'formula', 'graduated', 'graduated_percentage', "
        "'one_shot', 'package', 'per_unit', 'percentage', 'stairstep', 'volume'])",
        "plans.p.charges[3].amount: must not be negative, got -5",
    ]


def test_missing_catalog_file(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read catalog"):
        load_catalog(tmp_path / "missing.yaml")


# --------------------------------------------------------------------------- event types

EVENT_TYPES: dict = {
    "api_call": {"properties": {"region": {"type": "string", "max_length": 64}}},
    "storage": {"properties": {"gb": {"type": "number"}, "tier": {"type": "string"}}},
    "payment": {
        "properties": {
            "amount": {"type": "number"},
            "currency": {"type": "string", "max_length": 3, "required": True},
            "refund": {"type": "boolean"},
        }
    },
}
METERS: list = [
    {"code": "api_calls", "event_type": "api_call", "aggregation": "count", "group_by": ["region"]},
    {"code": "storage_gb", "event_type": "storage", "aggregation": "sum", "property": "gb"},
    {"code": "payments", "event_type": "payment", "aggregation": "sum", "property": "amount"},
]
PLANS: list = [
    {"code": "p", "currency": "EUR", "charges": [{"code": "f", "model": "flat_fee", "amount": 1}]}
]


def catalog_problems(event_types: dict, meters: list) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse_catalog(
            {"event_types": event_types, "meters": meters, "plans": PLANS}, "catalog.yaml"
        )
    return caught.value.problems


def with_meter(index: int, **changes) -> list:
    return [meter | changes if i == index else meter for i, meter in enumerate(METERS)]


def with_property(event_type: str, name: str, spec) -> dict:
    changed = {k: {"properties": dict(v["properties"])} for k, v in EVENT_TYPES.items()}
    changed[event_type]["properties"][name] = spec
    return changed


def test_event_types_are_parsed():
    catalog = parse_catalog(
        {"event_types": EVENT_TYPES, "meters": METERS, "plans": PLANS}, "catalog.yaml"
    )
    assert catalog.event_types["payment"] == EventType(
        "payment",
        (
            EventProperty("amount", PropertyType.NUMBER),
            EventProperty("currency", PropertyType.STRING, required=True, max_length=3),
            EventProperty("refund", PropertyType.BOOLEAN),
        ),
    )
    # A string property without max_length gets the id limit, 256 characters.
    assert catalog.event_types["storage"].get_property("tier").max_length == 256
    assert catalog.meters["payments"].allow_negative is False


@pytest.mark.parametrize(
    ("meters", "problem"),
    [
        (
            with_meter(0, event_type="teleport"),
            "meters.api_calls.event_type: event type 'teleport' is not declared in event_types "
            "(declared: ['api_call', 'payment', 'storage'])",
        ),
        (
            with_meter(1, property="tb"),
            "meters.storage_gb.property: 'tb' is not a property of event type 'storage' "
            "(declared: ['gb', 'tier'])",
        ),
        (
            with_meter(1, property="tier"),
            "meters.storage_gb.property: 'tier' is a string property; "
            "a sum meter measures a number or integer property",
        ),
        (
            with_meter(1, filters={"zone": ["eu"]}),
            "meters.storage_gb.filters.zone: 'zone' is not a property of event type 'storage' "
            "(declared: ['gb', 'tier'])",
        ),
        (
            # region is a property of api_call, not of the meter's event type.
            with_meter(1, group_by=["region"]),
            "meters.storage_gb.group_by: 'region' is not a property of event type 'storage' "
            "(declared: ['gb', 'tier'])",
        ),
        (
            [*METERS, {"code": "storage_gb", "event_type": "storage", "aggregation": "count"}],
            "meters[3].code: duplicate meter code 'storage_gb'",
        ),
        (
            with_meter(2, allow_negative="yes"),
            "meters.payments.allow_negative: expected true or false, got 'yes'",
        ),
        (
            with_meter(0, allow_negative=True),
            "meters.api_calls.allow_negative: a count meter measures no value that can be negative",
        ),
        (
            with_meter(2, filters={"refund": ["no"]}),
            "meters.payments.filters.refund: 'refund' is a boolean property; "
            "expected true or false, got 'no'",
        ),
    ],
)
def test_meter_errors_name_the_meter(meters: list, problem: str):
    assert catalog_problems(EVENT_TYPES, meters) == [problem]


def test_boolean_filters_match_booleans_as_text():
    meters = with_meter(2, filters={"refund": [True]})
    catalog = parse_catalog(
        {"event_types": EVENT_TYPES, "meters": meters, "plans": PLANS}, "catalog.yaml"
    )
    assert catalog.meters["payments"].filters == (("refund", ("true",)),)


@pytest.mark.parametrize(
    ("event_types", "problem"),
    [
        (
            with_property("storage", "gb", {"type": "float"}),
            "event_types.storage.properties.gb.type: unknown property type 'float' "
            "(expected one of ['string', 'number', 'integer', 'boolean'])",
        ),
        (
            with_property("storage", "tier", {"type": "string", "max_length": 0}),
            "event_types.storage.properties.tier.max_length: expected a positive integer, got 0",
        ),
        (
            with_property("storage", "tier", {"type": "string", "max_length": "ten"}),
            "event_types.storage.properties.tier.max_length: expected a positive integer, "
            "got 'ten'",
        ),
        (
            with_property("storage", "tier", {"type": "string", "max_length": True}),
            "event_types.storage.properties.tier.max_length: expected a positive integer, got True",
        ),
        (
            with_property("storage", "gb", {"type": "number", "max_length": 8}),
            "event_types.storage.properties.gb.max_length: only string properties have a "
            "max_length",
        ),
        (
            with_property("storage", "gb", {"type": "number", "required": "yes"}),
            "event_types.storage.properties.gb.required: expected true or false, got 'yes'",
        ),
        (
            with_property("storage", "gb", {"type": "number", "unit": "GB"}),
            "event_types.storage.properties.gb.unit: unknown key "
            "(expected one of ['description', 'max_length', 'required', 'type'])",
        ),
        (
            with_property("storage", "gb", "number"),
            "event_types.storage.properties.gb: expected a mapping such as {type: number}",
        ),
        (
            with_property("storage", "event_id", {"type": "string"}),
            "event_types.storage.properties.event_id: 'event_id' is a column meterline "
            "reserves, not a property",
        ),
        (
            # One column, one type: region is already a string of api_call.
            with_property("storage", "region", {"type": "number"}),
            "event_types.storage.properties.region.type: 'region' is a string property of "
            "event type 'api_call'; a property has one type in every event type",
        ),
        (
            EVENT_TYPES | {"login": {"fields": {}}},
            "event_types.login.fields: unknown key (expected one of ['description', 'properties'])",
        ),
        (
            EVENT_TYPES | {"login": {"properties": ["user"]}},
            "event_types.login.properties: expected a mapping of property name -> {type: ...}",
        ),
        (
            {},
            "event_types: expected a non-empty mapping of event type -> {properties: ...}",
        ),
    ],
)
def test_event_type_errors_name_the_path(event_types: dict, problem: str):
    assert catalog_problems(event_types, METERS) == [problem]


def test_every_event_type_and_meter_problem_at_once():
    event_types = with_property("storage", "gb", {"type": "float", "max_length": -1})
    bad = {"code": "bad", "event_type": "payment", "aggregation": "sum", "property": "currency"}
    meters = [*with_meter(0, event_type="click"), bad]
    assert catalog_problems(event_types, meters) == [
        "event_types.storage.properties.gb.type: unknown property type 'float' "
        "(expected one of ['string', 'number', 'integer', 'boolean'])",
        "event_types.storage.properties.gb.max_length: expected a positive integer, got -1",
        "meters.api_calls.event_type: event type 'click' is not declared in event_types "
        "(declared: ['api_call', 'payment', 'storage'])",
        # storage_gb reads the invalid gb: that is not reported a second time.
        "meters.bad.property: 'currency' is a string property; "
        "a sum meter measures a number or integer property",
    ]


def test_unknown_section_names_the_expected_ones():
    data = {"event_types": EVENT_TYPES, "meters": METERS, "plans": PLANS, "metres": []}
    with pytest.raises(CatalogError) as caught:
        parse_catalog(data, "catalog.yaml")
    assert caught.value.problems == [
        "metres: unknown section (expected 'event_types', 'meters', 'plans', 'tax', 'coupons')"
    ]


# --------------------------------------------------------------- every aggregation

USAGE_EVENT_TYPES: dict = EVENT_TYPES | {
    "vm": {
        "properties": {
            "instance_id": {"type": "string"},
            "action": {"type": "string", "max_length": 16},
            "cores": {"type": "integer"},
            "user": {"type": "string"},
        }
    }
}
VM_HOURS: dict = {
    "code": "vm_hours",
    "event_type": "vm",
    "aggregation": "duration",
    "property": "instance_id",
    "state": {"property": "action", "start": "started", "stop": "stopped"},
    "unit": "hour",
}
USAGE_METERS: list = [
    VM_HOURS,
    {"code": "users", "event_type": "vm", "aggregation": "count_distinct", "property": "user"},
    {"code": "peak", "event_type": "vm", "aggregation": "max", "property": "cores"},
    {"code": "stored", "event_type": "storage", "aggregation": "gauge", "property": "gb"},
]


def usage_problems(*meters: dict) -> list[str]:
    return catalog_problems(USAGE_EVENT_TYPES, list(meters))


def test_every_aggregation_parses():
    vm_yaml = (
        "  - code: vm_hours\n"
        "    event_type: vm\n"
        "    aggregation: duration\n"
        "    property: instance_id\n"
        "    state: {property: action}\n"  # start and stop default to "start" and "stop"
        "    unit: minute\n"
        "    rounding: none\n"
    )
    other = "".join(
        f"  - {{code: {kind}, event_type: vm, aggregation: {kind}, property: cores}}\n"
        for kind in ("min", "max", "latest", "gauge", "sum")
    )
    text = (
        "event_types:\n"
        "  vm: {properties: {instance_id: {type: string}, action: {type: string},\n"
        "                    cores: {type: integer}, user: {type: string}}}\n"
        "meters:\n"
        + vm_yaml
        + other
        + "  - {code: users, event_type: vm, aggregation: count_distinct, property: user}\n"
        + "  - {code: gauge_neg, event_type: vm, aggregation: gauge, property: cores,\n"
        + "     allow_negative: true}\n"
        + "plans: [{code: p, currency: EUR, charges: [{code: f, model: flat_fee, amount: 1}]}]\n"
    )
    meters = parse_catalog_text(text, "catalog.yaml").meters
    assert meters["vm_hours"] == Meter(
        "vm_hours",
        "vm",
        Aggregation.DURATION,
        "instance_id",
        duration=DurationSpec("action", TimeUnit.MINUTE, "start", "stop", DurationRounding.NONE),
    )
    assert meters["vm_hours"].referenced_properties == ("instance_id", "action")
    assert meters["users"] == Meter("users", "vm", Aggregation.COUNT_DISTINCT, "user")
    for kind in ("min", "max", "latest", "gauge", "sum"):
        assert meters[kind] == Meter(kind, "vm", Aggregation(kind), "cores")
    assert meters["gauge_neg"].allow_negative is True


def test_duration_defaults_to_rounding_up():
    catalog = parse_catalog(
        {"event_types": USAGE_EVENT_TYPES, "meters": USAGE_METERS, "plans": PLANS}, "c.yaml"
    )
    spec = catalog.meters["vm_hours"].duration
    assert spec == DurationSpec("action", TimeUnit.HOUR, "started", "stopped", DurationRounding.UP)
    assert catalog.meters["users"].measured_property is None  # a key, not a number
    assert catalog.meters["peak"].measured_property == "cores"


@pytest.mark.parametrize(
    ("meter", "problem"),
    [
        (
            {k: v for k, v in VM_HOURS.items() if k != "state"},
            "meters.vm_hours.state: a duration meter needs its state: "
            "{property: <string property>, start: <value>, stop: <value>}",
        ),
        (
            {k: v for k, v in VM_HOURS.items() if k != "unit"},
            "meters.vm_hours.unit: a duration meter needs its unit "
            "(one of ['second', 'minute', 'hour', 'day'])",
        ),
        (
            {k: v for k, v in VM_HOURS.items() if k != "property"},
            "meters.vm_hours.property: a duration meter needs its session key property "
            "(events with one value pair up)",
        ),
        (
            VM_HOURS | {"unit": "week"},
            "meters.vm_hours.unit: unknown unit 'week' "
            "(expected one of ['second', 'minute', 'hour', 'day'])",
        ),
        (
            VM_HOURS | {"rounding": "half_even"},
            "meters.vm_hours.rounding: unknown rounding 'half_even' "
            "(expected one of ['up', 'down', 'nearest', 'none'])",
        ),
        (
            VM_HOURS | {"state": "action"},
            "meters.vm_hours.state: expected a mapping {property, start, stop}",
        ),
        (
            VM_HOURS | {"state": {"start": "on", "stop": "off"}},
            "meters.vm_hours.state.property: missing or not a text value",
        ),
        (
            VM_HOURS | {"state": {"property": "action", "begin": "on"}},
            "meters.vm_hours.state.begin: unknown key (expected one of ['property', 'start', "
            "'stop'])",
        ),
        (
            # YAML reads an unquoted `on` as true: it would never equal a string state.
            VM_HOURS | {"state": {"property": "action", "start": True, "stop": "off"}},
            "meters.vm_hours.state.start: expected a non-empty text value (quote it), got True",
        ),
        (
            VM_HOURS | {"state": {"property": "action", "start": "flip", "stop": "flip"}},
            "meters.vm_hours.state.stop: must differ from start ('flip')",
        ),
        (
            VM_HOURS | {"state": {"property": "status"}},
            "meters.vm_hours.state.property: 'status' is not a property of event type 'vm' "
            "(declared: ['action', 'cores', 'instance_id', 'user'])",
        ),
        (
            VM_HOURS | {"state": {"property": "cores"}},
            "meters.vm_hours.state.property: 'cores' is a integer property; "
            "the state of a duration meter is a string property",
        ),
        (
            {"code": "s", "event_type": "vm", "aggregation": "sum", "property": "cores"}
            | {"state": {"property": "action"}},
            "meters.s.state: only a duration meter has a state (this is a sum meter)",
        ),
        (
            {"code": "g", "event_type": "vm", "aggregation": "gauge", "property": "cores"}
            | {"unit": "hour"},
            "meters.g.unit: only a duration meter has a unit (this is a gauge meter)",
        ),
        (
            {"code": "c", "event_type": "vm", "aggregation": "count", "rounding": "up"},
            "meters.c.rounding: only a duration meter has a rounding (this is a count meter)",
        ),
        (
            {"code": "u", "event_type": "vm", "aggregation": "count_distinct"},
            "meters.u.property: a count_distinct meter needs the property whose distinct "
            "values it counts",
        ),
        (
            {"code": "u", "event_type": "vm", "aggregation": "count_distinct", "property": "user"}
            | {"allow_negative": True},
            "meters.u.allow_negative: a count_distinct meter measures no value that can be "
            "negative",
        ),
        (
            VM_HOURS | {"allow_negative": True},
            "meters.vm_hours.allow_negative: a duration meter measures no value that can be "
            "negative",
        ),
        (
            {"code": "a", "event_type": "vm", "aggregation": "average", "property": "cores"},
            "meters.a.aggregation: unknown aggregation 'average' (expected one of ['count', "
            "'sum', 'count_distinct', 'min', 'max', 'latest', 'gauge', 'duration'])",
        ),
    ]
    + [
        (
            {"code": "x", "event_type": "vm", "aggregation": kind, "property": "user"},
            f"meters.x.property: 'user' is a string property; "
            f"a {kind} meter measures a number or integer property",
        )
        for kind in ("min", "max", "latest", "gauge")
    ],
)
def test_aggregation_errors_name_the_path(meter: dict, problem: str):
    assert usage_problems(meter) == [problem]


def test_key_properties_of_any_type_are_accepted():
    # count_distinct and duration read keys: a number, an integer or a boolean will do.
    event_types = USAGE_EVENT_TYPES | {
        "login": {"properties": {"seat": {"type": "integer"}, "ok": {"type": "boolean"}}}
    }
    distinct = {"event_type": "login", "aggregation": "count_distinct"}
    meters = [
        distinct | {"code": "seats", "property": "seat"},
        distinct | {"code": "oks", "property": "ok"},
        VM_HOURS | {"property": "cores"},
    ]
    catalog = parse_catalog({"event_types": event_types, "meters": meters, "plans": PLANS}, "c")
    assert set(catalog.meters) == {"seats", "oks", "vm_hours"}


def test_only_measured_numbers_are_validated_as_quantities():
    """A count_distinct key may be negative and keeps its text; a max value may not."""
    kinds = {"code": "kinds", "event_type": "vm", "aggregation": "count_distinct"}
    catalog = parse_catalog(
        {
            "event_types": USAGE_EVENT_TYPES,
            "meters": [*USAGE_METERS, kinds | {"property": "cores"}],
            "plans": PLANS,
        },
        "c",
    )
    at = datetime(2026, 10, 1, tzinfo=UTC)
    events = pl.LazyFrame(
        {
            "event_id": ["e1", "e2"],
            "customer_id": ["c1", "c1"],
            "event_type": ["vm", "vm"],
            "timestamp": [at, at],
            "_timestamp_unparsed": [False, False],
            "instance_id": ["i-1", "i-1"],
            "action": ["started", "stopped"],
            "cores": [4, -2],
            "user": ["007", "ana"],
        }
    )

    def reasons(meters: list[Meter]) -> list:
        classified = classify(
            events, ["c1"], meters, catalog.event_types, latest_allowed=at + timedelta(days=1)
        )
        return classified.collect()["reason"].to_list()

    meters = list(catalog.meters.values())
    assert reasons([m for m in meters if m.code != "peak"]) == [None, None]  # -2: a key
    assert reasons(meters) == [None, "negative_value"]  # -2: a value the max meter measures
    converted = measured_as_quantities(events, meters).collect()
    assert converted["user"].to_list() == ["007", "ana"]  # a key keeps its text
    assert converted["cores"].dtype == pl.Decimal(38, 6)  # measured by peak

"""Catalog loading: exact numbers, every problem reported with its path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from jobs.catalog import load_catalog, parse_catalog
from rating.models.graduated import GraduatedSpec, Tier
from schemas.catalog import Aggregation
from schemas.errors import CatalogError, InputError


def test_sample_catalog_loads(sample_dir: Path):
    catalog = load_catalog(sample_dir / "catalog.yaml")
    assert set(catalog.plans) == {"starter", "pro", "scale_usd", "tokyo_jpy"}
    assert catalog.meters["storage_gb"].aggregation is Aggregation.SUM
    assert len(catalog.sha256) == 64


def test_yaml_numbers_are_exact_decimals(tmp_path: Path):
    path = tmp_path / "c.yaml"
    path.write_text(
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
        "meters.b.colour: unknown key (expected one of ['aggregation', 'code', 'event_type', "
        "'filters', 'group_by', 'name', 'property'])",
        "plans.p.charges[0].meter: unknown meter 'zzz'",
        "plans.p.charges[1].unit_price: at most 9 decimal places allowed, got 0.1234567891",
        "plans.p.charges[2].model: unknown charge model 'stairway' "
        "(expected one of ['flat_fee', 'graduated', 'per_unit'])",
        "plans.p.charges[3].amount: must not be negative, got -5",
    ]


def test_missing_catalog_file(tmp_path: Path):
    with pytest.raises(InputError, match="cannot read catalog"):
        load_catalog(tmp_path / "missing.yaml")

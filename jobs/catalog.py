"""Loading the catalog: a human-written YAML file of event types, meters and plans.

Numbers are read as exact decimals from their written text (``0.1`` is
``Decimal('0.1')``, never a binary float), and every problem in the file is
reported at once with its path.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from meter.event_types import parse_event_types
from meter.meters import check_meters, parse_meters
from rating.coupons import Coupon, parse_coupons
from rating.plan import Plan, check_charge_meters, parse_plans
from rating.price_lists import parse_price_lists
from rating.tax import TaxConfig, parse_tax
from schemas.catalog import EventType, Meter
from schemas.errors import CatalogError, InputError


class _DecimalLoader(yaml.SafeLoader):
    """Safe YAML whose floats are Decimals built from the text as written."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


SECTIONS = ("event_types", "meters", "plans", "tax", "coupons")


@dataclass(frozen=True)
class Catalog:
    meters: dict[str, Meter]
    plans: dict[str, Plan]
    sha256: str
    """Fingerprint of the file's bytes: part of a billing run's identity."""
    event_types: dict[str, EventType]
    """Every event type the pipeline accepts, with its declared properties."""
    tax: TaxConfig | None = None
    """VAT rules (``rating.tax``); None: nothing is taxed."""
    coupons: dict[str, Coupon] = field(default_factory=dict)
    """Coupons customers may redeem (``rating.coupons``)."""
    price_lists: dict[str, Plan] = field(default_factory=dict)
    """The plans' prices in their other currencies, by priced code (``rating.price_lists``)."""

    @property
    def rated_plans(self) -> dict[str, Plan]:
        """What rating looks plans up in: the plans, and their price lists by priced code."""
        return {**self.plans, **self.price_lists}


def parse_catalog(data: Any, source: str, sha256: str = "") -> Catalog:
    """Validate parsed YAML into a :class:`Catalog`, or raise one error listing every problem."""
    problems: list[str] = []
    expected = ", ".join(repr(section) for section in SECTIONS)
    if not isinstance(data, dict):
        raise CatalogError(source, [f"top level: expected a mapping with {expected}"])
    for key in sorted(set(data) - set(SECTIONS), key=str):
        problems.append(f"{key}: unknown section (expected {expected})")
    invalid: set[tuple[str, str]] = set()
    event_types = parse_event_types(data.get("event_types"), problems, invalid)
    meters = parse_meters(data.get("meters"), problems)
    if event_types:
        meters = check_meters(meters, event_types, problems, invalid)
    plans = parse_plans(data.get("plans"), set(meters), problems)
    price_lists = parse_price_lists(data.get("plans"), plans, set(meters), problems)
    check_charge_meters({**plans, **price_lists}, meters, problems)
    tax = parse_tax(data.get("tax"), problems)
    coupons = parse_coupons(data.get("coupons"), plans, problems)
    if problems:
        raise CatalogError(source, problems)
    return Catalog(meters, plans, sha256, event_types, tax, coupons, price_lists)


def load_catalog(path: str | Path) -> Catalog:
    """Read and validate a catalog file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read catalog ({error.strerror})") from None
    return parse_catalog_text(raw, str(path))


def parse_catalog_text(raw: bytes | str, source: str) -> Catalog:
    """Validate catalog YAML text; ``source`` names it in errors."""
    data = raw.encode() if isinstance(raw, str) else raw
    try:
        parsed = yaml.load(data, Loader=_DecimalLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise CatalogError(source, [f"{where}not valid YAML ({problem})"]) from None
    return parse_catalog(parsed, source, hashlib.sha256(data).hexdigest())

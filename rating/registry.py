"""The one list of charge models. Catalog loading, validation, docs and tests read it.

>>> sorted(CHARGE_MODELS)  # doctest: +NORMALIZE_WHITESPACE
['flat_fee', 'graduated', 'graduated_percentage', 'one_shot', 'package', 'per_unit',
 'percentage', 'stairstep', 'volume']
>>> CHARGE_MODELS["per_unit"].usage_based
True
>>> [name for name, model in CHARGE_MODELS.items() if model.prices_each_event]
['percentage']
>>> [name for name, model in CHARGE_MODELS.items() if model.once]
['one_shot']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from rating.models import (
    flat_fee,
    graduated,
    graduated_percentage,
    one_shot,
    package,
    per_unit,
    percentage,
    stairstep,
    volume,
)


@dataclass(frozen=True)
class ChargeModel:
    name: str
    summary: str
    usage_based: bool
    """True when the model prices a meter's quantity; False for fees per item."""
    parse: Callable[[Mapping[str, Any], str, list[str]], Any]
    price: Callable[[pl.Expr, Any], pl.Expr]
    breakdown: Callable[[pl.Expr, Any], pl.Expr] | None = None
    prices_each_event: bool = False
    """True when ``price`` receives one event's measured value and returns that event's fee;
    the period amount is the sum of the events' fees (e.g. a payment fee per transaction)."""
    once: bool = False
    """True for a one-time charge: billed only in the period holding the subscription's start."""


CHARGE_MODELS: dict[str, ChargeModel] = {
    model.name: model
    for model in (
        ChargeModel(
            "flat_fee",
            "a fixed amount per billing period, times the item quantity",
            usage_based=False,
            parse=flat_fee.parse,
            price=flat_fee.price,
        ),
        ChargeModel(
            "per_unit",
            "every unit of usage at one unit price",
            usage_based=True,
            parse=per_unit.parse,
            price=per_unit.price,
        ),
        ChargeModel(
            "graduated",
            "each unit priced by the tier it falls in, with optional flat fee per tier",
            usage_based=True,
            parse=graduated.parse,
            price=graduated.price,
            breakdown=graduated.breakdown,
        ),
        ChargeModel(
            "package",
            "usage sold in blocks of N units; a started block is paid in full",
            usage_based=True,
            parse=package.parse,
            price=package.price,
        ),
        ChargeModel(
            "volume",
            "every unit priced at the tier the total usage falls in, plus its flat fee",
            usage_based=True,
            parse=volume.parse,
            price=volume.price,
            breakdown=volume.breakdown,
        ),
        ChargeModel(
            "stairstep",
            "a fixed price for the band the usage falls in",
            usage_based=True,
            parse=stairstep.parse,
            price=stairstep.price,
            breakdown=stairstep.breakdown,
        ),
        ChargeModel(
            "percentage",
            "a percent of each transaction plus a fixed fee, clamped per transaction",
            usage_based=True,
            parse=percentage.parse,
            price=percentage.price,
            prices_each_event=True,
        ),
        ChargeModel(
            "graduated_percentage",
            "a percent of the period's volume by volume tier, with optional flat fee per tier",
            usage_based=True,
            parse=graduated_percentage.parse,
            price=graduated_percentage.price,
            breakdown=graduated_percentage.breakdown,
        ),
        ChargeModel(
            "one_shot",
            "a one-time amount (set-up fee) times the item quantity, in the starting period",
            usage_based=False,
            parse=one_shot.parse,
            price=one_shot.price,
            once=True,
        ),
    )
}

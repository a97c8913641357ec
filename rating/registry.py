"""The one list of charge models. Catalog loading, validation, docs and tests read it.

>>> sorted(CHARGE_MODELS)
['flat_fee', 'graduated', 'per_unit']
>>> CHARGE_MODELS["per_unit"].usage_based
True
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from rating.models import flat_fee, graduated, per_unit


@dataclass(frozen=True)
class ChargeModel:
    name: str
    summary: str
    usage_based: bool
    """True when the model prices a meter's quantity; False for fees per item."""
    parse: Callable[[Mapping[str, Any], str, list[str]], Any]
    price: Callable[[pl.Expr, Any], pl.Expr]
    breakdown: Callable[[pl.Expr, Any], pl.Expr] | None = None


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
    )
}

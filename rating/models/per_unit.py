"""Per unit ("standard"): every unit at the same price.

Worked example: 12,500 API calls at 0.002 each: ``12500 x 0.002 = 25.00``.

>>> import polars as pl
>>> from decimal import Decimal
>>> spec = PerUnitSpec(unit_price=Decimal("0.002"))
>>> pl.select(price(pl.lit(Decimal(12500), dtype=pl.Decimal(38, 6)), spec)).item()
Decimal('25.000000000000000')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import money_mul


@dataclass(frozen=True)
class PerUnitSpec:
    unit_price: Decimal


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> PerUnitSpec | None:
    params.reject_unknown(raw, {"unit_price"}, path, problems)
    unit_price = params.price(raw, "unit_price", path, problems)
    return None if unit_price is None else PerUnitSpec(unit_price)


def price(quantity: pl.Expr, spec: PerUnitSpec) -> pl.Expr:
    return money_mul(quantity, spec.unit_price)

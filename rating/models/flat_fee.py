"""Flat recurring fee: a fixed amount per billing period, times the item quantity.

Worked example: a platform fee of 49.00 per month for one subscription:
``1 x 49.00 = 49.00``.

>>> import polars as pl
>>> from decimal import Decimal
>>> spec = FlatFeeSpec(amount=Decimal("49.00"))
>>> pl.select(price(pl.lit(Decimal(1), dtype=pl.Decimal(38, 6)), spec)).item()
Decimal('49.000000000000000')
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
class FlatFeeSpec:
    amount: Decimal


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> FlatFeeSpec | None:
    params.reject_unknown(raw, {"amount"}, path, problems)
    amount = params.price(raw, "amount", path, problems)
    return None if amount is None else FlatFeeSpec(amount)


def price(quantity: pl.Expr, spec: FlatFeeSpec) -> pl.Expr:
    return money_mul(quantity, spec.amount)

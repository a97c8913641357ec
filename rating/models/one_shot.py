"""One-shot: a one-time amount (a set-up fee), times the item quantity.

Not usage based. The charge is billed once, in the billing period that holds the
subscription's start (``ChargeModel.once``); in every other period it is absent.

Worked example: a set-up fee of 250.00 for a subscription of 3 seats: ``3 x 250.00 = 750.00``.

>>> import polars as pl
>>> from decimal import Decimal
>>> spec = OneShotSpec(amount=Decimal("250.00"))
>>> pl.select(price(pl.lit(Decimal(3), dtype=pl.Decimal(38, 6)), spec)).item()
Decimal('750.000000000000000')
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
class OneShotSpec:
    amount: Decimal
    """Charged once per unit of item quantity."""


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> OneShotSpec | None:
    before = len(problems)
    params.reject_unknown(raw, {"amount"}, path, problems)
    amount = params.price(raw, "amount", path, problems)
    return None if amount is None or len(problems) > before else OneShotSpec(amount)


def price(quantity: pl.Expr, spec: OneShotSpec) -> pl.Expr:
    return money_mul(quantity, spec.amount)

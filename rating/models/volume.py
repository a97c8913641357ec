"""Volume tiers: the tier the period's total usage falls in prices every unit.

Tiers are written like graduated ones (``up_to`` inclusive, the last unbounded,
``unit_price``, optional ``flat_fee``), but only one tier applies: the one holding
the total quantity. All units are priced at its unit price, plus its flat fee.
Zero usage reaches no tier and costs nothing.

Worked example, tiers ``(0, 100] at 0.10``, ``(100, 1000] at 0.08 + fee 5``,
``(1000, inf) at 0.05``::

    usage 100:  100 x 0.10                 = 10.00   (the bound belongs to the first tier)
    usage 250:  250 x 0.08 + 5             = 25.00
    usage 1250: 1250 x 0.05                = 62.50   (cheaper than 1000 units: volume pricing)

>>> import polars as pl
>>> from decimal import Decimal as D
>>> from rating.models.graduated import Tier
>>> spec = VolumeSpec((
...     Tier(D(100), D("0.10")), Tier(D(1000), D("0.08"), D(5)), Tier(None, D("0.05"))))
>>> usage = pl.Series([D(0), D(100), D(250), D(1250)], dtype=pl.Decimal(38, 6))
>>> [str(a) for a in pl.select(price(pl.lit(usage), spec)).to_series()]
['0E-15', '10.000000000000000', '25.000000000000000', '62.500000000000000']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from rating import params
from rating.models.graduated import Tier, parse_tiers
from rating.money import amount_lit, money_mul, price_lit, zero_amount
from schemas.types import AMOUNT, PRICE, QUANTITY


@dataclass(frozen=True)
class VolumeSpec:
    tiers: tuple[Tier, ...]


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> VolumeSpec | None:
    before = len(problems)
    params.reject_unknown(raw, {"tiers"}, path, problems)
    tiers = parse_tiers(raw.get("tiers"), f"{path}.tiers", problems)
    return None if tiers is None or len(problems) > before else VolumeSpec(tiers)


def _reached(quantity: pl.Expr, spec: VolumeSpec, values: list[pl.Expr], none: pl.Expr) -> pl.Expr:
    """``values[i]`` where tier ``i`` holds ``quantity``, else ``none`` (no usage)."""
    chosen = none
    lowers = [pl.lit(0, dtype=QUANTITY)] + [
        pl.lit(t.up_to, dtype=QUANTITY) for t in spec.tiers[:-1]
    ]
    # Innermost is the first tier, so the outermost test (the highest lower bound) wins.
    for tier_lower, value in zip(lowers, values, strict=True):
        chosen = pl.when(quantity > tier_lower).then(value).otherwise(chosen)
    return chosen


def _tier_number(quantity: pl.Expr, spec: VolumeSpec) -> pl.Expr:
    numbers = [pl.lit(n, dtype=pl.Int32) for n in range(1, len(spec.tiers) + 1)]
    return _reached(quantity, spec, numbers, pl.lit(0, dtype=pl.Int32))


def _unit_price(quantity: pl.Expr, spec: VolumeSpec) -> pl.Expr:
    prices = [price_lit(t.unit_price) for t in spec.tiers]
    return _reached(quantity, spec, prices, pl.lit(0, dtype=PRICE))


def _flat_fee(quantity: pl.Expr, spec: VolumeSpec) -> pl.Expr:
    fees = [amount_lit(t.flat_fee) for t in spec.tiers]
    return _reached(quantity, spec, fees, zero_amount())


def price(quantity: pl.Expr, spec: VolumeSpec) -> pl.Expr:
    q = quantity.cast(QUANTITY)
    return money_mul(q, _unit_price(q, spec)) + _flat_fee(q, spec)


def breakdown(quantity: pl.Expr, spec: VolumeSpec) -> pl.Expr:
    """The one tier reached (all the units, its unit price and flat fee); empty at zero."""
    q = quantity.cast(QUANTITY)
    row = pl.struct(
        tier=_tier_number(q, spec),
        units=q,
        unit_price=_unit_price(q, spec),
        flat_fee=_flat_fee(q, spec),
        amount=price(q, spec).cast(AMOUNT),
    )
    # concat_arr then to_list: concat_list of struct columns is slow in Polars 2.1.
    listed = pl.concat_arr([row]).arr.to_list()
    return listed.list.filter(pl.element().struct.field("tier") > 0)

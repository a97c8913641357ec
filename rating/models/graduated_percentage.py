"""Graduated percentage: a percent of the period's transaction volume, by volume tier.

Tiers are written ``{up_to, rate, flat_fee}`` over the period's summed volume
(``up_to`` inclusive, the last unbounded, ``flat_fee`` optional). Exactly like
graduated tiers with ``unit_price = rate / 100``: the part of the volume inside
each tier is charged that tier's rate, and every tier the volume reaches into
adds its flat fee once. Zero volume reaches no tier. ``rate`` is a percent with at
most 7 decimal places, so ``rate / 100`` is an exact price.

Worked example, ``(0, 10000] at 3 %``, ``(10000, 100000] at 2 % + 50``,
``(100000, inf) at 1 %``, volume 120,000::

    10000 x 3 % + (90000 x 2 % + 50) + 20000 x 1 % = 300 + 1850 + 200 = 2350.00

>>> import polars as pl
>>> from decimal import Decimal as D
>>> spec = GraduatedPercentageSpec((
...     RateTier(D(10000), D(3)), RateTier(D(100000), D(2), D(50)), RateTier(None, D(1))))
>>> pl.select(price(pl.lit(D(120000), dtype=pl.Decimal(38, 6)), spec)).item()
Decimal('2350.000000000000000')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.models import graduated


@dataclass(frozen=True)
class RateTier:
    up_to: Decimal | None
    """Inclusive upper bound of volume; ``None`` for the last, unbounded tier."""
    rate: Decimal
    """Percent of the volume inside this tier: ``2`` is 2 %."""
    flat_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class GraduatedPercentageSpec:
    tiers: tuple[RateTier, ...]

    def as_graduated(self) -> graduated.GraduatedSpec:
        """The same tiers priced per unit of volume: ``unit_price = rate / 100``."""
        return graduated.GraduatedSpec(
            tuple(graduated.Tier(t.up_to, t.rate.scaleb(-2), t.flat_fee) for t in self.tiers)
        )


def _rate_tier(
    item: Mapping[str, Any], up_to: Decimal | None, where: str, problems: list[str]
) -> RateTier | None:
    rate = params.percent(item, "rate", where, problems)
    flat_fee = params.optional_fee(item, "flat_fee", where, problems)
    if rate is None or flat_fee is None:
        return None
    return RateTier(up_to, rate, flat_fee)


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> GraduatedPercentageSpec | None:
    before = len(problems)
    params.reject_unknown(raw, {"tiers"}, path, problems)
    tiers = graduated.parse_bounded(
        raw.get("tiers"),
        f"{path}.tiers",
        problems,
        noun="tier",
        value_key="rate",
        optional_keys=frozenset({"flat_fee"}),
        parse_item=_rate_tier,
    )
    return None if tiers is None or len(problems) > before else GraduatedPercentageSpec(tiers)


def price(quantity: pl.Expr, spec: GraduatedPercentageSpec) -> pl.Expr:
    return graduated.price(quantity, spec.as_graduated())


def breakdown(quantity: pl.Expr, spec: GraduatedPercentageSpec) -> pl.Expr:
    """Per reached tier, as graduated's, with ``unit_price`` the rate as a fraction (2 % = 0.02)."""
    return graduated.breakdown(quantity, spec.as_graduated())

"""Graduated tiers: each unit is priced by the tier it falls in.

Tier bounds are inclusive: a tier with ``up_to: 100`` holds units 0 < u <= 100;
the next starts just above. The last tier has no ``up_to``. A tier's optional
``flat_fee`` is charged once when usage reaches into that tier.

Worked example, tiers ``[0, 100] at 0.10``, ``(100, 1000] at 0.08``,
``(1000, inf) at 0.05``, usage 1,250 units::

    100 x 0.10 + 900 x 0.08 + 250 x 0.05 = 10.00 + 72.00 + 12.50 = 94.50

>>> import polars as pl
>>> from decimal import Decimal as D
>>> spec = GraduatedSpec((
...     Tier(D(100), D("0.10")), Tier(D(1000), D("0.08")), Tier(None, D("0.05"))))
>>> pl.select(price(pl.lit(D(1250), dtype=pl.Decimal(38, 6)), spec)).item()
Decimal('94.500000000000000')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import amount_lit, money_mul, price_lit, zero_amount
from schemas.types import QUANTITY


@dataclass(frozen=True)
class Tier:
    up_to: Decimal | None
    """Inclusive upper bound in units; ``None`` for the last, unbounded tier."""
    unit_price: Decimal
    flat_fee: Decimal = Decimal(0)


@dataclass(frozen=True)
class GraduatedSpec:
    tiers: tuple[Tier, ...]

    def bounds(self) -> list[tuple[Decimal, Decimal | None, Tier]]:
        """(exclusive lower, inclusive upper, tier) for each tier."""
        lowers = [Decimal(0)] + [tier.up_to for tier in self.tiers[:-1] if tier.up_to is not None]
        return [(lower, tier.up_to, tier) for lower, tier in zip(lowers, self.tiers, strict=True)]


def parse_tiers(raw: Any, path: str, problems: list[str]) -> tuple[Tier, ...] | None:
    """Tiers with strictly increasing bounds and an unbounded last tier."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.append(f"{path}: expected a non-empty list of tiers")
        return None
    tiers: list[Tier] = []
    ok = True
    previous = Decimal(0)
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a mapping with up_to and unit_price")
            ok = False
            continue
        params.reject_unknown(item, {"up_to", "unit_price", "flat_fee"}, where, problems)
        last = index == len(raw) - 1
        up_to = item.get("up_to")
        bound: Decimal | None = None
        if up_to is None:
            if not last:
                problems.append(f"{where}.up_to: only the last tier may be unbounded")
                ok = False
        else:
            bound = params.quantity(up_to, f"{where}.up_to", problems)
            if bound is None:
                ok = False
            elif last:
                problems.append(f"{where}.up_to: the last tier must be unbounded (omit up_to)")
                ok = False
            elif bound <= previous:
                problems.append(f"{where}.up_to: must be greater than {previous}, got {bound}")
                ok = False
            else:
                previous = bound
        unit_price = params.price(item, "unit_price", where, problems)
        flat_fee: Decimal | None = Decimal(0)
        if "flat_fee" in item:
            flat_fee = params.fee(item["flat_fee"], f"{where}.flat_fee", problems)
        if unit_price is None or flat_fee is None:
            ok = False
        else:
            tiers.append(Tier(bound, unit_price, flat_fee))
    return tuple(tiers) if ok else None


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> GraduatedSpec | None:
    params.reject_unknown(raw, {"tiers"}, path, problems)
    tiers = parse_tiers(raw.get("tiers"), f"{path}.tiers", problems)
    return None if tiers is None else GraduatedSpec(tiers)


def units_in_tier(quantity: pl.Expr, lower: Decimal, upper: Decimal | None) -> pl.Expr:
    """Units of ``quantity`` that fall in the tier ``(lower, upper]``."""
    above = (quantity - pl.lit(lower, dtype=QUANTITY)).clip(lower_bound=pl.lit(0, dtype=QUANTITY))
    if upper is None:
        return above
    return above.clip(upper_bound=pl.lit(upper - lower, dtype=QUANTITY))


def tier_amount(quantity: pl.Expr, lower: Decimal, upper: Decimal | None, tier: Tier) -> pl.Expr:
    units = units_in_tier(quantity, lower, upper)
    fee = (
        pl.when(quantity > pl.lit(lower, dtype=QUANTITY))
        .then(amount_lit(tier.flat_fee))
        .otherwise(zero_amount())
    )
    return money_mul(units, tier.unit_price) + fee


def price(quantity: pl.Expr, spec: GraduatedSpec) -> pl.Expr:
    q = quantity.cast(QUANTITY)
    return pl.sum_horizontal(
        [tier_amount(q, lower, upper, tier) for lower, upper, tier in spec.bounds()]
    )


def breakdown(quantity: pl.Expr, spec: GraduatedSpec) -> pl.Expr:
    """Per reached tier: tier number (1-based), units, unit price, flat fee and amount."""
    q = quantity.cast(QUANTITY)
    rows = [
        pl.struct(
            tier=pl.lit(number, dtype=pl.Int32),
            units=units_in_tier(q, lower, upper),
            unit_price=price_lit(tier.unit_price),
            flat_fee=amount_lit(tier.flat_fee),
            amount=tier_amount(q, lower, upper, tier),
        )
        for number, (lower, upper, tier) in enumerate(spec.bounds(), start=1)
    ]
    reached = pl.element().struct.field("units") > pl.lit(0, dtype=QUANTITY)
    return pl.concat_list(rows).list.filter(reached)

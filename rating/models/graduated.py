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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import polars as pl

from rating import params
from rating.money import amount_lit, money_mul, price_lit, zero_amount
from schemas.types import QUANTITY

T = TypeVar("T")


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


def parse_bounded(
    raw: Any,
    path: str,
    problems: list[str],
    *,
    noun: str,
    value_key: str,
    optional_keys: frozenset[str],
    parse_item: Callable[[Mapping[str, Any], Decimal | None, str, list[str]], T | None],
    first_bound_may_be_zero: bool = False,
) -> tuple[T, ...] | None:
    """A list of ``{up_to, value_key, *optional_keys}`` with strictly increasing inclusive
    bounds and an unbounded last item: the shape of tiers and bands of every tiered model.

    ``parse_item(item, up_to, where, problems)`` reads the item's other parameters. Every
    item is read even after a bad one, so a load reports all of a list's problems at once.
    A first bound of 0 is a problem unless ``first_bound_may_be_zero`` (a stairstep band
    ``[0, 0]`` is meaningful, an empty graduated tier ``(0, 0]`` is not).
    """
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.append(f"{path}: expected a non-empty list of {noun}s")
        return None
    items: list[T] = []
    ok = True
    previous = Decimal(0)
    for index, item in enumerate(raw):
        where = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a mapping with up_to and {value_key}")
            ok = False
            continue
        params.reject_unknown(item, {"up_to", value_key, *optional_keys}, where, problems)
        last = index == len(raw) - 1
        up_to = item.get("up_to")
        bound: Decimal | None = None
        if up_to is None:
            if not last:
                problems.append(f"{where}.up_to: only the last {noun} may be unbounded")
                ok = False
        else:
            bound = params.quantity(up_to, f"{where}.up_to", problems)
            zero_allowed = index == 0 and first_bound_may_be_zero
            if bound is None:
                ok = False
            elif last:
                problems.append(f"{where}.up_to: the last {noun} must be unbounded (omit up_to)")
                ok = False
            elif bound <= previous and not zero_allowed:
                problems.append(f"{where}.up_to: must be greater than {previous}, got {bound}")
                ok = False
            else:
                previous = bound
        parsed = parse_item(item, bound, where, problems)
        if parsed is None:
            ok = False
        else:
            items.append(parsed)
    return tuple(items) if ok else None


def _tier(
    item: Mapping[str, Any], up_to: Decimal | None, where: str, problems: list[str]
) -> Tier | None:
    unit_price = params.price(item, "unit_price", where, problems)
    flat_fee = params.optional_fee(item, "flat_fee", where, problems)
    if unit_price is None or flat_fee is None:
        return None
    return Tier(up_to, unit_price, flat_fee)


def parse_tiers(raw: Any, path: str, problems: list[str]) -> tuple[Tier, ...] | None:
    """Tiers with strictly increasing bounds and an unbounded last tier."""
    return parse_bounded(
        raw,
        path,
        problems,
        noun="tier",
        value_key="unit_price",
        optional_keys=frozenset({"flat_fee"}),
        parse_item=_tier,
    )


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
    # concat_arr then to_list: concat_list of struct columns is ~50x slower in Polars 2.1.
    return pl.concat_arr(rows).arr.to_list().list.filter(reached)

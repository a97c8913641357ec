"""Package: usage is sold in whole blocks of ``package_size`` units; a started block is paid.

After the optional ``free_units``, the blocks needed to hold the remaining usage are
counted, rounding a partial block up, and each block costs ``package_price``::

    amount = ceil(max(0, quantity - free_units) / package_size) x package_price

Zero usage (or usage within the free units) buys no block and costs nothing.

Worked example: SMS sold in packs of 1,000 at 5.00, the first 100 free, usage 2,101::

    ceil((2101 - 100) / 1000) = ceil(2.001) = 3 blocks; 3 x 5.00 = 15.00

>>> import polars as pl
>>> from decimal import Decimal as D
>>> spec = PackageSpec(package_size=D(1000), package_price=D("5.00"), free_units=D(100))
>>> usage = pl.Series([D(0), D(100), D(1100), D(2101)], dtype=pl.Decimal(38, 6))
>>> pl.select(price(pl.lit(usage), spec)).to_series().to_list()
[Decimal('0E-15'), Decimal('0E-15'), Decimal('5.000000000000000'), Decimal('15.000000000000000')]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import money_mul, zero_amount
from schemas.types import QUANTITY, QUANTITY_SCALE

PARAMETERS = {"package_size", "package_price", "free_units"}


@dataclass(frozen=True)
class PackageSpec:
    package_size: Decimal
    """Units per block; positive."""
    package_price: Decimal
    """Price of one block, started or full."""
    free_units: Decimal = Decimal(0)
    """Units of each period's usage given before the first block is counted."""


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> PackageSpec | None:
    before = len(problems)
    params.reject_unknown(raw, PARAMETERS, path, problems)
    size: Decimal | None = None
    if "package_size" not in raw:
        problems.append(f"{path}.package_size: missing")
    else:
        size = params.quantity(raw["package_size"], f"{path}.package_size", problems)
        if size is not None and size == 0:
            problems.append(f"{path}.package_size: must be greater than 0, got {size}")
    package_price = params.price(raw, "package_price", path, problems)
    free_units: Decimal | None = Decimal(0)
    if "free_units" in raw:
        free_units = params.quantity(raw["free_units"], f"{path}.free_units", problems)
    if len(problems) > before or size is None or package_price is None or free_units is None:
        return None
    return PackageSpec(size, package_price, free_units)


def blocks(quantity: pl.Expr, spec: PackageSpec) -> pl.Expr:
    """Blocks bought: the billable units divided by the block size, a partial block rounded up."""
    billable = quantity.cast(QUANTITY) - pl.lit(spec.free_units, dtype=QUANTITY)
    billable = billable.clip(lower_bound=pl.lit(0, dtype=QUANTITY))
    # Decimal division rounds at scale 6, which could hide a sliver past a block boundary,
    # so divide the exact micro-unit integers behind the decimals instead.
    micro_units = billable.to_physical()
    size = pl.lit(int(spec.package_size.scaleb(QUANTITY_SCALE)), dtype=pl.Int128)
    started = (micro_units % size != 0).cast(pl.Int128)
    return (micro_units // size + started).cast(pl.Decimal(38, 0))


def price(quantity: pl.Expr, spec: PackageSpec) -> pl.Expr:
    if spec.package_price == 0:
        # Free blocks cost nothing however many there are, even more than an amount holds.
        return pl.when(quantity.is_not_null()).then(zero_amount())
    return money_mul(blocks(quantity, spec), spec.package_price)

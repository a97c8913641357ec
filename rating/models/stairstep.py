"""Stairstep: a fixed price for the band the period's usage falls in.

Bands are written ``{up_to, price}``; ``up_to`` is inclusive and the last band
has none. The first band starts at 0 **inclusive**: zero usage is in the first
band and pays its price. To make zero usage free, declare a first band
``{up_to: 0, price: 0}`` (a first bound of 0 is allowed for bands, unlike tiers).
The amount does not grow inside a band; usage only picks the step.

Worked example, bands ``[0, 0] free``, ``(0, 10] 50.00``, ``(10, 100] 200.00``,
``(100, inf) 500.00``::

    usage 0:    free band             =   0.00
    usage 10:   the bound is inclusive =  50.00
    usage 10.5: second step            = 200.00
    usage 5000: last step              = 500.00

>>> import polars as pl
>>> from decimal import Decimal as D
>>> spec = StairstepSpec((
...     Band(D(0), D(0)), Band(D(10), D("50.00")), Band(D(100), D("200.00")),
...     Band(None, D("500.00"))))
>>> usage = pl.Series([D(0), D(10), D("10.5"), D(5000)], dtype=pl.Decimal(38, 6))
>>> [str(a) for a in pl.select(price(pl.lit(usage), spec)).to_series()]
['0E-15', '50.000000000000000', '200.000000000000000', '500.000000000000000']
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.models.graduated import parse_bounded
from rating.money import amount_lit
from schemas.types import PRICE, QUANTITY


@dataclass(frozen=True)
class Band:
    up_to: Decimal | None
    """Inclusive upper bound in units; ``None`` for the last, unbounded band."""
    price: Decimal
    """The whole period's amount when usage falls in this band."""


@dataclass(frozen=True)
class StairstepSpec:
    bands: tuple[Band, ...]


def _band(
    item: Mapping[str, Any], up_to: Decimal | None, where: str, problems: list[str]
) -> Band | None:
    band_price = params.price(item, "price", where, problems)
    return None if band_price is None else Band(up_to, band_price)


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> StairstepSpec | None:
    before = len(problems)
    params.reject_unknown(raw, {"bands"}, path, problems)
    bands = parse_bounded(
        raw.get("bands"),
        f"{path}.bands",
        problems,
        noun="band",
        value_key="price",
        optional_keys=frozenset(),
        parse_item=_band,
        first_bound_may_be_zero=True,
    )
    return None if bands is None or len(problems) > before else StairstepSpec(bands)


def _band_value(quantity: pl.Expr, spec: StairstepSpec, values: list[pl.Expr]) -> pl.Expr:
    """``values[i]`` for the band holding ``quantity``: the first whose ``up_to`` it reaches."""
    # A one-band list has no test at all; the null check still gives one value per row.
    chosen = pl.when(quantity.is_not_null()).then(values[-1])
    # Built from the top down, so the outermost test is the first band's bound.
    for band, value in zip(reversed(spec.bands[:-1]), reversed(values[:-1]), strict=True):
        chosen = (
            pl.when(quantity <= pl.lit(band.up_to, dtype=QUANTITY)).then(value).otherwise(chosen)
        )
    return chosen


def price(quantity: pl.Expr, spec: StairstepSpec) -> pl.Expr:
    q = quantity.cast(QUANTITY)
    return _band_value(q, spec, [amount_lit(band.price) for band in spec.bands])


def breakdown(quantity: pl.Expr, spec: StairstepSpec) -> pl.Expr:
    """The band holding the usage: its number, the units, and its price as the flat fee."""
    q = quantity.cast(QUANTITY)
    numbers = [pl.lit(n, dtype=pl.Int32) for n in range(1, len(spec.bands) + 1)]
    amount = price(q, spec)
    row = pl.struct(
        tier=_band_value(q, spec, numbers),
        units=q,
        unit_price=pl.lit(0, dtype=PRICE),
        flat_fee=amount,
        amount=amount,
    )
    return pl.concat_arr([row]).arr.to_list()  # concat_list of structs is slow in Polars 2.1

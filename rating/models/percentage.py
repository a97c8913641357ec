"""Percentage (payment processing): a fee on each transaction, summed over the period.

Each event is one transaction; its measured value is the transaction amount::

    fee = clamp(amount x rate / 100 + fixed_fee, min_per_transaction, max_per_transaction)

``rate`` is a percent (``2.9`` means 2.9 %, at most 7 decimal places, so
``rate / 100`` is an exact price); ``fixed_fee`` (default 0) is added to every
transaction; ``min_per_transaction`` and ``max_per_transaction`` are optional and
clamp the whole fee, fixed part included. The period's amount is the sum of the
exact per-transaction fees, rounded once like any charge.

This model prices each event (``ChargeModel.prices_each_event``): :func:`price`
receives one transaction's value, not a period total, because a minimum or maximum
per transaction cannot be applied to a sum. A zero-valued transaction still counts:
it pays ``fixed_fee``, clamped like any other (so at least the minimum). A negative
value (a refund, on a meter that allows them) is priced by the same rule: its
percentage part is negative, and the clamp still applies.

Worked example, 2.9 % + 0.30 per transaction, at least 0.50, at most 10.00::

    amount    0.00:      0 x 2.9 % + 0.30 =   0.30 -> minimum  0.50
    amount   20.00:  20.00 x 2.9 % + 0.30 =   0.88
    amount 1000.00:   1000 x 2.9 % + 0.30 =  29.30 -> maximum 10.00
    period: 0.50 + 0.88 + 10.00 = 11.38

>>> import polars as pl
>>> from decimal import Decimal as D
>>> spec = PercentageSpec(D("2.9"), D("0.30"), D("0.50"), D("10.00"))
>>> payments = pl.DataFrame({"amount": [D(0), D(20), D(1000)]},
...                         schema={"amount": pl.Decimal(38, 6)})
>>> fees = payments.select(price(pl.col("amount"), spec)).to_series()
>>> [str(fee) for fee in fees], str(fees.sum())
(['0.500000000000000', '0.880000000000000', '10.000000000000000'], '11.380000000000000')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import amount_lit, money_mul

PARAMETERS = {"rate", "fixed_fee", "min_per_transaction", "max_per_transaction"}


@dataclass(frozen=True)
class PercentageSpec:
    rate: Decimal
    """Percent of each transaction's amount: ``2.9`` is 2.9 %."""
    fixed_fee: Decimal = Decimal(0)
    """Added to every transaction's fee, zero-valued transactions included."""
    min_per_transaction: Decimal | None = None
    max_per_transaction: Decimal | None = None

    @property
    def fraction(self) -> Decimal:
        """The rate as a price per unit of transaction amount (``2.9`` -> ``0.029``)."""
        return self.rate.scaleb(-2)


def parse(raw: Mapping[str, Any], path: str, problems: list[str]) -> PercentageSpec | None:
    before = len(problems)
    params.reject_unknown(raw, PARAMETERS, path, problems)
    rate = params.percent(raw, "rate", path, problems)
    fixed_fee = params.optional_fee(raw, "fixed_fee", path, problems)
    bounds: dict[str, Decimal | None] = {}
    for key in ("min_per_transaction", "max_per_transaction"):
        bounds[key] = params.fee(raw[key], f"{path}.{key}", problems) if key in raw else None
    low, high = bounds["min_per_transaction"], bounds["max_per_transaction"]
    if low is not None and high is not None and low > high:
        problems.append(
            f"{path}.max_per_transaction: must not be below min_per_transaction ({low}), got {high}"
        )
    if len(problems) > before or rate is None or fixed_fee is None:
        return None
    return PercentageSpec(rate, fixed_fee, low, high)


def price(quantity: pl.Expr, spec: PercentageSpec) -> pl.Expr:
    """One transaction's fee, from its amount (a ``Decimal(38, 6)`` event value)."""
    fee = money_mul(quantity, spec.fraction) + amount_lit(spec.fixed_fee)
    if spec.min_per_transaction is None and spec.max_per_transaction is None:
        return fee
    return fee.clip(
        lower_bound=None
        if spec.min_per_transaction is None
        else amount_lit(spec.min_per_transaction),
        upper_bound=None
        if spec.max_per_transaction is None
        else amount_lit(spec.max_per_transaction),
    )

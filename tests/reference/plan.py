"""Reference composition of a plan's lines: minimums, discounts and the plan commitment.

Plain ``decimal``, one subscription at a time, restating ``rating.rate`` (see
docs/charge-models.md, "Order of rating within a plan") without importing it:

1. each charge's exact amount is rounded once to the minor unit, half away from zero;
2. a charge whose rounded amount is below its ``minimum`` gets a true-up line
   ``minimum - amount`` (rounded), right after the charge;
3. each discount active in the period (its first day in ``[start, end)``) sees the
   rounded lines of its target charges, true-ups included, never another discount;
   a positive total ``base`` gets ``-(base x percent / 100)`` or ``-min(base, amount)``,
   rounded;
4. a plan ``minimum_commitment`` above the sum of every line so far gets a true-up.

>>> from decimal import Decimal as D
>>> from datetime import date
>>> charges = [ChargeAmount("api", D("2.004"), D(20)), ChargeAmount("fee", D(100), None)]
>>> off = [Discount("d", D(10), None, ("fee",), date(2026, 1, 1), None)]
>>> compose(charges, off, D(400), "EUR", date(2026, 10, 1))  # 100+2+18-10 = 110 -> 290
{'api': Decimal('2.00'), 'api:minimum': Decimal('18.00'), 'fee': Decimal('100.00'), \
'discount:d': Decimal('-10.00'), 'minimum_commitment': Decimal('290.00')}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

MINOR_UNITS = {"EUR": 2, "USD": 2, "JPY": 0, "BHD": 3}
_WIDE = Context(prec=200)


@dataclass(frozen=True)
class ChargeAmount:
    code: str
    amount_exact: Decimal
    minimum: Decimal | None


@dataclass(frozen=True)
class Discount:
    code: str
    percent: Decimal | None
    amount: Decimal | None
    charges: tuple[str, ...]
    start: date
    end: date | None


def rounded(amount: Decimal, currency: str) -> Decimal:
    step = Decimal(1).scaleb(-MINOR_UNITS[currency])
    return amount.quantize(step, rounding=ROUND_HALF_UP, context=_WIDE)


def compose(
    charges: Sequence[ChargeAmount],
    discounts: Sequence[Discount],
    plan_minimum: Decimal | None,
    currency: str,
    period_first_day: date,
    share: tuple[int, int] | None = None,
) -> dict[str, Decimal]:
    """Every line of one subscription's period, by charge code, in the order they are added.

    ``share`` (days covered, days of the period) prorates every minimum, exactly."""

    def owed(minimum: Decimal) -> Decimal:
        if share is None:
            return minimum
        with localcontext(_WIDE):
            return minimum * share[0] / share[1]

    lines: dict[str, Decimal] = {}
    owner: dict[str, str] = {}  # line code -> the charge it belongs to
    for charge in charges:
        lines[charge.code] = rounded(charge.amount_exact, currency)
        owner[charge.code] = charge.code
        # The true-up line follows its charge on the invoice.
        if charge.minimum is not None and lines[charge.code] < owed(charge.minimum):
            code = charge.code + ":minimum"
            with localcontext(_WIDE):
                lines[code] = rounded(owed(charge.minimum) - lines[charge.code], currency)
            owner[code] = charge.code
    for discount in discounts:
        active = discount.start <= period_first_day and (
            discount.end is None or period_first_day < discount.end
        )
        if not active:
            continue
        targets = set(discount.charges) or {charge.code for charge in charges}
        base = sum(
            (amount for code, amount in lines.items() if code in owner and owner[code] in targets),
            Decimal(0),
        )
        if base <= 0:
            continue
        with localcontext(_WIDE):
            off = base * discount.percent / 100 if discount.percent else min(base, discount.amount)
        lines["discount:" + discount.code] = rounded(-off, currency)
    total = sum(lines.values(), Decimal(0))
    if plan_minimum is not None and total < owed(plan_minimum):
        with localcontext(_WIDE):
            lines["minimum_commitment"] = rounded(owed(plan_minimum) - total, currency)
    return lines

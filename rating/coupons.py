"""Coupons: a discount a customer redeems, for some billing periods, on a plan or charges.

The catalog defines them; ``coupons.csv`` says which subscription redeemed
which, from when::

    coupons:
      - {code: WELCOME10, percent: 10, periods: 3}          # 3 monthly runs from redemption
      - {code: SUPPORT5, amount: 5.00, charges: [support], plans: [pro]}

A redeemed coupon is applied by the run of every month from its start date's
month for ``periods`` runs (or until the redemption's ``end_date``, or for
good), as one negative line per subscription, exactly like a plan discount
(:mod:`rating.discounts`): a percent of the targeted lines' rounded amounts,
or a fixed amount never more than they total. Coupons and plan discounts stack
additively: each is computed on the charges' lines, never on another discount.

>>> from decimal import Decimal
>>> coupon = Coupon("W", Discount("W", Decimal(10), None, (), date.min, None), (), 3)
>>> [coupon.active(date(2026, 10, 20), None, date(2026, m, 1)) for m in (9, 10, 12, 1)]
[False, True, True, False]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from rating import params
from rating.discounts import Discount, parse_discount
from rating.plan import Plan


@dataclass(frozen=True)
class Coupon:
    code: str
    discount: Discount
    plans: tuple[str, ...]
    """Plans it may be redeemed on; empty: any plan."""
    periods: int | None
    """Monthly runs it applies to from the redemption's month; None: no limit."""

    def active(self, start: date, end: date | None, run_first: date) -> bool:
        """Whether a redemption from ``start`` (to ``end``) applies to the run of that month."""
        months = (run_first.year - start.year) * 12 + run_first.month - start.month
        if months < 0 or (self.periods is not None and months >= self.periods):
            return False
        return end is None or end > run_first


def parse_coupons(raw: Any, plans: Mapping[str, Plan], problems: list[str]) -> dict[str, Coupon]:
    """The catalog's ``coupons`` section; problems name each coupon's path."""
    if raw is None:
        return {}
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        problems.append("coupons: expected a list of coupons")
        return {}
    coupons: dict[str, Coupon] = {}
    for index, item in enumerate(raw):
        path = f"coupons[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{path}: expected a mapping")
            continue
        allowed = {"code", "percent", "amount", "charges", "plans", "periods"}
        params.reject_unknown(item, allowed, path, problems)
        targets = item.get("plans", [])
        if not isinstance(targets, Sequence) or isinstance(targets, str):
            problems.append(f"{path}.plans: expected a list of plan codes")
            continue
        unknown = [code for code in targets if code not in plans]
        if unknown:
            problems.append(f"{path}.plans: unknown plan {unknown[0]!r}")
            continue
        charge_codes = sorted(
            {c.code for code in (targets or list(plans)) for c in plans[code].charges}
        )
        fields = {k: v for k, v in item.items() if k in {"code", "percent", "amount", "charges"}}
        discount = parse_discount({**fields, "start_date": date.min}, path, charge_codes, problems)
        periods = item.get("periods")
        if periods is not None and (
            isinstance(periods, bool) or not isinstance(periods, int) or periods < 1
        ):
            problems.append(f"{path}.periods: expected a positive whole number of months")
            continue
        if discount is None:
            continue
        if discount.code in coupons:
            problems.append(f"{path}.code: duplicate coupon code {discount.code!r}")
            continue
        coupons[discount.code] = Coupon(discount.code, discount, tuple(targets), periods)
    return coupons

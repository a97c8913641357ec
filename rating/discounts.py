"""Plan discounts: a percentage or a fixed amount off some charges, between two dates.

A discount belongs to a plan and applies to every subscription of the plan in
the billing periods whose first day falls in ``[start_date, end_date)``
(``end_date`` optional). It targets the listed ``charges`` (default: every
charge of the plan) and becomes one negative line per subscription:

* ``percent``: ``percent / 100`` of the targets' rounded line amounts (their
  minimum true-ups included), rounded once to the minor unit;
* ``amount``: a fixed amount off, never more than the targets' total, so a
  discount cannot turn a charge into a credit.

Discounts are computed from rounded line amounts, so the invoice shows lines
that visibly add up; several discounts on one charge each apply to the
undiscounted amount (they stack additively, documented in docs/charge-models.md).

Worked example: 10 % off API calls rated 123.45 EUR gives a line of
``-(123.45 x 0.10) = -12.345 -> -12.35`` (half away from zero).

>>> from datetime import date
>>> import polars as pl
>>> from decimal import Decimal as D
>>> promo = Discount("promo", percent=D(10), amount=None, charges=("api_calls",),
...                  start_date=date(2026, 1, 1), end_date=None)
>>> lines = pl.DataFrame({"subscription_id": ["s1"], "charge_code": ["api_calls"],
...     "amount": [D("123.45")]}, schema_overrides={"amount": pl.Decimal(38, 4)})
>>> discount_lines(lines.lazy(), promo, "EUR").collect()["amount"].item()
Decimal('-12.3500')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import money_mul, round_to_minor
from schemas.types import AMOUNT

# A percentage divided by 100 must still fit a price (9 decimal places).
PERCENT_SCALE = 7


@dataclass(frozen=True)
class Discount:
    code: str
    percent: Decimal | None
    """Percent off (0 < percent <= 100); exclusive with ``amount``."""
    amount: Decimal | None
    """Fixed amount off per subscription and period, capped at the targets' total."""
    charges: tuple[str, ...]
    """Target charge codes; empty means every charge of the plan."""
    start_date: date
    end_date: date | None

    def applies_to(self, period_first_day: date) -> bool:
        """Whether the billing period starting on ``period_first_day`` is discounted."""
        if period_first_day < self.start_date:
            return False
        return self.end_date is None or period_first_day < self.end_date


def _date(value: Any, path: str, problems: list[str]) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.append(f"{path}: expected a date YYYY-MM-DD, got {value!r}")
    return None


def parse_discount(
    raw: Any, path: str, charge_codes: Sequence[str], problems: list[str]
) -> Discount | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    allowed = {"code", "percent", "amount", "charges", "start_date", "end_date"}
    params.reject_unknown(raw, allowed, path, problems)
    before = len(problems)
    code = raw.get("code")
    if not isinstance(code, str) or not code.strip():
        problems.append(f"{path}.code: missing or not a text value")
    percent = amount = None
    if ("percent" in raw) == ("amount" in raw):
        problems.append(f"{path}: give exactly one of percent or amount")
    elif "percent" in raw:
        percent = params.to_decimal(
            raw["percent"], f"{path}.percent", problems, scale=PERCENT_SCALE, integer_digits=3
        )
        if percent is not None and not 0 < percent <= 100:
            problems.append(f"{path}.percent: must be in (0, 100], got {percent}")
    else:
        amount = params.fee(raw["amount"], f"{path}.amount", problems)
    targets = raw.get("charges", [])
    if not isinstance(targets, Sequence) or isinstance(targets, str):
        problems.append(f"{path}.charges: expected a list of charge codes")
        targets = []
    for target in targets:
        if target not in charge_codes:
            problems.append(f"{path}.charges: unknown charge {target!r} of this plan")
    start = _date(raw.get("start_date"), f"{path}.start_date", problems)
    end = (
        None
        if raw.get("end_date") is None
        else _date(raw["end_date"], f"{path}.end_date", problems)
    )
    if start is not None and end is not None and end <= start:
        problems.append(f"{path}.end_date: must be after start_date {start}")
    if len(problems) > before or start is None:
        return None
    return Discount(str(code), percent, amount, tuple(targets), start, end)


def parse_discounts(
    raw: Any, path: str, charge_codes: Sequence[str], problems: list[str]
) -> tuple[Discount, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        problems.append(f"{path}: expected a list of discounts")
        return ()
    parsed = [
        parse_discount(item, f"{path}[{index}]", charge_codes, problems)
        for index, item in enumerate(raw)
    ]
    params.flag_duplicate_codes(parsed, path, "discount", problems)
    return tuple(d for d in parsed if d is not None)


def discount_lines(lines: pl.LazyFrame, discount: Discount, currency: str) -> pl.LazyFrame:
    """Each targeted subscription's discount: ``subscription_id, amount_exact, amount``.

    ``lines`` holds rounded line amounts: ``subscription_id, charge_code, amount``.
    """
    targets = lines
    if discount.charges:
        targets = lines.filter(pl.col("charge_code").is_in(discount.charges))
    base = pl.col("base")
    if discount.percent is not None:
        off = money_mul(base, discount.percent.scaleb(-2))
    else:
        off = pl.min_horizontal(base, pl.lit(discount.amount, dtype=AMOUNT))
    exact = (-off).cast(AMOUNT)
    return (
        targets.group_by("subscription_id")
        .agg(pl.col("amount").sum().cast(AMOUNT).alias("base"))
        .filter(base > 0)
        .select(
            "subscription_id",
            exact.alias("amount_exact"),
            round_to_minor(exact, currency).alias("amount"),
        )
    )

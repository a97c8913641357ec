"""Plans priced in several currencies: one price list per currency.

A plan is priced in its ``currency``; ``prices`` gives its prices in other
currencies, charge by charge. Amounts are never converted: each currency's
prices are written by whoever sets them, and each currency rounds to its own
minor unit (JPY 0 decimals, EUR 2, BHD 3)::

    - code: pro
      currency: EUR
      charges:
        - {code: fee, model: flat_fee, amount: 100.00}
        - {code: calls, meter: calls, model: per_unit, unit_price: 0.10}
      minimum_commitment: 150.00
      prices:
        USD:
          charges: {fee: {amount: 110.00}, calls: {unit_price: 0.11}}
          minimum_commitment: 165.00
        JPY:
          charges: {fee: {amount: 15000}, calls: {unit_price: 15}}
          minimum_commitment: 22000

Each currency lists every charge of the plan (``{}`` for a charge without
amounts, e.g. a percentage), whose parameters it replaces (not its ``code``,
``meter`` or ``model``), and restates the plan's ``minimum_commitment``,
``discounts``, ``progressive_billing`` and ``term_commitment`` when the plan has them: money is
never carried from one currency into another by default. Each price list is
validated as a whole plan; its problems carry its path
(``plans.pro.prices.USD.charges[1].unit_price``).

A customer with a ``currency`` (``customers.csv``) is billed in it: each of
its subscriptions is rated with its plan's price list in that currency, known
to rating under the *priced code* ``pro@USD``; every line written keeps the
catalog's plan code (``pro``) beside its currency.

>>> priced_code("pro", "USD"), catalog_code("pro@USD"), catalog_code("pro")
('pro@USD', 'pro', 'pro')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import polars as pl

from rating import params
from rating.money import MINOR_UNITS
from rating.plan import Plan, parse_plan

SEPARATOR = "@"
"""Between a plan's code and a currency in a priced code; not allowed in plan codes."""
RESTATED = ("minimum_commitment", "discounts", "progressive_billing", "term_commitment")
CURRENCY_KEYS = {"charges", *RESTATED}
FIXED_CHARGE_KEYS = ("code", "meter", "model")


def priced_code(code: str, currency: str) -> str:
    return f"{code}{SEPARATOR}{currency}"


def catalog_code(code: str) -> str:
    return code.split(SEPARATOR, 1)[0]


def catalog_plan_code() -> pl.Expr:
    """``plan_code`` as the catalog names it (a priced code loses its currency)."""
    return pl.col("plan_code").str.replace(SEPARATOR + ".*$", "").alias("plan_code")


def parse_price_lists(
    raw_plans: Any, plans: Mapping[str, Plan], meter_codes: set[str], problems: list[str]
) -> dict[str, Plan]:
    """Every plan's price lists in its other currencies, by priced code."""
    if not isinstance(raw_plans, Sequence) or isinstance(raw_plans, str):
        return {}
    lists: dict[str, Plan] = {}
    for raw in raw_plans:
        if not isinstance(raw, Mapping) or "prices" not in raw:
            continue
        base = plans.get(str(raw.get("code")))
        if base is None:
            continue  # the plan itself is invalid, and reported
        path = f"plans.{base.code}.prices"
        prices = raw["prices"]
        if not isinstance(prices, Mapping) or not prices:
            problems.append(f"{path}: expected a mapping of currency to prices")
            continue
        for currency, own in prices.items():
            where = f"{path}.{currency}"
            if currency not in MINOR_UNITS:
                problems.append(f"{where}: unknown currency {currency!r} (use an ISO 4217 code)")
                continue
            if currency == base.currency:
                problems.append(f"{where}: {currency} is the plan's own currency")
                continue
            variant = _price_list(raw, own, currency, where, problems)
            if variant is None:
                continue
            plan = parse_plan(variant, where, meter_codes, problems, at=where)
            if plan is not None:
                code = priced_code(base.code, currency)
                lists[code] = replace(plan, code=code, replaced_by=None)
    return lists


def _price_list(
    raw: Mapping[str, Any], own: Any, currency: str, where: str, problems: list[str]
) -> dict[str, Any] | None:
    """The plan's raw definition with ``own`` prices in ``currency``, or None."""
    if not isinstance(own, Mapping):
        problems.append(f"{where}: expected a mapping with {sorted(CURRENCY_KEYS)}")
        return None
    before = len(problems)
    params.reject_unknown(own, CURRENCY_KEYS, where, problems)
    charges = own.get("charges", {})
    if not isinstance(charges, Mapping):
        problems.append(f"{where}.charges: expected a mapping of charge code to parameters")
        return None
    raw_charges = [c for c in raw.get("charges") or [] if isinstance(c, Mapping)]
    codes = [charge.get("code") for charge in raw_charges]
    for code in charges:
        if code not in codes:
            problems.append(f"{where}.charges.{code}: not a charge of the plan")
    merged = []
    for charge in raw_charges:
        code = charge.get("code")
        given = charges.get(code)
        if given is None:
            problems.append(
                f"{where}.charges: no {currency} prices for charge {code!r} (give its "
                f"{currency} parameters, or {{}} when it has no amounts)"
            )
            continue
        if not isinstance(given, Mapping):
            problems.append(f"{where}.charges.{code}: expected a mapping of parameters")
            continue
        for key in FIXED_CHARGE_KEYS:
            if key in given:
                problems.append(
                    f"{where}.charges.{code}.{key}: a price list sets prices, not a charge's {key}"
                )
        merged.append({**charge, **given})
    for key in RESTATED:
        if key in raw and key not in own:
            problems.append(
                f"{where}: the plan has {key}; give it in {currency} too (the same value "
                "when it has no amounts)"
            )
    if len(problems) > before:
        return None
    plan_level = {key: own[key] for key in RESTATED if key in own}
    rest = {key: value for key, value in raw.items() if key != "prices"}
    return {**rest, **plan_level, "currency": currency, "charges": merged}


def plan_currencies(plans: Mapping[str, Plan], price_lists: Mapping[str, Plan]) -> pl.DataFrame:
    """``plan_code, currency, priced_code``: every currency each catalog plan is priced in."""
    rows = [(code, plan.currency, code) for code, plan in plans.items()]
    rows += [(catalog_code(code), plan.currency, code) for code, plan in price_lists.items()]
    return pl.DataFrame(
        rows,
        schema={"plan_code": pl.String, "currency": pl.String, "priced_code": pl.String},
        orient="row",
    )

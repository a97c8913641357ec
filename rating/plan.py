"""Plans and their charges, parsed from the catalog's ``plans`` section."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from rating.money import MINOR_UNITS
from rating.registry import CHARGE_MODELS, ChargeModel
from schemas.catalog import BillingPeriod


@dataclass(frozen=True)
class Charge:
    """One priced item of a plan: a charge model, its spec, and the meter it prices."""

    code: str
    name: str
    model: str
    spec: Any
    meter: str | None

    @property
    def charge_model(self) -> ChargeModel:
        return CHARGE_MODELS[self.model]

    def price(self, quantity: pl.Expr) -> pl.Expr:
        return self.charge_model.price(quantity, self.spec)

    def breakdown(self, quantity: pl.Expr) -> pl.Expr | None:
        make = self.charge_model.breakdown
        return None if make is None else make(quantity, self.spec)


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    currency: str
    billing_period: BillingPeriod
    charges: tuple[Charge, ...]


def _text(raw: Mapping[str, Any], key: str, path: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}.{key}: missing or not a text value")
        return None
    return value


def parse_charge(raw: Any, path: str, meter_codes: set[str], problems: list[str]) -> Charge | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code = _text(raw, "code", path, problems)
    model_name = _text(raw, "model", path, problems)
    if model_name is None:
        return None
    model = CHARGE_MODELS.get(model_name)
    if model is None:
        problems.append(
            f"{path}.model: unknown charge model {model_name!r} "
            f"(expected one of {sorted(CHARGE_MODELS)})"
        )
        return None
    meter = raw.get("meter")
    if model.usage_based:
        if meter is None:
            problems.append(f"{path}.meter: a {model_name} charge needs a meter")
        elif meter not in meter_codes:
            problems.append(f"{path}.meter: unknown meter {meter!r}")
    elif meter is not None:
        problems.append(f"{path}.meter: a {model_name} charge does not price a meter")
    model_params = {k: v for k, v in raw.items() if k not in {"code", "name", "model", "meter"}}
    spec = model.parse(model_params, path, problems)
    if code is None or spec is None:
        return None
    return Charge(code, str(raw.get("name") or code), model_name, spec, meter)


def parse_plan(raw: Any, path: str, meter_codes: set[str], problems: list[str]) -> Plan | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code = _text(raw, "code", path, problems)
    if code is not None:
        path = f"plans.{code}"
    currency = _text(raw, "currency", path, problems)
    if currency is not None and currency not in MINOR_UNITS:
        problems.append(f"{path}.currency: unknown currency {currency!r} (use an ISO 4217 code)")
        currency = None
    period_text = raw.get("billing_period", BillingPeriod.MONTH.value)
    try:
        period = BillingPeriod(period_text)
    except ValueError:
        problems.append(
            f"{path}.billing_period: unsupported {period_text!r} "
            f"(expected one of {[p.value for p in BillingPeriod]})"
        )
        period = None
    raw_charges = raw.get("charges")
    if not isinstance(raw_charges, Sequence) or isinstance(raw_charges, str) or not raw_charges:
        problems.append(f"{path}.charges: expected a non-empty list")
        raw_charges = []
    charges = [
        parse_charge(item, f"{path}.charges[{index}]", meter_codes, problems)
        for index, item in enumerate(raw_charges)
    ]
    seen: set[str] = set()
    for index, charge in enumerate(charges):
        if charge is not None and charge.code in seen:
            problems.append(f"{path}.charges[{index}].code: duplicate charge code {charge.code!r}")
        if charge is not None:
            seen.add(charge.code)
    if code is None or currency is None or period is None or None in charges:
        return None
    valid = tuple(charge for charge in charges if charge is not None)
    return Plan(code, str(raw.get("name") or code), currency, period, valid)


def parse_plans(raw: Any, meter_codes: set[str], problems: list[str]) -> dict[str, Plan]:
    """Every plan of the catalog, or problems naming each bad path."""
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        problems.append("plans: expected a non-empty list")
        return {}
    plans: dict[str, Plan] = {}
    for index, item in enumerate(raw):
        plan = parse_plan(item, f"plans[{index}]", meter_codes, problems)
        if plan is None:
            continue
        if plan.code in plans:
            problems.append(f"plans[{index}].code: duplicate plan code {plan.code!r}")
        plans[plan.code] = plan
    return plans

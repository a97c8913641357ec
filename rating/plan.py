"""Plans and their charges, parsed from the catalog's ``plans`` section.

Besides the charge models of :mod:`rating.registry`, a charge may be a
``formula`` over meters and other charges (:mod:`rating.formula`); the
formulas of a plan form a DAG, checked here: an unknown reference or a cycle
is a catalog error naming the charges.
"""

from __future__ import annotations

import graphlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.discounts import Discount, parse_discounts
from rating.formula import Formula, FormulaError, parse_formula
from rating.money import MINOR_UNITS
from rating.registry import CHARGE_MODELS, ChargeModel
from schemas.catalog import Aggregation, BillingPeriod, Meter

FORMULA = "formula"
CHARGE_KEYS = {"code", "name", "model", "meter", "minimum", "free_units"}
PLAN_KEYS = {
    "code",
    "name",
    "currency",
    "billing_period",
    "charges",
    "minimum_commitment",
    "discounts",
}


@dataclass(frozen=True)
class Charge:
    """One priced item of a plan: a charge model, its spec, and the meter it prices."""

    code: str
    name: str
    model: str
    spec: Any
    """The model's parsed parameters; a :class:`Formula` for a formula charge."""
    meter: str | None
    minimum: Decimal | None = None
    """Minimum amount per period; a shortfall becomes a true-up line."""
    free_units: Decimal = Decimal(0)
    """Units of each period's usage that are not priced (usage charges only)."""

    @property
    def is_formula(self) -> bool:
        return self.model == FORMULA

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
    minimum_commitment: Decimal | None = None
    """Minimum total per subscription and period, after discounts; a shortfall is trued up."""
    discounts: tuple[Discount, ...] = field(default=())

    def formula_order(self) -> list[Charge]:
        """Formula charges, each after every charge it references (validated acyclic at load)."""
        by_code = {charge.code: charge for charge in self.charges}
        order = graphlib.TopologicalSorter(_charge_graph(self.charges)).static_order()
        return [by_code[code] for code in order if by_code[code].is_formula]


def _text(raw: Mapping[str, Any], key: str, path: str, problems: list[str]) -> str | None:
    value = raw.get(key)
    if not isinstance(value, str) or not value.strip():
        problems.append(f"{path}.{key}: missing or not a text value")
        return None
    return value


def _formula_charge(
    raw: Mapping[str, Any], path: str, problems: list[str]
) -> tuple[Formula | None, bool]:
    params.reject_unknown(raw, CHARGE_KEYS | {"formula"}, path, problems)
    for key in ("meter", "free_units"):
        if key in raw:
            problems.append(f"{path}.{key}: a formula charge names its meters in the formula")
    text = raw.get("formula")
    if not isinstance(text, str) or not text.strip():
        problems.append(f"{path}.formula: missing or not a text value")
        return None, False
    try:
        return parse_formula(text), True
    except FormulaError as error:
        problems.append(f"{path}.formula: {error}")
        return None, False


def _model_charge(
    raw: Mapping[str, Any],
    path: str,
    model: ChargeModel,
    meter_codes: set[str],
    problems: list[str],
) -> tuple[Any, Decimal]:
    meter = raw.get("meter")
    if model.usage_based:
        if meter is None:
            problems.append(f"{path}.meter: a {model.name} charge needs a meter")
        elif meter not in meter_codes:
            problems.append(f"{path}.meter: unknown meter {meter!r}")
    elif meter is not None:
        problems.append(f"{path}.meter: a {model.name} charge does not price a meter")
    free_units: Decimal | None = Decimal(0)
    if "free_units" in raw:
        if not model.usage_based or model.prices_each_event:
            problems.append(
                f"{path}.free_units: only a charge priced on a period quantity has them"
            )
        free_units = params.quantity(raw["free_units"], f"{path}.free_units", problems)
    model_params = {k: v for k, v in raw.items() if k not in CHARGE_KEYS}
    return model.parse(model_params, path, problems), free_units or Decimal(0)


def parse_charge(raw: Any, path: str, meter_codes: set[str], problems: list[str]) -> Charge | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code = _text(raw, "code", path, problems)
    model_name = _text(raw, "model", path, problems)
    if model_name is None:
        return None
    minimum = None
    if "minimum" in raw:
        minimum = params.fee(raw["minimum"], f"{path}.minimum", problems)
    free_units = Decimal(0)
    if model_name == FORMULA:
        spec, ok = _formula_charge(raw, path, problems)
    elif model_name in CHARGE_MODELS:
        spec, free_units = _model_charge(
            raw, path, CHARGE_MODELS[model_name], meter_codes, problems
        )
        ok = spec is not None
    else:
        problems.append(
            f"{path}.model: unknown charge model {model_name!r} "
            f"(expected one of {sorted([*CHARGE_MODELS, FORMULA])})"
        )
        return None
    if code is None or not ok or ("minimum" in raw and minimum is None):
        return None
    meter = None if model_name == FORMULA else raw.get("meter")
    name = str(raw.get("name") or code)
    return Charge(code, name, model_name, spec, meter, minimum, free_units)


def _charge_graph(charges: Sequence[Charge]) -> dict[str, set[str]]:
    """Each charge code -> the charge codes its formula references."""
    return {
        charge.code: (
            {ref.code for ref in charge.spec.references if ref.kind == "charge"}
            if charge.is_formula
            else set()
        )
        for charge in charges
    }


def check_formulas(
    charges: Sequence[Charge], path: str, meter_codes: set[str], problems: list[str]
) -> None:
    """Every formula reference exists, and no formula depends on itself."""
    codes = {charge.code for charge in charges}
    for index, charge in enumerate(charges):
        if not charge.is_formula:
            continue
        for ref in sorted(charge.spec.references, key=lambda r: (r.kind, r.code)):
            known = codes if ref.kind == "charge" else meter_codes
            if ref.code not in known:
                problems.append(
                    f"{path}[{index}].formula: unknown {ref.kind} {ref.code!r} "
                    f"in charge {charge.code!r}"
                )
    graph = _charge_graph(charges)
    graph = {code: refs & codes for code, refs in graph.items()}
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        cycle = " -> ".join(error.args[1])
        problems.append(f"{path}: formula charges reference each other in a cycle: {cycle}")


def parse_plan(raw: Any, path: str, meter_codes: set[str], problems: list[str]) -> Plan | None:
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code = _text(raw, "code", path, problems)
    if code is not None:
        path = f"plans.{code}"
    params.reject_unknown(raw, PLAN_KEYS, path, problems)
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
    seen = params.flag_duplicate_codes(charges, f"{path}.charges", "charge", problems)
    valid = tuple(charge for charge in charges if charge is not None)
    check_formulas(valid, f"{path}.charges", meter_codes, problems)
    minimum = None
    if "minimum_commitment" in raw:
        minimum = params.fee(raw["minimum_commitment"], f"{path}.minimum_commitment", problems)
    before = len(problems)
    discounts = parse_discounts(raw.get("discounts"), f"{path}.discounts", sorted(seen), problems)
    if code is None or currency is None or period is None or None in charges:
        return None
    if len(problems) > before or ("minimum_commitment" in raw and minimum is None):
        return None
    name = str(raw.get("name") or code)
    return Plan(code, name, currency, period, valid, minimum, discounts)


def per_event_meters(plans: Mapping[str, Plan]) -> set[str]:
    """Meters whose events some charge prices one by one (``prices_each_event``)."""
    return {
        charge.meter
        for plan in plans.values()
        for charge in plan.charges
        if not charge.is_formula and charge.charge_model.prices_each_event and charge.meter
    }


def check_charge_meters(
    plans: Mapping[str, Plan], meters: Mapping[str, Meter], problems: list[str]
) -> None:
    """A charge that prices each event needs a ``sum`` meter: each value is a transaction."""
    for plan in plans.values():
        for index, charge in enumerate(plan.charges):
            if charge.is_formula or not charge.charge_model.prices_each_event:
                continue
            meter = meters.get(charge.meter or "")
            if meter is not None and meter.aggregation is not Aggregation.SUM:
                problems.append(
                    f"plans.{plan.code}.charges[{index}].meter: a {charge.model} charge prices "
                    f"each event's value, so it needs a sum meter; {meter.code!r} is "
                    f"{meter.aggregation}"
                )


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

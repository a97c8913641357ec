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
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

import polars as pl

from rating import params
from rating.commitments import TermCommitment, parse_term_commitment
from rating.discounts import Discount, parse_discounts
from rating.formula import Formula, FormulaError, parse_formula
from rating.money import MINOR_UNITS
from rating.registry import CHARGE_MODELS, ChargeModel
from schemas.catalog import (
    MONTHLY,
    Aggregation,
    Alignment,
    Cadence,
    CadenceUnit,
    Meter,
    Proration,
    Timing,
)
from schemas.tables import PLAN_ITEMS_SCHEMA

FORMULA = "formula"
CHARGE_KEYS = {
    "code",
    "name",
    "model",
    "meter",
    "minimum",
    "free_units",
    "timing",
    "billing_period",
}
PLAN_KEYS = {
    "code",
    "name",
    "currency",
    "billing_period",
    "alignment",
    "proration",
    "charges",
    "minimum_commitment",
    "discounts",
    "progressive_billing",
    "replaced_by",
    "prices",
    "term_commitment",
    "prices_include_tax",
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
    timing: Timing = Timing.IN_ARREARS
    """When a recurring fee is billed; usage is always billed in arrears."""
    cadence: Cadence | None = None
    """A recurring fee's own billing period, when it differs from the plan's."""

    @property
    def is_recurring_fee(self) -> bool:
        """A fee billed every period whatever the usage (e.g. ``flat_fee``)."""
        if self.is_formula:
            return False
        return not self.charge_model.usage_based and not self.charge_model.once

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
class ProgressiveBilling:
    """Invoice a plan period's usage early, once what is unbilled reaches a level.

    Either ``amount`` (the usage charges' amount, in the plan's currency) or a
    ``meter`` and its ``quantity``.
    """

    amount: Decimal | None = None
    meter: str | None = None
    quantity: Decimal | None = None


def parse_progressive(
    raw: Any, path: str, usage_meters: set[str], problems: list[str]
) -> ProgressiveBilling | None:
    """``progressive_billing: {amount: 1000}`` or ``{meter: api_calls, quantity: 1000000}``."""
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping {{amount}} or {{meter, quantity}}")
        return None
    params.reject_unknown(raw, {"amount", "meter", "quantity"}, path, problems)
    if ("amount" in raw) == ("meter" in raw or "quantity" in raw):
        problems.append(f"{path}: give either an amount, or a meter and a quantity")
        return None
    if "amount" in raw:
        amount = params.fee(raw["amount"], f"{path}.amount", problems)
        if amount is not None and amount <= 0:
            problems.append(f"{path}.amount: must be positive")
            return None
        return None if amount is None else ProgressiveBilling(amount=amount)
    meter = raw.get("meter")
    if meter not in usage_meters:
        problems.append(
            f"{path}.meter: {meter!r} is not a meter priced by this plan's usage charges "
            f"(expected one of {sorted(usage_meters)})"
        )
        return None
    quantity = params.quantity(raw.get("quantity"), f"{path}.quantity", problems)
    if quantity is not None and quantity <= 0:
        problems.append(f"{path}.quantity: must be positive")
        return None
    return None if quantity is None else ProgressiveBilling(meter=meter, quantity=quantity)


@dataclass(frozen=True)
class Plan:
    code: str
    name: str
    currency: str
    charges: tuple[Charge, ...]
    minimum_commitment: Decimal | None = None
    """Minimum total per subscription and period, after discounts; a shortfall is trued up."""
    discounts: tuple[Discount, ...] = field(default=())
    cadence: Cadence = MONTHLY
    """The billing period of usage, formulas, minimums and (by default) recurring fees."""
    alignment: Alignment = Alignment.CALENDAR
    proration: Proration = Proration.DAILY
    progressive: ProgressiveBilling | None = None
    prices_include_tax: bool = False
    """Prices are gross: an invoice line's tax is taken out of its amount."""
    term_commitment: TermCommitment | None = None
    """A minimum spend per contract term of several months, trued up when a term closes."""
    replaced_by: tuple[str, date] | None = None
    """A price-list change: every subscription on this plan moves to that plan from that
    day (``replaced_by: {plan: pro_2027, from: 2027-01-01}``)."""

    def fee_cadence(self, charge: Charge) -> Cadence:
        return charge.cadence or self.cadence

    @property
    def meters(self) -> frozenset[str]:
        """Every meter the plan's charges read, directly or in a formula."""
        direct = {charge.meter for charge in self.charges if charge.meter}
        in_formulas = {
            ref.code
            for charge in self.charges
            if charge.is_formula
            for ref in charge.spec.references
            if ref.kind == "meter"
        }
        return frozenset(direct | in_formulas)

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
    charge = Charge(code, name, model_name, spec, meter, minimum, free_units)
    timing, cadence = _fee_schedule(raw, charge, path, problems)
    if timing is None:
        return None
    return Charge(code, name, model_name, spec, meter, minimum, free_units, timing, cadence)


def _fee_schedule(
    raw: Mapping[str, Any], charge: Charge, path: str, problems: list[str]
) -> tuple[Timing | None, Cadence | None]:
    """A recurring fee's ``timing`` and own ``billing_period``; other charges have neither."""
    scheduled = [key for key in ("timing", "billing_period") if key in raw]
    if scheduled and not charge.is_recurring_fee:
        follows = (
            "are billed once, in the run of the month the subscription starts"
            if not charge.is_formula and charge.charge_model.once
            else "follow the plan's billing period, in arrears"
        )
        problems.append(
            f"{path}.{scheduled[0]}: only a recurring fee (flat_fee) has its own "
            f"{scheduled[0]}; {charge.model} charges {follows}"
        )
        return None, None
    timing_text = raw.get("timing", Timing.IN_ARREARS.value)
    try:
        timing = Timing(timing_text)
    except ValueError:
        problems.append(
            f"{path}.timing: unsupported {timing_text!r} (expected one of "
            f"{[t.value for t in Timing]})"
        )
        return None, None
    cadence = None
    if "billing_period" in raw:
        cadence = Cadence.parse(raw["billing_period"])
        if cadence is None:
            problems.append(_bad_cadence(f"{path}.billing_period", raw["billing_period"]))
            return None, None
    return timing, cadence


def _bad_cadence(path: str, value: object) -> str:
    return (
        f"{path}: unsupported {value!r} (expected week, month, quarter, semester, year, "
        "or 'N weeks' / 'N months')"
    )


def _choice(
    raw: Mapping[str, Any],
    key: str,
    kind: type[StrEnum],
    default: StrEnum,
    path: str,
    problems: list[str],
) -> Any:
    text = raw.get(key, default.value)
    try:
        return kind(text)
    except ValueError:
        problems.append(
            f"{path}.{key}: unsupported {text!r} (expected one of {[k.value for k in kind]})"
        )
        return None


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


def parse_plan(
    raw: Any, path: str, meter_codes: set[str], problems: list[str], at: str | None = None
) -> Plan | None:
    """One plan; ``at`` names it in problems (default ``plans.<code>``)."""
    if not isinstance(raw, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    code = _text(raw, "code", path, problems)
    if code is not None and "@" in code:
        problems.append(f"{path}.code: {code!r}: a plan code cannot hold '@'")
        code = None
    if code is not None:
        path = at or f"plans.{code}"
    params.reject_unknown(raw, PLAN_KEYS, path, problems)
    currency = _text(raw, "currency", path, problems)
    if currency is not None and currency not in MINOR_UNITS:
        problems.append(f"{path}.currency: unknown currency {currency!r} (use an ISO 4217 code)")
        currency = None
    period = Cadence.parse(raw.get("billing_period", MONTHLY.text))
    if period is None:
        problems.append(_bad_cadence(f"{path}.billing_period", raw.get("billing_period")))
    elif period.unit is not CadenceUnit.MONTH:
        # A billing run closes one calendar month: a plan period of months ends in at
        # most one of them, so each run meters at most one usage period per subscription.
        problems.append(
            f"{path}.billing_period: a plan is billed per month or longer ({period.text!r}); "
            "give a weekly fee its own billing_period instead"
        )
        period = None
    alignment = _choice(raw, "alignment", Alignment, Alignment.CALENDAR, path, problems)
    proration = _choice(raw, "proration", Proration, Proration.DAILY, path, problems)
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
    progressive = None
    if "progressive_billing" in raw:
        usage_meters = {
            c.meter for c in valid if not c.is_formula and c.charge_model.usage_based and c.meter
        }
        progressive = parse_progressive(
            raw["progressive_billing"], f"{path}.progressive_billing", usage_meters, problems
        )
    term = None
    if "term_commitment" in raw:
        term = parse_term_commitment(raw["term_commitment"], f"{path}.term_commitment", problems)
    replaced_by = _replacement(raw.get("replaced_by"), f"{path}.replaced_by", code, problems)
    if code is None or currency is None or period is None or None in charges:
        return None
    if alignment is None or proration is None:
        return None
    if len(problems) > before or ("minimum_commitment" in raw and minimum is None):
        return None
    name = str(raw.get("name") or code)
    if "replaced_by" in raw and replaced_by is None:
        return None
    inclusive = raw.get("prices_include_tax", False)
    if not isinstance(inclusive, bool):
        problems.append(f"{path}.prices_include_tax: expected true or false")
        return None
    return Plan(
        code,
        name,
        currency,
        valid,
        minimum,
        discounts,
        period,
        alignment,
        proration,
        progressive,
        prices_include_tax=inclusive,
        term_commitment=term,
        replaced_by=replaced_by,
    )


def _replacement(
    raw: Any, path: str, code: str | None, problems: list[str]
) -> tuple[str, date] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or set(raw) != {"plan", "from"}:
        problems.append(f"{path}: expected {{plan: <plan code>, from: <YYYY-MM-DD>}}")
        return None
    target, day = raw["plan"], raw["from"]
    if isinstance(day, str):
        try:
            day = date.fromisoformat(day)
        except ValueError:
            day = None
    if not isinstance(day, date):
        problems.append(f"{path}.from: {raw['from']!r} is not a date (YYYY-MM-DD)")
        return None
    if not isinstance(target, str) or target == code:
        problems.append(f"{path}.plan: expected another plan's code")
        return None
    return target, day


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


def check_replacements(plans: Mapping[str, Plan], problems: list[str]) -> None:
    """A price-list change names a known plan, and no chain of them comes back to its start."""
    for code, plan in plans.items():
        if plan.replaced_by is None:
            continue
        target = plan.replaced_by[0]
        if target not in plans:
            problems.append(f"plans.{code}.replaced_by.plan: unknown plan {target!r}")
            continue
        seen, current = [code], target
        while current in plans and plans[current].replaced_by is not None:
            if current in seen:
                chain = " -> ".join([*seen, current])
                problems.append(f"plans.{code}.replaced_by: the plans replace each other: {chain}")
                break
            seen.append(current)
            current = plans[current].replaced_by[0]  # type: ignore[index]


def price_changes(plans: Mapping[str, Plan]) -> dict[str, tuple[str, date]]:
    """Plan code -> (the plan replacing it, from which day)."""
    return {code: plan.replaced_by for code, plan in plans.items() if plan.replaced_by}


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
    check_replacements(plans, problems)
    return plans


def plan_items(plans: Mapping[str, Plan]) -> pl.DataFrame:
    """How each plan bills (``schemas.tables.PLAN_ITEMS_SCHEMA``): its plan period, each
    recurring fee on its own cadence and timing, each one-time fee on the first period."""
    rows = []
    for plan in plans.values():
        base = (plan.cadence.unit.value, plan.cadence.count, plan.alignment.value)
        rows.append((plan.code, None, *base, Timing.IN_ARREARS.value, False))
        for charge in plan.charges:
            if charge.is_recurring_fee:
                cadence = plan.fee_cadence(charge)
                rows.append(
                    (
                        plan.code,
                        charge.code,
                        cadence.unit.value,
                        cadence.count,
                        plan.alignment.value,
                        charge.timing.value,
                        False,
                    )
                )
            elif not charge.is_formula and charge.charge_model.once:
                rows.append((plan.code, charge.code, *base, Timing.IN_ADVANCE.value, True))
    return pl.DataFrame(rows, schema=PLAN_ITEMS_SCHEMA, orient="row")

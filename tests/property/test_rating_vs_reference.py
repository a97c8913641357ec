"""The Polars rating kernels against the plain-``decimal`` reference, exactly.

Each test parses a generated catalog spec with the registry's own ``parse``
(as the catalog loader does), prices a whole column of ``Decimal(38, 6)``
quantities with the model's ``price`` expression, rounds it with
``rating.money.round_to_minor``, and requires ``Decimal`` equality with
``tests.reference.rating`` on every row.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from aggregation.usage import USAGE_SCHEMA
from rating.money import round_to_minor
from rating.plan import parse_plan
from rating.rate import rate_period
from rating.registry import CHARGE_MODELS
from schemas.errors import RatingError
from schemas.types import AMOUNT, QUANTITY, ROUNDED_AMOUNT, TIMESTAMP
from tests.reference import rating as ref

pytestmark = pytest.mark.hypothesis

MICRO = Decimal("0.000001")  # one unit of the last quantity digit
NANO = Decimal("0.000000001")  # one unit of the last price digit
MAX_QUANTITY = Decimal(10**15)
MAX_PRICE = Decimal(10**6)  # 10**15 units * 10**6 = 10**21 < 10**23, the AMOUNT range
CURRENCIES = st.sampled_from(["EUR", "JPY", "BHD"])
PATHS = st.sampled_from(["plans.pro.charges[1]", "plans[0].charges[0]", "x"])


# --- strategies --------------------------------------------------------------------------


@st.composite
def decimals_up_to(draw: st.DrawFn, max_places: int, min_value: Decimal, max_value: Decimal):
    """A decimal with 0..max_places fractional digits in [min_value, max_value]."""
    places = draw(st.integers(0, max_places))
    return draw(st.decimals(min_value=min_value, max_value=max_value, places=places))


SPECIAL_QUANTITIES = [
    Decimal(0),
    MICRO,
    Decimal(1),
    Decimal("0.5"),
    MAX_QUANTITY,
    MAX_QUANTITY - MICRO,
]
QUANTITIES = st.one_of(
    st.sampled_from(SPECIAL_QUANTITIES),
    decimals_up_to(6, Decimal(0), Decimal(1000)),
    decimals_up_to(6, Decimal(0), MAX_QUANTITY),
)
POSITIVE_QUANTITIES = QUANTITIES.filter(lambda q: q > 0)
QUANTITY_COLUMNS = st.lists(QUANTITIES, min_size=1, max_size=40)

PRICES = st.one_of(
    st.sampled_from([Decimal(0), NANO, Decimal(1), Decimal("0.999999999"), MAX_PRICE - NANO]),
    decimals_up_to(9, Decimal(0), Decimal(1)),
    decimals_up_to(9, Decimal(0), MAX_PRICE),
)


@st.composite
def tier_lists(draw: st.DrawFn) -> list[ref.Tier]:
    """1..6 tiers: strictly increasing inclusive bounds, an unbounded last tier, random fees."""
    bounds = sorted(draw(st.sets(POSITIVE_QUANTITIES, max_size=5)))
    tiers = []
    for bound in [*bounds, None]:
        fee = draw(st.one_of(st.just(Decimal(0)), PRICES))
        tiers.append(ref.Tier(bound, draw(PRICES), fee))
    return tiers


def tiers_raw(tiers: list[ref.Tier], *, omit_zero_fees: bool = True) -> dict[str, Any]:
    """The catalog mapping of a tier list, numbers as their written text (as YAML gives them)."""
    raw = []
    for tier in tiers:
        item: dict[str, Any] = {"unit_price": str(tier.unit_price)}
        if tier.up_to is not None:
            item["up_to"] = str(tier.up_to)
        if tier.flat_fee or not omit_zero_fees:
            item["flat_fee"] = str(tier.flat_fee)
        raw.append(item)
    return {"tiers": raw}


def boundary_quantities(tiers: list[ref.Tier]) -> list[Decimal]:
    """On every bound, one unit either side of it, and halfway between bounds."""
    bounds = [Decimal(0)] + [t.up_to for t in tiers if t.up_to is not None]
    near = {b + d for b in bounds for d in (-MICRO, Decimal(0), MICRO)}
    halves = {((a + b) / 2).quantize(MICRO) for a, b in pairwise(bounds)}
    return sorted(q for q in near | halves if 0 <= q <= MAX_QUANTITY)


# --- harness -----------------------------------------------------------------------------


def parse_spec(model: str, raw: dict[str, Any], path: str = "plans.p.charges[0]") -> Any:
    problems: list[str] = []
    spec = CHARGE_MODELS[model].parse(raw, path, problems)
    assert problems == [], problems
    assert spec is not None
    return spec


def price_column(model: str, spec: Any, quantities: list[Decimal], currency: str) -> pl.DataFrame:
    """Evaluate the model's kernel and the rounding over one column of quantities."""
    frame = pl.DataFrame({"q": quantities}, schema={"q": QUANTITY})
    assert frame["q"].to_list() == quantities  # the harness itself is exact
    price = CHARGE_MODELS[model].price
    return frame.select(
        "q",
        price(pl.col("q"), spec).alias("exact"),
        round_to_minor(price(pl.col("q"), spec), currency).alias("rounded"),
    )


def assert_matches(
    priced: pl.DataFrame, expected_exact: list[Decimal], currency: str, context: object
) -> None:
    assert priced.schema["exact"] == AMOUNT
    assert priced.schema["rounded"] == ROUNDED_AMOUNT
    mismatches = [
        (q, want, got, ref.round_to_minor(want, currency), rounded)
        for q, want, got, rounded in zip(
            priced["q"], expected_exact, priced["exact"], priced["rounded"], strict=True
        )
        if got != want or rounded != ref.round_to_minor(want, currency)
    ]
    assert not mismatches, (
        f"{context}: (quantity, expected exact, kernel exact, expected rounded, kernel rounded)"
        f" {mismatches[:5]}"
    )


# --- kernels vs reference ----------------------------------------------------------------


@given(quantities=QUANTITY_COLUMNS, unit_price=PRICES, currency=CURRENCIES)
@example(quantities=[Decimal(12500)], unit_price=Decimal("0.002"), currency="EUR")  # 25.00
@example(quantities=[MAX_QUANTITY], unit_price=MAX_PRICE - NANO, currency="BHD")
def test_per_unit_matches_reference(
    quantities: list[Decimal], unit_price: Decimal, currency: str
) -> None:
    spec = parse_spec("per_unit", {"unit_price": str(unit_price)})
    assert spec.unit_price == unit_price
    priced = price_column("per_unit", spec, quantities, currency)
    expected = [ref.per_unit_amount(q, unit_price) for q in quantities]
    assert_matches(priced, expected, currency, f"per_unit {unit_price}")


@given(quantities=QUANTITY_COLUMNS, amount=PRICES, currency=CURRENCIES)
@example(quantities=[Decimal(1), Decimal(3)], amount=Decimal("49.00"), currency="EUR")
def test_flat_fee_matches_reference(
    quantities: list[Decimal], amount: Decimal, currency: str
) -> None:
    spec = parse_spec("flat_fee", {"amount": str(amount)})
    priced = price_column("flat_fee", spec, quantities, currency)
    expected = [ref.flat_fee_amount(q, amount) for q in quantities]
    assert_matches(priced, expected, currency, f"flat_fee {amount}")


@given(tiers=tier_lists(), extra=st.lists(QUANTITIES, max_size=20), currency=CURRENCIES)
def test_graduated_matches_reference(
    tiers: list[ref.Tier], extra: list[Decimal], currency: str
) -> None:
    spec = parse_spec("graduated", tiers_raw(tiers))
    quantities = boundary_quantities(tiers) + extra
    priced = price_column("graduated", spec, quantities, currency)
    expected = [ref.graduated_amount(q, tiers) for q in quantities]
    assert_matches(priced, expected, currency, f"graduated {tiers}")


@given(tiers=tier_lists())
def test_graduated_explicit_zero_fee_is_no_fee(tiers: list[ref.Tier]) -> None:
    """Writing ``flat_fee: 0`` prices exactly like leaving it out."""
    omitted = parse_spec("graduated", tiers_raw(tiers))
    explicit = parse_spec("graduated", tiers_raw(tiers, omit_zero_fees=False))
    assert omitted == explicit


D = Decimal
HAND_TIERS = [
    ref.Tier(D(100), D("0.10"), D(5)),
    ref.Tier(D(1000), D("0.08"), D(20)),
    ref.Tier(None, D("0.05")),
]


@pytest.mark.parametrize(
    ("quantity", "exact", "rounded"),
    [
        (D(0), D(0), D("0.00")),  # no tier reached: no units, no fee
        (MICRO, D("5.0000001"), D("5.00")),  # 5 + 0.000001*0.10
        (D(100), D(15), D("15.00")),  # 5 + 100*0.10 = 15, tier 2 not reached (inclusive bound)
        (D("100.000001"), D("35.00000008"), D("35.00")),  # 15 + 20 + 0.000001*0.08
        (D(1250), D("119.5"), D("119.50")),  # 5 + 100*0.10 + 20 + 900*0.08 + 250*0.05 = 119.50
        (D("100.0625"), D("35.005"), D("35.01")),  # 15 + 20 + 0.0625*0.08 = 35.005, tie goes up
    ],
)
def test_graduated_hand_examples(quantity: Decimal, exact: Decimal, rounded: Decimal) -> None:
    assert ref.graduated_amount(quantity, HAND_TIERS) == exact
    assert ref.round_to_minor(exact, "EUR") == rounded
    priced = price_column(
        "graduated", parse_spec("graduated", tiers_raw(HAND_TIERS)), [quantity], "EUR"
    )
    assert priced.row(0) == (quantity, exact, rounded)


# --- rounding ----------------------------------------------------------------------------

AMOUNT_LIMIT = 10**23  # Decimal(38, 15) holds 23 integer digits


@st.composite
def amounts(draw: st.DrawFn, currency: str) -> Decimal:
    """Exact amounts at scale 15, biased to ties and to one unit either side of a tie."""
    minor = ref.MINOR_UNITS[currency]
    sign = draw(st.sampled_from([1, -1]))
    kind = draw(st.sampled_from(["any", "small", "tie", "near_tie"]))
    if kind == "any":
        return Decimal(draw(st.integers(-AMOUNT_LIMIT + 1, AMOUNT_LIMIT - 1))).scaleb(-15)
    if kind == "small":
        return sign * Decimal(draw(st.integers(0, 10**16))).scaleb(-15)
    units = Decimal(draw(st.integers(0, 10**12)))
    tie = (units + Decimal("0.5")).scaleb(-minor)  # exactly half a minor unit above units
    if kind == "near_tie":
        tie += draw(st.sampled_from([-1, 1])) * Decimal(1).scaleb(-15)
    return sign * tie


@given(data=st.data(), currency=CURRENCIES)
def test_round_to_minor_matches_reference(data: st.DataObject, currency: str) -> None:
    values = data.draw(st.lists(amounts(currency), min_size=1, max_size=40))
    frame = pl.DataFrame({"a": values}, schema={"a": AMOUNT})
    assert frame["a"].to_list() == values
    rounded = frame.select(round_to_minor(pl.col("a"), currency)).to_series()
    assert rounded.dtype == ROUNDED_AMOUNT
    expected = [ref.round_to_minor(v, currency) for v in values]
    bad = [(v, e, g) for v, e, g in zip(values, expected, rounded, strict=True) if e != g]
    assert not bad, f"{currency}: (amount, expected, got) {bad[:5]}"


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "EUR", "0.13"),  # half a cent: away from zero
        ("-0.125", "EUR", "-0.13"),  # away from zero, not up
        ("0.124999999999999", "EUR", "0.12"),  # just below the tie
        ("2.5", "JPY", "3"),  # half a yen
        ("-2.5", "JPY", "-3"),
        ("0.4999", "JPY", "0"),
        ("1.0005", "BHD", "1.001"),  # half a fils
        ("1.000499999999999", "BHD", "1.000"),
    ],
)
def test_round_to_minor_hand_examples(amount: str, currency: str, rounded: str) -> None:
    assert ref.round_to_minor(Decimal(amount), currency) == Decimal(rounded)
    got = pl.select(round_to_minor(pl.lit(Decimal(amount), dtype=AMOUNT), currency)).item()
    assert got == Decimal(rounded)


# --- parse rejects bad specs, naming the path --------------------------------------------


def parse_problems(model: str, raw: dict[str, Any], path: str) -> tuple[Any, list[str]]:
    problems: list[str] = []
    spec = CHARGE_MODELS[model].parse(raw, path, problems)
    return spec, problems


@st.composite
def too_precise(draw: st.DrawFn, places: int) -> str:
    """A number with more than ``places`` significant fractional digits, as text."""
    extra = draw(st.integers(places + 1, places + 4))
    digits = draw(st.integers(1, 10**12).filter(lambda n: n % 10 != 0))
    return str(Decimal(digits).scaleb(-extra))


NEGATIVE_PRICES = PRICES.filter(lambda p: p > 0).map(lambda p: str(-p))


@given(tiers=tier_lists().filter(lambda t: len(t) >= 3), data=st.data(), path=PATHS)
def test_graduated_rejects_non_increasing_bounds(
    tiers: list[ref.Tier], data: st.DataObject, path: str
) -> None:
    raw = tiers_raw(tiers)
    index = data.draw(st.integers(1, len(tiers) - 2), label="index")
    previous = tiers[index - 1].up_to
    assert previous is not None
    bad = data.draw(st.one_of(st.just(previous), decimals_up_to(6, Decimal(0), previous)))
    raw["tiers"][index]["up_to"] = str(bad)
    spec, problems = parse_problems("graduated", raw, path)
    assert spec is None
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{path}.tiers[{index}].up_to: must be greater than"), problems


@pytest.mark.parametrize(
    ("tiers", "where"),
    [
        ([{"up_to": 0, "unit_price": 1}, {"unit_price": 1}], "tiers[0].up_to"),  # 0 < u <= 0
        ([{"up_to": 10, "unit_price": 1}, {"up_to": 10, "unit_price": 1}], "tiers[1].up_to"),
        ([{"up_to": 10, "unit_price": 1}], "tiers[0].up_to"),  # the last must be unbounded
        ([{"unit_price": 1}, {"unit_price": 2}], "tiers[0].up_to"),  # only the last unbounded
        ([], "tiers"),
    ],
)
def test_graduated_rejects_bad_tier_lists(tiers: list[dict[str, Any]], where: str) -> None:
    spec, problems = parse_problems("graduated", {"tiers": tiers}, "plans.p.charges[0]")
    assert spec is None
    assert any(p.startswith(f"plans.p.charges[0].{where}:") for p in problems), problems


@given(
    model_key=st.sampled_from(
        [("per_unit", "unit_price"), ("flat_fee", "amount"), ("graduated", "unit_price")]
    ),
    value=st.one_of(
        too_precise(9).map(lambda v: ("decimals", v)),
        NEGATIVE_PRICES.map(lambda v: ("negative", v)),
    ),
    path=PATHS,
)
def test_prices_reject_negative_and_too_many_decimals(
    model_key: tuple[str, str], value: tuple[str, str], path: str
) -> None:
    model, key = model_key
    kind, text = value
    if model == "graduated":
        raw: dict[str, Any] = {"tiers": [{"up_to": 10, "unit_price": 1}, {key: text}]}
        where = f"{path}.tiers[1].{key}"
    else:
        raw = {key: text}
        where = f"{path}.{key}"
    spec, problems = parse_problems(model, raw, path)
    assert spec is None
    message = "must not be negative" if kind == "negative" else "at most 9 decimal places allowed"
    assert problems == [f"{where}: {message}, got {text}"]


@given(tiers=tier_lists(), data=st.data(), path=PATHS)
def test_graduated_rejects_bad_bound_and_fee_numbers(
    tiers: list[ref.Tier], data: st.DataObject, path: str
) -> None:
    """A bound with more than 6 decimals, or a flat fee that is negative or has more than 9."""
    raw = tiers_raw(tiers)
    index = data.draw(st.integers(0, len(tiers) - 1), label="index")
    if tiers[index].up_to is not None and data.draw(st.booleans(), label="bound"):
        key, text = "up_to", data.draw(too_precise(6))
        message = "at most 6 decimal places allowed"
    else:
        key, text = "flat_fee", data.draw(st.one_of(too_precise(9), NEGATIVE_PRICES))
        message = (
            "must not be negative" if text.startswith("-") else "at most 9 decimal places allowed"
        )
    raw["tiers"][index][key] = text
    _, problems = parse_problems("graduated", raw, path)
    assert f"{path}.tiers[{index}].{key}: {message}, got {text}" in problems, problems


# --- numbers outside the decimal types ---------------------------------------------------


def rate_one(charge: dict[str, Any], quantity: Decimal) -> pl.DataFrame:
    """``rate_period`` for one subscription on a one-charge EUR plan, usage ``quantity`` of m."""
    problems: list[str] = []
    raw_plan = {"code": "p", "currency": "EUR", "charges": [{"code": "c", **charge}]}
    plan = parse_plan(raw_plan, "plans[0]", {"m"}, problems)
    assert problems == [], problems
    assert plan is not None
    start, end = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 11, 1, tzinfo=UTC)
    billable = pl.DataFrame(
        [("s1", "c1", "p", start, end, 1)],
        schema={
            "subscription_id": pl.String,
            "customer_id": pl.String,
            "plan_code": pl.String,
            "period_start": TIMESTAMP,
            "period_end": TIMESTAMP,
            "item_quantity": pl.Int64,
        },
        orient="row",
    )
    usage = pl.DataFrame([("s1", "m", "{}", quantity, 1)], schema=USAGE_SCHEMA, orient="row")
    return rate_period(billable, usage, {"p": plan})


def test_rate_period_reports_amount_overflow_as_rating_error() -> None:
    # 10**15 units * 10**9 = 10**24 > the 23 integer digits of Decimal(38, 15)
    with pytest.raises(RatingError, match="does not fit"):
        rate_one({"model": "per_unit", "meter": "m", "unit_price": "1E+9"}, MAX_QUANTITY)


def test_rate_period_largest_amount_that_fits() -> None:
    # 10**15 units * 99999999.999999999 = 99999999999999999000000 (23 integer digits)
    rated = rate_one(
        {"model": "per_unit", "meter": "m", "unit_price": "99999999.999999999"}, MAX_QUANTITY
    )
    assert rated["amount_exact"].item() == Decimal("99999999999999999000000")
    assert rated["amount"].item() == Decimal("99999999999999999000000")


@pytest.mark.parametrize(
    ("model", "raw", "where", "limit"),
    [
        # 1 unit * 1E+23 already overflows the amount type Decimal(38, 15)
        ("per_unit", {"unit_price": "1E+23"}, "unit_price", "1E+23"),
        ("flat_fee", {"amount": "1E+25"}, "amount", "1E+23"),
        # does not fit even the price type Decimal(38, 9)
        ("per_unit", {"unit_price": "1E+30"}, "unit_price", "1E+23"),
        ("flat_fee", {"amount": "1E+29"}, "amount", "1E+23"),
        (
            "graduated",
            {"tiers": [{"up_to": 10, "unit_price": 1, "flat_fee": "1E+24"}, {"unit_price": 1}]},
            "tiers[0].flat_fee",
            "1E+23",
        ),
        # bounds must fit the quantity type Decimal(38, 6)
        (
            "graduated",
            {"tiers": [{"up_to": "1E+32", "unit_price": 1}, {"unit_price": 1}]},
            "tiers[0].up_to",
            "1E+32",
        ),
        (
            "graduated",
            {"tiers": [{"up_to": "1E+40", "unit_price": 1}, {"unit_price": 1}]},
            "tiers[0].up_to",
            "1E+32",
        ),
    ],
)
def test_parse_rejects_numbers_outside_their_decimal_type(
    model: str, raw: dict[str, Any], where: str, limit: str
) -> None:
    spec, problems = parse_problems(model, raw, "plans.p.charges[0]")
    assert spec is None
    prefix = f"plans.p.charges[0].{where}: must be less than {limit}, got "
    assert any(p.startswith(prefix) for p in problems), problems


def test_largest_price_and_bound_are_accepted() -> None:
    """One step below each limit still parses and rates one unit exactly."""
    price = "99999999999999999999999.99"  # rounding to cents must not carry past the limit
    rated = rate_one({"model": "per_unit", "meter": "m", "unit_price": price}, Decimal(1))
    assert rated["amount_exact"].item() == Decimal(price)
    bound = "99999999999999999999999999999999.999999"
    spec, problems = parse_problems(
        "graduated", {"tiers": [{"up_to": bound, "unit_price": 1}, {"unit_price": 0}]}, "x"
    )
    assert problems == [] and spec is not None

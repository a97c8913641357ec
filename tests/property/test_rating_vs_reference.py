"""The Polars rating kernels against the plain-``decimal`` reference, exactly.

Each test parses a generated catalog spec with the registry's own ``parse``
(as the catalog loader does), prices a whole column of ``Decimal(38, 6)``
quantities with the model's ``price`` expression, rounds it with
``rating.money.round_to_minor``, and requires ``Decimal`` equality with
``tests.reference.rating`` on every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_DOWN, Decimal, Inexact, Rounded, localcontext
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from aggregation.usage import USAGE_SCHEMA
from rating.money import round_to_minor
from rating.plan import Plan, parse_plan
from rating.rate import fees_in_full, rate_period
from rating.registry import CHARGE_MODELS
from schemas.errors import RatingError
from schemas.tables import TIER_BREAKDOWN
from schemas.types import AMOUNT, QUANTITY, ROUNDED_AMOUNT
from tests.billable import OCTOBER, october_billable
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


def exact_sum(values: Iterable[Decimal]) -> Decimal:
    """A sum in the reference's exact context (the default one keeps only 28 digits)."""
    with localcontext(ref.EXACT):
        return sum(values, Decimal(0))


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


# --- package -----------------------------------------------------------------------------

PACKAGE_SIZES = st.one_of(
    st.sampled_from([MICRO, Decimal(1), Decimal(3), Decimal(1000), Decimal("0.5")]),
    decimals_up_to(6, MICRO, Decimal(10_000)),
    decimals_up_to(6, MICRO, MAX_QUANTITY),
)


@st.composite
def package_specs(draw: st.DrawFn) -> tuple[Decimal, Decimal, Decimal]:
    """(package_size, package_price, free_units), priced so the most blocks of any quantity
    up to MAX_QUANTITY still fit the amount type: blocks * price < 10**22."""
    size = draw(PACKAGE_SIZES)
    most_blocks = MAX_QUANTITY // size + 1  # at least the ceiling
    highest = min(MAX_PRICE, Decimal(10**22) / most_blocks).quantize(NANO, rounding=ROUND_DOWN)
    package_price = draw(
        st.one_of(st.sampled_from([Decimal(0), highest]), decimals_up_to(9, Decimal(0), highest))
    )
    free_units = draw(st.one_of(st.just(Decimal(0)), QUANTITIES))
    return size, package_price, free_units


def package_raw(size: Decimal, package_price: Decimal, free_units: Decimal) -> dict[str, Any]:
    raw = {"package_size": str(size), "package_price": str(package_price)}
    if free_units:
        raw["free_units"] = str(free_units)
    return raw


def block_boundaries(size: Decimal, free_units: Decimal) -> list[Decimal]:
    """The free units and the first blocks' ends, exactly and one micro-unit either side."""
    ends = {free_units + k * size + d for k in range(4) for d in (-MICRO, Decimal(0), MICRO)}
    return sorted(q for q in ends if 0 <= q <= MAX_QUANTITY)


@given(spec=package_specs(), extra=st.lists(QUANTITIES, max_size=20), currency=CURRENCIES)
@example(spec=(Decimal(1000), Decimal(5), Decimal(100)), extra=[Decimal(2101)], currency="EUR")
@example(spec=(MICRO, Decimal(10), Decimal(0)), extra=[MAX_QUANTITY], currency="JPY")
def test_package_matches_reference(
    spec: tuple[Decimal, Decimal, Decimal], extra: list[Decimal], currency: str
) -> None:
    size, package_price, free_units = spec
    parsed = parse_spec("package", package_raw(size, package_price, free_units))
    quantities = block_boundaries(size, free_units) + extra
    priced = price_column("package", parsed, quantities, currency)
    expected = [ref.package_amount(q, size, package_price, free_units) for q in quantities]
    assert_matches(priced, expected, currency, f"package {spec}")


@pytest.mark.parametrize(
    ("quantity", "exact"),
    [
        (D(0), D(0)),  # no usage, no block
        (D(100), D(0)),  # all within the 100 free units
        (D("100.000001"), D(5)),  # one micro-unit past the free units starts block 1
        (D(1100), D(5)),  # 1000 billable units fill block 1 exactly
        (D("1100.000001"), D(10)),  # a sliver of block 2 pays it in full: 2 * 5
        (D(2101), D(15)),  # ceil(2001 / 1000) = 3 blocks * 5
    ],
)
def test_package_hand_examples(quantity: Decimal, exact: Decimal) -> None:
    raw = {"package_size": "1000", "package_price": "5", "free_units": "100"}
    assert ref.package_amount(quantity, D(1000), D(5), D(100)) == exact
    priced = price_column("package", parse_spec("package", raw), [quantity], "EUR")
    assert priced["exact"].item() == exact


def test_free_packages_cost_nothing_however_many() -> None:
    # 10**15 units in blocks of one micro-unit is 10**21 blocks; at price 0 that is 0, not an error
    spec = parse_spec("package", {"package_size": "0.000001", "package_price": "0"})
    priced = price_column("package", spec, [MAX_QUANTITY, D(0)], "EUR")
    assert priced["exact"].to_list() == [D(0), D(0)]


# --- volume ------------------------------------------------------------------------------


@given(tiers=tier_lists(), extra=st.lists(QUANTITIES, max_size=20), currency=CURRENCIES)
def test_volume_matches_reference(
    tiers: list[ref.Tier], extra: list[Decimal], currency: str
) -> None:
    spec = parse_spec("volume", tiers_raw(tiers))
    quantities = boundary_quantities(tiers) + extra
    priced = price_column("volume", spec, quantities, currency)
    expected = [ref.volume_amount(q, tiers) for q in quantities]
    assert_matches(priced, expected, currency, f"volume {tiers}")


@pytest.mark.parametrize(
    ("quantity", "exact"),
    [
        (D(0), D(0)),  # no tier reached: no units, no fee
        (MICRO, D("5.0000001")),  # tier 1: 0.000001*0.10 + 5
        (D(100), D(15)),  # on the bound, still tier 1: 100*0.10 + 5
        (D("100.000001"), D("28.00000008")),  # tier 2 for every unit: 100.000001*0.08 + 20
        (D(1250), D("62.5")),  # tier 3, no fee: 1250*0.05
    ],
)
def test_volume_hand_examples(quantity: Decimal, exact: Decimal) -> None:
    assert ref.volume_amount(quantity, HAND_TIERS) == exact
    priced = price_column("volume", parse_spec("volume", tiers_raw(HAND_TIERS)), [quantity], "EUR")
    assert priced["exact"].item() == exact


@given(tiers=tier_lists(), quantities=QUANTITY_COLUMNS)
def test_volume_breakdown_is_the_tier_reached(tiers: list[ref.Tier], quantities: list[Decimal]):
    spec = parse_spec("volume", tiers_raw(tiers))
    frame = pl.DataFrame({"q": quantities}, schema={"q": QUANTITY})
    model = CHARGE_MODELS["volume"]
    assert model.breakdown is not None
    out = frame.select(
        model.price(pl.col("q"), spec).alias("exact"),
        model.breakdown(pl.col("q"), spec).cast(TIER_BREAKDOWN).alias("tiers"),
    )
    for q, exact, rows in zip(quantities, out["exact"], out["tiers"].to_list(), strict=True):
        if q == 0:
            assert rows == []
            continue
        [row] = rows
        tier = tiers[row["tier"] - 1]
        assert (row["units"], row["unit_price"], row["flat_fee"]) == (
            q,
            tier.unit_price,
            tier.flat_fee,
        )
        assert row["amount"] == exact == ref.volume_amount(q, tiers)


# --- stairstep ---------------------------------------------------------------------------


@st.composite
def band_lists(draw: st.DrawFn) -> list[ref.Band]:
    """1..6 bands with strictly increasing bounds, sometimes a first band [0, 0]."""
    bounds = sorted(draw(st.sets(POSITIVE_QUANTITIES, max_size=5)))
    if draw(st.booleans()):
        bounds = [Decimal(0), *bounds]
    return [ref.Band(bound, draw(PRICES)) for bound in [*bounds, None]]


def bands_raw(bands: list[ref.Band]) -> dict[str, Any]:
    raw = []
    for band in bands:
        item = {"price": str(band.price)}
        if band.up_to is not None:
            item["up_to"] = str(band.up_to)
        raw.append(item)
    return {"bands": raw}


@given(bands=band_lists(), extra=st.lists(QUANTITIES, max_size=20), currency=CURRENCIES)
@example(
    bands=[ref.Band(D(0), D(0)), ref.Band(D(10), D(50)), ref.Band(None, D(200))],
    extra=[D(0), MICRO],
    currency="EUR",
)
def test_stairstep_matches_reference(
    bands: list[ref.Band], extra: list[Decimal], currency: str
) -> None:
    spec = parse_spec("stairstep", bands_raw(bands))
    as_tiers = [ref.Tier(band.up_to, band.price) for band in bands]  # for the bounds only
    quantities = boundary_quantities(as_tiers) + extra
    priced = price_column("stairstep", spec, quantities, currency)
    expected = [ref.stairstep_amount(q, bands) for q in quantities]
    assert_matches(priced, expected, currency, f"stairstep {bands}")
    breakdown = CHARGE_MODELS["stairstep"].breakdown
    assert breakdown is not None
    rows = pl.DataFrame({"q": quantities}, schema={"q": QUANTITY}).select(
        breakdown(pl.col("q"), spec).cast(TIER_BREAKDOWN)
    )
    for q, want, [row] in zip(quantities, expected, rows.to_series().to_list(), strict=True):
        assert bands[row["tier"] - 1].price == want == row["amount"] == row["flat_fee"], q


def test_stairstep_zero_usage_is_in_the_first_band() -> None:
    spec = parse_spec("stairstep", {"bands": [{"up_to": 10, "price": 50}, {"price": 200}]})
    priced = price_column("stairstep", spec, [D(0), D(10), D("10.000001")], "EUR")
    assert priced["exact"].to_list() == [D(50), D(50), D(200)]  # inclusive bounds, 0 in band 1


# --- percentage (per transaction) --------------------------------------------------------

RATES = st.one_of(
    st.sampled_from([Decimal(0), Decimal("0.0000001"), Decimal("2.9"), Decimal(100)]),
    decimals_up_to(7, Decimal(0), Decimal(10)),
    decimals_up_to(7, Decimal(0), Decimal(1000)),
)
OPTIONAL_FEES = st.one_of(st.none(), PRICES)


@st.composite
def percentage_specs(draw: st.DrawFn) -> dict[str, Decimal | None]:
    """Reference arguments: rate, fixed fee, and optional per-transaction min <= max."""
    low, high = draw(OPTIONAL_FEES), draw(OPTIONAL_FEES)
    if low is not None and high is not None and low > high:
        low, high = high, low
    fixed_fee = draw(st.one_of(st.just(Decimal(0)), PRICES))
    return {"rate": draw(RATES), "fixed_fee": fixed_fee, "minimum": low, "maximum": high}


def percentage_raw(spec: dict[str, Decimal | None]) -> dict[str, Any]:
    raw = {"rate": str(spec["rate"])}
    for key, name in (
        ("fixed_fee", "fixed_fee"),
        ("minimum", "min_per_transaction"),
        ("maximum", "max_per_transaction"),
    ):
        if spec[key] is not None:
            raw[name] = str(spec[key])
    return raw


def clamp_boundaries(spec: dict[str, Decimal | None]) -> list[Decimal]:
    """Transaction amounts where the fee meets the minimum or the maximum, and a micro-unit
    either side (rounded to the quantity scale where the exact one does not exist)."""
    rate, fixed_fee = spec["rate"], spec["fixed_fee"]
    assert rate is not None and fixed_fee is not None
    if rate == 0:
        return []
    values = set()
    for bound in (spec["minimum"], spec["maximum"]):
        if bound is not None:
            with localcontext(ref.EXACT) as context:
                context.traps[Inexact] = context.traps[Rounded] = False
                meets = ((bound - fixed_fee) * 100 / rate).quantize(MICRO)
            values |= {meets - MICRO, meets, meets + MICRO}
    return sorted(v for v in values if 0 <= v <= MAX_QUANTITY)


@given(spec=percentage_specs(), extra=QUANTITY_COLUMNS, currency=CURRENCIES)
@example(
    spec={"rate": D("2.9"), "fixed_fee": D("0.30"), "minimum": D("0.50"), "maximum": D(10)},
    extra=[D(0), D(20), D(1000)],  # 0.30 -> 0.50; 0.58 + 0.30 = 0.88; 29.30 -> 10.00
    currency="EUR",
)
def test_percentage_matches_reference_per_transaction_and_summed(
    spec: dict[str, Decimal | None], extra: list[Decimal], currency: str
) -> None:
    values = clamp_boundaries(spec) + extra
    parsed = parse_spec("percentage", percentage_raw(spec))
    assert CHARGE_MODELS["percentage"].prices_each_event
    priced = price_column("percentage", parsed, values, currency)
    expected = [ref.percentage_fee(v, **spec) for v in values]
    assert_matches(priced, expected, currency, f"percentage {spec}")
    # The period's amount: the sum of the exact fees, in any row order, rounded once.
    price = CHARGE_MODELS["percentage"].price
    frame = pl.DataFrame({"v": values}, schema={"v": QUANTITY})
    for ordered in (frame, frame.reverse(), frame.sample(fraction=1.0, shuffle=True, seed=7)):
        total = ordered.select(price(pl.col("v"), parsed).sum().alias("t"))
        assert total.schema["t"] == AMOUNT
        assert total.item() == exact_sum(expected)
    rounded = frame.select(round_to_minor(price(pl.col("v"), parsed).sum(), currency)).item()
    assert rounded == ref.round_to_minor(exact_sum(expected), currency)


# --- graduated percentage ----------------------------------------------------------------


@st.composite
def rate_tier_lists(draw: st.DrawFn) -> list[ref.RateTier]:
    bounds = sorted(draw(st.sets(POSITIVE_QUANTITIES, max_size=5)))
    return [
        ref.RateTier(bound, draw(RATES), draw(st.one_of(st.just(Decimal(0)), PRICES)))
        for bound in [*bounds, None]
    ]


def rate_tiers_raw(tiers: list[ref.RateTier]) -> dict[str, Any]:
    raw = []
    for tier in tiers:
        item = {"rate": str(tier.rate)}
        if tier.up_to is not None:
            item["up_to"] = str(tier.up_to)
        if tier.flat_fee:
            item["flat_fee"] = str(tier.flat_fee)
        raw.append(item)
    return {"tiers": raw}


@given(tiers=rate_tier_lists(), extra=st.lists(QUANTITIES, max_size=20), currency=CURRENCIES)
def test_graduated_percentage_matches_reference(
    tiers: list[ref.RateTier], extra: list[Decimal], currency: str
) -> None:
    spec = parse_spec("graduated_percentage", rate_tiers_raw(tiers))
    as_tiers = [ref.Tier(t.up_to, t.rate) for t in tiers]  # for the bounds only
    quantities = boundary_quantities(as_tiers) + extra
    priced = price_column("graduated_percentage", spec, quantities, currency)
    expected = [ref.graduated_percentage_amount(q, tiers) for q in quantities]
    assert_matches(priced, expected, currency, f"graduated_percentage {tiers}")
    breakdown = CHARGE_MODELS["graduated_percentage"].breakdown
    assert breakdown is not None
    rows = pl.DataFrame({"q": quantities}, schema={"q": QUANTITY}).select(
        breakdown(pl.col("q"), spec).cast(TIER_BREAKDOWN)
    )
    for q, want, detail in zip(quantities, expected, rows.to_series().to_list(), strict=True):
        assert exact_sum(row["amount"] for row in detail) == want, q
        assert all(row["unit_price"] == tiers[row["tier"] - 1].rate / 100 for row in detail)


# --- one-shot ----------------------------------------------------------------------------


@given(quantities=QUANTITY_COLUMNS, amount=PRICES, currency=CURRENCIES)
@example(quantities=[Decimal(3)], amount=Decimal("250.00"), currency="EUR")  # 3 * 250 = 750
def test_one_shot_matches_reference(
    quantities: list[Decimal], amount: Decimal, currency: str
) -> None:
    spec = parse_spec("one_shot", {"amount": str(amount)})
    assert CHARGE_MODELS["one_shot"].once
    assert not CHARGE_MODELS["one_shot"].usage_based
    priced = price_column("one_shot", spec, quantities, currency)
    expected = [ref.one_shot_amount(q, amount) for q in quantities]
    assert_matches(priced, expected, currency, f"one_shot {amount}")


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


# Where each model reads a money parameter: (model, the raw spec around it, path to it). The
# placeholder VALUE is replaced by the number under test; every other parameter is valid.
VALUE = object()
MONEY_PARAMETERS: list[tuple[str, dict[str, Any], str]] = [
    ("per_unit", {"unit_price": VALUE}, "unit_price"),
    ("flat_fee", {"amount": VALUE}, "amount"),
    ("one_shot", {"amount": VALUE}, "amount"),
    (
        "graduated",
        {"tiers": [{"up_to": 10, "unit_price": 1}, {"unit_price": VALUE}]},
        "tiers[1].unit_price",
    ),
    (
        "volume",
        {"tiers": [{"up_to": 10, "unit_price": 1}, {"unit_price": VALUE}]},
        "tiers[1].unit_price",
    ),
    (
        "volume",
        {"tiers": [{"up_to": 10, "unit_price": 1, "flat_fee": VALUE}, {"unit_price": 1}]},
        "tiers[0].flat_fee",
    ),
    ("stairstep", {"bands": [{"up_to": 10, "price": 1}, {"price": VALUE}]}, "bands[1].price"),
    ("package", {"package_size": 10, "package_price": VALUE}, "package_price"),
    ("percentage", {"rate": 1, "fixed_fee": VALUE}, "fixed_fee"),
    ("percentage", {"rate": 1, "min_per_transaction": VALUE}, "min_per_transaction"),
    ("percentage", {"rate": 1, "max_per_transaction": VALUE}, "max_per_transaction"),
    (
        "graduated_percentage",
        {"tiers": [{"up_to": 10, "rate": 1, "flat_fee": VALUE}, {"rate": 1}]},
        "tiers[0].flat_fee",
    ),
]


def with_value(raw: Any, text: str) -> Any:
    """A copy of ``raw`` with the VALUE placeholder replaced by ``text``."""
    if raw is VALUE:
        return text
    if isinstance(raw, dict):
        return {key: with_value(item, text) for key, item in raw.items()}
    if isinstance(raw, list):
        return [with_value(item, text) for item in raw]
    return raw


@given(
    parameter=st.sampled_from(MONEY_PARAMETERS),
    value=st.one_of(
        too_precise(9).map(lambda v: ("decimals", v)),
        NEGATIVE_PRICES.map(lambda v: ("negative", v)),
    ),
    path=PATHS,
)
def test_prices_reject_negative_and_too_many_decimals(
    parameter: tuple[str, dict[str, Any], str], value: tuple[str, str], path: str
) -> None:
    model, raw, key = parameter
    kind, text = value
    spec, problems = parse_problems(model, with_value(raw, text), path)
    assert spec is None
    message = "must not be negative" if kind == "negative" else "at most 9 decimal places allowed"
    assert problems == [f"{path}.{key}: {message}, got {text}"]


RATE_PARAMETERS: list[tuple[str, dict[str, Any], str]] = [
    ("percentage", {"rate": VALUE}, "rate"),
    (
        "graduated_percentage",
        {"tiers": [{"up_to": 10, "rate": 1}, {"rate": VALUE}]},
        "tiers[1].rate",
    ),
]


@given(
    parameter=st.sampled_from(RATE_PARAMETERS),
    value=st.one_of(
        too_precise(7).map(lambda v: ("decimals", v)),
        NEGATIVE_PRICES.map(lambda v: ("negative", v)),
    ),
    path=PATHS,
)
def test_rates_reject_negative_and_more_than_seven_decimals(
    parameter: tuple[str, dict[str, Any], str], value: tuple[str, str], path: str
) -> None:
    """A percent has at most 7 decimal places, so that rate / 100 is a 9-place price."""
    model, raw, key = parameter
    kind, text = value
    spec, problems = parse_problems(model, with_value(raw, text), path)
    assert spec is None
    message = "must not be negative" if kind == "negative" else "at most 7 decimal places allowed"
    assert problems == [f"{path}.{key}: {message}, got {text}"]


@given(rate=decimals_up_to(7, Decimal(0), Decimal(10**6)))
def test_any_seven_place_rate_is_an_exact_price(rate: Decimal) -> None:
    spec = parse_spec("graduated_percentage", {"tiers": [{"rate": str(rate)}]})
    assert spec.as_graduated().tiers[0].unit_price * 100 == rate
    priced = price_column("graduated_percentage", spec, [Decimal(100)], "EUR")
    assert priced["exact"].item() == rate  # 100 units of volume at rate % is the rate itself


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
    october = OCTOBER[0].date()
    billable = october_billable("p", {"s1": october})
    usage = pl.DataFrame([("s1", "m", "{}", quantity, 1)], schema=USAGE_SCHEMA, orient="row")
    return rate_period(billable, usage, {"p": plan}, october)


def _flat_fee_plan() -> Plan:
    """Plan ``p``: one flat fee of 9 EUR."""
    problems: list[str] = []
    raw_plan = {
        "code": "p",
        "currency": "EUR",
        "charges": [{"code": "f", "model": "flat_fee", "amount": "9"}],
    }
    plan = parse_plan(raw_plan, "plans[0]", set(), problems)
    assert problems == [] and plan is not None, problems
    return plan


def test_fee_periods_of_a_subscription_that_is_not_billable_are_refused() -> None:
    """Rating prices each subscription by its place among the billable ones: a fee period
    of another subscription has none, and is an error rather than a fee silently dropped."""
    plan = _flat_fee_plan()
    october = OCTOBER[0].date()
    elsewhere = fees_in_full(october_billable("p", {"s2": october}), {"p": plan}, october)
    usage = pl.DataFrame(schema=USAGE_SCHEMA)
    with pytest.raises(ValueError, match="every fee period's subscription must be in billable"):
        rate_period(
            october_billable("p", {"s1": october}), usage, {"p": plan}, october, fees=elsewhere
        )


def test_the_subscriptions_a_caller_gives_must_hold_every_billable_one() -> None:
    """A billing run hands rating the sorted ids it keyed its usage by; the lines are the
    ones rating finds itself, and ids missing a billable subscription are an error, not
    its charges silently dropped."""
    plan = _flat_fee_plan()
    october = OCTOBER[0].date()
    billable = october_billable("p", {"s2": october, "s1": october})
    usage = pl.DataFrame(schema=USAGE_SCHEMA)
    found = rate_period(billable, usage, {"p": plan}, october)
    given = rate_period(
        billable, usage, {"p": plan}, october, subscriptions=pl.Series(["s1", "s2"])
    )
    assert_frame_equal(given, found)
    assert found["subscription_id"].to_list() == ["s1", "s2"]
    with pytest.raises(ValueError, match="every billable subscription must be among them"):
        rate_period(billable, usage, {"p": plan}, october, subscriptions=pl.Series(["s1"]))


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

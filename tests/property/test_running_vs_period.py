"""The Numba running-rating kernel against the period price and a plain-``decimal`` loop.

Three promises of ``rating.running``, each checked exactly (``Decimal`` equality):

* per event, the running quantity and amounts equal ``tests.reference.running``;
* per subscription, the event amounts add up to ``rating.models.graduated.price``
  of the period quantity, the vectorized period rating;
* where a value does not fit the kernel's integers, a ``RatingError`` naming the
  first such row, never a number.

Events are drawn as each subscription's successive running totals, so usage
lands exactly on tier bounds, a micro-unit either side of them, stays put
(zero-quantity events), and reaches the representation limits.
"""

from __future__ import annotations

import re
from decimal import Decimal, localcontext
from itertools import pairwise

import polars as pl
import pytest
from hypothesis import currently_in_test_context, event, given
from hypothesis import strategies as st

from rating.models.graduated import GraduatedSpec
from rating.models.graduated import Tier as SpecTier
from rating.models.graduated import price as graduated_price
from rating.running import (
    CUMULATIVE_AMOUNT,
    CUMULATIVE_QUANTITY,
    EVENT_AMOUNT,
    ROW_INDEX,
    first_crossing,
    running_graduated,
)
from schemas.errors import RatingError
from schemas.types import AMOUNT, QUANTITY
from tests.reference import running as ref

pytestmark = pytest.mark.hypothesis

D = Decimal
MICRO = D("0.000001")
NANO = D("0.000000001")
SUBSCRIPTIONS = ["sub_a", "sub_b", "sub_c"]

# --- strategies --------------------------------------------------------------------------


@st.composite
def decimals_up_to(draw: st.DrawFn, places: int, low: Decimal, high: Decimal) -> Decimal:
    """A decimal in [low, high] with 0..places fractional digits."""
    return draw(st.decimals(min_value=low, max_value=high, places=draw(st.integers(0, places))))


BOUNDS = st.one_of(
    decimals_up_to(6, MICRO, D(1000)),
    decimals_up_to(6, MICRO, D(10**13)),  # up to just beyond the kernel's quantity range
    st.sampled_from([MICRO, D(1), ref.MAX_QUANTITY - MICRO, ref.MAX_QUANTITY, D(10**20)]),
)
PRICES = st.one_of(
    st.sampled_from([D(0), NANO, D(1), D("0.999999999")]),
    decimals_up_to(9, D(0), D(10)),
    decimals_up_to(9, D(0), ref.MAX_UNIT_PRICE),
)
# Rarely beyond what an int64 of nano-units holds, to see the kernel refuse them.
HUGE_PRICES = st.sampled_from([ref.MAX_UNIT_PRICE + NANO, D(10**12)])
FEES = st.one_of(
    st.just(D(0)), PRICES, st.sampled_from([D(5 * 10**22), D("99999999999999999999999.999999999")])
)


@st.composite
def tier_lists(draw: st.DrawFn, *, huge: bool = False) -> list[ref.Tier]:
    """1..5 tiers: strictly increasing inclusive bounds, an unbounded last tier, random fees."""
    bounds = sorted(draw(st.sets(BOUNDS, max_size=4)))
    fees = FEES if huge else st.one_of(st.just(D(0)), PRICES)
    tiers = []
    for bound in [*bounds, None]:
        # One tier in ten priced beyond the kernel: often enough to test, rarely enough
        # not to hide the other limits.
        beyond = huge and draw(st.integers(0, 9)) == 0
        tiers.append(ref.Tier(bound, draw(HUGE_PRICES if beyond else PRICES), draw(fees)))
    return tiers


def near_bounds(tiers: list[ref.Tier]) -> list[Decimal]:
    """Running totals worth landing on: 0, each bound and a micro-unit either side."""
    bounds = [D(0)] + [tier.up_to for tier in tiers if tier.up_to is not None]
    with localcontext(ref.EXACT):
        return sorted({bound + step for bound in bounds for step in (-MICRO, D(0), MICRO)})


HALF = (ref.MAX_QUANTITY / 2).quantize(MICRO)
NEAR_LIMITS = [HALF, ref.MAX_QUANTITY - MICRO, ref.MAX_QUANTITY, ref.MAX_QUANTITY + MICRO]
NEAR_LIMITS += [-total for total in NEAR_LIMITS]
"""Running totals around the kernel's quantity range, reached in one step or in two."""


@st.composite
def events_for(
    draw: st.DrawFn, tiers: list[ref.Tier], *, huge: bool = False
) -> list[tuple[str, Decimal | None]]:
    """Several subscriptions' events, contiguous per subscription, as (subscription, quantity).

    Each subscription's running totals are drawn first (near tier bounds or anywhere)
    and its quantities are their differences; sorting the totals gives usage that only
    grows, leaving them unsorted gives negative quantities (credits, corrections).
    """
    limit = D(2 * 10**13) if huge else D(10**6)
    only_grows = draw(st.booleans()) or draw(st.booleans())
    totals = st.one_of(
        st.sampled_from(near_bounds(tiers)),
        decimals_up_to(6, D(0), D(1000)),
        decimals_up_to(6, D(0), limit),
        st.sampled_from(NEAR_LIMITS) if huge else st.nothing(),
        st.nothing() if only_grows else decimals_up_to(6, -limit, D(0)),
    )
    events: list[tuple[str, Decimal | None]] = []
    for subscription in draw(st.lists(st.sampled_from(SUBSCRIPTIONS), unique=True, max_size=3)):
        path = draw(st.lists(totals, min_size=1, max_size=12))
        if only_grows:
            path.sort()
        with localcontext(ref.EXACT):
            quantities: list[Decimal | None] = [
                after - before for before, after in pairwise([D(0), *path])
            ]
        if draw(st.booleans()):
            quantities.insert(draw(st.integers(0, len(quantities))), None)
        events += [(subscription, quantity) for quantity in quantities]
    return events


# --- harness -----------------------------------------------------------------------------


def spec_of(tiers: list[ref.Tier]) -> GraduatedSpec:
    return GraduatedSpec(tuple(SpecTier(t.up_to, t.unit_price, t.flat_fee) for t in tiers))


def frame_of(events: list[tuple[str, Decimal | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "subscription_id": [subscription for subscription, _ in events],
            "event_id": [f"e{index}" for index in range(len(events))],
            "quantity": [quantity for _, quantity in events],
        },
        schema={"subscription_id": pl.String, "event_id": pl.String, "quantity": QUANTITY},
    )
    assert frame["quantity"].to_list() == [q for _, q in events]  # the harness is exact
    return frame


def rate_or_refuse(tiers: list[ref.Tier], events: list[tuple[str, Decimal | None]]):
    """The kernel's output, or ``None`` after checking it refused the reference's first row."""
    expected = ref.running(events, tiers)
    refused = ref.first_refused_row(expected, tiers)
    frame = frame_of(events)
    if refused is not None:
        with pytest.raises(RatingError, match=rf"row {refused}:") as error:
            running_graduated(frame, spec_of(tiers))
        assert "\n" not in str(error.value)
        if currently_in_test_context():  # which limit was hit, for --hypothesis-show-statistics
            limits = ["cumulative quantity", "quantity", "unit price", "amount"]
            event("refused: " + next(k for k in limits if k in str(error.value)))
        return None, expected
    return running_graduated(frame, spec_of(tiers)), expected


def kernel_rows(rated: pl.DataFrame) -> list[tuple[Decimal, Decimal, Decimal]]:
    return rated.select(CUMULATIVE_QUANTITY, CUMULATIVE_AMOUNT, EVENT_AMOUNT).rows()


def reference_rows(expected: list[ref.Row]) -> list[tuple[Decimal, Decimal, Decimal]]:
    return [(r.cumulative_quantity, r.cumulative_amount, r.event_amount) for r in expected]


# --- kernel vs reference and vs the period price ------------------------------------------


def check_against_reference_and_period_price(
    tiers: list[ref.Tier], events: list[tuple[str, Decimal | None]]
) -> None:
    rated, expected = rate_or_refuse(tiers, events)
    if rated is None:
        return
    assert rated.schema[CUMULATIVE_QUANTITY] == QUANTITY
    assert rated.schema[EVENT_AMOUNT] == rated.schema[CUMULATIVE_AMOUNT] == AMOUNT
    assert kernel_rows(rated) == reference_rows(expected)

    # The period price of each subscription's total, by the vectorized graduated model.
    period = (
        rated.group_by("subscription_id")
        .agg(pl.col("quantity").sum(), pl.col(EVENT_AMOUNT).sum())
        .with_columns(graduated_price(pl.col("quantity"), spec_of(tiers)).alias("period_price"))
    )
    for subscription, total, summed, period_price in period.select(
        "subscription_id", "quantity", EVENT_AMOUNT, "period_price"
    ).rows():
        assert summed == period_price == ref.graduated_amount(total, tiers), subscription


@given(data=st.data(), tiers=tier_lists())
def test_running_matches_reference_and_adds_up_to_the_period_price(data, tiers) -> None:
    check_against_reference_and_period_price(tiers, data.draw(events_for(tiers)))


def test_worked_example_of_the_module() -> None:
    """60 + 60 + 900 + 230 units add 6.00 + 10.60 + 71.40 + 11.50 = 99.50 = price(1,250)."""
    tiers = [ref.Tier(D(100), D("0.10")), ref.Tier(D(1000), D("0.08"), D(5))]
    tiers.append(ref.Tier(None, D("0.05")))
    check_against_reference_and_period_price(tiers, [("a", D(q)) for q in (60, 60, 900, 230)])


@given(data=st.data(), tiers=tier_lists(huge=True))
def test_values_beyond_the_kernel_are_refused_not_wrapped(data, tiers) -> None:
    """Quantities near 2**63 micro-units, prices near 2**63 nano-units, fees near 10**23."""
    check_against_reference_and_period_price(tiers, data.draw(events_for(tiers, huge=True)))


THRESHOLDS = st.one_of(
    st.none(),
    st.sampled_from([D(0), D(1), D(100), D(-1)]),
    decimals_up_to(6, D(0), D(2000)),
)


@given(data=st.data(), tiers=tier_lists(), amount=THRESHOLDS, quantity=THRESHOLDS)
def test_first_crossing_matches_a_plain_running_total(data, tiers, amount, quantity) -> None:
    events = data.draw(events_for(tiers))
    rated, expected = rate_or_refuse(tiers, events)
    if rated is None:
        return
    # A threshold right on a reached running amount must count as reached (>=).
    if amount is None and expected and data.draw(st.booleans()):
        amount = data.draw(st.sampled_from([r.cumulative_amount for r in expected]))
    if amount is None and quantity is None:
        with pytest.raises(ValueError, match="threshold"):
            first_crossing(rated)
        return
    crossings = first_crossing(rated, amount_threshold=amount, quantity_threshold=quantity)
    want = ref.first_crossing(expected, amount_threshold=amount, quantity_threshold=quantity)
    assert dict(crossings.select("subscription_id", ROW_INDEX).rows()) == want
    assert crossings["event_id"].to_list() == [f"e{index}" for index in want.values()]
    assert crossings.select(CUMULATIVE_QUANTITY, CUMULATIVE_AMOUNT).rows() == [
        (expected[i].cumulative_quantity, expected[i].cumulative_amount) for i in want.values()
    ]


# --- examples: the contract at its edges -------------------------------------------------

HAND = GraduatedSpec(
    (
        SpecTier(D(100), D("0.10"), D(5)),
        SpecTier(D(1000), D("0.08"), D(20)),
        SpecTier(None, D("0.05")),
    )
)


def test_exactly_on_a_bound_does_not_reach_the_next_tier() -> None:
    frame = pl.DataFrame(
        {"subscription_id": [1, 1, 1], "quantity": [D(100), D(0), MICRO]},
        schema={"subscription_id": pl.Int64, "quantity": QUANTITY},
    )
    amounts = running_graduated(frame, HAND)[EVENT_AMOUNT].to_list()
    # 100 x 0.10 + 5 = 15; nothing; 0.000001 x 0.08 + 20 (tier 2's fee) = 20.00000008
    assert amounts == [D(15), D(0), D("20.00000008")]


def test_large_running_totals_are_exact_to_the_last_digit() -> None:
    spec = GraduatedSpec((SpecTier(None, ref.MAX_UNIT_PRICE),))
    quantity = ref.MAX_QUANTITY - MICRO
    frame = pl.DataFrame(
        {"subscription_id": ["s", "s"], "quantity": [quantity, MICRO]},
        schema={"subscription_id": pl.String, "quantity": QUANTITY},
    )
    rated = running_graduated(frame, spec)
    # (2**63 - 1) micro-units x (2**63 - 1) nano-units: 126 bits, just inside Decimal(38, 15)
    top = D(f"{(2**63 - 1) ** 2}E-15")
    assert rated[CUMULATIVE_AMOUNT].to_list()[-1] == top
    assert rated[EVENT_AMOUNT].sum() == top
    with pytest.raises(RatingError, match=r"subscription s, row 2: the cumulative quantity"):
        running_graduated(pl.concat([frame, frame.tail(1)]), spec)


def test_refusals_name_the_row_and_the_limit() -> None:
    frame = pl.DataFrame(
        {"subscription_id": ["s", "s"], "quantity": [D(1), D(10**13)]},
        schema={"subscription_id": pl.String, "quantity": QUANTITY},
    )
    with pytest.raises(RatingError, match=r"row 1: quantity 10000000000000\.000000 exceeds"):
        running_graduated(frame, HAND)
    pricey = GraduatedSpec((SpecTier(D(1), D(1)), SpecTier(None, D(10**10))))
    with pytest.raises(RatingError, match=r"row 1: usage reaches tier 2, whose unit price"):
        running_graduated(frame.head(1).vstack(frame.head(1)), pricey)
    assert running_graduated(frame.head(1), pricey)[EVENT_AMOUNT].item() == 1  # tier 1 only
    huge = pl.DataFrame(
        {"subscription_id": ["s"], "quantity": [D(10**35)]},
        schema={"subscription_id": pl.String, "quantity": pl.Decimal(38, 0)},
    )
    with pytest.raises(RatingError, match=r"does not fit Decimal\(38, 6\)"):
        running_graduated(huge, HAND)


def test_nulls_add_nothing_and_an_empty_frame_rates_to_nothing() -> None:
    frame = pl.DataFrame(
        {"subscription_id": ["s", "s", "s"], "quantity": [50, None, 60]},
        schema={"subscription_id": pl.String, "quantity": pl.Int64},
    )
    rated = running_graduated(frame, HAND)
    assert rated[CUMULATIVE_QUANTITY].to_list() == [D(50), D(50), D(110)]
    # 50 x 0.10 + 5; nothing; 50 x 0.10 + 10 x 0.08 + 20 = 25.80
    assert rated[EVENT_AMOUNT].to_list() == [D(10), D(0), D("25.8")]
    empty = running_graduated(frame.clear(), HAND)
    assert empty.height == 0
    assert empty.schema[EVENT_AMOUNT] == AMOUNT
    assert first_crossing(empty, amount_threshold=D(1)).height == 0


def test_inputs_the_kernel_cannot_trust_are_rejected() -> None:
    scattered = pl.DataFrame({"subscription_id": ["b", "a", "b"], "quantity": [1, 2, 3]})
    with pytest.raises(ValueError, match="must be contiguous"):
        running_graduated(scattered, HAND)
    grouped = scattered.sort("subscription_id", descending=True, maintain_order=True)
    assert grouped["subscription_id"].to_list() == ["b", "b", "a"]
    assert running_graduated(grouped, HAND)[CUMULATIVE_QUANTITY].to_list() == [1, 4, 2]
    with pytest.raises(TypeError, match=re.escape("never a binary float")):
        running_graduated(grouped.with_columns(pl.col("quantity").cast(pl.Float64)), HAND)
    with pytest.raises(ValueError, match="nulls"):
        running_graduated(pl.DataFrame({"subscription_id": [None, "a"], "quantity": [1, 2]}), HAND)
    rated = running_graduated(grouped, HAND)
    with pytest.raises(ValueError, match="more than 15 decimal places"):
        first_crossing(rated, amount_threshold=D("1e-16"))
    assert first_crossing(rated, amount_threshold=D(10**30)).height == 0  # beyond any amount


@given(data=st.data(), tiers=tier_lists())
def test_chunked_and_sliced_frames_rate_like_fresh_ones(data, tiers) -> None:
    """The kernel reads Arrow buffers directly: chunk boundaries and offsets must not matter."""
    events = data.draw(events_for(tiers))
    rated, _ = rate_or_refuse(tiers, events)
    if rated is None or not events:
        return
    frame = frame_of(events)
    cut = data.draw(st.integers(0, frame.height))
    pieces = pl.concat([frame.slice(0, cut), frame.slice(cut)], rechunk=False)
    assert running_graduated(pieces, spec_of(tiers)).equals(rated)
    # A slice may start mid-subscription: its first row opens a new running total.
    start = data.draw(st.integers(0, frame.height))
    tail = ref.running(events[start:], tiers)
    if ref.first_refused_row(tail, tiers) is None:
        sliced = running_graduated(frame.slice(start), spec_of(tiers))
        assert kernel_rows(sliced) == reference_rows(tail)

"""Running rating: what each event adds to its subscription's graduated charge.

For events already in billing order (by subscription, then timestamp and event
id), :func:`running_graduated` gives every event the subscription's cumulative
quantity after it and the amount it adds under graduated tiers::

    event_amount = price(cumulative_quantity) - price(cumulative_quantity before the event)

where ``price`` is :func:`rating.models.graduated.price`. The differences
telescope, so a subscription's event amounts add up to exactly the price of
its period quantity: per-event detail and the period charge never disagree by
even a 10**-15 of a currency unit. :func:`first_crossing` then finds, per
subscription, the first event at which the running amount (or quantity)
reaches a threshold: the trigger of progressive billing.

The loop over events is a Numba kernel over scaled integers: quantities are
int64 micro-units (scale 10**6), unit prices int64 nano-units (10**9), and
amounts 128-bit integers at scale 10**15, held as two 64-bit limbs because
Numba has no int128. A value that does not fit is a :class:`RatingError`,
never a wrapped number. Decimals cross into and out of the kernel as the
raw two's-complement 128-bit integers Arrow's ``decimal128`` is made of, so
the conversion is exact and costs no per-event work.

Worked example, tiers ``[0, 100] at 0.10``, ``(100, 1000] at 0.08`` with a
flat fee of 5, ``(1000, inf) at 0.05``; subscription ``a`` uses 60, 60, 900
and 230 units:

* 60 units: 60 x 0.10 = 6.00
* 120: 10.00 + 20 x 0.08 + 5 (tier 2's fee) = 16.60, so the event adds 10.60
* 1,020: 10.00 + 72.00 + 5 + 20 x 0.05 = 88.00, the event adds 71.40
* 1,250: 10.00 + 72.00 + 5 + 250 x 0.05 = 99.50, the event adds 11.50

and 6.00 + 10.60 + 71.40 + 11.50 = 99.50, the price of the period's 1,250.

>>> from decimal import Decimal as D
>>> from rating.models.graduated import GraduatedSpec, Tier
>>> spec = GraduatedSpec((
...     Tier(D(100), D("0.10")), Tier(D(1000), D("0.08"), D(5)), Tier(None, D("0.05"))))
>>> events = pl.DataFrame(
...     {"subscription_id": ["a", "a", "a", "a", "b"], "quantity": [60, 60, 900, 230, 100]},
...     schema={"subscription_id": pl.String, "quantity": pl.Decimal(38, 6)})
>>> running = running_graduated(events, spec)
>>> [f"{amount:.2f}" for amount in running["event_amount"]]
['6.00', '10.60', '71.40', '11.50', '10.00']
>>> [f"{amount:.2f}" for amount in running["cumulative_amount"]]
['6.00', '16.60', '88.00', '99.50', '10.00']
>>> first_crossing(running, amount_threshold=D(50)).select("subscription_id", "row_index").rows()
[('a', 2)]
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from decimal import Decimal

import numba as nb
import numpy as np
import polars as pl
import pyarrow as pa

from rating.models.graduated import GraduatedSpec
from schemas.errors import RatingError
from schemas.types import (
    AMOUNT_SCALE,
    DECIMAL_PRECISION,
    PRICE_SCALE,
    QUANTITY,
    QUANTITY_SCALE,
)

CUMULATIVE_QUANTITY = "cumulative_quantity"
"""The subscription's quantity up to and including the event, ``Decimal(38, 6)``."""
EVENT_AMOUNT = "event_amount"
"""What the event adds to the subscription's charge, unrounded, ``Decimal(38, 15)``."""
CUMULATIVE_AMOUNT = "cumulative_amount"
"""The price of ``cumulative_quantity``: the charge so far, unrounded, ``Decimal(38, 15)``."""
ROW_INDEX = "row_index"
"""Position (0-based) of a crossing event in the frame given to :func:`first_crossing`."""

_INT64_MAX = 2**63 - 1
_DECIMAL_MAX_RAW = 10**DECIMAL_PRECISION - 1
"""The largest unscaled value of a ``Decimal(38, s)``: beyond it, no column can store it."""


def _unscaled(raw: int, scale: int) -> Decimal:
    """``raw * 10**-scale`` exactly (``Decimal.scaleb`` would round to 28 digits)."""
    return Decimal(f"{raw}E-{scale}")


def _scaled(value: Decimal | int, scale: int) -> int | None:
    """``value * 10**scale`` as an exact int, or ``None`` when it has more than ``scale`` places."""
    numerator, denominator = Decimal(value).as_integer_ratio()
    scaled, remainder = divmod(numerator * 10**scale, denominator)
    return None if remainder else scaled


MAX_QUANTITY = _unscaled(_INT64_MAX, QUANTITY_SCALE)
"""Largest event or cumulative quantity the kernel holds (int64 micro-units)."""
MAX_UNIT_PRICE = _unscaled(_INT64_MAX, PRICE_SCALE)
"""Largest unit price of a tier the kernel can charge in (int64 nano-units)."""
MAX_AMOUNT = _unscaled(_DECIMAL_MAX_RAW, AMOUNT_SCALE)
"""Largest cumulative or event amount: the ``Decimal(38, 15)`` range."""

if sys.byteorder != "little":  # pragma: no cover - every platform Numba ships for
    raise ImportError("rating.running reads Arrow decimal128 limbs as little-endian")

# --- exact 128-bit arithmetic on two uint64 limbs (two's complement) -----------------------
# Both limbs are uint64 on purpose: Numba turns int64 (op) uint64 into float64, which would
# silently lose the exactness this module exists for. The sign is the top bit of ``hi``.

_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SHIFT63 = np.uint64(63)


@nb.njit(cache=True)
def mul_64x64(a: np.int64, b: np.int64) -> tuple[np.uint64, np.uint64]:
    """The exact product of two int64 as a 128-bit ``(hi, lo)``; it cannot overflow.

    >>> hi, lo = mul_64x64(-(2**63), 2**63 - 1)
    >>> (int(hi) << 64 | int(lo)) - 2**128 == -(2**63) * (2**63 - 1)
    True
    """
    a = np.int64(a)
    b = np.int64(b)
    negative = (a < 0) != (b < 0)
    # Magnitudes as uint64: 0 - x in unsigned arithmetic is exact even for -2**63.
    ua = _ZERO - np.uint64(a) if a < 0 else np.uint64(a)
    ub = _ZERO - np.uint64(b) if b < 0 else np.uint64(b)
    a0 = ua & _LOW32
    a1 = ua >> _SHIFT32
    b0 = ub & _LOW32
    b1 = ub >> _SHIFT32
    low = a0 * b0
    cross1 = a0 * b1
    cross2 = a1 * b0
    # Three terms below 2**32 each: no carry is lost.
    middle = (low >> _SHIFT32) + (cross1 & _LOW32) + (cross2 & _LOW32)
    lo = (middle << _SHIFT32) | (low & _LOW32)
    hi = a1 * b1 + (cross1 >> _SHIFT32) + (cross2 >> _SHIFT32) + (middle >> _SHIFT32)
    if negative:
        lo = ~lo + _ONE
        hi = ~hi + (_ONE if lo == _ZERO else _ZERO)
    return hi, lo


@nb.njit(cache=True)
def add_128(
    a_hi: np.uint64, a_lo: np.uint64, b_hi: np.uint64, b_lo: np.uint64
) -> tuple[np.uint64, np.uint64, bool]:
    """``a + b`` as ``(hi, lo, overflow)``; ``overflow`` when the sum is outside int128.

    >>> add_128(0, 2**64 - 1, 0, 1)
    (1, 0, False)
    """
    # Callers from Python pass int64 limbs; the casts cost nothing inside the kernel.
    ah, al, bh, bl = np.uint64(a_hi), np.uint64(a_lo), np.uint64(b_hi), np.uint64(b_lo)
    lo = al + bl
    hi = ah + bh + (_ONE if lo < al else _ZERO)
    # Signed overflow: both operands have one sign and the sum has the other.
    overflow = ((~(ah ^ bh) & (ah ^ hi)) >> _SHIFT63) != _ZERO
    return hi, lo, overflow


@nb.njit(cache=True)
def sub_128(
    a_hi: np.uint64, a_lo: np.uint64, b_hi: np.uint64, b_lo: np.uint64
) -> tuple[np.uint64, np.uint64, bool]:
    """``a - b`` as ``(hi, lo, overflow)``; ``overflow`` when the difference is outside int128.

    >>> sub_128(1, 0, 0, 1)
    (0, 18446744073709551615, False)
    """
    ah, al, bh, bl = np.uint64(a_hi), np.uint64(a_lo), np.uint64(b_hi), np.uint64(b_lo)
    lo = al - bl
    hi = ah - bh - (_ONE if al < bl else _ZERO)
    # Signed overflow: the operands have different signs and the result has b's.
    overflow = (((ah ^ bh) & (ah ^ hi)) >> _SHIFT63) != _ZERO
    return hi, lo, overflow


@nb.njit(cache=True)
def less_128(a_hi: np.uint64, a_lo: np.uint64, b_hi: np.uint64, b_lo: np.uint64) -> bool:
    """``a < b`` for signed 128-bit values.

    >>> less_128(2**64 - 1, 2**64 - 1, 0, 0)  # -1 < 0
    True
    """
    signed_a = np.int64(np.uint64(a_hi))
    signed_b = np.int64(np.uint64(b_hi))
    if signed_a != signed_b:
        return signed_a < signed_b
    return np.uint64(a_lo) < np.uint64(b_lo)


_AMOUNT_MAX_HI = np.uint64(_DECIMAL_MAX_RAW >> 64)
_AMOUNT_MAX_LO = np.uint64(_DECIMAL_MAX_RAW & (2**64 - 1))
_AMOUNT_MIN_HI = np.uint64(((-_DECIMAL_MAX_RAW) >> 64) & (2**64 - 1))
_AMOUNT_MIN_LO = np.uint64((-_DECIMAL_MAX_RAW) & (2**64 - 1))


@nb.njit(cache=True)
def _fits_amount(hi: np.uint64, lo: np.uint64) -> bool:
    """Whether a 128-bit amount at scale 10**15 fits ``Decimal(38, 15)``."""
    return not less_128(_AMOUNT_MAX_HI, _AMOUNT_MAX_LO, hi, lo) and not less_128(
        hi, lo, _AMOUNT_MIN_HI, _AMOUNT_MIN_LO
    )


# --- the kernel ------------------------------------------------------------------------------

_OK = 0
_QUANTITY_TOO_LARGE = 1
_CUMULATIVE_TOO_LARGE = 2
_UNIT_PRICE_TOO_LARGE = 3
_AMOUNT_TOO_LARGE = 4

_INT64_MIN = np.int64(-(2**63))
_INT64_MAX_NB = np.int64(_INT64_MAX)


@nb.njit(cache=True)
def _rate_running(
    runs: np.ndarray,
    quantity: np.ndarray,
    upper: np.ndarray,
    unit_price: np.ndarray,
    base: np.ndarray,
    status: np.ndarray,
    cumulative: np.ndarray,
    event_amount: np.ndarray,
    cumulative_amount: np.ndarray,
) -> tuple[int, int, int]:
    """Rate events in order; returns ``(error code, row, tier)``, ``(0, -1, -1)`` when all fit.

    ``runs`` numbers each subscription's contiguous rows. ``quantity`` holds the
    Decimal(38, 6) values as ``[lo, hi]`` int64 limbs. Tier 0 is "nothing reached"
    (usage <= 0): upper bound 0, price 0, base 0; tier ``t`` covers
    ``(upper[t-1], upper[t]]`` and prices it ``base[t] + (q - upper[t-1]) x unit_price[t]``,
    ``base`` being the price of everything below plus the tier's flat fee. Outputs are
    ``[lo, hi]`` uint64 limbs of Decimal(38, 6) and Decimal(38, 15) values.
    """
    run = -1
    total = np.int64(0)
    tier = 0
    before_hi = _ZERO
    before_lo = _ZERO
    for row in range(len(runs)):
        if runs[row] != run:
            run = runs[row]
            total = np.int64(0)
            tier = 0
            before_hi = _ZERO
            before_lo = _ZERO
        units = quantity[row, 0]
        # Quantities stay within +-(2**63 - 1) micro-units, so negating one never overflows.
        if quantity[row, 1] != (units >> 63) or units == _INT64_MIN:
            return _QUANTITY_TOO_LARGE, row, tier
        # Checked before adding: a signed overflow must never happen, not even to detect it.
        if (units > 0 and total > _INT64_MAX_NB - units) or (
            units < 0 and total < -_INT64_MAX_NB - units
        ):
            return _CUMULATIVE_TOO_LARGE, row, tier
        total += units
        while total > upper[tier]:
            tier += 1
        while tier > 0 and total <= upper[tier - 1]:
            tier -= 1
        if status[tier] != _OK:
            return status[tier], row, tier
        lower = upper[tier - 1] if tier > 0 else upper[0]  # tier 0 prices at 0 anyway
        part_hi, part_lo = mul_64x64(total - lower, unit_price[tier])
        after_hi, after_lo, overflow = add_128(base[tier, 1], base[tier, 0], part_hi, part_lo)
        if overflow or not _fits_amount(after_hi, after_lo):
            return _AMOUNT_TOO_LARGE, row, tier
        added_hi, added_lo, overflow = sub_128(after_hi, after_lo, before_hi, before_lo)
        if overflow or not _fits_amount(added_hi, added_lo):
            return _AMOUNT_TOO_LARGE, row, tier
        cumulative[row, 0] = np.uint64(total)
        cumulative[row, 1] = np.uint64(total >> 63)
        event_amount[row, 0] = added_lo
        event_amount[row, 1] = added_hi
        cumulative_amount[row, 0] = after_lo
        cumulative_amount[row, 1] = after_hi
        before_hi = after_hi
        before_lo = after_lo
    return _OK, -1, -1


# --- tiers as kernel arrays -----------------------------------------------------------------


def _tier_value(value: Decimal, scale: int, what: str) -> int:
    scaled = _scaled(value, scale)
    if scaled is None:
        raise RatingError(f"running rating: {what} {value} has more than {scale} decimal places")
    return scaled


def _limbs(value: int) -> tuple[int, int]:
    """``(lo, hi)`` uint64 limbs of a value in the int128 range."""
    return value & (2**64 - 1), (value >> 64) & (2**64 - 1)


@dataclass(frozen=True)
class _KernelTiers:
    """A graduated spec as kernel arrays; index 0 is the "nothing reached" tier."""

    upper: np.ndarray
    unit_price: np.ndarray
    base: np.ndarray
    status: np.ndarray
    unit_prices: tuple[Decimal, ...]

    @classmethod
    def of(cls, spec: GraduatedSpec) -> _KernelTiers:
        if not spec.tiers:
            raise RatingError("running rating: a graduated spec needs at least one tier")
        upper = [0]
        unit_price = [0]
        base = [(0, 0)]
        status = [_OK]
        below = 0  # price of all units (and fees) under the current tier, at scale 10**15
        lower = 0
        previous = Decimal(0)
        for number, tier in enumerate(spec.tiers, start=1):
            last = number == len(spec.tiers)
            if (tier.up_to is None) != last:
                raise RatingError(
                    f"running rating: tier {number}: the last tier, and only it, is unbounded"
                )
            if tier.up_to is not None and tier.up_to <= previous:
                raise RatingError(
                    f"running rating: tier {number} up_to {tier.up_to} must be greater than "
                    f"{previous}"
                )
            bound = (
                _INT64_MAX
                if tier.up_to is None
                else _tier_value(tier.up_to, QUANTITY_SCALE, f"tier {number} up_to")
            )
            previous = tier.up_to if tier.up_to is not None else previous
            # Usage never exceeds int64 micro-units, so a larger bound works as unbounded
            # and every later tier is out of reach.
            bound = min(bound, _INT64_MAX)
            price = _tier_value(tier.unit_price, PRICE_SCALE, f"tier {number} unit_price")
            fee = _tier_value(tier.flat_fee, PRICE_SCALE, f"tier {number} flat_fee")
            start = below + fee * 10 ** (AMOUNT_SCALE - PRICE_SCALE)
            below = start + (bound - lower) * price
            lower = bound
            # Out-of-range values are only an error if usage reaches the tier: the kernel
            # stops there, so zeros stand in for them.
            code = _OK
            if abs(price) > _INT64_MAX:
                code, price = _UNIT_PRICE_TOO_LARGE, 0
            if abs(start) > _DECIMAL_MAX_RAW:
                code, start = _AMOUNT_TOO_LARGE, 0
            upper.append(bound)
            unit_price.append(price)
            base.append(_limbs(start))
            status.append(code)
        return cls(
            upper=np.array(upper, dtype=np.int64),
            unit_price=np.array(unit_price, dtype=np.int64),
            base=np.array(base, dtype=np.uint64),
            status=np.array(status, dtype=np.int64),
            unit_prices=(Decimal(0), *(tier.unit_price for tier in spec.tiers)),
        )


# --- columns in and out ---------------------------------------------------------------------


def _subscription_runs(keys: pl.Series, subscription: str) -> np.ndarray:
    """A dense code per subscription, checking that each one's rows are contiguous."""
    if keys.null_count():
        raise ValueError(
            f"running rating: {subscription} has nulls; rate only events assigned to one"
        )
    runs = keys.rle_id()
    if len(runs) and not keys.is_sorted() and keys.n_unique() != int(runs[-1]) + 1:
        raise ValueError(
            f"running rating: the rows of each {subscription} must be contiguous; sort by "
            f"{subscription}, timestamp and event_id first"
        )
    return runs.to_numpy()


def _quantity_limbs(values: pl.Series) -> np.ndarray:
    """The raw Decimal(38, 6) values as ``[lo, hi]`` int64 limbs (a null adds nothing)."""
    if not (values.dtype.is_integer() or isinstance(values.dtype, pl.Decimal)):
        raise TypeError(
            f"running rating: quantity column {values.name!r} is {values.dtype}; "
            "it must be a Decimal (at most 6 places) or an integer, never a binary float"
        )
    if isinstance(values.dtype, pl.Decimal) and (values.dtype.scale or 0) > QUANTITY_SCALE:
        raise TypeError(
            f"running rating: quantity column {values.name!r} is {values.dtype}; "
            f"a quantity has at most {QUANTITY_SCALE} decimal places"
        )
    try:
        exact = values.cast(QUANTITY).fill_null(0).rechunk()
    except pl.exceptions.PolarsError as error:
        raise RatingError(
            f"running rating: quantity column {values.name!r} does not fit Decimal(38, 6): {error}"
        ) from None
    array = exact.to_arrow()
    if not pa.types.is_decimal128(array.type):  # the limb view below depends on it
        raise TypeError(f"running rating: expected Arrow decimal128, Polars gave {array.type}")
    if len(array) == 0:
        return np.empty((0, 2), dtype=np.int64)
    raw = np.frombuffer(array.buffers()[1], dtype=np.int64)
    return raw[2 * array.offset : 2 * (array.offset + len(array))].reshape(-1, 2)


def _decimal_column(name: str, limbs: np.ndarray, scale: int) -> pl.Series:
    """Reinterpret ``[lo, hi]`` uint64 limbs as a Decimal(38, scale) column, zero-copy.

    The kernel only writes values within ``10**38``, so every value is a valid decimal.
    """
    array = pa.Array.from_buffers(
        pa.decimal128(DECIMAL_PRECISION, scale), len(limbs), [None, pa.py_buffer(limbs)]
    )
    return pl.Series(name, array)


def _error(
    code: int,
    row: int,
    tier: int,
    tiers: _KernelTiers,
    frame: pl.DataFrame,
    subscription: str,
    quantity: str,
) -> RatingError:
    where = f"running rating: subscription {frame[subscription][row]}, row {row}"
    if code == _QUANTITY_TOO_LARGE:
        return RatingError(
            f"{where}: quantity {frame[quantity][row]} exceeds {MAX_QUANTITY}, the largest "
            "the running kernel holds (64-bit micro-units)"
        )
    if code == _CUMULATIVE_TOO_LARGE:
        return RatingError(
            f"{where}: the cumulative quantity exceeds {MAX_QUANTITY}, the largest the running "
            "kernel holds (64-bit micro-units); rate this subscription per period instead"
        )
    if code == _UNIT_PRICE_TOO_LARGE:
        return RatingError(
            f"{where}: usage reaches tier {tier}, whose unit price {tiers.unit_prices[tier]} "
            f"exceeds {MAX_UNIT_PRICE}, the largest the running kernel charges (64-bit nano-units)"
        )
    return RatingError(
        f"{where}: the amount exceeds {MAX_AMOUNT}, the largest Decimal(38, 15) holds"
    )


def running_graduated(
    frame: pl.DataFrame,
    spec: GraduatedSpec,
    *,
    subscription: str = "subscription_id",
    quantity: str = "quantity",
) -> pl.DataFrame:
    """``frame`` with each event's running quantity and amount under graduated tiers.

    Rows must be in billing order: each subscription's rows contiguous, in the
    order they are rated (the caller sorts by subscription, timestamp and event
    id; only the contiguity can be checked here). ``quantity`` is a Decimal with
    at most 6 places or an integer; a null quantity adds nothing, as in a
    period sum. Adds :data:`CUMULATIVE_QUANTITY`, :data:`EVENT_AMOUNT` and
    :data:`CUMULATIVE_AMOUNT`; the module docstring has a worked example.

    Raises :class:`RatingError` when a quantity or running total exceeds
    :data:`MAX_QUANTITY`, when usage reaches a tier whose unit price exceeds
    :data:`MAX_UNIT_PRICE`, or when an amount exceeds :data:`MAX_AMOUNT`.

    >>> from decimal import Decimal as D
    >>> from rating.models.graduated import GraduatedSpec, Tier
    >>> spec = GraduatedSpec((Tier(D(10), D(1)), Tier(None, D("0.5"))))
    >>> events = pl.DataFrame({"subscription_id": [7, 7, 7], "quantity": [4, 8, 0]})
    >>> running = running_graduated(events, spec)  # 4 x 1; 6 x 1 + 2 x 0.5; nothing
    >>> [f"{q:.0f}: {a:.1f}" for q, a in running.select(CUMULATIVE_QUANTITY, EVENT_AMOUNT).rows()]
    ['4: 4.0', '12: 7.0', '12: 0.0']
    """
    tiers = _KernelTiers.of(spec)
    runs = _subscription_runs(frame[subscription], subscription)
    quantities = _quantity_limbs(frame[quantity])
    cumulative = np.empty((frame.height, 2), dtype=np.uint64)
    event_amount = np.empty((frame.height, 2), dtype=np.uint64)
    cumulative_amount = np.empty((frame.height, 2), dtype=np.uint64)
    code, row, tier = _rate_running(
        runs,
        quantities,
        tiers.upper,
        tiers.unit_price,
        tiers.base,
        tiers.status,
        cumulative,
        event_amount,
        cumulative_amount,
    )
    if code != _OK:
        raise _error(code, row, tier, tiers, frame, subscription, quantity)
    return frame.with_columns(
        _decimal_column(CUMULATIVE_QUANTITY, cumulative, QUANTITY_SCALE),
        _decimal_column(EVENT_AMOUNT, event_amount, AMOUNT_SCALE),
        _decimal_column(CUMULATIVE_AMOUNT, cumulative_amount, AMOUNT_SCALE),
    )


# --- thresholds -----------------------------------------------------------------------------


def _reaches(column: str, threshold: Decimal | int, scale: int) -> pl.Expr:
    """``column >= threshold`` compared exactly at the column's decimal scale."""
    if isinstance(threshold, bool) or not isinstance(threshold, Decimal | int):
        raise TypeError(f"first_crossing: a threshold is a Decimal or an int, got {threshold!r}")
    value = Decimal(threshold)
    if not value.is_finite():
        raise ValueError(f"first_crossing: threshold {threshold} is not a finite number")
    scaled = _scaled(value, scale)
    if scaled is None:
        raise ValueError(
            f"first_crossing: threshold {threshold} has more than {scale} decimal places"
        )
    # Beyond the column type's range no value reaches it (or every value does).
    if abs(scaled) > _DECIMAL_MAX_RAW:
        return pl.lit(value < 0)
    return pl.col(column) >= pl.lit(value, dtype=pl.Decimal(DECIMAL_PRECISION, scale))


def first_crossing(
    running: pl.DataFrame,
    *,
    amount_threshold: Decimal | int | None = None,
    quantity_threshold: Decimal | int | None = None,
    subscription: str = "subscription_id",
) -> pl.DataFrame:
    """Per subscription, the first event at which its running total reaches a threshold.

    ``running`` is the output of :func:`running_graduated`, in its order.
    An event crosses when its :data:`CUMULATIVE_AMOUNT` is ``>= amount_threshold``
    or its :data:`CUMULATIVE_QUANTITY` is ``>= quantity_threshold`` (given both,
    whichever comes first). One row per subscription that crosses, in the
    order of ``running``; a subscription that never does has no row. Columns:
    ``subscription``, :data:`ROW_INDEX` (0-based row in ``running``),
    ``event_id`` when ``running`` has one, and the two cumulative values at the
    crossing.

    >>> from decimal import Decimal as D
    >>> from rating.models.graduated import GraduatedSpec, Tier
    >>> spec = GraduatedSpec((Tier(None, D("0.5")),))
    >>> events = pl.DataFrame({
    ...     "subscription_id": ["a", "a", "a", "b"], "event_id": ["e1", "e2", "e3", "e4"],
    ...     "quantity": [3, 1, 9, 2]})
    >>> running = running_graduated(events, spec)  # a: 1.5, 2.0, 6.5; b: 1.0
    >>> first_crossing(running, amount_threshold=2).select(
    ...     "subscription_id", ROW_INDEX, "event_id", CUMULATIVE_AMOUNT).rows()
    [('a', 1, 'e2', Decimal('2.000000000000000'))]
    >>> first_crossing(running, quantity_threshold=D("1.5"))["event_id"].to_list()
    ['e1', 'e4']
    """
    reached: list[pl.Expr] = []
    if amount_threshold is not None:
        reached.append(_reaches(CUMULATIVE_AMOUNT, amount_threshold, AMOUNT_SCALE))
    if quantity_threshold is not None:
        reached.append(_reaches(CUMULATIVE_QUANTITY, quantity_threshold, QUANTITY_SCALE))
    if not reached:
        raise ValueError("first_crossing: give amount_threshold, quantity_threshold or both")
    keep = [subscription, ROW_INDEX]
    if "event_id" in running.columns:
        keep.append("event_id")
    keep += [CUMULATIVE_QUANTITY, CUMULATIVE_AMOUNT]
    key = pl.col(subscription)
    return (
        running.with_row_index(ROW_INDEX)
        .select(keep)
        .filter(pl.any_horizontal(reached))
        # Each subscription's rows are contiguous, so its first crossing is the first kept
        # row after another subscription's: no grouping (and no hashing) needed.
        .filter(key.ne_missing(key.shift(1)))
    )

"""The running kernel's 128-bit arithmetic (two uint64 limbs) against Python's unbounded ints.

Numba has no int128, so ``rating.running`` multiplies, adds, subtracts and
compares amounts as ``(hi, lo)`` limb pairs in two's complement. Python ints
are exact at any size: each helper must agree with them on the whole input
range, and flag (rather than wrap) every result outside int128.
"""

from __future__ import annotations

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from rating.running import _fits_amount, add_128, less_128, mul_64x64, sub_128

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
INT128_MIN, INT128_MAX = -(2**127), 2**127 - 1
EDGES_64 = [0, 1, -1, INT64_MIN, INT64_MAX, INT64_MIN + 1, 2**32, 2**32 - 1, -(2**32)]
EDGES_128 = [0, 1, -1, INT128_MIN, INT128_MAX, INT128_MIN + 1, 2**64, 2**64 - 1, -(2**64)]

INT64 = st.one_of(st.sampled_from(EDGES_64), st.integers(INT64_MIN, INT64_MAX))
INT128 = st.one_of(
    st.sampled_from(EDGES_128),
    st.integers(INT128_MIN, INT128_MAX),
    st.integers(INT64_MIN, INT64_MAX),  # small values: carries across the limb boundary
)


def limbs(value: int) -> tuple[np.uint64, np.uint64]:
    """``(hi, lo)`` of a value in the int128 range, two's complement."""
    assert INT128_MIN <= value <= INT128_MAX
    raw = value % 2**128
    return np.uint64(raw >> 64), np.uint64(raw % 2**64)


def value_of(hi: np.uint64, lo: np.uint64) -> int:
    raw = int(hi) << 64 | int(lo)
    return raw - 2**128 if raw >= 2**127 else raw


def wrapped(value: int) -> int:
    """``value`` reduced to int128 the way hardware wraps it."""
    return (value - INT128_MIN) % 2**128 + INT128_MIN


@given(INT64, INT64)
@example(INT64_MIN, INT64_MIN)  # 2**126: the largest product
@example(INT64_MIN, INT64_MAX)  # the most negative product
@example(INT64_MIN, -1)  # 2**63 does not fit int64, but does fit the product
def test_mul_64x64_is_the_exact_product(a: int, b: int):
    assert value_of(*mul_64x64(np.int64(a), np.int64(b))) == a * b


@given(INT128, INT128)
@example(INT128_MAX, 1)
@example(INT128_MIN, -1)
@example(INT128_MIN, INT128_MIN)
@example(2**64 - 1, 1)  # carry out of the low limb
def test_add_128_is_exact_or_flags_overflow(a: int, b: int):
    hi, lo, overflow = add_128(*limbs(a), *limbs(b))
    exact = a + b
    assert overflow == (not INT128_MIN <= exact <= INT128_MAX)
    assert value_of(hi, lo) == wrapped(exact)


@given(INT128, INT128)
@example(INT128_MIN, 1)
@example(INT128_MAX, -1)
@example(0, INT128_MIN)  # -(-2**127) does not fit
@example(0, 1)  # borrow out of the low limb
def test_sub_128_is_exact_or_flags_overflow(a: int, b: int):
    hi, lo, overflow = sub_128(*limbs(a), *limbs(b))
    exact = a - b
    assert overflow == (not INT128_MIN <= exact <= INT128_MAX)
    assert value_of(hi, lo) == wrapped(exact)


@given(INT128, INT128)
@example(-1, 0)
@example(0, -1)
@example(2**64, 2**64 - 1)  # equal high limbs decide on the low ones only when equal
@example(-(2**64), -(2**64) + 1)
def test_less_128_orders_signed_values(a: int, b: int):
    assert less_128(*limbs(a), *limbs(b)) == (a < b)
    assert less_128(*limbs(b), *limbs(a)) == (b < a)


AMOUNT_MAX_RAW = 10**38 - 1  # Decimal(38, 15) unscaled


NEAR_AMOUNT_LIMIT = st.integers(AMOUNT_MAX_RAW - 2, AMOUNT_MAX_RAW + 2)


@given(st.one_of(NEAR_AMOUNT_LIMIT, NEAR_AMOUNT_LIMIT.map(lambda v: -v), INT128))
@example(AMOUNT_MAX_RAW)
@example(AMOUNT_MAX_RAW + 1)
@example(-AMOUNT_MAX_RAW)
@example(-AMOUNT_MAX_RAW - 1)
def test_fits_amount_is_the_decimal_38_range(value: int):
    assert _fits_amount(*limbs(value)) == (abs(value) <= AMOUNT_MAX_RAW)

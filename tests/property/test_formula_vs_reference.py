"""Formulas compiled to Polars against the plain-``decimal`` reference, exactly.

Hypothesis builds random well-typed syntax trees (bounded depth) over four
references, prints them, parses the text back, compiles the formula with
``Formula.to_expr`` into a ``with_columns`` over a column of rows (as the rating
job does) and requires, against ``tests.reference.formula``:

* the same values, ``Decimal`` for ``Decimal``, in ``Decimal(38, 15)``; or
* the same failure for the column (overflow, a missing or too-large reference,
  division by zero), and then still the same values on the rows that succeed
  on their own.

An overflow in a part the result does not need may go unreported (Polars' optimizer
drops such parts when it can tell), so where the reference computing everything and
the reference computing only what is needed disagree, either outcome is accepted.
Rows come once from the whole range of values, once from a few small ones (zeros
for undefined values, halves for ties); the rounding functions get their own test
on ties.
"""

from __future__ import annotations

from decimal import Context, Decimal
from functools import cache
from typing import Any

import polars as pl
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from rating.formula import (
    Arithmetic,
    Call,
    Comparison,
    Formula,
    If,
    Logic,
    Negate,
    Not,
    Number,
    Reference,
    Round,
    parse_formula,
)
from schemas.errors import RatingError
from schemas.types import AMOUNT, QUANTITY
from tests.reference import formula as ref

pytestmark = pytest.mark.hypothesis

REFERENCES = [
    Reference("meter", "calls"),
    Reference("meter", "gb"),
    Reference("charge", "base"),
    Reference("charge", "usage"),
]
SCHEMA = {str(r): QUANTITY if r.kind == "meter" else AMOUNT for r in REFERENCES}
MAX_AMOUNT = Decimal("99999999999999999999999.999999999999999")
MAX_QUANTITY = Decimal("99999999999999999999999999999999.999999")
DEPTH = 3
WIDE = Context(prec=100)  # Decimal operations round to 28 digits by default: keep them all


# --- strategies ----------------------------------------------------------------------------


@st.composite
def decimals(draw: st.DrawFn, max_places: int, bound: Decimal) -> Decimal:
    """A decimal in [-bound, bound] with 0..max_places fractional digits, built exactly.

    (``st.decimals`` builds its values in a 28-digit context, which rounds 38-digit ones.)
    """
    places = draw(st.integers(0, max_places))
    limit = int(bound.scaleb(places, WIDE))
    return Decimal(draw(st.integers(-limit, limit))).scaleb(-places, WIDE)


LITERALS = st.one_of(
    st.sampled_from(
        [
            Decimal(0),
            Decimal(1),
            Decimal(2),
            Decimal(3),
            Decimal("0.5"),
            Decimal("0.05"),
            Decimal(100),
            Decimal("0.000000001"),
            Decimal("99999999999999999999999.999999999"),
        ]
    ),
    decimals(9, Decimal(1000)).map(Decimal.copy_abs),
    decimals(9, Decimal(10) ** 22).map(Decimal.copy_abs),
).map(lambda value: Number(value.normalize(WIDE)))

METER_VALUES = st.one_of(
    st.sampled_from(
        [
            Decimal(0),
            Decimal(1),
            Decimal(-1),
            Decimal("0.000001"),
            Decimal("0.5"),
            Decimal("99999999999999999999999.999999"),  # the largest that fits an amount
            Decimal(10) ** 23,  # too large for an amount
            MAX_QUANTITY,
        ]
    ),
    st.integers(-3, 3).map(Decimal),  # zeros for divisions, ties for comparisons
    decimals(6, Decimal(1000)),
    decimals(6, Decimal(10) ** 22),
)
CHARGE_VALUES = st.one_of(
    st.sampled_from(
        [
            Decimal(0),
            Decimal("0.000000000000001"),
            Decimal("-0.000000000000001"),
            Decimal("0.5"),
            Decimal("-2.5"),
            MAX_AMOUNT,
            MAX_AMOUNT.copy_negate(),  # unary minus would round to 28 digits
        ]
    ),
    st.integers(-3, 3).map(Decimal),
    decimals(15, Decimal(1000)),
    decimals(15, Decimal(10) ** 22),
)


def values_of(reference: Reference) -> st.SearchStrategy[Decimal | None]:
    values = METER_VALUES if reference.kind == "meter" else CHARGE_VALUES
    # A missing value fails the whole column: keep it rare, so that values get compared.
    chance = st.integers(0, 49)
    return st.tuples(chance, values).map(lambda drawn: None if drawn[0] == 0 else drawn[1])


ROWS = st.lists(
    st.fixed_dictionaries({str(r): values_of(r) for r in REFERENCES}), min_size=1, max_size=16
)


@cache
def numbers(depth: int) -> st.SearchStrategy[Any]:
    leaves = st.one_of(LITERALS, st.sampled_from(REFERENCES))
    if depth == 0:
        return leaves
    sub = numbers(depth - 1)
    return st.one_of(
        leaves,
        st.builds(Negate, sub),
        st.builds(Arithmetic, st.sampled_from(["+", "-", "*", "/"]), sub, sub),
        st.builds(Arithmetic, st.just("/"), sub, sub),  # divisions twice as often: zeros
        st.builds(
            Call, st.sampled_from(["min", "max"]), st.lists(sub, min_size=2, max_size=3).map(tuple)
        ),
        st.builds(Call, st.sampled_from(["ceil", "floor", "abs"]), st.tuples(sub)),
        st.builds(Round, sub, st.integers(0, 9)),
        ifs(depth),
    )


@st.composite
def ifs(draw: st.DrawFn, depth: int) -> If:
    condition, then, otherwise = draw(
        st.tuples(conditions(depth - 1), numbers(depth - 1), numbers(depth - 1))
    )
    if then == otherwise:  # a parse error: the condition would be pointless
        otherwise = Negate(otherwise)
    return If(condition, then, otherwise)


@cache
def conditions(depth: int) -> st.SearchStrategy[Any]:
    compare = st.builds(
        Comparison,
        st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
        numbers(depth),
        numbers(depth),
    )
    if depth == 0:
        return compare
    sub = conditions(depth - 1)
    return st.one_of(
        compare, st.builds(Logic, st.sampled_from(["and", "or"]), sub, sub), st.builds(Not, sub)
    )


FORMULAS = numbers(DEPTH)


# --- harness -------------------------------------------------------------------------------


def resolve(reference: Reference) -> pl.Expr:
    return pl.col(str(reference))


def polars_outcome(formula: Formula, rows: list[dict[str, Decimal | None]]) -> list[Decimal] | str:
    """The values the rating job would get, or the failure's message."""
    frame = pl.DataFrame(rows, schema=SCHEMA)
    # The harness itself is exact.
    assert frame.rows() == [tuple(row[name] for name in SCHEMA) for row in rows]
    query = frame.lazy().with_columns(formula.to_expr(resolve).alias("amount"))
    try:
        result = query.collect()
    except RatingError as error:
        return str(error)
    except pl.exceptions.ComputeError as error:
        assert "overflow" in str(error), error
        return "overflow"
    assert result.schema["amount"] == AMOUNT
    return result["amount"].to_list()


def failure_message(failure: ref.Failure) -> str:
    if failure.reason == "overflow":
        return "overflow"
    if failure.reason == "missing":
        return f"{failure.reference} has no value"
    if failure.reason == "too_large":
        return f"{failure.reference} is too large for an amount"
    return "division by zero"


def matches(got: list[Decimal] | str, expected: list[Decimal] | ref.Failure, text: str) -> bool:
    if isinstance(expected, list):
        # A formula without references is a constant, broadcast to every row all the same.
        return got == expected
    if got == "overflow":
        # Both failures stop the run. Polars computes every branch of an ``if`` for every
        # row, so a branch's overflow can surface before the reference's first failure
        # (a missing value, a division by zero) on the same rows.
        return True
    if failure_message(expected) not in got:
        return False
    return got == "overflow" or got.startswith(f"formula {text!r}: ")


def expected_outcomes(root: Any, rows: list[dict[str, Decimal | None]]) -> list[Any]:
    """What the reference allows: everything computed, or (overflow aside) only what is needed."""
    strict = ref.evaluate_column(root, rows)
    lazy = ref.evaluate_column(root, rows, lazy=True)
    return [strict] if lazy == strict else [strict, lazy]


# --- properties ----------------------------------------------------------------------------


@given(FORMULAS)
def test_printed_formulas_parse_back_to_the_same_tree(root: Any) -> None:
    formula = Formula(root)
    parsed = parse_formula(formula.text)
    assert parsed.root == root
    assert parsed.text == formula.text  # the canonical text is a fixed point
    # Spacing is free: more of it, line breaks included, or less, give the same tree.
    assert parse_formula(formula.text.replace(" ", "\n  ")).root == root
    assert parse_formula(formula.text.replace(", ", ",")).root == root


@given(FORMULAS, ROWS)
def test_polars_matches_the_reference(root: Any, rows: list[dict[str, Decimal | None]]) -> None:
    formula = parse_formula(Formula(root).text)
    got = polars_outcome(formula, rows)
    allowed = expected_outcomes(formula.root, rows)
    event("values" if isinstance(allowed[0], list) else allowed[0].reason)
    assert any(matches(got, expected, formula.text) for expected in allowed), (
        formula.text,
        got,
        allowed,
    )
    if isinstance(got, str):
        # The rows that succeed on their own still get the reference's exact values.
        fine = [row for row in rows if isinstance(ref.evaluate_column(formula.root, [row]), list)]
        if fine:
            got = polars_outcome(formula, fine)
            allowed = expected_outcomes(formula.root, fine)
            assert any(matches(got, expected, formula.text) for expected in allowed)


# Zeros (divisions by zero, guarded or not), and halves (ties for round() and comparisons).
SMALL_VALUES = [Decimal(v) for v in ("0", "0", "1", "-2", "0.5", "-2.5", "0.125")]
SMALL_ROWS = st.lists(
    st.fixed_dictionaries({str(r): st.sampled_from(SMALL_VALUES) for r in REFERENCES}),
    min_size=1,
    max_size=8,
)


@settings(max_examples=3 * settings.default.max_examples)
@given(FORMULAS, SMALL_ROWS)
def test_polars_matches_the_reference_on_small_values(
    root: Any, rows: list[dict[str, Decimal | None]]
) -> None:
    """Undefined values everywhere, in conditions, extrema and branches; ties for rounding."""
    test_polars_matches_the_reference.hypothesis.inner_test(root, rows)


@st.composite
def near_ties(draw: st.DrawFn) -> tuple[Decimal, int]:
    """An amount (below 1E+22) on a rounding tie at some decimal places, or one unit off it."""
    places = draw(st.integers(0, 9))
    whole = draw(st.integers(-(10**22), 10**22 - 1))
    tie = (Decimal(whole) + Decimal("0.5")).scaleb(-places, WIDE)
    unit = Decimal(1).scaleb(-15)
    return tie + draw(st.sampled_from([Decimal(0), Decimal(0), unit, -unit])), places


@given(st.lists(near_ties(), min_size=1, max_size=8), st.sampled_from(["round", "ceil", "floor"]))
def test_rounding_functions_on_ties(cases: list[tuple[Decimal, int]], function: str) -> None:
    for amount, places in cases:
        text = f"round(charge.y, {places})" if function == "round" else f"{function}(charge.y)"
        formula = parse_formula(text)
        rows: list[dict[str, Decimal | None]] = [{"charge.y": amount}]
        got = formula.evaluate(pl.DataFrame(rows, schema={"charge.y": AMOUNT}), resolve)
        assert got.to_list() == ref.evaluate_column(formula.root, rows), (text, amount)

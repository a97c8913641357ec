"""The formula language: parse errors, precedence, every function, undefined values, overflow.

Values are computed over small frames the way the rating job does (one column per
reference, meters as ``Decimal(38, 6)``, charges as ``Decimal(38, 15)``); the
arithmetic is written beside each expected value.
"""

from __future__ import annotations

import re
from decimal import Decimal

import polars as pl
import pytest

from rating.formula import (
    MAX_DEPTH,
    Arithmetic,
    Call,
    Comparison,
    Formula,
    FormulaError,
    If,
    Logic,
    Negate,
    Not,
    Number,
    Reference,
    Round,
    parse_formula,
)
from schemas.errors import MeterlineError, RatingError
from schemas.types import AMOUNT, QUANTITY

D = Decimal
X = Reference("meter", "x")
Y = Reference("charge", "y")


def n(value: int | str) -> Number:
    return Number(Decimal(value))


def column(ref: Reference) -> pl.Expr:
    return pl.col(str(ref))


def frame(**columns: list[int | str | None]) -> pl.DataFrame:
    """``meter_x=[...]`` is the column ``meter.x`` (a quantity), ``charge_y`` an amount."""
    data, schema = {}, {}
    for key, values in columns.items():
        kind, code = key.split("_", 1)
        name = f"{kind}.{code}"
        data[name] = [None if v is None else Decimal(v) for v in values]
        schema[name] = QUANTITY if kind == "meter" else AMOUNT
    return pl.DataFrame(data, schema=schema)


def values(text: str, rows: pl.DataFrame | None = None) -> list[Decimal]:
    rows = frame(meter_x=["0"]) if rows is None else rows
    result = parse_formula(text).evaluate(rows, column)
    assert result.dtype == AMOUNT
    return result.to_list()


def value(text: str, **columns: int | str) -> Decimal:
    """The formula on a single row."""
    rows = frame(**{key: [v] for key, v in columns.items()}) if columns else None
    (result,) = values(text, rows)
    return result


# --- parse errors: one line each, naming the position -----------------------------------------

EXPECTED_OPERAND = "(expected a number, a reference, a function or '(')"
EXPECTED_FUNCTION = "(expected one of abs, case, ceil, floor, if, max, min, round)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty formula"),
        ("  \n ", "empty formula"),
        (
            "(meter.a + 1))",
            "unexpected ')' at column 14 (expected an operator or the end of the formula)",
        ),
        ("1 + (2", "unexpected end of formula at column 7 (expected ')')"),
        (
            "1 +",
            "unexpected end of formula at column 4 " + EXPECTED_OPERAND,
        ),
        (
            "max(1,)",
            "unexpected ')' at column 7 (expected a number, a reference, a function or '(')",
        ),
        ("min(1 2)", "unexpected '2' at column 7 (expected ',' or ')')"),
        ("1 2", "unexpected '2' at column 3 (expected an operator or the end of the formula)"),
        (
            "sqrt(meter.x)",
            "unknown function 'sqrt' at column 1 " + EXPECTED_FUNCTION,
        ),
        (
            "MIN(1, 2)",
            "unknown function 'MIN' at column 1 " + EXPECTED_FUNCTION,
        ),
        (
            "if(meter.x > 0, 1)",
            "if() takes 3 arguments, got 2, at column 1 (a condition, a then and an else value)",
        ),
        ("min(1)", "min() takes at least 2 arguments, got 1, at column 1"),
        ("abs()", "abs() takes 1 argument, got 0, at column 1"),
        ("ceil(1, 2)", "ceil() takes 1 argument, got 2, at column 1"),
        (
            "round(1)",
            "round() takes 2 arguments, got 1, at column 1 (a number and its decimal places)",
        ),
        ("round(1, 10)", "round() places must be a whole number from 0 to 9 at column 10"),
        ("round(1, -1)", "round() places must be a whole number from 0 to 9 at column 10"),
        ("round(1, 0.5)", "round() places must be a whole number from 0 to 9 at column 10"),
        ("round(1, meter.x)", "round() places must be a whole number from 0 to 9 at column 10"),
        ("min", "expected '(' after 'min' at column 4"),
        ("1 + (meter.x > 2)", "a condition cannot be used as a number at column 5"),
        ("min(meter.x > 0, 1)", "a condition cannot be used as a number at column 5"),
        ("if(meter.x > 0, 1 > 0, 2)", "a condition cannot be used as a number at column 17"),
        ("if(meter.x, 1, 2)", "a number cannot be used as a condition at column 4"),
        ("not meter.x", "a number cannot be used as a condition at column 5"),
        ("meter.x > 0 and 1", "a number cannot be used as a condition at column 17"),
        (
            "meter.x > 0",
            "the formula gives a condition, not a number, at column 1 "
            "(turn it into a number with if(condition, then, else))",
        ),
        ("1 < meter.x < 3", "comparisons cannot be chained at column 13 (use 'and')"),
        (
            "if(meter.x > 0, 5, 5)",
            "if() gives the same value either way at column 1 (drop the if())",
        ),
        ("0.1234567891", "0.1234567891 has more than 9 decimal places at column 1"),
        (
            "100000000000000000000000",
            "100000000000000000000000 is too large at column 1 (a number is below 1E+23)",
        ),
        ("1e5", "invalid number '1e5' at column 1 (write plain decimals such as 1000 or 0.05)"),
        (".5", "invalid number '.5' at column 1 (write 0.5)"),
        ("5.", "invalid number '5.' at column 1 (write digits after the '.')"),
        (
            "metre.x",
            "unknown reference 'metre.x' at column 1 (expected meter.<code> or charge.<code>)",
        ),
        (
            "meter.a.b",
            "unknown reference 'meter.a.b' at column 1 (expected meter.<code> or charge.<code>)",
        ),
        ("meter.", "missing code after 'meter.' at column 1"),
        (
            "charge.1st",
            "invalid charge code '1st' at column 1 "
            "(a code is letters, digits and '_', not starting with a digit)",
        ),
        ("meter", "'meter' needs a code at column 1 (write meter.<code>)"),
        ("x + 1", "unknown name 'x' at column 1 (a reference is meter.<code> or charge.<code>)"),
        ("meter.x = 1", "unexpected '=' at column 9 (did you mean '=='?)"),
        ("meter.x ! 1", "unexpected '!' at column 9 (did you mean '!=' or 'not'?)"),
        ("1 && 2", "unexpected '&' at column 3 (use 'and')"),
        (
            "5 % 2",
            "unexpected '%' at column 3 (write a percentage as a fraction: 5 % of x is 0.05 * x)",
        ),
        ("2 ^ 3", "unexpected '^' at column 3 (there is no power operator: multiply)"),
        ('"1"', "unexpected '\"' at column 1"),
        ("café", "unexpected 'é' at column 4"),
        (
            "1 +\n  * 2",
            "unexpected '*' at line 2, column 3 " + EXPECTED_OPERAND,
        ),
        ("__import__('os')", 'unexpected "\'" at column 12'),
        (
            "not not",
            "unexpected end of formula at column 8 " + EXPECTED_OPERAND,
        ),
    ],
)
def test_parse_errors_name_the_problem_and_its_position(text: str, message: str):
    with pytest.raises(FormulaError) as caught:
        parse_formula(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_a_formula_error_is_a_value_error_a_user_sees_and_knows_its_column():
    with pytest.raises(FormulaError) as caught:
        parse_formula("1 + )")
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, MeterlineError)
    assert caught.value.column == 5


def test_a_formula_is_text():
    with pytest.raises(FormulaError, match="a formula is text, got int"):
        parse_formula(42)  # type: ignore[arg-type]


def test_nesting_is_bounded():
    deep_but_allowed = "(" * (MAX_DEPTH - 1) + "meter.x" + ")" * (MAX_DEPTH - 1)
    assert parse_formula(deep_but_allowed).root == X
    with pytest.raises(FormulaError, match=f"nested more than {MAX_DEPTH} levels deep at column"):
        parse_formula("(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))
    # Each operator of a chain is a level: 50 terms are fine, the 51st '+' is too deep.
    assert value(" + ".join(["1"] * MAX_DEPTH)) == MAX_DEPTH
    with pytest.raises(FormulaError, match="nested more than 50 levels deep at column 199"):
        parse_formula(" + ".join(["1"] * (MAX_DEPTH + 2)))
    with pytest.raises(FormulaError, match="nested more than"):
        parse_formula("-" * (MAX_DEPTH + 1) + "1")
    with pytest.raises(FormulaError, match="nested more than"):
        parse_formula("abs(" * (MAX_DEPTH + 1) + "1" + ")" * (MAX_DEPTH + 1))


def test_the_deepest_formulas_compile_and_evaluate():
    nested_if = "if(meter.x > 0, " * 24 + "1" + ", 2)" * 24
    nested_min = "min(meter.x / 2, " * 24 + "charge.y" + ", 7)" * 24
    rows = frame(meter_x=["0", "3"], charge_y=["5", "1"])
    assert values(nested_if, rows) == [D(2), D(1)]
    assert values(nested_min, rows) == [D(0), D(1)]  # min(0/2, ...) = 0; min(1.5, ..., 1) = 1


# --- the tree, precedence and associativity ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("1 + 2 * 3", Arithmetic("+", n(1), Arithmetic("*", n(2), n(3)))),
        ("(1 + 2) * 3", Arithmetic("*", Arithmetic("+", n(1), n(2)), n(3))),
        ("1 - 2 - 3", Arithmetic("-", Arithmetic("-", n(1), n(2)), n(3))),
        ("1 - (2 - 3)", Arithmetic("-", n(1), Arithmetic("-", n(2), n(3)))),
        ("8 / 4 / 2", Arithmetic("/", Arithmetic("/", n(8), n(4)), n(2))),
        ("8 / 4 * 2", Arithmetic("*", Arithmetic("/", n(8), n(4)), n(2))),
        ("-2 * 3", Arithmetic("*", Negate(n(2)), n(3))),
        ("-(2 * 3)", Negate(Arithmetic("*", n(2), n(3)))),
        ("2 - -3", Arithmetic("-", n(2), Negate(n(3)))),
        ("--meter.x", Negate(Negate(X))),
        ("round(0.050, 2)", Round(n("0.05"), 2)),
        ("max(0, meter.x, charge.y)", Call("max", (n(0), X, Y))),
        (
            "if(1 + 2 > meter.x - 4, 1, 0)",
            If(Comparison(">", Arithmetic("+", n(1), n(2)), Arithmetic("-", X, n(4))), n(1), n(0)),
        ),
        (
            "if(not meter.x > 1 and charge.y > 1 or meter.x == 0, 1, 0)",
            If(
                Logic(
                    "or",
                    Logic("and", Not(Comparison(">", X, n(1))), Comparison(">", Y, n(1))),
                    Comparison("==", X, n(0)),
                ),
                n(1),
                n(0),
            ),
        ),
        (
            "if(meter.x > 1 or charge.y > 1 and meter.x != 0, 1, 0)",
            If(
                Logic(
                    "or",
                    Comparison(">", X, n(1)),
                    Logic("and", Comparison(">", Y, n(1)), Comparison("!=", X, n(0))),
                ),
                n(1),
                n(0),
            ),
        ),
        (
            "if(not (meter.x > 1 and charge.y > 1), 1, 0)",
            If(Not(Logic("and", Comparison(">", X, n(1)), Comparison(">", Y, n(1)))), n(1), n(0)),
        ),
    ],
)
def test_precedence_and_associativity(text: str, tree: object):
    formula = parse_formula(text)
    assert formula.root == tree
    assert parse_formula(formula.text) == formula


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("1+2*3", "1 + 2 * 3"),
        ("((1 + 2)) * 3", "(1 + 2) * 3"),
        ("1 - (2 - 3)", "1 - (2 - 3)"),
        ("1 + (2 + 3)", "1 + (2 + 3)"),  # kept: a different tree (and, for * and /, rounding)
        ("(1 * 2) * 3", "1 * 2 * 3"),
        ("- (2 * 3)", "-(2 * 3)"),
        ("(-2) * 3", "-2 * 3"),
        ("2 - - 3", "2 - -3"),
        ("0001.5000 + 1000", "1.5 + 1000"),
        ("99999999999999999999999.999999999", "99999999999999999999999.999999999"),
        ("round( meter.x ,2 )", "round(meter.x, 2)"),
        ("if(not(meter.x>1),1,0)", "if(not meter.x > 1, 1, 0)"),
        (
            "if((meter.x > 1 or meter.x < 0) and charge.y >= 2, 1, 0)",
            "if((meter.x > 1 or meter.x < 0) and charge.y >= 2, 1, 0)",
        ),
        ("0.05 *\n   charge.api_calls", "0.05 * charge.api_calls"),
    ],
)
def test_canonical_text(written: str, canonical: str):
    formula = parse_formula(written)
    assert formula.text == canonical == str(formula)
    assert formula.source == written
    assert parse_formula(canonical) == formula


def test_formulas_compare_by_tree_and_list_their_references():
    first, second = (
        parse_formula("0.05*charge.y + meter.x"),
        parse_formula("0.050 * charge.y + meter.x"),
    )
    assert first == second and hash(first) == hash(second)
    assert first.source != second.source
    assert first.references == frozenset({X, Y})
    assert sorted(parse_formula("meter.b + charge.z + meter.a + meter.b").references) == [
        Reference("charge", "z"),
        Reference("meter", "a"),
        Reference("meter", "b"),
    ]
    assert parse_formula("49").references == frozenset()
    assert str(X) == "meter.x"


# --- arithmetic: exact + and -, * and / rounded half to even at 15 places ---------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 / 4 / 2", "1"),  # (8 / 4) / 2, not 8 / (4 / 2) = 4
        ("2 - 3 - 4", "-5"),
        ("2 * 3 + 4", "10"),
        ("-2 * -3", "6"),
        ("0.1 + 0.2", "0.3"),  # exact: no binary float anywhere
        ("0.000000001 * 0.000001", "0.000000000000001"),  # 1e-15: the last digit kept
        ("0.000000001 * 0.0000005", "0"),  # 0.5e-15: a tie, to even (0)
        ("0.000000003 * 0.0000005", "0.000000000000002"),  # 1.5e-15: a tie, to even (2)
        ("0.000000005 * 0.0000005", "0.000000000000002"),  # 2.5e-15: a tie, to even (2)
        ("0.000000007 * 0.0000005", "0.000000000000004"),  # 3.5e-15: to even (4)
        ("-0.000000003 * 0.0000005", "-0.000000000000002"),  # symmetric: -1.5e-15 -> -2e-15
        ("0.000000001 * 0.0000006", "0.000000000000001"),  # 0.6e-15: above the tie, up
        ("2 / 3", "0.666666666666667"),  # 0.666666666666666|666...: up
        ("-2 / 3", "-0.666666666666667"),
        ("1 / 3 * 3", "0.999999999999999"),  # 0.333333333333333 * 3: rounded once per step
        ("1 / 8", "0.125"),
        ("0.000000005 / 1000000000", "0"),  # 5e-18: below half a unit, down
        ("1 / 2000000000000000", "0"),  # 0.5e-15: a tie, to even (0)
        ("3 / 2000000000000000", "0.000000000000002"),  # 1.5e-15: a tie, to even (2)
        (
            "99999999999999999999999 + 0.999999999 + 999999 / 1000000000000000",
            "99999999999999999999999.999999999999999",
        ),
    ],
)
def test_arithmetic(text: str, expected: str):
    assert value(text) == D(expected)


def test_references_are_cast_to_amounts_before_any_arithmetic():
    # Two quantities (6 places) would multiply and divide at 6 places: 1e-12 would be 0.
    rows = frame(meter_x=["0.000001"], charge_y=["0.000000001"])
    assert values("meter.x * charge.y", rows) == [D("0.000000000000001")]  # 1e-6 * 1e-9
    assert values("meter.x * meter.x", rows) == [D("0.000000000001")]  # 1e-12, not 0
    assert values("meter.x / 3", rows) == [D("0.000000333333333")]


# --- functions and conditions -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("min(3, 1, 2)", "1"),
        ("max(-1, -2)", "-1"),
        ("min(meter.x, 0.5)", "0.5"),  # x = 2
        ("ceil(1.2)", "2"),
        ("ceil(-0.5)", "0"),
        ("ceil(meter.x)", "2"),
        ("floor(1.9)", "1"),
        ("floor(-0.5)", "-1"),
        ("abs(-2.5)", "2.5"),
        ("abs(2.5)", "2.5"),
        ("round(2.5, 0)", "3"),  # half away from zero
        ("round(-2.5, 0)", "-3"),
        ("round(2.4999, 0)", "2"),
        ("round(1.005, 2)", "1.01"),
        ("round(-1.005, 2)", "-1.01"),
        ("round(1.234567894 + 1 / 2000000000, 9)", "1.234567895"),  # 1.2345678945: up
        ("round(meter.x / 3, 2)", "0.67"),  # 0.666666666666667 -> 0.67
        ("if(meter.x > 1, 10, 20)", "10"),
        ("if(meter.x >= 2, 10, 20)", "10"),
        ("if(meter.x < 2, 10, 20)", "20"),
        ("if(meter.x <= 2, 10, 20)", "10"),
        ("if(meter.x == 2.000, 10, 20)", "10"),
        ("if(meter.x != 2, 10, 20)", "20"),
        ("if(meter.x > 1 and meter.x < 2, 10, 20)", "20"),
        ("if(meter.x > 1 or meter.x < 2, 10, 20)", "10"),
        ("if(not meter.x > 1, 10, 20)", "20"),
    ],
)
def test_functions_and_conditions(text: str, expected: str):
    assert value(text, meter_x="2") == D(expected)


# --- division by zero: undefined, an error when it reaches the result -------------------------


def test_a_division_by_zero_that_reaches_the_result_is_a_rating_error_naming_the_formula():
    rows = frame(meter_x=["2", "0", "0"], charge_y=["1", "1", "1"])
    formula = parse_formula("charge.y / meter.x")
    with pytest.raises(RatingError) as caught:
        formula.evaluate(rows, column)
    assert str(caught.value) == (
        "formula 'charge.y / meter.x': division by zero on 2 of 3 rows; "
        "guard the divisor, e.g. if(meter.x != 0, charge.y / meter.x, 0)"
    )


def test_the_error_names_the_label_and_the_first_failing_row():
    rows = frame(meter_x=["2", "0"], charge_y=["1", "1"]).with_columns(sub=pl.Series(["s1", "s2"]))
    formula = parse_formula("charge.y / meter.x")
    with pytest.raises(
        RatingError, match=r"^plans\.pro\.charges\[3\]: formula .* on 1 of 2 rows \(first: s2\);"
    ):
        formula.evaluate(rows, column, label="plans.pro.charges[3]", row_key=pl.col("sub"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # x = 0 then 4, y = 8: 8 / 4 = 2
        ("if(meter.x != 0, charge.y / meter.x, 0)", [0, 2]),  # the guard: branch not taken
        ("if(meter.x == 0, 0, charge.y / meter.x)", [0, 2]),
        ("if(meter.x != 0 and charge.y / meter.x > 1, 1, 0)", [0, 1]),  # false and undefined
        ("if(charge.y / meter.x > 1 and meter.x != 0, 1, 0)", [0, 1]),  # Kleene: either side
        ("if(meter.x == 0 or charge.y / meter.x > 5, 0, 1)", [0, 1]),  # true or undefined
        ("if(meter.x > 0, min(charge.y / meter.x, 5), 0)", [0, 2]),
    ],
)
def test_a_division_by_zero_in_a_part_not_used_is_harmless(text: str, expected: list[int]):
    rows = frame(meter_x=["0", "4"], charge_y=["8", "8"])
    assert values(text, rows) == [D(v) for v in expected]


@pytest.mark.parametrize(
    "text",
    [
        "charge.y / meter.x",
        "-(charge.y / meter.x) + 1",
        "round(abs(charge.y / meter.x), 2)",
        "min(charge.y / meter.x, 5)",  # min and max do not skip an undefined argument
        "max(5, charge.y / meter.x)",
        "if(charge.y / meter.x > 1, 1, 2)",  # an undefined condition picks no branch
        "if(not charge.y / meter.x > 1, 1, 2)",
        "if(charge.y / meter.x > 1 or meter.x > 5, 1, 2)",  # undefined or false
        "if(meter.x > 0, 1, charge.y / meter.x)",  # the branch taken
        "1 / (meter.x - meter.x)",
    ],
)
def test_an_undefined_value_that_reaches_the_result_is_an_error(text: str):
    with pytest.raises(RatingError, match="division by zero on 1 of 1 rows"):
        values(text, frame(meter_x=["0"], charge_y=["8"]))


def test_a_constant_division_by_zero_is_an_error_too():
    with pytest.raises(RatingError, match=r"^formula '1 / 0': division by zero; guard"):
        values("1 / 0")


# --- overflow and references out of range: errors, never a wrap --------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "charge.y + charge.y",  # 2 * 99999999999999999999999.5 > 1E+23
        "-charge.y - charge.y",
        "charge.y * 2",
        "charge.y / 0.5",
        "charge.y * charge.y",
        "round(charge.y, 0)",  # 99999999999999999999999.5 -> 1E+23
        "ceil(charge.y)",
        "floor(-charge.y)",
        "99999999999999999999999.999999999 + 1",
    ],
)
def test_an_overflow_is_a_rating_error(text: str):
    rows = frame(charge_y=["99999999999999999999999.5"])
    formula = parse_formula(text)
    with pytest.raises(
        RatingError, match=r"does not fit an exact amount \(magnitude below 1E\+23\): overflow"
    ):
        formula.evaluate(rows, column)
    # Where a whole plan is collected at once, the same failure is Polars' own overflow error.
    with pytest.raises(pl.exceptions.ComputeError, match="overflow"):
        rows.lazy().with_columns(formula.to_expr(column).alias("amount")).collect()


def test_the_largest_amount_still_fits():
    rows = frame(charge_y=["99999999999999999999999.999999999999999"])
    assert values("charge.y * 1", rows) == [D("99999999999999999999999.999999999999999")]
    assert values("round(charge.y - 0.5, 0)", rows) == [D("99999999999999999999999")]


def test_a_quantity_too_large_for_an_amount_is_a_rating_error():
    rows = frame(meter_x=["1", "100000000000000000000000"])  # 1E+23: a quantity, not an amount
    with pytest.raises(RatingError) as caught:
        parse_formula("meter.x * 0").evaluate(rows, column)
    assert str(caught.value) == (
        "formula 'meter.x * 0': meter.x is too large for an amount (1E+23 or more) on 1 of 2 rows"
    )


def test_a_missing_reference_value_is_a_rating_error():
    rows = frame(meter_x=["1", None])
    with pytest.raises(
        RatingError,
        match=r"^formula 'if\(meter.x > 0, 1, 0\)': meter.x has no value on 1 of 2 rows$",
    ):
        values("if(meter.x > 0, 1, 0)", rows)


# --- the expression the rating job uses ---------------------------------------------------------


def test_to_expr_is_an_amount_column_in_a_lazy_plan_and_asks_for_each_reference_once():
    asked: list[Reference] = []

    def resolve(ref: Reference) -> pl.Expr:
        asked.append(ref)
        return pl.col(str(ref))

    rows = frame(meter_x=["1", "2"], charge_y=["10", "20"]).with_columns(sub=pl.Series(["a", "b"]))
    expr = parse_formula("meter.x * charge.y + meter.x").to_expr(resolve)
    result = rows.lazy().with_columns(expr.alias("amount")).collect()
    assert sorted(asked) == [Y, X]
    assert result.schema["amount"] == AMOUNT
    assert result["amount"].to_list() == [D(11), D(42)]  # 1*10 + 1; 2*20 + 2


def test_a_constant_formula_is_a_scalar_broadcast_to_every_row():
    rows = frame(meter_x=["1", "2", "3"])
    result = rows.with_columns(parse_formula("49").to_expr(column).alias("fee"))
    assert result["fee"].to_list() == [D(49)] * 3
    assert result.schema["fee"] == AMOUNT


def test_no_rows_no_error():
    rows = frame(meter_x=[], charge_y=[])
    assert values("charge.y / meter.x", rows) == []


# --- the three cascades of issue #5 --------------------------------------------------------------


def test_royalty_of_five_percent_of_another_charge():
    rows = frame(charge_api_calls=["25.5", "0", "1234.567890123456789"])
    assert values("0.05 * charge.api_calls", rows) == [
        D("1.275"),  # 0.05 * 25.5
        D(0),
        D("61.728394506172839"),  # 61.728394506172839|45: rounded at 15 places, down
    ]


def test_package_fee_once_a_meter_is_used():
    rows = frame(meter_api_calls=["0", "0.000001", "12500"])
    assert values("if(meter.api_calls > 0, 49, 0)", rows) == [D(0), D(49), D(49)]


def test_charge_on_usage_above_an_allowance():
    rows = frame(meter_storage_gb=["80", "100", "112.5", "100.000001"])
    assert values("max(0, meter.storage_gb - 100) * 0.08", rows) == [
        D(0),  # max(0, -20) * 0.08
        D(0),  # exactly the allowance
        D(1),  # 12.5 * 0.08
        D("0.00000008"),  # 0.000001 * 0.08
    ]


def test_formula_nodes_are_plain_data():
    formula = Formula(Arithmetic("*", n("0.05"), Y))
    assert formula.text == "0.05 * charge.y"
    assert parse_formula(formula.text) == formula


def test_case_is_a_chain_of_ifs() -> None:
    """case(c1, v1, c2, v2, default): the first condition that holds picks the value."""
    tiered = parse_formula("case(meter.x > 100, 3, meter.x > 10, 2, 1)")
    assert tiered == parse_formula("if(meter.x > 100, 3, if(meter.x > 10, 2, 1))")
    frame = pl.DataFrame({"x": [5, 10, 11, 100, 101]})
    values = frame.select(tiered.to_expr(lambda ref: pl.col(ref.code))).to_series().to_list()
    assert values == [1, 1, 2, 2, 3]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case(meter.x > 1, 2)", "case() takes an odd number of arguments (at least 3), got 2"),
        ("case(meter.x > 1, 2, 3, 4)", "an odd number of arguments (at least 3), got 4"),
        ("case(meter.x > 1, 2, 2)", "case() gives the same value either way at column 1"),
        ("case(1, 2, 3)", "a number cannot be used as a condition at column 6"),
    ],
)
def test_case_errors(text: str, message: str) -> None:
    with pytest.raises(FormulaError, match=re.escape(message)):
        parse_formula(text)

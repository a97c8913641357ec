"""Reference evaluation of formulas: plain ``decimal``, one row at a time.

Written to be obviously right, not fast. It restates the semantics of
``docs/formulas.md`` instead of reusing ``rating.formula``: it walks the syntax
tree the parser builds (by class name and field names, so it imports neither
Polars nor the project), and does every operation on Python ``Decimal`` with an
explicit rounding step:

* every value is an amount with 15 decimal places and a magnitude below 1E+23;
  anything larger is an overflow, raised at once;
* ``+`` and ``-`` are exact; ``*`` and ``/`` are rounded to 15 places, half to even;
* ``round`` is half away from zero (``ROUND_HALF_UP`` in ``decimal``), ``ceil`` and
  ``floor`` quantize to integers towards +/- infinity;
* a division by zero gives :data:`UNDEFINED`, which every operation passes on,
  except that ``and``/``or`` follow Kleene logic and ``if`` returns the branch its
  condition picks;
* an overflow in a part the result needs is an error; one in a part it does not
  need (the branch an ``if`` does not take, ...) may or may not be: Polars computes
  such parts, unless its optimizer drops them (``if(1 > 0, a, b)`` never computes
  ``b``). :func:`evaluate` computes everything by default, only what is needed with
  ``lazy=True``: an engine's outcome must be one of the two;
* a reference that is missing (``None``) or too large for an amount is an error of
  its own, and counts as undefined while the row is computed.

Worked examples (the arithmetic is written beside each expected value):

>>> from decimal import Decimal as D
>>> multiply(D("0.000000000000003"), D("0.5"))  # 1.5e-15 is a tie: to even, 2e-15
Decimal('2E-15')
>>> multiply(D("0.000000000000005"), D("0.5"))  # 2.5e-15: to even, 2e-15
Decimal('2E-15')
>>> divide(D(2), D(3)), divide(D(-1), D(3))  # 0.666...6|66 up; -0.333...3|33 towards zero
(Decimal('0.666666666666667'), Decimal('-0.333333333333333'))
>>> divide(D(1), D(0))
UNDEFINED
>>> round_half_away(D("-2.5"), 0), round_half_away(D("0.0000000005"), 9)
(Decimal('-3'), Decimal('1E-9'))
>>> ceiling(D("-0.5")), floor(D("-0.5"))
(Decimal('-0'), Decimal('-1'))
>>> multiply(D("1E+12"), D("1E+11"))  # 1e23 does not fit
Traceback (most recent call last):
...
tests.reference.formula.FormulaOverflow: 100000000000000000000000.000000000000000
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import (
    ROUND_05UP,
    ROUND_CEILING,
    ROUND_FLOOR,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
    localcontext,
)
from typing import Any, Literal

AMOUNT_PLACES = 15
UNIT = Decimal(1).scaleb(-AMOUNT_PLACES)
LIMIT = Decimal(10) ** 23
"""The smallest magnitude that does not fit ``DECIMAL(38, 15)``."""

# Far wider than any product of two amounts (23 + 15 digits each): sums and products
# are exact, and the traps make any unexpected rounding fail loudly.
EXACT = Context(prec=200, traps=[Inexact, Rounded, InvalidOperation, DivisionByZero, Overflow])
# For quantize: wide enough that a result never exceeds the precision.
WIDE = Context(prec=200, traps=[InvalidOperation, DivisionByZero, Overflow])
# A quotient of two amounts is below 1E+38, so 100 digits keep it to far below 1E-15.
# Rounding those digits "05up" (round to odd) never creates or hides a tie at 1E-15,
# which makes the second rounding, half even to 15 places, the correctly rounded one.
QUOTIENT = Context(prec=100, rounding=ROUND_05UP, traps=[InvalidOperation, DivisionByZero])


class FormulaOverflow(ArithmeticError):
    """A value does not fit an amount (magnitude 1E+23 or more)."""


class _Undefined:
    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()
"""The value of a division by zero, and of anything computed from it."""

Value = Decimal | bool | _Undefined


@dataclass(frozen=True)
class Failure:
    """Why a whole column cannot be rated (see :func:`evaluate_column`)."""

    reason: Literal["overflow", "missing", "too_large", "division_by_zero"]
    reference: str | None = None


# --- arithmetic ----------------------------------------------------------------------------


def fit(value: Decimal) -> Decimal:
    """``value`` itself if it fits an amount; otherwise an overflow."""
    if value.copy_abs() >= LIMIT:
        raise FormulaOverflow(value)
    return value


def add(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(EXACT):
        return fit(a + b)


def subtract(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(EXACT):
        return fit(a - b)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    with localcontext(EXACT):
        exact = a * b
    return fit(exact.quantize(UNIT, rounding=ROUND_HALF_EVEN, context=WIDE))


def divide(a: Decimal, b: Decimal) -> Decimal | _Undefined:
    if b == 0:
        return UNDEFINED
    with localcontext(QUOTIENT):
        quotient = a / b
    return fit(quotient.quantize(UNIT, rounding=ROUND_HALF_EVEN, context=WIDE))


def round_half_away(value: Decimal, places: int) -> Decimal:
    step = Decimal(1).scaleb(-places)
    return fit(value.quantize(step, rounding=ROUND_HALF_UP, context=WIDE))


def ceiling(value: Decimal) -> Decimal:
    return fit(value.quantize(Decimal(1), rounding=ROUND_CEILING, context=WIDE))


def floor(value: Decimal) -> Decimal:
    return fit(value.quantize(Decimal(1), rounding=ROUND_FLOOR, context=WIDE))


_ARITHMETIC: dict[str, Callable[[Decimal, Decimal], Decimal | _Undefined]] = {
    "+": add,
    "-": subtract,
    "*": multiply,
    "/": divide,
}
_COMPARE: dict[str, Callable[[Decimal, Decimal], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
_FUNCTIONS: dict[str, Callable[[Decimal], Decimal]] = {
    "ceil": ceiling,
    "floor": floor,
    "abs": Decimal.copy_abs,
}


# --- the tree -------------------------------------------------------------------------------


def reference_name(node: Any) -> str:
    return f"{node.kind}.{node.code}"


def references(node: Any) -> set[str]:
    """Names (``meter.x``) of every reference in the tree."""
    kind = type(node).__name__
    if kind == "Reference":
        return {reference_name(node)}
    found: set[str] = set()
    for child in _children(node):
        found |= references(child)
    return found


def _children(node: Any) -> list[Any]:
    kind = type(node).__name__
    if kind in ("Number", "Reference"):
        return []
    if kind in ("Negate", "Not", "Round"):
        return [node.operand]
    if kind in ("Arithmetic", "Comparison", "Logic"):
        return [node.left, node.right]
    if kind == "Call":
        return list(node.args)
    if kind == "If":
        return [node.condition, node.then, node.otherwise]
    raise TypeError(f"unknown node {node!r}")


def evaluate(node: Any, values: Mapping[str, Decimal | _Undefined], *, lazy: bool = False) -> Value:
    """The value of one node on one row.

    By default every part is computed, both branches of an ``if`` included, so an
    overflow anywhere raises. With ``lazy``, only the parts the value needs are: the
    branch the condition picks, the right side of ``and``/``or`` when the left does
    not decide, nothing after an undefined operand. The documented behaviour lies in
    between: an overflow in a needed part is always an error, one in a part that is
    not needed may go unreported (the engine may drop such parts).
    """
    kind = type(node).__name__
    if kind == "Number":
        return fit(node.value)
    if kind == "Reference":
        return values[reference_name(node)]
    if lazy:
        return _lazy(node, values)
    operands = [evaluate(child, values) for child in _children(node)]
    if kind == "Logic":
        return _kleene(node.op, *operands)
    if kind == "If":
        condition, then, otherwise = operands
        if condition is UNDEFINED:
            return UNDEFINED
        return then if condition else otherwise
    if any(operand is UNDEFINED for operand in operands):
        return UNDEFINED
    return _apply(node, operands)


def _lazy(node: Any, values: Mapping[str, Decimal | _Undefined]) -> Value:
    kind = type(node).__name__
    if kind == "If":
        condition = evaluate(node.condition, values, lazy=True)
        if condition is UNDEFINED:
            return UNDEFINED
        return evaluate(node.then if condition else node.otherwise, values, lazy=True)
    if kind == "Logic":
        left = evaluate(node.left, values, lazy=True)
        if left is (node.op == "or"):
            return left
        return _kleene(node.op, left, evaluate(node.right, values, lazy=True))
    operands = []
    for child in _children(node):
        operand = evaluate(child, values, lazy=True)
        if operand is UNDEFINED:
            return UNDEFINED
        operands.append(operand)
    return _apply(node, operands)


def _apply(node: Any, operands: list[Any]) -> Value:
    """An operation on defined operands."""
    kind = type(node).__name__
    if kind == "Negate":
        return operands[0].copy_negate()
    if kind == "Not":
        return not operands[0]
    if kind == "Arithmetic":
        return _ARITHMETIC[node.op](*operands)
    if kind == "Comparison":
        return _COMPARE[node.op](*operands)
    if kind == "Round":
        return round_half_away(operands[0], node.places)
    if node.function == "min":
        return min(operands)
    if node.function == "max":
        return max(operands)
    return _FUNCTIONS[node.function](operands[0])


def _kleene(op: str, a: Value, b: Value) -> Value:
    """``false and x`` is false and ``true or x`` is true even when ``x`` is undefined."""
    decisive = op == "or"  # the value that settles the result whichever the other is
    if a is decisive or b is decisive:
        return decisive
    if a is UNDEFINED or b is UNDEFINED:
        return UNDEFINED
    return not decisive


# --- rows and columns ---------------------------------------------------------------------


def _usable(value: Decimal | None) -> Decimal | _Undefined:
    if value is None or value.copy_abs() >= LIMIT:
        return UNDEFINED
    return value


def evaluate_row(
    root: Any, row: Mapping[str, Decimal | None], *, lazy: bool = False
) -> Decimal | _Undefined:
    """The formula on one row; raises :class:`FormulaOverflow`.

    A missing or too-large reference reads as undefined here; :func:`evaluate_column`
    reports it as an error of its own.
    """
    values = {name: _usable(row[name]) for name in references(root)}
    result = evaluate(root, values, lazy=lazy)
    assert not isinstance(result, bool), "a formula gives a number"
    return result


def evaluate_column(
    root: Any, rows: Sequence[Mapping[str, Decimal | None]], *, lazy: bool = False
) -> list[Decimal] | Failure:
    """Every row's value, or the one failure reported for the column, in this order:

    1. an overflow on any row;
    2. per reference, in order of name (``charge.*`` before ``meter.*``): a missing
       value on any row, then a value too large for an amount on any row;
    3. a division by zero whose undefined value reaches the result of any row.
    """
    outcomes: list[Decimal | _Undefined] = []
    for row in rows:
        try:
            outcomes.append(evaluate_row(root, row, lazy=lazy))
        except FormulaOverflow:
            return Failure("overflow")
    for name in sorted(references(root)):
        if any(row[name] is None for row in rows):
            return Failure("missing", name)
        if any(row[name] is not None and row[name].copy_abs() >= LIMIT for row in rows):
            return Failure("too_large", name)
    if any(outcome is UNDEFINED for outcome in outcomes):
        return Failure("division_by_zero")
    return [outcome for outcome in outcomes if isinstance(outcome, Decimal)]

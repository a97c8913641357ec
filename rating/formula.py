"""Formula charges: a small, declarative expression language over meters and charges.

A formula is parsed once, at catalog load, into a typed syntax tree (never
``eval``: the text only ever meets the tokenizer below), and compiled into one
Polars expression per plan. The language is documented in ``docs/formulas.md``;
in short:

* numbers are exact decimals (``0.05``, ``1000``), at most 9 decimal places,
  below ``1E+23``;
* ``meter.<code>`` is the subscription's quantity of a meter in the period,
  ``charge.<code>`` the unrounded amount of another charge of the plan;
* ``+ - * /``, unary ``-``, comparisons ``< <= > >= == !=``, ``and or not``,
  ``min max if round ceil floor abs``;
* every number is a ``Decimal(38, 15)`` amount: ``+`` and ``-`` are exact,
  ``*`` and ``/`` round their result to 15 places, half to even;
* a division by zero gives an *undefined* value: an error (``RatingError``)
  if it reaches the result, harmless in the branch an ``if`` does not take;
* an overflow (beyond ``Decimal(38, 15)``) in a value the result uses is always
  an error, never a wrap.

The three cascades of issue #5, evaluated over a few subscription rows (the
caller says which column holds each reference):

>>> from decimal import Decimal
>>> from schemas.types import QUANTITY
>>> def column(ref: Reference) -> pl.Expr:
...     return pl.col(str(ref))

A royalty of 5 % of another charge's amount:

>>> royalty = parse_formula("0.05 * charge.api_calls")
>>> sorted(royalty.references)
[Reference(kind='charge', code='api_calls')]
>>> amounts = [Decimal("25.5")]
>>> rows = pl.DataFrame({"charge.api_calls": amounts}, schema={"charge.api_calls": AMOUNT})
>>> royalty.evaluate(rows, column).to_list()  # 0.05 * 25.5 = 1.275
[Decimal('1.275000000000000')]

A fixed package fee once a meter's quantity exceeds zero:

>>> package = parse_formula("if(meter.api_calls > 0, 49, 0)")
>>> calls = [Decimal(0), Decimal(3)]
>>> rows = pl.DataFrame({"meter.api_calls": calls}, schema={"meter.api_calls": QUANTITY})
>>> package.evaluate(rows, column).to_list()  # no calls: 0; 3 calls: 49
[Decimal('0E-15'), Decimal('49.000000000000000')]

A charge on usage above an allowance of 100 GB, at 0.08 per GB:

>>> overage = parse_formula("max(0, meter.storage_gb - 100) * 0.08")
>>> gb = [Decimal(80), Decimal("112.5")]
>>> rows = pl.DataFrame({"meter.storage_gb": gb}, schema={"meter.storage_gb": QUANTITY})
>>> overage.evaluate(rows, column).to_list()  # max(0, -20) * 0.08 = 0; 12.5 * 0.08 = 1
[Decimal('0E-15'), Decimal('1.000000000000000')]

The canonical text spaces operators and keeps only the parentheses it needs:

>>> parse_formula("(max( 0,meter.storage_gb-100 ))*0.080").text
'max(0, meter.storage_gb - 100) * 0.08'
>>> parse_formula("MAX(0, meter.storage_gb)")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rating.formula.FormulaError: unknown function 'MAX' at column 1 (expected one of abs, case, ...)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Context, Decimal
from functools import cached_property, partial
from typing import Literal, TypeAlias

import polars as pl

from schemas.errors import MeterlineError, RatingError
from schemas.types import AMOUNT, AMOUNT_SCALE, DECIMAL_PRECISION, PRICE_SCALE

NUMBER_SCALE = PRICE_SCALE
"""Decimal places a number literal may have: a formula constant is a catalog price."""

NUMBER_INTEGER_DIGITS = DECIMAL_PRECISION - AMOUNT_SCALE
"""A literal is below ``10**23``, so that it fits the amount type every value is carried in."""

MAX_DEPTH = 50
"""Levels of nesting allowed: parentheses, calls, unary operators, and each operator of a
chain (``a + b + c`` is two levels). Deeper is unreadable, and bounds every recursion."""

ROUND_MAX_PLACES = PRICE_SCALE
"""``round(x, places)`` takes 0..9 places, the precision of a catalog price."""

# ``Decimal.normalize`` rounds to its context's precision (28 digits by default), and a
# 38-digit literal must keep every digit.
_EXACT_DIGITS = Context(prec=2 * DECIMAL_PRECISION)

_FUNCTIONS = ("abs", "case", "ceil", "floor", "if", "max", "min", "round")
_COMPARISONS = ("<", "<=", ">", ">=", "==", "!=")


class FormulaError(MeterlineError, ValueError):
    """A formula that cannot be parsed or is ill-typed; the message names the column.

    The catalog loader prefixes the charge's path. ``column`` is 1-based, or
    ``None`` when the problem is not at one place.
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        super().__init__(message)
        self.column = column


# --- the syntax tree ----------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Reference:
    """A value the formula reads: a meter's quantity or another charge's exact amount."""

    kind: Literal["meter", "charge"]
    code: str

    def __str__(self) -> str:
        return f"{self.kind}.{self.code}"


@dataclass(frozen=True)
class Number:
    """A non-negative literal (``-2`` is ``Negate(Number(2))``), normalized."""

    value: Decimal


@dataclass(frozen=True)
class Negate:
    operand: Numeric


@dataclass(frozen=True)
class Arithmetic:
    op: Literal["+", "-", "*", "/"]
    left: Numeric
    right: Numeric


@dataclass(frozen=True)
class Call:
    """``min`` and ``max`` (two or more arguments), ``ceil``, ``floor``, ``abs`` (one)."""

    function: Literal["min", "max", "ceil", "floor", "abs"]
    args: tuple[Numeric, ...]


@dataclass(frozen=True)
class Round:
    """Half away from zero to ``places`` decimal places (0..9)."""

    operand: Numeric
    places: int


@dataclass(frozen=True)
class If:
    condition: Condition
    then: Numeric
    otherwise: Numeric


@dataclass(frozen=True)
class Comparison:
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Numeric
    right: Numeric


@dataclass(frozen=True)
class Logic:
    op: Literal["and", "or"]
    left: Condition
    right: Condition


@dataclass(frozen=True)
class Not:
    operand: Condition


Numeric: TypeAlias = Number | Reference | Negate | Arithmetic | Call | Round | If
"""A node whose value is a number (a ``Decimal(38, 15)`` amount)."""

Condition: TypeAlias = Comparison | Logic | Not
"""A node whose value is true or false; only ``if``, ``and``, ``or`` and ``not`` take one."""

Node: TypeAlias = Numeric | Condition

_CONDITIONS = (Comparison, Logic, Not)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-nodes of ``node``, left to right."""
    match node:
        case Number() | Reference():
            return ()
        case Negate(operand) | Not(operand) | Round(operand, _):
            return (operand,)
        case Arithmetic(_, left, right) | Comparison(_, left, right) | Logic(_, left, right):
            return (left, right)
        case Call(_, args):
            return args
        case If(condition, then, otherwise):
            return (condition, then, otherwise)
    raise TypeError(f"not a formula node: {node!r}")


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before their children."""
    yield node
    for child in children(node):
        yield from walk(child)


# --- the formula ----------------------------------------------------------------------------


Resolve: TypeAlias = Callable[[Reference], pl.Expr]
"""The column of a reference: a quantity (``Decimal(38, 6)``) or an amount (``Decimal(38, 15)``)."""


@dataclass(frozen=True)
class Formula:
    """A parsed, type-checked formula. Two formulas are equal when their trees are."""

    root: Numeric
    source: str = field(default="", compare=False)
    """The text as written (the catalog's); :attr:`text` is the canonical form."""

    @cached_property
    def references(self) -> frozenset[Reference]:
        """Every meter and charge the formula reads (the caller checks that they exist)."""
        return frozenset(node for node in walk(self.root) if isinstance(node, Reference))

    @cached_property
    def text(self) -> str:
        """Canonical one-line text: ``parse_formula(f.text) == f`` for every formula ``f``."""
        return _print(self.root)[0]

    def __str__(self) -> str:
        return self.text

    def to_expr(
        self, resolve: Resolve, *, label: str | None = None, row_key: pl.Expr | None = None
    ) -> pl.Expr:
        """The formula's value per row, as a ``Decimal(38, 15)`` Polars expression.

        ``resolve`` gives each reference's column; every reference is cast to
        ``Decimal(38, 15)`` before it is used. Collecting the expression raises
        :class:`RatingError` (prefixed by ``label``, naming the first failing
        ``row_key`` if given) when a reference is null or too large for an
        amount, or when a division by zero reaches the result; an arithmetic
        overflow surfaces as Polars' own ``ComputeError`` mentioning "overflow"
        (see :meth:`evaluate`, or catch it where the whole plan is collected).

        A formula without references is a constant: the expression is a scalar.
        """
        raw = {ref: resolve(ref) for ref in sorted(self.references)}
        values = {ref: column.cast(AMOUNT, strict=False) for ref, column in raw.items()}
        fields = [_compile(self.root, values).expr.alias("value")]
        names = [str(ref) for ref in raw]
        for index, column in enumerate(raw.values()):
            fields.append(column.is_null().alias(f"missing {index}"))
            fields.append(_too_large(column).alias(f"too_large {index}"))
        if row_key is not None and raw:
            fields.append(row_key.cast(pl.String).alias("key"))
        check = partial(_check_batch, prefix=self._prefix(label), references=tuple(names))
        return pl.struct(fields).map_batches(check, return_dtype=AMOUNT, returns_scalar=not raw)

    def evaluate(
        self,
        frame: pl.DataFrame | pl.LazyFrame,
        resolve: Resolve,
        *,
        label: str | None = None,
        row_key: pl.Expr | None = None,
    ) -> pl.Series:
        """Evaluate over ``frame``, turning any failure (overflow included) into a RatingError."""
        query = frame.lazy().select(self.to_expr(resolve, label=label, row_key=row_key))
        try:
            return query.collect().to_series()
        except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as error:
            if "overflow" not in str(error):
                raise
            # Polars appends the failing expression tree; its first line is the useful part.
            reason = str(error).splitlines()[0]
            raise RatingError(
                f"{self._prefix(label)}: a value does not fit an exact amount "
                f"(magnitude below 1E+23): {reason}"
            ) from None

    def _prefix(self, label: str | None) -> str:
        described = f"formula {self.text!r}"
        return f"{label}: {described}" if label else described


def _too_large(column: pl.Expr) -> pl.Expr:
    """True where a value does not fit ``Decimal(38, 15)`` (a quantity of 1E+23 or more)."""
    return column.is_not_null() & column.cast(AMOUNT, strict=False).is_null()


def _check_batch(batch: pl.Series, *, prefix: str, references: tuple[str, ...]) -> pl.Series:
    """The formula's values, or a RatingError for the first kind of row it could not compute."""

    def rows(flags: pl.Series) -> str:
        if not references:  # a constant: every row is the same
            return ""
        text = f" on {flags.sum()} of {len(flags)} rows"
        if "key" in batch.struct.fields:
            text += f" (first: {batch.struct.field('key').filter(flags)[0]})"
        return text

    for index, name in enumerate(references):
        missing = batch.struct.field(f"missing {index}")
        if missing.any():
            raise RatingError(f"{prefix}: {name} has no value{rows(missing)}")
        too_large = batch.struct.field(f"too_large {index}")
        if too_large.any():
            raise RatingError(
                f"{prefix}: {name} is too large for an amount (1E+23 or more){rows(too_large)}"
            )
    values = batch.struct.field("value")
    if values.null_count():
        raise RatingError(
            f"{prefix}: division by zero{rows(values.is_null())}; "
            "guard the divisor, e.g. if(meter.x != 0, charge.y / meter.x, 0)"
        )
    return values


# --- compiling to Polars --------------------------------------------------------------------
#
# A division by zero gives null, Polars' own "undefined", and ``_check_batch`` turns a null
# that reaches the result into an error. Arithmetic, functions, comparisons and ``not``
# propagate null; ``and``/``or`` follow Kleene logic (``false and undefined`` is false).
# ``min_horizontal`` would skip a null and ``when`` would take the else branch on a null
# condition, so where a division can make an operand undefined, slower array forms that keep
# the null are used instead. No sub-expression is referenced twice: the expression grows
# linearly with the formula (Polars expands a shared sub-expression once per reference).


@dataclass(frozen=True)
class _Compiled:
    expr: pl.Expr
    undefinable: bool
    """Whether a division by zero can make the value null."""


def _compile(node: Node, values: dict[Reference, pl.Expr]) -> _Compiled:
    match node:
        case Number(value):
            return _Compiled(pl.lit(value, dtype=AMOUNT), undefinable=False)
        case Reference():
            # A null or too-large reference is an error by itself (see ``Formula.to_expr``).
            return _Compiled(values[node], undefinable=False)
        case Negate(operand) | Not(operand) | Call("ceil" | "floor" | "abs", (operand,)):
            inner = _compile(operand, values)
            return _Compiled(_unary(node, inner.expr), inner.undefinable)
        case Round(operand, places):
            inner = _compile(operand, values)
            rounded = inner.expr.round(places, mode="half_away_from_zero")
            return _Compiled(rounded, inner.undefinable)
        case Arithmetic("/", left, right):
            a, b = _compile(left, values), _compile(right, values)
            return _Compiled(a.expr / b.expr.replace(pl.lit(0, dtype=AMOUNT), None), True)
        case Arithmetic(op, left, right) | Comparison(op, left, right) | Logic(op, left, right):
            a, b = _compile(left, values), _compile(right, values)
            return _Compiled(_BINARY[op](a.expr, b.expr), a.undefinable or b.undefinable)
        case Call(function, args):
            compiled = [_compile(arg, values) for arg in args]
            exprs = [arg.expr for arg in compiled]
            if not any(arg.undefinable for arg in compiled):
                extremum = pl.min_horizontal if function == "min" else pl.max_horizontal
                return _Compiled(extremum(exprs), undefinable=False)
            # Sorting nulls first makes the extremum undefined when any argument is.
            first = pl.element().sort(descending=function == "max", nulls_last=False).first()
            return _Compiled(pl.concat_arr(exprs).arr.agg(first), undefinable=True)
        case If(condition, then, otherwise):
            c, t, e = (_compile(part, values) for part in (condition, then, otherwise))
            undefinable = c.undefinable or t.undefinable or e.undefinable
            if not c.undefinable:
                return _Compiled(pl.when(c.expr).then(t.expr).otherwise(e.expr), undefinable)
            # Index [else, then] by the condition: false 0, true 1, undefined null -> null.
            index = c.expr.cast(pl.Int8)
            branches = pl.concat_arr([e.expr, t.expr])
            return _Compiled(branches.arr.get(index, null_on_oob=True), undefinable)
    raise TypeError(f"not a formula node: {node!r}")


def _unary(node: Negate | Not | Call, operand: pl.Expr) -> pl.Expr:
    match node:
        case Negate():
            return -operand
        case Not():
            return ~operand
        case Call("ceil"):
            return operand.ceil()
        case Call("floor"):
            return operand.floor()
    return operand.abs()


_BINARY: dict[str, Callable[[pl.Expr, pl.Expr], pl.Expr]] = {
    "+": pl.Expr.add,
    "-": pl.Expr.sub,
    "*": pl.Expr.mul,
    "<": pl.Expr.lt,
    "<=": pl.Expr.le,
    ">": pl.Expr.gt,
    ">=": pl.Expr.ge,
    "==": pl.Expr.eq,
    "!=": pl.Expr.ne,
    "and": pl.Expr.and_,
    "or": pl.Expr.or_,
}


# --- printing -------------------------------------------------------------------------------

# Binding strength, loosest first; an atom (number, reference, call, parenthesis) binds tightest.
_OR, _AND, _NOT, _COMPARE, _ADD, _MUL, _NEGATE, _ATOM = range(8)
_BINARY_LEVEL = {
    "or": _OR,
    "and": _AND,
    **dict.fromkeys(_COMPARISONS, _COMPARE),
    "+": _ADD,
    "-": _ADD,
    "*": _MUL,
    "/": _MUL,
}


def format_number(value: Decimal) -> str:
    """A literal as plain digits without exponent or trailing zeros: ``1E+3`` -> ``1000``.

    >>> format_number(Decimal("1E+3")), format_number(Decimal("0.0500")), format_number(Decimal(0))
    ('1000', '0.05', '0')
    >>> format_number(Decimal("12345678901234567890123.123456789"))  # all 32 digits kept
    '12345678901234567890123.123456789'
    """
    return format(value.normalize(_EXACT_DIGITS), "f")


def _print(node: Node) -> tuple[str, int]:
    """The canonical text of ``node`` and its binding strength."""
    match node:
        case Number(value):
            return format_number(value), _ATOM
        case Reference():
            return str(node), _ATOM
        case Negate(operand):
            return "-" + _operand(operand, _NEGATE), _NEGATE
        case Not(operand):
            return "not " + _operand(operand, _NOT), _NOT
        case Arithmetic(op, left, right) | Comparison(op, left, right) | Logic(op, left, right):
            level = _BINARY_LEVEL[op]
            # Operators group to the left, so a right operand of the same strength needs
            # parentheses to keep its tree (and, for * and /, its rounding).
            text = f"{_operand(left, level)} {op} {_operand(right, level + 1)}"
            return text, level
        case Call(function, args):
            return f"{function}({', '.join(_print(arg)[0] for arg in args)})", _ATOM
        case Round(operand, places):
            return f"round({_print(operand)[0]}, {places})", _ATOM
        case If(condition, then, otherwise):
            parts = ", ".join(_print(part)[0] for part in (condition, then, otherwise))
            return f"if({parts})", _ATOM
    raise TypeError(f"not a formula node: {node!r}")


def _operand(node: Node, weakest: int) -> str:
    text, level = _print(node)
    return text if level >= weakest else f"({text})"


# --- tokenizing -----------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
    | (?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]*)*)
    | (?P<op><=|>=|==|!=|[-+*/<>(),])
    """,
    re.VERBOSE | re.ASCII,
)
_CODE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)
_HINTS = {
    "=": "did you mean '=='?",
    "!": "did you mean '!=' or 'not'?",
    "&": "use 'and'",
    "|": "use 'or'",
    "%": "write a percentage as a fraction: 5 % of x is 0.05 * x",
    "^": "there is no power operator: multiply",
}


@dataclass(frozen=True)
class _Token:
    kind: Literal["number", "name", "op", "end"]
    text: str
    offset: int


def _error(text: str, offset: int, problem: str, hint: str = "") -> FormulaError:
    """``<problem> at column C (<hint>)``; ``line L, column C`` when the formula spans lines."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    where = f"at line {line}, column {column}" if "\n" in text else f"at column {column}"
    return FormulaError(f"{problem} {where}" + (f" ({hint})" if hint else ""), column)


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            char = text[offset]
            raise _error(text, offset, f"unexpected {char!r}", _HINTS.get(char, ""))
        kind = match.lastgroup
        previous = tokens[-1] if tokens else None
        if (
            kind == "name"
            and previous is not None
            and previous.kind == "number"
            and previous.offset + len(previous.text) == offset
        ):
            raise _error(
                text,
                previous.offset,
                f"invalid number {previous.text + match.group()!r}",
                "write plain decimals such as 1000 or 0.05",
            )
        if kind != "space":
            tokens.append(_Token(kind, match.group(), offset))  # type: ignore[arg-type]
        offset = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# --- parsing --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    node: Node
    offset: int
    """Where the construct starts, for messages about it."""
    depth: int = 1


class _Parser:
    """Recursive descent, one method per precedence level (the grammar is in docs/formulas.md).

    Types are checked as the tree is built, so a message points at the construct.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.open = 0  # parentheses, calls and prefix operators being parsed

    # -- tokens

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def at(self, *texts: str) -> bool:
        return self.token.kind in ("op", "name") and self.token.text in texts

    def error(self, offset: int, problem: str, hint: str = "") -> FormulaError:
        return _error(self.text, offset, problem, hint)

    def unexpected(self, expected: str) -> FormulaError:
        token = self.token
        found = "end of formula" if token.kind == "end" else repr(token.text)
        return self.error(token.offset, f"unexpected {found}", f"expected {expected}")

    def expect(self, text: str, expected: str) -> None:
        if not self.at(text):
            raise self.unexpected(expected)
        self.advance()

    # -- nesting: bounded, so that every recursion over the tree is

    def enter(self, offset: int) -> None:
        self.open += 1
        if self.open > MAX_DEPTH:
            raise self.too_deep(offset)

    def leave(self) -> None:
        self.open -= 1

    def too_deep(self, offset: int) -> FormulaError:
        return self.error(
            offset,
            f"formula nested more than {MAX_DEPTH} levels deep",
            "split it into several formula charges",
        )

    def build(self, node: Node, offset: int, *parts: _Parsed, at: int | None = None) -> _Parsed:
        """The parsed node starting at ``offset``; a depth error points at ``at`` (an operator)."""
        depth = 1 + max((part.depth for part in parts), default=0)
        if depth > MAX_DEPTH:
            raise self.too_deep(offset if at is None else at)
        return _Parsed(node, offset, depth)

    # -- types

    def number(self, parsed: _Parsed) -> Numeric:
        if isinstance(parsed.node, _CONDITIONS):
            raise self.error(parsed.offset, "a condition cannot be used as a number")
        return parsed.node

    def condition(self, parsed: _Parsed) -> Condition:
        if not isinstance(parsed.node, _CONDITIONS):
            raise self.error(parsed.offset, "a number cannot be used as a condition")
        return parsed.node

    # -- grammar, loosest binding first

    def formula(self) -> Numeric:
        if self.token.kind == "end":
            raise FormulaError("empty formula")
        parsed = self.disjunction()
        if self.token.kind != "end":
            raise self.unexpected("an operator or the end of the formula")
        if isinstance(parsed.node, _CONDITIONS):
            raise self.error(
                parsed.offset,
                "the formula gives a condition, not a number,",
                "turn it into a number with if(condition, then, else)",
            )
        return parsed.node

    def disjunction(self) -> _Parsed:
        left = self.conjunction()
        while self.at("or"):
            at = self.advance().offset
            right = self.conjunction()
            node = Logic("or", self.condition(left), self.condition(right))
            left = self.build(node, left.offset, left, right, at=at)
        return left

    def conjunction(self) -> _Parsed:
        left = self.negation()
        while self.at("and"):
            at = self.advance().offset
            right = self.negation()
            node = Logic("and", self.condition(left), self.condition(right))
            left = self.build(node, left.offset, left, right, at=at)
        return left

    def negation(self) -> _Parsed:
        if not self.at("not"):
            return self.comparison()
        start = self.advance().offset
        self.enter(start)
        operand = self.negation()
        self.leave()
        return self.build(Not(self.condition(operand)), start, operand)

    def comparison(self) -> _Parsed:
        left = self.additive()
        if not self.at(*_COMPARISONS):
            return left
        op = self.advance().text
        right = self.additive()
        if self.at(*_COMPARISONS):
            raise self.error(self.token.offset, "comparisons cannot be chained", "use 'and'")
        node = Comparison(op, self.number(left), self.number(right))  # type: ignore[arg-type]
        return self.build(node, left.offset, left, right)

    def additive(self) -> _Parsed:
        left = self.multiplicative()
        while self.at("+", "-"):
            operator = self.advance()
            right = self.multiplicative()
            node = Arithmetic(operator.text, self.number(left), self.number(right))  # type: ignore[arg-type]
            left = self.build(node, left.offset, left, right, at=operator.offset)
        return left

    def multiplicative(self) -> _Parsed:
        left = self.unary()
        while self.at("*", "/"):
            operator = self.advance()
            right = self.unary()
            node = Arithmetic(operator.text, self.number(left), self.number(right))  # type: ignore[arg-type]
            left = self.build(node, left.offset, left, right, at=operator.offset)
        return left

    def unary(self) -> _Parsed:
        if not self.at("-"):
            return self.primary()
        start = self.advance().offset
        self.enter(start)
        operand = self.unary()
        self.leave()
        return self.build(Negate(self.number(operand)), start, operand)

    def primary(self) -> _Parsed:
        token = self.token
        if token.kind == "number":
            self.advance()
            return _Parsed(Number(self.literal(token)), token.offset)
        if token.kind == "name" and "." in token.text:
            self.advance()
            return _Parsed(self.reference(token), token.offset)
        if token.kind == "name" and token.text not in ("and", "or", "not"):
            self.advance()
            return self.call(token)
        if self.at("("):
            self.advance()
            self.enter(token.offset)
            inner = self.disjunction()
            self.leave()
            self.expect(")", "')'")
            return _Parsed(inner.node, token.offset, inner.depth)
        raise self.unexpected("a number, a reference, a function or '('")

    def literal(self, token: _Token) -> Decimal:
        written = token.text
        if written.startswith("."):
            raise self.error(token.offset, f"invalid number {written!r}", f"write 0{written}")
        if written.endswith("."):
            raise self.error(
                token.offset, f"invalid number {written!r}", "write digits after the '.'"
            )
        value = Decimal(written).normalize(_EXACT_DIGITS)
        places = -min(0, int(value.as_tuple().exponent))
        if places > NUMBER_SCALE:
            raise self.error(token.offset, f"{written} has more than {NUMBER_SCALE} decimal places")
        if value >= Decimal(10) ** NUMBER_INTEGER_DIGITS:
            raise self.error(
                token.offset,
                f"{written} is too large",
                f"a number is below 1E+{NUMBER_INTEGER_DIGITS}",
            )
        return value

    def reference(self, token: _Token) -> Reference:
        kind, _, code = token.text.partition(".")
        if kind not in ("meter", "charge") or "." in code:
            raise self.error(
                token.offset,
                f"unknown reference {token.text!r}",
                "expected meter.<code> or charge.<code>",
            )
        if not code:
            raise self.error(token.offset, f"missing code after '{kind}.'")
        if not _CODE.fullmatch(code):
            raise self.error(
                token.offset,
                f"invalid {kind} code {code!r}",
                "a code is letters, digits and '_', not starting with a digit",
            )
        return Reference(kind, code)  # type: ignore[arg-type]

    def call(self, name: _Token) -> _Parsed:
        function = name.text
        if function in ("meter", "charge"):
            raise self.error(name.offset, f"{function!r} needs a code", f"write {function}.<code>")
        if not self.at("("):
            if function in _FUNCTIONS:
                raise self.error(self.token.offset, f"expected '(' after {function!r}")
            raise self.error(
                name.offset,
                f"unknown name {function!r}",
                "a reference is meter.<code> or charge.<code>",
            )
        if function not in _FUNCTIONS:
            raise self.error(
                name.offset,
                f"unknown function {function!r}",
                f"expected one of {', '.join(_FUNCTIONS)}",
            )
        self.advance()
        self.enter(name.offset)
        args = self.arguments()
        self.leave()
        return self.build(self.function(name, args), name.offset, *args)

    def arguments(self) -> list[_Parsed]:
        args: list[_Parsed] = []
        if self.at(")"):
            self.advance()
            return args
        while True:
            args.append(self.disjunction())
            if self.at(")"):
                self.advance()
                return args
            self.expect(",", "',' or ')'")

    def function(self, name: _Token, args: list[_Parsed]) -> Numeric:
        function, count = name.text, len(args)
        if function in ("min", "max"):
            if count < 2:
                raise self.arity(name, "at least 2 arguments", count)
            return Call(function, tuple(self.number(arg) for arg in args))  # type: ignore[arg-type]
        if function in ("ceil", "floor", "abs"):
            if count != 1:
                raise self.arity(name, "1 argument", count)
            return Call(function, (self.number(args[0]),))  # type: ignore[arg-type]
        if function == "round":
            if count != 2:
                raise self.arity(name, "2 arguments", count, "a number and its decimal places")
            return Round(self.number(args[0]), self.places(args[1]))
        if function == "case":
            if count < 3 or count % 2 == 0:
                hint = "condition, value pairs, then the value when no condition holds"
                raise self.arity(name, "an odd number of arguments (at least 3)", count, hint)
            # case(c1, v1, c2, v2, default) is if(c1, v1, if(c2, v2, default)): the first
            # condition that holds picks the value, so the tree, and its meaning, is an if.
            node = self.number(args[-1])
            for index in range(count - 3, -1, -2):
                node = self.branch(name, args[index], args[index + 1], node)
            return node
        if count != 3:
            raise self.arity(name, "3 arguments", count, "a condition, a then and an else value")
        condition, then, otherwise = args
        return self.branch(name, condition, then, self.number(otherwise))

    def branch(self, name: _Token, condition: _Parsed, then: _Parsed, otherwise: Numeric) -> If:
        node = If(self.condition(condition), self.number(then), otherwise)
        if node.then == node.otherwise:
            # Also what lets Polars' optimizer drop the condition, overflow and all.
            raise self.error(
                name.offset,
                f"{name.text}() gives the same value either way",
                f"drop the {name.text}()",
            )
        return node

    def arity(self, name: _Token, takes: str, count: int, hint: str = "") -> FormulaError:
        return self.error(name.offset, f"{name.text}() takes {takes}, got {count},", hint)

    def places(self, parsed: _Parsed) -> int:
        node = parsed.node
        if not (
            isinstance(node, Number)
            and node.value == node.value.to_integral_value()
            and 0 <= node.value <= ROUND_MAX_PLACES
        ):
            raise self.error(
                parsed.offset,
                f"round() places must be a whole number from 0 to {ROUND_MAX_PLACES}",
            )
        return int(node.value)


def parse_formula(text: str) -> Formula:
    """Parse and type-check a formula; raise :class:`FormulaError` naming the first problem.

    >>> parse_formula("1 + 2 * -meter.x").text
    '1 + 2 * -meter.x'
    >>> parse_formula("if(meter.x, 1, 2)")
    Traceback (most recent call last):
    ...
    rating.formula.FormulaError: a number cannot be used as a condition at column 4
    """
    if not isinstance(text, str):
        raise FormulaError(f"a formula is text, got {type(text).__name__}")
    return Formula(_Parser(text).formula(), text)

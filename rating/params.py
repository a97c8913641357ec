"""Parsing of charge-model parameters from the catalog, collecting every problem.

Each helper appends a message prefixed by the catalog path to ``problems`` and
returns ``None`` instead of raising, so one load reports all mistakes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Context, Decimal, InvalidOperation
from typing import Any, Protocol

from schemas.types import AMOUNT_SCALE, DECIMAL_PRECISION, PRICE_SCALE, QUANTITY_SCALE

# A price or fee must give an amount that fits even for one unit, so its integer part is
# bounded by the amount type, not by its own wider price type.
PRICE_INTEGER_DIGITS = DECIMAL_PRECISION - AMOUNT_SCALE
QUANTITY_INTEGER_DIGITS = DECIMAL_PRECISION - QUANTITY_SCALE
# A percentage becomes the price ``rate / 100``: two more digits before the point, two
# fewer after it.
PERCENT_SCALE = PRICE_SCALE - 2
PERCENT_INTEGER_DIGITS = PRICE_INTEGER_DIGITS + 2


def to_decimal(
    value: Any,
    path: str,
    problems: list[str],
    *,
    scale: int,
    integer_digits: int,
    allow_negative: bool = False,
) -> Decimal | None:
    """A catalog number as an exact Decimal with at most ``scale`` fractional digits.

    Its magnitude must stay below ``10**integer_digits`` so that it fits the
    decimal type it is carried in; beyond that Polars could not even hold it.

    YAML floats are read as their written text (see ``jobs.catalog``), so
    ``0.1`` arrives here as ``Decimal('0.1')``, never as a binary float.

    >>> problems = []
    >>> to_decimal("0.25", "x", problems, scale=9, integer_digits=23)
    Decimal('0.25')
    >>> to_decimal(-1, "x", problems, scale=9, integer_digits=23), problems
    (None, ['x: must not be negative, got -1'])
    >>> problems = []
    >>> to_decimal("1E+23", "x", problems, scale=9, integer_digits=23), problems
    (None, ['x: must be less than 1E+23, got 1E+23'])
    """
    if isinstance(value, bool) or value is None:
        problems.append(f"{path}: expected a number, got {value!r}")
        return None
    if isinstance(value, float):
        problems.append(f"{path}: write the number as text or a YAML number, not a float")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        problems.append(f"{path}: expected a number, got {value!r}")
        return None
    if not number.is_finite():
        problems.append(f"{path}: must be a finite number, got {value!r}")
        return None
    if number < 0 and not allow_negative:
        problems.append(f"{path}: must not be negative, got {value}")
        return None
    if number.copy_abs().adjusted() >= integer_digits:
        problems.append(f"{path}: must be less than 1E+{integer_digits}, got {value}")
        return None
    # normalize() in the default context would round past 28 digits and hide places.
    exponent = number.normalize(Context(prec=80)).as_tuple().exponent
    if isinstance(exponent, int) and -exponent > scale:
        problems.append(f"{path}: at most {scale} decimal places allowed, got {value}")
        return None
    return number


def price(params: Mapping[str, Any], key: str, path: str, problems: list[str]) -> Decimal | None:
    """A required price parameter (at most 9 decimal places)."""
    if key not in params:
        problems.append(f"{path}.{key}: missing")
        return None
    return fee(params[key], f"{path}.{key}", problems)


def fee(value: Any, path: str, problems: list[str]) -> Decimal | None:
    """A price or fixed amount (at most 9 decimal places, below 1E+23)."""
    return to_decimal(value, path, problems, scale=PRICE_SCALE, integer_digits=PRICE_INTEGER_DIGITS)


def quantity(value: Any, path: str, problems: list[str]) -> Decimal | None:
    """A quantity parameter such as a tier bound (at most 6 decimal places)."""
    return to_decimal(
        value, path, problems, scale=QUANTITY_SCALE, integer_digits=QUANTITY_INTEGER_DIGITS
    )


def optional_fee(
    params: Mapping[str, Any], key: str, path: str, problems: list[str]
) -> Decimal | None:
    """An optional fee parameter that defaults to zero; ``None`` only when it is invalid."""
    if key not in params:
        return Decimal(0)
    return fee(params[key], f"{path}.{key}", problems)


def percent(params: Mapping[str, Any], key: str, path: str, problems: list[str]) -> Decimal | None:
    """A required percentage such as ``2.9`` (meaning 2.9 %), at most 7 decimal places.

    Seven places keep ``rate / 100`` within the 9 places of a price, so a percentage of
    a quantity is an exact :func:`rating.money.money_mul` like any other price.

    >>> problems = []
    >>> percent({"rate": "2.9"}, "rate", "x", problems), problems
    (Decimal('2.9'), [])
    >>> percent({"rate": "0.12345678"}, "rate", "x", problems), problems
    (None, ['x.rate: at most 7 decimal places allowed, got 0.12345678'])
    """
    if key not in params:
        problems.append(f"{path}.{key}: missing")
        return None
    return to_decimal(
        params[key],
        f"{path}.{key}",
        problems,
        scale=PERCENT_SCALE,
        integer_digits=PERCENT_INTEGER_DIGITS,
    )


class Coded(Protocol):
    code: str


def flag_duplicate_codes(
    items: Sequence[Coded | None], path: str, noun: str, problems: list[str]
) -> set[str]:
    """Report each item whose ``code`` an earlier one already took; return every code.

    ``items`` are parsed list entries (None where parsing failed), at ``path[index]``.

    >>> from types import SimpleNamespace as Item
    >>> problems = []
    >>> items = [Item(code="a"), None, Item(code="a")]
    >>> flag_duplicate_codes(items, "x", "charge", problems)
    {'a'}
    >>> problems
    ["x[2].code: duplicate charge code 'a'"]
    """
    seen: set[str] = set()
    for index, item in enumerate(items):
        if item is None:
            continue
        if item.code in seen:
            problems.append(f"{path}[{index}].code: duplicate {noun} code {item.code!r}")
        seen.add(item.code)
    return seen


def reject_unknown(
    params: Mapping[str, Any], allowed: set[str], path: str, problems: list[str]
) -> None:
    """Flag parameters a model does not take: a typo must not pass silently."""
    for key in sorted(set(params) - allowed):
        problems.append(f"{path}.{key}: unknown parameter (expected one of {sorted(allowed)})")

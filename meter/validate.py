"""Row-level validation: every event is accepted or quarantined with a reason.

The file-level contract (columns and types) is checked when a file is read
(:mod:`meter.sources`); here each row is checked against the catalog (its
event types and meters), the customer list and the clock, in one vectorised
pass. A row gets the first reason that applies, in the order of
:func:`rejection_rules`:

1. the required columns: ``missing_field``, ``invalid_timestamp``,
   ``future_timestamp``, ``id_too_long``, then ``unknown_customer`` and
   ``unknown_event_type``;
2. the properties its event type declares, one rule at a time over every
   declared property (event types and properties in catalog order):
   ``missing_field`` (a ``required`` property), ``wrong_type``,
   ``value_too_long``, ``non_finite``, ``out_of_range``;
3. ``negative_value``: a value below zero, measured by a meter (in catalog
   order) that does not ``allow_negative`` and whose filters keep the event.

A property is checked only on rows of an event type that declares it; other
event types may carry anything in that column. The reason codes are
:class:`schemas.events.QuarantineReason`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from meter.sources import TIMESTAMP_UNPARSED
from schemas.catalog import EventProperty, EventType, Meter, PropertyType
from schemas.events import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_TYPE,
    MAX_ID_LENGTH,
    QUARANTINE_SCHEMA,
    REQUIRED_COLUMNS,
    TIMESTAMP_COLUMN,
    QuarantineReason,
    property_as_quantity,
)
from schemas.types import QUANTITY, TIMESTAMP

REASON, FIELD, DETAIL = "reason", "field", "detail"

RULE_INDEX, SHORT = "_rule", "_details"
"""Working columns: the first rule that holds, and the details of the flagged rows."""

QUANTITY_LIMIT = 1e32
"""Magnitudes from here on do not fit a quantity (``DECIMAL(38,6)``: 32 integer digits)."""

INTEGER_LIMIT = 2.0**63
"""Magnitudes from here on do not fit an integer property (64-bit)."""

SHOWN_CHARACTERS = 40
"""Longest text quoted whole in a detail message; longer text is cut with an ellipsis."""

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class Rule:
    """A row is quarantined with ``reason`` on ``field`` where ``condition`` holds."""

    condition: pl.Expr
    reason: QuarantineReason
    field: str
    detail: pl.Expr | str
    """What a user reads: the field, the offending value and what is expected."""


def _format(template: str, *values: pl.Expr) -> pl.Expr:
    """Like ``pl.format``, built with ``+``: each ``{}`` of ``template`` takes a value as text.

    ``pl.format`` (``concat_str``) after a filter panics in Polars 2.1's streaming
    engine when the frame's columns are chunked differently (as frames read
    from several files are); ``+`` on strings does not.
    """
    texts = template.split("{}")
    message = pl.lit(texts[0])
    for value, text in zip(values, texts[1:], strict=True):
        message = message + value.cast(pl.String) + pl.lit(text)
    return message


def _shown(text: pl.Expr) -> pl.Expr:
    """A text value for a message: cut to ``SHOWN_CHARACTERS`` with an ellipsis."""
    return (
        pl.when(text.str.len_chars() > SHOWN_CHARACTERS)
        .then(text.str.slice(0, SHOWN_CHARACTERS) + pl.lit("…"))
        .otherwise(text)
    )


def _quoted(text: pl.Expr) -> pl.Expr:
    return _format('"{}"', _shown(text))


def _as_strings(values: Collection[str]) -> pl.Series:
    # A Series passes through: building one from 100k Python strings per chunk is not free.
    if isinstance(values, pl.Series):
        return values
    return pl.Series(list(values), dtype=pl.String)


def _required_column_rules(
    customers: Collection[str],
    event_types: Mapping[str, EventType],
    latest_allowed: datetime,
) -> list[Rule]:
    # A text timestamp that does not parse is read as null: it is invalid, not missing.
    unparsed = pl.col(TIMESTAMP_UNPARSED)
    missing = {name: pl.col(name).is_null() for name in REQUIRED_COLUMNS}
    missing[TIMESTAMP_COLUMN] &= ~unparsed
    rules = [
        Rule(condition, QuarantineReason.MISSING_FIELD, name, f"{name} is null")
        for name, condition in missing.items()
    ]
    rules.append(
        Rule(
            unparsed,
            QuarantineReason.INVALID_TIMESTAMP,
            TIMESTAMP_COLUMN,
            "timestamp is not an ISO 8601 instant with an offset",
        )
    )
    latest = latest_allowed.astimezone(UTC)
    rules.append(
        Rule(
            pl.col(TIMESTAMP_COLUMN) > pl.lit(latest, dtype=TIMESTAMP),
            QuarantineReason.FUTURE_TIMESTAMP,
            TIMESTAMP_COLUMN,
            # The limit itself moves with the clock; leaving it out keeps a re-run's
            # quarantine identical to the first run's.
            _format(
                "timestamp {} is in the future (later than ingestion time plus clock skew)",
                pl.col(TIMESTAMP_COLUMN).dt.to_string(_TIME_FORMAT),
            ),
        )
    )
    for name in (EVENT_ID, CUSTOMER_ID, EVENT_TYPE):
        length = pl.col(name).str.len_chars()
        rules.append(
            Rule(
                length > MAX_ID_LENGTH,
                QuarantineReason.ID_TOO_LONG,
                name,
                _format(
                    "{} {} is {} characters long; at most {} are allowed",
                    pl.lit(name),
                    _quoted(pl.col(name)),
                    length,
                    pl.lit(MAX_ID_LENGTH),
                ),
            )
        )
    rules.append(
        Rule(
            ~pl.col(CUSTOMER_ID).is_in(_as_strings(customers).implode()),
            QuarantineReason.UNKNOWN_CUSTOMER,
            CUSTOMER_ID,
            _format("customer {} is not in the customer list", pl.col(CUSTOMER_ID)),
        )
    )
    declared = list(event_types)
    rules.append(
        Rule(
            ~pl.col(EVENT_TYPE).is_in(pl.Series(declared, dtype=pl.String).implode()),
            QuarantineReason.UNKNOWN_EVENT_TYPE,
            EVENT_TYPE,
            _format(
                "event type {} is not declared in the catalog's event_types ({})",
                pl.col(EVENT_TYPE),
                pl.lit(", ".join(declared)),
            ),
        )
    )
    return rules


_EXPECTED = {
    PropertyType.STRING: "text",
    PropertyType.NUMBER: "a number",
    PropertyType.INTEGER: "an integer",
    PropertyType.BOOLEAN: "true or false",
}

VALUE_RULES = (
    QuarantineReason.WRONG_TYPE,
    QuarantineReason.VALUE_TOO_LONG,
    QuarantineReason.NON_FINITE,
    QuarantineReason.OUT_OF_RANGE,
)
"""The checks of a property value, in rule order; a value fails at most one of them."""

Failure = tuple[pl.Expr, pl.Expr | str]
"""(condition, detail) of one way a value can be wrong."""


@dataclass(frozen=True)
class _Checks:
    """How one property's values can be wrong, given the column's dtype in this file.

    ``number`` is the value with its sign (for ``negative_value``) and ``text``
    the value as a message shows it; both None when the property is no number.
    """

    failures: dict[QuarantineReason, Failure] = field(default_factory=dict)
    number: pl.Expr | None = None
    text: pl.Expr | None = None


def _is_not(prop: EventProperty, shown: pl.Expr) -> pl.Expr:
    return _format("{} {} is not {}", pl.lit(prop.name), shown, pl.lit(_EXPECTED[prop.type]))


def _is(prop: EventProperty, text: pl.Expr) -> pl.Expr:
    return _format("{} is {}", pl.lit(prop.name), text)


def _wrong_dtype(prop: EventProperty, dtype: pl.DataType) -> _Checks:
    """The column's type cannot hold the property: every value in it is wrong."""
    detail = f"{prop.name} is a {dtype} column in this file; it must hold {_EXPECTED[prop.type]}"
    return _Checks({QuarantineReason.WRONG_TYPE: (pl.col(prop.name).is_not_null(), detail)})


def _text_failures(
    prop: EventProperty, exact: pl.Expr, limit: float, failures: dict[QuarantineReason, Failure]
) -> pl.Expr:
    """Text that must read as ``exact``: adds wrong_type and non_finite, returns too-large.

    Reading the text as a float as well only tells NaN, inf and too large
    numbers apart from text that is no number at all.
    """
    column = pl.col(prop.name)
    approximate = column.cast(pl.Float64, strict=False)
    unread = exact.is_null() & approximate.is_not_null()
    non_finite = unread & ~approximate.is_finite()
    too_large = unread & approximate.is_finite() & (approximate.abs() >= limit)
    wrong = column.is_not_null() & exact.is_null() & ~non_finite & ~too_large
    failures[QuarantineReason.WRONG_TYPE] = (wrong, _is_not(prop, _quoted(column)))
    failures[QuarantineReason.NON_FINITE] = (non_finite, _is(prop, column.cast(pl.String)))
    return too_large


def _number_checks(prop: EventProperty, dtype: pl.DataType) -> _Checks:
    """A number (an exact ``DECIMAL(38,6)`` quantity), for each dtype that can hold one."""
    column = pl.col(prop.name)
    text = column.cast(pl.String)
    if dtype.is_integer():
        return _Checks(number=column, text=text)
    failures: dict[QuarantineReason, Failure] = {}
    number = column
    if dtype.is_float():
        finite = column.is_finite()
        failures[QuarantineReason.NON_FINITE] = (~finite, _is(prop, text))
        too_large = finite & (column.abs() >= QUANTITY_LIMIT)
    elif isinstance(dtype, pl.Decimal):
        too_large = column.is_not_null() & column.cast(QUANTITY, strict=False).is_null()
    elif dtype == pl.String:
        number = column.cast(pl.Float64, strict=False)
        exact = column.cast(QUANTITY, strict=False)
        too_large = _text_failures(prop, exact, QUANTITY_LIMIT, failures)
    else:
        return _wrong_dtype(prop, dtype)
    failures[QuarantineReason.OUT_OF_RANGE] = (
        too_large,
        _format("{} {} is too large: a quantity is below 1E+32", pl.lit(prop.name), text),
    )
    return _Checks(failures, number, text)


def _integer_checks(prop: EventProperty, dtype: pl.DataType) -> _Checks:
    """An integer (64-bit), for each dtype that can hold one."""
    column = pl.col(prop.name)
    text = column.cast(pl.String)
    as_int = column.cast(pl.Int64, strict=False)
    failures: dict[QuarantineReason, Failure] = {}
    number = column
    if dtype.is_integer():
        too_large = column.is_not_null() & as_int.is_null()  # a UInt64 above 2**63 - 1
    elif dtype.is_float() or isinstance(dtype, pl.Decimal):
        present = column.is_finite() if dtype.is_float() else column.is_not_null()
        whole = column.floor() == column
        if dtype.is_float():
            failures[QuarantineReason.NON_FINITE] = (~present, _is(prop, text))
        failures[QuarantineReason.WRONG_TYPE] = (present & ~whole, _is_not(prop, text))
        too_large = present & whole & as_int.is_null()
    elif dtype == pl.String:
        number = as_int  # integer text only ("42", "-7")
        too_large = _text_failures(prop, as_int, INTEGER_LIMIT, failures)
    else:
        return _wrong_dtype(prop, dtype)
    failures[QuarantineReason.OUT_OF_RANGE] = (
        too_large,
        _format(
            "{} {} is out of range: an integer is 64-bit (-2^63 to 2^63-1)",
            pl.lit(prop.name),
            text,
        ),
    )
    return _Checks(failures, number, text)


def _property_checks(prop: EventProperty, dtype: pl.DataType) -> _Checks:
    """Every way a value of ``prop`` can be wrong, in a column of ``dtype``."""
    column = pl.col(prop.name)
    if dtype == pl.Null:
        return _Checks()
    if prop.type is PropertyType.NUMBER:
        return _number_checks(prop, dtype)
    if prop.type is PropertyType.INTEGER:
        return _integer_checks(prop, dtype)
    if prop.type is PropertyType.BOOLEAN:
        if dtype == pl.Boolean:
            return _Checks()
        if dtype != pl.String:
            return _wrong_dtype(prop, dtype)
        not_boolean = ~column.str.to_lowercase().is_in(["true", "false"])
        wrong: Failure = (not_boolean, _is_not(prop, _quoted(column)))
        return _Checks({QuarantineReason.WRONG_TYPE: wrong})
    if dtype == pl.String or dtype.is_integer() or isinstance(dtype, pl.Categorical | pl.Enum):
        text = column if dtype == pl.String else column.cast(pl.String)
        length = text.str.len_chars()
        limit = prop.max_length or MAX_ID_LENGTH
        detail = _format(
            "{} {} is {} characters long; at most {} are allowed",
            pl.lit(prop.name),
            _quoted(text),
            length,
            pl.lit(limit),
        )
        return _Checks({QuarantineReason.VALUE_TOO_LONG: (length > limit, detail)})
    return _wrong_dtype(prop, dtype)


def _property_rules(
    schema: pl.Schema, event_types: Mapping[str, EventType], meters: Iterable[Meter]
) -> list[Rule]:
    """Rules over declared properties: each rule for every property before the next rule."""
    declared = [(kind, prop) for kind in event_types.values() for prop in kind.properties]
    rules = []
    for kind, prop in declared:
        if not prop.required:
            continue
        requires = f"event type {kind.name} requires it"
        if prop.name in schema:
            condition, detail = pl.col(prop.name).is_null(), f"{prop.name} is null; {requires}"
        else:
            condition = pl.lit(value=True)
            detail = f"{prop.name} is missing from the file; {requires}"
        of_kind = pl.col(EVENT_TYPE) == kind.name
        rules.append(Rule(of_kind & condition, QuarantineReason.MISSING_FIELD, prop.name, detail))
    checks = {
        (kind.name, prop.name): _property_checks(prop, schema[prop.name])
        for kind, prop in declared
        if prop.name in schema
    }
    for reason in VALUE_RULES:
        for kind, prop in declared:
            check = checks.get((kind.name, prop.name))
            if check is not None and reason in check.failures:
                condition, detail = check.failures[reason]
                of_kind = pl.col(EVENT_TYPE) == kind.name
                rules.append(Rule(of_kind & condition, reason, prop.name, detail))
    for meter in meters:
        # Only a measured number can be negative: a count_distinct or duration property is a key.
        name = meter.measured_property or ""
        check = checks.get((meter.event_type, name))
        if meter.allow_negative or check is None or check.number is None:
            continue
        counted = pl.col(EVENT_TYPE) == meter.event_type
        for filtered, allowed in meter.filters:
            kept = pl.col(filtered).cast(pl.String).is_in(allowed)
            counted &= kept if filtered in schema else pl.lit(value=False)
        rules.append(
            Rule(
                counted & (check.number < 0),
                QuarantineReason.NEGATIVE_VALUE,
                name,
                _format(
                    "{} {} is negative; meter {} does not allow negative values",
                    pl.lit(name),
                    check.text,
                    pl.lit(meter.code),
                ),
            )
        )
    return rules


def rejection_rules(
    schema: pl.Schema,
    customers: Collection[str],
    meters: Iterable[Meter],
    event_types: Mapping[str, EventType],
    *,
    latest_allowed: datetime,
) -> list[Rule]:
    """Every rule for a frame of ``schema``, in order: a row gets the first that holds."""
    if latest_allowed.tzinfo is None:
        raise ValueError("latest_allowed must be timezone-aware")
    meters = list(meters)
    return _required_column_rules(customers, event_types, latest_allowed) + _property_rules(
        schema, event_types, meters
    )


def classify(
    events: pl.LazyFrame,
    customers: Collection[str],
    meters: Iterable[Meter],
    event_types: Mapping[str, EventType],
    *,
    latest_allowed: datetime,
) -> pl.LazyFrame:
    """Add ``reason``, ``field`` and ``detail``: null on rows that are accepted.

    ``latest_allowed`` is the latest timestamp accepted (ingestion time plus a
    tolerance for clock skew); a later one is ``future_timestamp``.

    >>> from schemas.catalog import EventProperty, EventType, PropertyType
    >>> storage = EventType("storage", (EventProperty("gb", PropertyType.NUMBER),))
    >>> events = pl.LazyFrame(
    ...     {
    ...         "event_id": ["e1", "e2", "e3"],
    ...         "customer_id": ["c1", "c1", "c9"],
    ...         "event_type": ["storage"] * 3,
    ...         "timestamp": [datetime(2026, 10, 1, tzinfo=UTC)] * 3,
    ...         "_timestamp_unparsed": [False] * 3,
    ...         "gb": [1.5, float("nan"), 2.0],
    ...     }
    ... )
    >>> latest = datetime(2027, 1, 1, tzinfo=UTC)
    >>> classified = classify(events, ["c1"], [], {"storage": storage}, latest_allowed=latest)
    >>> for row in classified.select(REASON, FIELD, DETAIL).collect().rows():
    ...     print(row)
    (None, None, None)
    ('non_finite', 'gb', 'gb is NaN')
    ('unknown_customer', 'customer_id', 'customer c9 is not in the customer list')
    """
    rules = rejection_rules(
        events.collect_schema(), customers, meters, event_types, latest_allowed=latest_allowed
    )
    first = pl.when(rules[0].condition.fill_null(value=False)).then(pl.lit(0, dtype=pl.UInt16))
    for number, rule in enumerate(rules[1:], start=1):
        first = first.when(rule.condition.fill_null(value=False)).then(
            pl.lit(number, dtype=pl.UInt16)
        )
    indexed = events.with_columns(first.otherwise(None).alias(RULE_INDEX))
    index = pl.col(RULE_INDEX)
    flagged = index.is_not_null()
    # Building text for every row would cost more than all the checks: details
    # are built on the flagged rows only (a fraction of a percent), then put in
    # place: the k-th flagged row takes the k-th detail, every other row one of
    # the nulls that pad the details to the frame's height.
    messages = [r.detail if isinstance(r.detail, pl.Expr) else pl.lit(r.detail) for r in rules]
    details = pl.when(index == 0).then(messages[0])
    for number, message in enumerate(messages[1:], start=1):
        details = details.when(index == number).then(message)
    short = indexed.filter(flagged).select(details.otherwise(None).cast(pl.String).alias(SHORT))
    flagged_before = flagged.cast(pl.Int64).cum_sum()
    position = pl.when(flagged).then(flagged_before - 1).otherwise(flagged_before.max())
    reasons = pl.Series([rule.reason.value for rule in rules], dtype=pl.String)
    fields = pl.Series([rule.field for rule in rules], dtype=pl.String)
    return (
        pl.concat([indexed, short], how="horizontal_extend")
        .with_columns(
            pl.lit(reasons).gather(index).alias(REASON),
            pl.lit(fields).gather(index).alias(FIELD),
            pl.col(SHORT).gather(position).alias(DETAIL),
        )
        .drop(RULE_INDEX, SHORT)
    )


def measured_as_quantities(events: pl.LazyFrame, meters: Iterable[Meter]) -> pl.LazyFrame:
    """Replace every measured property by its exact quantity (see ``property_as_quantity``)."""
    schema = events.collect_schema()
    names = sorted({name for m in meters if (name := m.measured_property) and name in schema})
    return events.with_columns(property_as_quantity(name, schema[name]) for name in names)


def quarantine_rows(classified: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The quarantined rows of a classified frame, in the quarantine table's shape."""
    return (
        classified.lazy()
        .filter(pl.col(REASON).is_not_null())
        .select(pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items())
    )

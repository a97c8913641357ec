"""Row-level validation: every event is accepted or quarantined with a reason.

The file-level contract (columns and types) is checked when a file is read
(:mod:`meter.sources`); here each row is checked against the catalog and the
customer list, in one vectorised pass. A row gets the first reason that
applies, in the order of :func:`rejection_reasons`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import polars as pl

from meter.sources import TIMESTAMP_UNPARSED
from schemas.catalog import Meter
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

REASON, FIELD, DETAIL = "reason", "field", "detail"


Rule = tuple[pl.Expr, pl.Expr, pl.Expr, pl.Expr]


def _rule(condition: pl.Expr, reason: QuarantineReason, field: str, detail: pl.Expr | str) -> Rule:
    """(condition, reason, field, detail), the last three as expressions."""
    message = detail if isinstance(detail, pl.Expr) else pl.lit(detail)
    return condition, pl.lit(reason.value), pl.lit(field), message


def rejection_reasons(
    schema: pl.Schema, customers: Collection[str], meters: Iterable[Meter]
) -> list[Rule]:
    """Rules, most fundamental first: a row is quarantined for the first that holds."""
    meters = list(meters)
    rules = [
        _rule(pl.col(name).is_null(), QuarantineReason.MISSING_FIELD, name, f"{name} is null")
        for name in REQUIRED_COLUMNS
    ]
    rules.append(
        _rule(
            pl.col(TIMESTAMP_UNPARSED),
            QuarantineReason.INVALID_TIMESTAMP,
            TIMESTAMP_COLUMN,
            "timestamp is not an ISO 8601 instant with an offset",
        )
    )
    for name in (EVENT_ID, CUSTOMER_ID, EVENT_TYPE):
        rules.append(
            _rule(
                pl.col(name).str.len_chars() > MAX_ID_LENGTH,
                QuarantineReason.ID_TOO_LONG,
                name,
                f"{name} longer than {MAX_ID_LENGTH} characters",
            )
        )
    rules.append(
        _rule(
            ~pl.col(CUSTOMER_ID).is_in(pl.Series(list(customers), dtype=pl.String)),
            QuarantineReason.UNKNOWN_CUSTOMER,
            CUSTOMER_ID,
            pl.format("customer {} is not in the customer list", pl.col(CUSTOMER_ID)),
        )
    )
    event_types = sorted({meter.event_type for meter in meters})
    rules.append(
        _rule(
            ~pl.col(EVENT_TYPE).is_in(event_types),
            QuarantineReason.UNKNOWN_EVENT_TYPE,
            EVENT_TYPE,
            pl.format("no meter reads event type {}", pl.col(EVENT_TYPE)),
        )
    )
    for meter in meters:
        name = meter.property_name
        if name is None:
            continue
        value = (
            property_as_quantity(name, schema[name]) if name in schema else pl.lit(None)
        ).is_null()
        rules.append(
            _rule(
                (pl.col(EVENT_TYPE) == meter.event_type) & value,
                QuarantineReason.INVALID_PROPERTY,
                name,
                f"meter {meter.code} needs a finite number in {name!r}",
            )
        )
    return rules


def classify(
    events: pl.LazyFrame, customers: Collection[str], meters: Iterable[Meter]
) -> pl.LazyFrame:
    """Add ``reason``, ``field`` and ``detail``: null on rows that are accepted."""
    rules = rejection_reasons(events.collect_schema(), customers, meters)

    def chain(pick: int) -> pl.Expr:
        expr = pl.when(rules[0][0].fill_null(value=False)).then(rules[0][pick])
        for rule in rules[1:]:
            expr = expr.when(rule[0].fill_null(value=False)).then(rule[pick])
        return expr.otherwise(None)

    return events.with_columns(
        chain(1).cast(pl.String).alias(REASON),
        chain(2).cast(pl.String).alias(FIELD),
        chain(3).cast(pl.String).alias(DETAIL),
    )


def measured_as_quantities(events: pl.LazyFrame, meters: Iterable[Meter]) -> pl.LazyFrame:
    """Replace every measured property by its exact quantity (see ``property_as_quantity``)."""
    schema = events.collect_schema()
    names = sorted(
        {m.property_name for m in meters if m.property_name and m.property_name in schema}
    )
    return events.with_columns(property_as_quantity(name, schema[name]) for name in names)


def quarantine_rows(classified: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """The quarantined rows of a classified frame, in the quarantine table's shape."""
    return (
        classified.lazy()
        .filter(pl.col(REASON).is_not_null())
        .select(pl.col(name).cast(dtype) for name, dtype in QUARANTINE_SCHEMA.items())
    )

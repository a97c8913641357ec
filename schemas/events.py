"""The usage-event contract: what a Parquet file of events must look like.

Required columns: ``event_id`` (string, the idempotency key), ``customer_id``
(string), ``event_type`` (string) and ``timestamp`` (timezone-aware; stored as
UTC). Every other column is an event property that meters may measure, filter
or group by. Row-level problems (a null id, an unknown customer, ...) quarantine
the row; file-level problems (a missing or mistyped column) reject the file.
"""

from __future__ import annotations

import functools
from enum import StrEnum

import pandera.polars as pa
import polars as pl

from schemas.errors import InputError
from schemas.types import QUANTITY, TIMESTAMP

EVENT_ID = "event_id"
CUSTOMER_ID = "customer_id"
EVENT_TYPE = "event_type"
TIMESTAMP_COLUMN = "timestamp"

REQUIRED_COLUMNS: dict[str, pl.DataType] = {
    EVENT_ID: pl.String(),
    CUSTOMER_ID: pl.String(),
    EVENT_TYPE: pl.String(),
    TIMESTAMP_COLUMN: TIMESTAMP,
}

SOURCE_FILE = "source_file"
ROW_NUMBER = "row_number"
"""Lineage columns added at read time: the file and the 1-based row of each event."""

INVOICED_PERIOD = "invoiced_period"
"""On a stored event: the already-invoiced billing period it falls in (a late event), else null."""

MAX_ID_LENGTH = 256
"""Longest ``event_id``, ``customer_id`` or ``event_type``; strings' default ``max_length``."""

EVENT_FILE_SCHEMA = pa.DataFrameSchema(
    {name: pa.Column(dtype, nullable=True) for name, dtype in REQUIRED_COLUMNS.items()},
    strict=False,
    name="usage events",
)
"""File-level contract, checked on the (normalised) column schema of each file."""


class QuarantineReason(StrEnum):
    """Why a row was set aside instead of rated. Stored in ``quarantine.reason``.

    Listed in the order :mod:`meter.validate` checks them: a row gets the first
    that applies. ``conflicting_duplicate`` is decided by de-duplication, after
    validation; ``no_active_subscription`` later, by billing.
    """

    MISSING_FIELD = "missing_field"
    """A required column, or a property its event type declares ``required``, is null."""
    INVALID_TIMESTAMP = "invalid_timestamp"
    """A text timestamp that is not an ISO 8601 instant with an offset."""
    FUTURE_TIMESTAMP = "future_timestamp"
    """A timestamp later than ingestion time plus the allowed clock skew."""
    ID_TOO_LONG = "id_too_long"
    """``event_id``, ``customer_id`` or ``event_type`` longer than ``MAX_ID_LENGTH``."""
    UNKNOWN_CUSTOMER = "unknown_customer"
    """``customer_id`` is not in the customer list."""
    UNKNOWN_EVENT_TYPE = "unknown_event_type"
    """``event_type`` is not declared in the catalog's ``event_types``."""
    WRONG_TYPE = "wrong_type"
    """A property value that cannot be read as its declared type."""
    VALUE_TOO_LONG = "value_too_long"
    """A string property longer than its ``max_length``."""
    NON_FINITE = "non_finite"
    """NaN or infinity in a number or integer property."""
    OUT_OF_RANGE = "out_of_range"
    """A number too large for a quantity (``DECIMAL(38,6)``), or an integer beyond 64 bits."""
    NEGATIVE_VALUE = "negative_value"
    """A negative measured value, measured by a meter without ``allow_negative``."""
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    """An ``event_id`` already delivered with different content: the first arrival stands."""
    NO_ACTIVE_SUBSCRIPTION = "no_active_subscription"
    """In the billing period, but the customer had no active subscription at that instant."""


QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    SOURCE_FILE: pl.String(),
    ROW_NUMBER: pl.Int64(),
    EVENT_ID: pl.String(),
    "field": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
}


RESERVED_COLUMNS = frozenset({*REQUIRED_COLUMNS, *QUARANTINE_SCHEMA})
"""Columns meterline reads or adds itself: no event property may take these names."""


def check_required_columns(schema: pl.Schema, source: str) -> None:
    """Raise :class:`InputError` naming the file when a required column is missing."""
    missing = [name for name in REQUIRED_COLUMNS if name not in schema]
    if missing:
        raise InputError(
            f"{source}: missing required column {missing[0]!r} "
            f"(usage events need {', '.join(REQUIRED_COLUMNS)})"
        )


def check_event_file_schema(schema: pl.Schema, source: str) -> None:
    """Raise :class:`InputError` unless a file's columns satisfy the contract.

    Runs pandera on an empty frame of the file's schema, so it costs nothing
    however large the file is.

    >>> check_event_file_schema(pl.Schema({"customer_id": pl.String}), "a.parquet")
    Traceback (most recent call last):
    ...
    schemas.errors.InputError: a.parquet: missing required column 'event_id' ...
    """
    check_required_columns(schema, source)
    problem = _schema_problem(tuple(schema.items()))
    if problem is not None:
        column, expected = problem
        raise InputError(
            f"{source}: column {column!r} has type {schema[column]}, expected {expected}"
        )


@functools.lru_cache(maxsize=64)
def _schema_problem(columns: tuple[tuple[str, pl.DataType], ...]) -> tuple[str, str] | None:
    """The first column pandera finds wrong, as (column, expected), for a file schema.

    Cached: the files of one delivery share a schema, and each validation costs
    pandera ~20 ms however empty the frame.
    """
    try:
        EVENT_FILE_SCHEMA.validate(pl.DataFrame(schema=dict(columns)), lazy=True)
    except pa.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return str(cases["column"][0]), str(cases["check"][0])
    return None


def property_as_quantity(name: str, dtype: pl.DataType) -> pl.Expr:
    """A measured event property as an exact quantity, or null where it is not a number.

    Converted once per event, before any aggregation, so sums are exact and do
    not depend on row order (a float sum would). Floats keep 6 decimals.

    >>> frame = pl.DataFrame({"gb": [1.5, float("nan"), None]})
    >>> frame.select(property_as_quantity("gb", pl.Float64)).to_series().to_list()
    [Decimal('1.500000'), None, None]
    """
    column = pl.col(name)
    if dtype.is_float():
        column = pl.when(column.is_finite()).then(column)
    elif not (dtype.is_numeric() or dtype == pl.String):
        return pl.lit(None, dtype=QUANTITY).alias(name)
    return column.cast(QUANTITY, strict=False).alias(name)

"""Reading the human-written CSV inputs (customers, subscriptions, changes)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import polars as pl

from schemas.errors import InputError

LINE = "_line"
"""The line of the file a row came from (the header is line 1)."""
MAX_LISTED = 5
"""Bad lines named in one error (the rest are counted)."""


def read_csv(path: Path, required: Collection[str]) -> tuple[pl.DataFrame, bytes]:
    """A CSV file as text columns (trimmed), with each row's file line in ``_line``."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    try:
        frame = pl.read_csv(raw, infer_schema=False, truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as error:
        first = str(error).strip().splitlines()[0]
        raise InputError(f"{path}: not a readable CSV file ({first})") from None
    missing = [name for name in required if name not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column {missing[0]!r} (needs {', '.join(required)})")
    frame = frame.with_columns(pl.col(pl.String).str.strip_chars())
    return frame.with_row_index(LINE, offset=2), raw


def read_rows(
    path: Path, required: Collection[str], optional: Collection[str] = ()
) -> tuple[pl.DataFrame, bytes]:
    """:func:`read_csv` of a file whose ``required`` columns need a value on every line
    (each empty one named); ``optional`` columns may be left out of the file (all empty)."""
    frame, raw = read_csv(path, required)
    frame = frame.with_columns(
        pl.lit(None, dtype=pl.String).alias(name) for name in optional if name not in frame.columns
    )
    for column in required:
        fail_on(frame, pl.col(column).is_null(), pl.lit(f"empty {column}"), path)
    return frame, raw


def fail_on(frame: pl.DataFrame, bad: pl.Expr, message: pl.Expr, path: Path) -> None:
    """Raise one error listing (up to a few of) the lines where ``bad`` holds."""
    rows = frame.filter(bad.fill_null(value=True)).select(
        pl.format("line {}: {}", pl.col(LINE), message).alias("m")
    )
    if rows.height:
        more = f" (and {rows.height - MAX_LISTED} more)" if rows.height > MAX_LISTED else ""
        raise InputError(f"{path}: " + "; ".join(rows["m"].head(MAX_LISTED)) + more)


def as_date(column: str) -> pl.Expr:
    """An ISO ``YYYY-MM-DD`` text column as a date (null where it is not one)."""
    return pl.col(column).str.to_date("%Y-%m-%d", strict=False)


def date_span(
    frame: pl.DataFrame, path: Path, start: str = "start_date", end: str = "end_date"
) -> pl.DataFrame:
    """``start`` and optional ``end`` text columns as dates, the end after the start; every
    bad line named."""
    for column in (start, end):
        fail_on(
            frame,
            as_date(column).is_null() & pl.col(column).is_not_null(),
            pl.format("{} {} is not a date (YYYY-MM-DD)", pl.lit(column), pl.col(column)),
            path,
        )
    frame = frame.with_columns(as_date(start), as_date(end))
    fail_on(
        frame,
        pl.col(end).is_not_null() & (pl.col(end) <= pl.col(start)),
        pl.lit(f"{end} must be after {start}"),
        path,
    )
    return frame


def fail_on_duplicates(frame: pl.DataFrame, column: str, path: Path) -> None:
    """Every line whose ``column`` repeats another's is named."""
    fail_on(
        frame,
        pl.col(column).is_duplicated(),
        pl.format("duplicate {} {}", pl.lit(column), pl.col(column)),
        path,
    )


def fail_on_unknown_customers(
    frame: pl.DataFrame, customer_ids: Collection[str], path: Path
) -> None:
    """Every line whose ``customer_id`` is not in the customer list is named."""
    fail_on(
        frame,
        ~pl.col("customer_id").is_in(list(customer_ids)),
        pl.format("unknown customer {}", "customer_id"),
        path,
    )

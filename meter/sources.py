"""Finding and reading usage-event files: local paths, globs and fsspec URLs.

Each file becomes a lazy frame normalised to the contract (timestamps in UTC,
ids as strings) with two lineage columns, ``source_file`` and the 1-based
``row_number``, so a quarantined row can be found again in its file.
"""

from __future__ import annotations

import glob
import io
from collections.abc import Sequence
from pathlib import Path

import fsspec
import polars as pl

from schemas.errors import InputError
from schemas.events import (
    CUSTOMER_ID,
    EVENT_ID,
    EVENT_TYPE,
    ROW_NUMBER,
    SOURCE_FILE,
    TIMESTAMP_COLUMN,
    check_event_file_schema,
)
from schemas.types import TIMESTAMP

TIMESTAMP_UNPARSED = "_timestamp_unparsed"
"""True where a text timestamp was present but could not be parsed."""

_GLOB_CHARS = set("*?[")


def _is_url(spec: str) -> bool:
    return "://" in spec and not spec.startswith("file://")


def resolve_sources(specs: Sequence[str]) -> list[str]:
    """Expand paths, directories, globs and URLs into a sorted, de-duplicated file list.

    >>> resolve_sources(["/nonexistent/events.parquet"])
    Traceback (most recent call last):
    ...
    schemas.errors.InputError: /nonexistent/events.parquet: no such file or directory
    """
    files: list[str] = []
    for spec in specs:
        found: list[str]
        if _is_url(spec):
            fs, root = fsspec.core.url_to_fs(spec)
            protocol = spec.split("://", 1)[0]
            if _GLOB_CHARS & set(root):
                matches = fs.glob(root)
            elif fs.isdir(root):
                matches = fs.glob(root.rstrip("/") + "/**/*.parquet")
            elif fs.exists(root):
                matches = [root]
            else:
                matches = []
            found = sorted(f"{protocol}://{m.removeprefix(protocol + '://')}" for m in matches)
        else:
            local = spec.removeprefix("file://")
            if _GLOB_CHARS & set(local):
                found = sorted(glob.glob(local, recursive=True))
            elif Path(local).is_dir():
                found = sorted(str(p) for p in Path(local).rglob("*.parquet"))
            elif Path(local).is_file():
                found = [local]
            else:
                found = []
        if not found:
            raise InputError(f"{spec}: no such file or directory")
        files.extend(found)
    return list(dict.fromkeys(files))


def _scan(source: str) -> pl.LazyFrame:
    try:
        if _is_url(source):
            with fsspec.open(source, "rb") as handle:
                return pl.read_parquet(io.BytesIO(handle.read())).lazy()
        frame = pl.scan_parquet(source)
        frame.collect_schema()
        return frame
    except (OSError, pl.exceptions.PolarsError) as error:
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputError(f"{source}: not a readable Parquet file ({detail})") from None


def _normalise_timestamp(dtype: pl.DataType, source: str) -> list[pl.Expr]:
    column = pl.col(TIMESTAMP_COLUMN)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            raise InputError(
                f"{source}: column 'timestamp' has no time zone; write timezone-aware "
                "(UTC) timestamps so every event is one unambiguous instant"
            )
        return [
            column.dt.convert_time_zone("UTC").cast(TIMESTAMP),
            pl.lit(value=False).alias(TIMESTAMP_UNPARSED),
        ]
    if dtype == pl.String:
        parsed = column.str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
        return [
            parsed.alias(TIMESTAMP_COLUMN),
            (column.is_not_null() & parsed.is_null()).alias(TIMESTAMP_UNPARSED),
        ]
    return [pl.lit(value=False).alias(TIMESTAMP_UNPARSED)]


def read_event_file(source: str) -> pl.LazyFrame:
    """One file as a lazy frame in contract form, or an :class:`InputError` naming it."""
    frame = _scan(source)
    schema = frame.collect_schema()
    missing = [c for c in (EVENT_ID, CUSTOMER_ID, EVENT_TYPE, TIMESTAMP_COLUMN) if c not in schema]
    if missing:
        check_event_file_schema(schema, source)
    fixes: list[pl.Expr] = _normalise_timestamp(schema[TIMESTAMP_COLUMN], source)
    for name in (EVENT_ID, CUSTOMER_ID, EVENT_TYPE):
        dtype = schema[name]
        if isinstance(dtype, pl.Categorical | pl.Enum) or dtype.is_integer():
            fixes.append(pl.col(name).cast(pl.String))
    frame = frame.with_columns(fixes)
    check_event_file_schema(frame.collect_schema(), source)
    return frame.with_row_index(ROW_NUMBER, offset=1).with_columns(
        pl.col(ROW_NUMBER).cast(pl.Int64), pl.lit(source).alias(SOURCE_FILE)
    )


def read_events(sources: Sequence[str]) -> pl.LazyFrame:
    """All files as one lazy frame, in source order then row order."""
    frames = [read_event_file(source) for source in sources]
    return pl.concat(frames, how="diagonal_relaxed")

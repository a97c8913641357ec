"""Handing Polars columns to the Numba kernels of aggregation.

Numba compiles a kernel once per argument type, and a read-only array is another
type than a writable one; whether Polars hands over a copy (writable) or a view
(read-only) depends on how a column is chunked. Kernels take their inputs from
here, always read-only, so each compiles once (and is cached), rather than again
the first time a run's data is chunked otherwise.
"""

from __future__ import annotations

import numpy as np
import polars as pl


def kernel_input(values: pl.Series | np.ndarray) -> np.ndarray:
    """``values`` as a read-only NumPy array, for a Numba kernel."""
    array = values.to_numpy() if isinstance(values, pl.Series) else values
    array.setflags(write=False)
    return array


def microseconds(instants: pl.Series) -> np.ndarray:
    """UTC instants as whole microseconds since the epoch (a null as 0: the caller passes
    which values are there)."""
    return kernel_input(instants.dt.epoch("us").fill_null(0))


def codes(values: pl.Series) -> np.ndarray:
    """An Enum column's codes (each value's place in the Enum) as read-only 32-bit
    integers: one width whatever the Enum's size (Polars stores small ones in 8 or 16
    bits), so each kernel over codes compiles once. ``values`` has no nulls."""
    return kernel_input(values.to_physical().cast(pl.UInt32))


def enum_values(places: pl.Series, like: pl.Series) -> pl.Series:
    """The values at these codes of the Enum that ``like`` (an Enum column, maybe empty)
    is typed by: the reverse of :func:`codes`. The Enum's dtype stays in Polars, where
    naming it from Python (``cast(pl.Enum(...))``) would send one category per
    subscription through Python, about 10 ms a time.

    >>> like = pl.Series(["b"], dtype=pl.Enum(["a", "b", "c"]))
    >>> enum_values(pl.Series([2, 0], dtype=pl.UInt32), like).to_list()
    ['c', 'a']
    """
    return (
        pl.DataFrame({"place": places})
        .with_columns(pl.lit(like.extend_constant(None, 1)).first().alias("like"))
        .select(pl.col("place").cat.to(pl.dtype_of("like")))
        .to_series()
    )

"""Handing Polars columns to the Numba kernels of aggregation.

Numba compiles a kernel once per argument type, and a read-only array is another
type than a writable one; whether Polars hands over a copy (writable) or a view
(read-only) depends on how a column is chunked. Kernels take their inputs from
here, always read-only, so each compiles once (and is cached), rather than again
the first time a run's data is chunked otherwise. An Enum column (the run's
subscriptions) goes to a kernel as its codes, and codes or text come back to it here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numba
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
    is typed by: the reverse of :func:`codes`.

    >>> like = pl.Series(["b"], dtype=pl.Enum(["a", "b", "c"]))
    >>> enum_values(pl.Series([2, 0], dtype=pl.UInt32), like).to_list()
    ['c', 'a']
    """
    return _typed_like(places, like, lambda column: column.cat.to(pl.dtype_of(LIKE)))


def as_enum(values: pl.Series, like: pl.Series) -> pl.Series:
    """Text ``values`` as the Enum that ``like`` is typed by; null where it holds none.

    >>> like = pl.Series(["b"], dtype=pl.Enum(["a", "b", "c"]))
    >>> as_enum(pl.Series(["c", "x"]), like).to_physical().to_list()
    [2, None]
    """
    return _typed_like(values, like, lambda column: column.cast(pl.dtype_of(LIKE), strict=False))


def is_enum(frame: pl.LazyFrame, column: str) -> bool:
    """Whether ``column`` is an Enum (its codes are integers), asked without bringing the
    Enum's dtype into Python: that runs over its categories, a millisecond or more for a
    run's 100,000 subscriptions, each time a schema holds it."""
    physical = frame.select(pl.col(column).to_physical()).collect_schema()
    return physical[column].is_integer()


def typed_as(frame: pl.LazyFrame, column: str) -> pl.Series:
    """An empty column typed as ``frame``'s ``column``: the ``like`` of :func:`as_enum` and
    :func:`enum_values`, taken without its dtype passing through Python."""
    return frame.select(pl.col(column).head(0)).collect().to_series()


LIKE = "_like"


def _typed_like(
    values: pl.Series, like: pl.Series, convert: Callable[[pl.Expr], pl.Expr]
) -> pl.Series:
    """``values`` converted to ``like``'s Enum inside Polars, which takes the dtype from
    ``like`` itself: naming an Enum of 100,000 subscriptions from Python
    (``cast(pl.Enum(...))``) sends every category through Python, about 10 ms a time,
    where this costs what the values do."""
    return (
        values.to_frame("value")
        .with_columns(pl.lit(like.extend_constant(None, 1)).first().alias(LIKE))
        .select(convert(pl.col("value")).alias(values.name))
        .to_series()
    )


Result = TypeVar("Result")
_HELPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="meterline-together")
"""The one thread that computes beside the caller (:func:`together`): always the same, so
that the memory its allocations free stays in use rather than in an idle thread's arena."""


def together(tasks: Sequence[Callable[[], Result]]) -> list[Result]:
    """Each task's result, in the tasks' order, computed two at a time: by the caller,
    and by one helper thread.

    Every part of an aggregation alternates work Polars spreads over the cores with
    work it does not (a small group_by, a gather, a Numba kernel over one group, the
    Python between them), so two parts at once keep the cores busier: 10-20 % less
    time for the usage of a run's shard. Polars releases the GIL while it computes, and
    Numba's ``omp`` and ``tbb`` threading layers run kernels from two threads at once
    (its ``workqueue`` layer aborts the process instead, so then the tasks run one after
    the other). The results do not depend on which ran first.

    The helper takes the tasks from the first on, the caller from the last back; the
    caller never waits for a task the helper has not started, so a task may call
    ``together`` itself. Every task runs (or is running) before the first failing task,
    in order, raises its error.

    >>> together([lambda: 1, lambda: 2])
    [1, 2]
    """
    if len(tasks) < 2 or not _kernels_threadsafe():
        return [task() for task in tasks]
    helped = [_HELPER.submit(task) for task in tasks[1:]]
    outcomes: dict[int, Future[Result]] = {0: _outcome(tasks[0])}
    for index in range(len(tasks) - 1, 0, -1):
        if helped[index - 1].cancel():
            outcomes[index] = _outcome(tasks[index])
    return [
        (outcomes[index] if index in outcomes else helped[index - 1]).result()
        for index in range(len(tasks))
    ]


def _outcome(task: Callable[[], Result]) -> Future[Result]:
    """``task`` computed here, its result or error held as a finished future's."""
    outcome: Future[Result] = Future()
    try:
        outcome.set_result(task())
    except Exception as error:  # held, then raised in the tasks' order
        outcome.set_exception(error)
    return outcome


def _kernels_threadsafe() -> bool:
    """Whether Numba's threading layer runs parallel kernels from several threads at once;
    False until a parallel kernel has chosen the layer."""
    try:
        return numba.threading_layer() in {"omp", "tbb"}
    except ValueError:
        return False

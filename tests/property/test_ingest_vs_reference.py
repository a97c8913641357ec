"""Ingestion against a plain-Python statement of exactly-once, on generated batches.

For any events (ids drawn from a small pool so repeats are common, some rows
invalid, some repeats with changed content), any order and any split into
files, possibly over two batches: the store holds the first valid arrival of
each id, every row is counted once as accepted, quarantined, duplicate or
conflict, and a shuffle or re-split of exact duplicates gives the same store.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.ingest import IngestInputs, IngestResult, run_ingest
from meter.event_store import EventStore

CATALOG = """
event_types:
  call: {properties: {region: {type: string}}}
meters:
  - {code: calls, event_type: call, aggregation: count, group_by: [region]}
plans:
  - code: p
    currency: EUR
    charges:
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.1}
"""
CUSTOMERS = "customer_id,name,timezone\nc1,One,UTC\nc2,Two,Europe/Paris\n"
START = datetime(2026, 10, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 1, tzinfo=UTC)

Row = tuple[str | None, str, datetime, str]
"""event_id, customer_id, timestamp, region."""

rows = st.tuples(
    st.one_of(st.none(), st.sampled_from([f"e{i}" for i in range(12)])),
    st.sampled_from(["c1", "c2", "unknown"]),
    st.integers(0, 31 * 24 - 1).map(lambda h: START + timedelta(hours=h)),  # none in the future
    st.sampled_from(["eu", "us"]),
)


def is_valid(row: Row) -> bool:
    return row[0] is not None and row[1] in ("c1", "c2")


def reference(batches: Sequence[Sequence[Row]]) -> tuple[dict[str, Row], list[dict[str, int]]]:
    """First valid arrival per id over all batches in order, and each batch's counts."""
    first: dict[str, Row] = {}
    counts = []
    for batch in batches:
        tally = dict.fromkeys(("read", "accepted", "quarantined", "duplicate", "conflict"), 0)
        for row in batch:
            tally["read"] += 1
            if not is_valid(row):
                tally["quarantined"] += 1
            elif row[0] not in first:
                first[row[0]] = row
                tally["accepted"] += 1
            else:
                tally["duplicate" if first[row[0]] == row else "conflict"] += 1
        counts.append(tally)
    return first, counts


def write_files(folder: Path, batch: Sequence[Row], cuts: Sequence[int]) -> list[str]:
    """The batch split at ``cuts`` into numbered files, in arrival order."""
    folder.mkdir(parents=True)
    bounds = [0, *sorted({c % (len(batch) + 1) for c in cuts}), len(batch)]
    paths = []
    for index, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        if hi <= lo:
            continue
        path = folder / f"part-{index:03d}.parquet"
        pl.DataFrame(
            list(batch[lo:hi]),
            schema={
                "event_id": pl.String,
                "customer_id": pl.String,
                "timestamp": pl.Datetime("us", "UTC"),
                "region": pl.String,
            },
            orient="row",
        ).with_columns(
            pl.lit("call").alias("event_type"),
            # Files with identical bytes are one delivery (skipped whole); an undeclared
            # column that the store drops keeps these files distinct.
            pl.lit(str(path)).alias("delivery"),
        ).write_parquet(path)
        paths.append(str(path))
    return paths


def ingest_all(
    root: Path, batches: Sequence[Sequence[Row]], cuts: Sequence[int]
) -> tuple[pl.DataFrame, list[IngestResult]]:
    (root / "catalog.yaml").write_text(CATALOG)
    (root / "customers.csv").write_text(CUSTOMERS)
    results = []
    for number, batch in enumerate(batches):
        sources = write_files(root / f"batch{number}", batch, cuts)
        inputs = IngestInputs(sources, root / "catalog.yaml", root / "customers.csv")
        # Tiny chunks so the row-group and chunk seams are crossed too.
        results.append(
            run_ingest(inputs, root / "store", root / "db.duckdb", chunk_rows=7, now=NOW)
        )
    committed = [r.batch_id for r in results if r.batch_id]
    store = EventStore(root / "store")
    content = (
        store.scan(committed)
        .select("event_id", "customer_id", "timestamp", "region")
        .collect()
        .sort("event_id")
        if store.event_files(committed)
        else pl.DataFrame()
    )
    return content, results


def batch_counts(result: IngestResult) -> dict[str, int]:
    names = ("read", "accepted", "quarantined", "duplicate", "conflict")
    return {name: result.total(f"rows_{name}") for name in names}


@settings(max_examples=25)
@given(
    st.lists(st.lists(rows, min_size=1, max_size=30), min_size=1, max_size=2),
    st.lists(st.integers(0, 30), max_size=3),
)
def test_store_holds_the_first_valid_arrival_and_counts_add_up(
    batches: list[list[Row]], cuts: list[int]
):
    expected, expected_counts = reference(batches)
    with TemporaryDirectory() as tmp:
        content, results = ingest_all(Path(tmp), batches, cuts)
    assert content.rows() == [expected[key] for key in sorted(expected)]
    assert [batch_counts(r) for r in results] == expected_counts
    for result in results:
        assert all(f.balanced() for f in result.files)


@settings(max_examples=25)
@given(
    st.lists(rows, min_size=1, max_size=25),
    st.lists(st.integers(0, 3), min_size=1, max_size=25),
    st.randoms(use_true_random=False),
    st.lists(st.integers(0, 40), max_size=3),
    st.lists(st.integers(0, 40), max_size=3),
)
def test_any_order_and_split_of_exact_duplicates_gives_the_same_store(
    distinct: list[Row], copies: list[int], random, cuts_a: list[int], cuts_b: list[int]
):
    # Only exact repeats (retries): the ids are made unique per content first.
    unique = list({row[0]: row for row in distinct}.values())
    events = [row for row, n in zip(unique, itertools.cycle(copies)) for _ in range(n + 1)]
    shuffled = random.sample(events, len(events))
    with TemporaryDirectory() as a, TemporaryDirectory() as b:
        first, [result_a] = ingest_all(Path(a), [events], cuts_a)
        second, [result_b] = ingest_all(Path(b), [shuffled], cuts_b)
    assert first.equals(second)
    assert batch_counts(result_a) == batch_counts(result_b)
    assert batch_counts(result_a)["conflict"] == 0

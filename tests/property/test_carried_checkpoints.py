"""Checkpoints of the carried state (jobs.carry) against the state of every event at once.

Runs see batches committed one after another, late ones adding events to dates
a checkpoint already covers, and ask for the state before dates in any order.
Whatever checkpoints earlier calls left, each answer must be the opening state
of every committed event dated before the day, computed from scratch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aggregation.usage import opening_state
from jobs.carry import FOLDER, carried_columns, carried_state
from meter.event_store import EventStore
from schemas.catalog import Aggregation, DurationSpec, Meter, TimeUnit
from schemas.events import CUSTOMER_ID, EVENT_ID, TIMESTAMP_COLUMN

METERS = [
    Meter("seats", "seat", Aggregation.GAUGE, "seats", group_by=("team",)),
    Meter(
        "vm_hours",
        "vm",
        Aggregation.DURATION,
        "vm",
        duration=DurationSpec("action", TimeUnit.HOUR),
    ),
]
SCHEMA = {
    "event_id": pl.String(),
    "customer_id": pl.String(),
    "event_type": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "action": pl.String(),
    "seats": pl.Int64(),
    "team": pl.String(),
    "vm": pl.String(),
}
COLUMNS = carried_columns(METERS, SCHEMA)
FIRST = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = [(FIRST + timedelta(days=n)).date().isoformat() for n in range(6)]


@st.composite
def event_rows(draw: st.DrawFn, index: int) -> dict:
    kind = draw(st.sampled_from(["seat", "vm", "other"]))
    row = dict.fromkeys(SCHEMA)
    row |= {
        "event_id": f"e{index:03d}",
        "customer_id": draw(st.sampled_from(["c1", "c2"])),
        "event_type": kind,
        # Whole hours and a few instants: ties on the timestamp are broken by event_id.
        "timestamp": FIRST + timedelta(hours=draw(st.integers(0, 6 * 24 - 1))),
    }
    if kind == "seat":
        row["seats"] = draw(st.none() | st.integers(0, 50))
        row["team"] = draw(st.sampled_from(["red", "blue"]))
    elif kind == "vm":
        row["vm"] = draw(st.sampled_from(["a", "b"]))
        row["action"] = draw(st.sampled_from(["start", "stop", "reboot", None]))
    return row


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[list[dict]], list[tuple[int, str]]]:
    """Batches of events (in commit order), and runs: (batches committed, day asked)."""
    count = draw(st.integers(0, 40))
    events = [draw(event_rows(index)) for index in range(count)]
    batch_count = draw(st.integers(1, 4))
    batch_of = [draw(st.integers(0, batch_count - 1)) for _ in events]
    batches = [
        [e for e, b in zip(events, batch_of, strict=True) if b == n] for n in range(batch_count)
    ]
    runs = draw(
        st.lists(
            st.tuples(st.integers(1, batch_count), st.sampled_from(DAYS)), min_size=1, max_size=6
        )
    )
    return batches, runs


def write_batch(store: Path, batch: str, rows: list[dict]) -> None:
    """A committed batch in the store's layout: one file per UTC date."""
    frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    dated = frame.with_columns(pl.col(TIMESTAMP_COLUMN).dt.date().cast(pl.String).alias("_d"))
    for (day,), part in dated.partition_by("_d", as_dict=True).items():
        folder = store / "events" / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        part.drop("_d").write_parquet(folder / f"{batch}.00001.parquet")


def from_scratch(batches: list[list[dict]], day: str) -> pl.DataFrame:
    rows = [row for batch in batches for row in batch]
    events = pl.DataFrame(rows, schema=SCHEMA, orient="row").filter(
        pl.col(TIMESTAMP_COLUMN).dt.date().cast(pl.String) < day
    )
    return opening_state(events.lazy().select(list(COLUMNS)), METERS, owner=CUSTOMER_ID).collect()


def ordered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(COLUMNS)).sort(CUSTOMER_ID, EVENT_ID)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(history=histories())
def test_checkpointed_state_is_the_state_of_every_event(tmp_path_factory, history) -> None:
    batches, runs = history
    root = tmp_path_factory.mktemp("store")
    store = EventStore(root)
    written = 0
    for asked, day in runs:
        # Batches are committed in order, never withdrawn: a run sees a prefix.
        committed = max(asked, written)
        for n in range(written, committed):
            write_batch(root, f"b-{n:02d}", batches[n])
        written = committed
        names = [f"b-{n:02d}" for n in range(committed)]
        got = carried_state(store, names, day, METERS, COLUMNS)
        assert got.schema == pl.Schema(COLUMNS)
        expected = from_scratch(batches[:committed], day)
        assert ordered(got).equals(ordered(expected)), (names, day)


def test_a_late_event_invalidates_the_checkpoint_after_it(tmp_path: Path) -> None:
    """Checkpoint on 5 Sep, then a batch adds a level set on 2 Sep: the state before
    6 Sep must hold it, though the checkpoint of 5 Sep (still on disk) does not."""
    seat = dict.fromkeys(SCHEMA) | {"customer_id": "c1", "event_type": "seat", "team": "red"}
    early = seat | {"event_id": "e1", "timestamp": FIRST, "seats": 3}
    late = seat | {"event_id": "e2", "timestamp": FIRST + timedelta(days=1), "seats": 9}
    store = EventStore(tmp_path)
    write_batch(tmp_path, "b-00", [early])
    first = carried_state(store, ["b-00"], DAYS[4], METERS, COLUMNS)
    assert first["seats"].to_list() == [3]
    assert len(list((tmp_path / FOLDER).glob("*/*.json"))) == 1
    write_batch(tmp_path, "b-01", [late])
    again = carried_state(store, ["b-00", "b-01"], DAYS[5], METERS, COLUMNS)
    assert again["seats"].to_list() == [9]
    # Uncommitted, the late batch is not read, and the old checkpoint still serves.
    assert carried_state(store, ["b-00"], DAYS[5], METERS, COLUMNS)["seats"].to_list() == [3]


def test_a_damaged_checkpoint_is_not_read(tmp_path: Path) -> None:
    """A manifest that is not JSON, or that names a missing state file, is ignored."""
    seat = dict.fromkeys(SCHEMA) | {"customer_id": "c1", "event_type": "seat", "team": "red"}
    write_batch(tmp_path, "b-00", [seat | {"event_id": "e1", "timestamp": FIRST, "seats": 4}])
    store = EventStore(tmp_path)
    carried_state(store, ["b-00"], DAYS[2], METERS, COLUMNS)
    (manifest,) = (tmp_path / FOLDER).glob("*/*.json")
    manifest.write_text("{not json")
    assert carried_state(store, ["b-00"], DAYS[3], METERS, COLUMNS)["seats"].to_list() == [4]
    for state in (tmp_path / FOLDER).glob("*/*.parquet"):
        state.unlink()
    assert carried_state(store, ["b-00"], DAYS[4], METERS, COLUMNS)["seats"].to_list() == [4]

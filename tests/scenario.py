"""A small billing world on disk for scenario tests: inputs, events, runs and queries."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl

from jobs.billing import RunInputs, RunResult, run_billing
from jobs.ingest import IngestInputs, run_ingest

EVENT_SCHEMA = {
    "event_id": pl.String,
    "customer_id": pl.String,
    "event_type": pl.String,
    "timestamp": pl.Datetime("us", "UTC"),
}

CALLS_CATALOG = """
event_types:
  call: {}
meters:
  - {code: calls, event_type: call, aggregation: count}
"""
"""The head of most scenario catalogs: one event type, ``call``, counted by ``calls``."""

Event = tuple[str, str, str, datetime]
"""``(event_id, customer_id, event_type, timestamp)``"""


@dataclass(frozen=True)
class Scenario:
    root: Path

    @property
    def db(self) -> Path:
        return self.root / "out.duckdb"

    def write(self, name: str, text: str) -> None:
        (self.root / name).write_text(text)

    def ingest(self, events: list[Event], name: str = "events") -> None:
        """Write ``events`` as one Parquet file and ingest it as one batch."""
        folder = self.root / name
        folder.mkdir()
        pl.DataFrame(events, schema=EVENT_SCHEMA, orient="row").write_parquet(
            folder / "events.parquet"
        )
        inputs = IngestInputs(
            [str(folder)], self.root / "catalog.yaml", self.root / "customers.csv"
        )
        run_ingest(inputs, self.root / "store", self.db)

    def inputs(self, period: str, **changes: object) -> RunInputs:
        inputs = RunInputs(
            period,
            self.root / "catalog.yaml",
            self.root / "customers.csv",
            self.root / "subscriptions.csv",
            self.root / "store",
            self.root / "changes.csv" if (self.root / "changes.csv").exists() else None,
            self.root / "coupons.csv" if (self.root / "coupons.csv").exists() else None,
        )
        if (self.root / "credits.csv").exists():
            inputs = replace(inputs, credits=self.root / "credits.csv")
        return replace(inputs, **changes)  # type: ignore[arg-type]

    def bill(self, *periods: str, **changes: object) -> list[RunResult]:
        return [run_billing(self.inputs(period, **changes), self.db) for period in periods]

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.db), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def scenario(
    root: Path, catalog: str, customers: str, subscriptions: str, changes: str | None = None
) -> Scenario:
    """A scenario in ``root`` with these input files (and an empty event store)."""
    world = Scenario(root)
    world.write("catalog.yaml", catalog)
    world.write("customers.csv", customers)
    world.write("subscriptions.csv", subscriptions)
    if changes is not None:
        world.write("changes.csv", changes)
    (root / "store").mkdir(exist_ok=True)
    return world

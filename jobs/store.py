"""The DuckDB side: schema creation, the single-transaction write, and run lookups."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl

from rating.wallet import ENTRY_SCHEMA
from schemas.errors import RunError
from schemas.tables import OUTPUT_TABLES, ddl
from schemas.types import AMOUNT, QUANTITY, ROUNDED_AMOUNT


@contextmanager
def exclusive(db_path: str | Path) -> Iterator[None]:
    """One billing run per database at a time: a second one fails clearly, never interleaves.

    Held from the run's first read to its commit (``<db>.lock``, an advisory
    ``flock`` the operating system releases when the process dies, even by
    ``kill -9``): two runs could otherwise both adjust the same late events.
    """
    path = Path(f"{db_path}.lock")
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RunError(
                f"{db_path}: another billing run ({holder}) is using this database; "
                "wait for it to finish, then run again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def connect(db_path: str | Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open (creating if needed) a meterline database with every output table."""
    try:
        con = duckdb.connect(str(db_path))
    except duckdb.IOException as error:
        first = str(error).splitlines()[0]
        raise RunError(
            f"{db_path}: cannot open the database ({first}); is another meterline run using it?"
        ) from None
    try:
        con.execute(ddl())
        yield con
    finally:
        con.close()


def find_run(con: duckdb.DuckDBPyConnection, run_id: str) -> dict | None:
    row = con.execute("SELECT * FROM billing_runs WHERE run_id = ?", [run_id]).fetchone()
    if row is None:
        return None
    names = [d[0] for d in con.description]
    return dict(zip(names, row, strict=True))


def runs_for_period(con: duckdb.DuckDBPyConnection, billing_period: str) -> list[str]:
    rows = con.execute(
        "SELECT run_id FROM billing_runs WHERE billing_period = ? AND kind = 'period' "
        "ORDER BY run_id",
        [billing_period],
    ).fetchall()
    return [row[0] for row in rows]


def committed_batches(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Ingestion batches whose events are visible in the event store."""
    rows = con.execute(
        "SELECT batch_id FROM ingest_batches WHERE status = 'committed' ORDER BY batch_id"
    ).fetchall()
    return [row[0] for row in rows]


def batch_exists(con: duckdb.DuckDBPyConnection, batch_id: str) -> bool:
    found = con.execute("SELECT 1 FROM ingest_batches WHERE batch_id = ?", [batch_id]).fetchone()
    return found is not None


def ingested_files(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    """sha256 -> (batch_id, source_file) of every file already ingested."""
    rows = con.execute(
        "SELECT sha256, batch_id, source_file FROM ingest_files WHERE status = 'ingested'"
    ).fetchall()
    return {sha: (batch, source) for sha, batch, source in rows}


def invoiced_periods(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT DISTINCT billing_period FROM billing_runs ORDER BY 1").fetchall()
    return [row[0] for row in rows]


_LINE_SUMS = """
SELECT subscription_id, charge_code, period_start, dimensions, currency,
       any_value(customer_id) AS customer_id, any_value(plan_code) AS plan_code,
       any_value(charge_name) AS charge_name, any_value(charge_position) AS charge_position,
       any_value(charge_model) AS charge_model, any_value(meter_code) AS meter_code,
       any_value(period_end) AS period_end,
       sum(quantity) AS quantity, sum(event_count) AS event_count,
       sum(amount_exact) AS amount_exact, sum(amount) AS amount
FROM rated_charges JOIN billing_runs USING (run_id, billing_period)
WHERE {where}
GROUP BY ALL
"""


def _line_sums(con: duckdb.DuckDBPyConnection, where: str, params: list) -> pl.DataFrame:
    """Rated lines summed per line key (``rating.adjustments.LINE_KEY``), with the
    descriptive columns of one of them."""
    frame = query_frame(con, _LINE_SUMS.format(where=where), params)
    return frame.with_columns(
        pl.col("period_start", "period_end").dt.convert_time_zone("UTC"),
        pl.col("quantity").cast(QUANTITY),
        pl.col("event_count").cast(pl.Int64),
        pl.col("amount_exact").cast(AMOUNT),
        pl.col("amount").cast(ROUNDED_AMOUNT),
        pl.col("charge_position").cast(pl.Int32),
    )


def billed_lines(con: duckdb.DuckDBPyConnection, period: str, customers: list[str]) -> pl.DataFrame:
    """What was billed for ``period`` (its own lines and every adjustment of them) to these
    customers. Progressive invoices and their deduction in the period's run cancel out; a
    term's true-up belongs to the term, not the period, and is final."""
    return _line_sums(
        con,
        "coalesce(adjusted_period, billing_period) = ? "
        "AND customer_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND kind = 'period' AND charge_model NOT IN ('progressive_credit', 'term_commitment')",
        [period, customers],
    )


def progressive_lines(con: duckdb.DuckDBPyConnection, subscriptions: list[str]) -> pl.DataFrame:
    """What progressive runs billed to these subscriptions."""
    return _line_sums(
        con,
        "kind = 'progressive' AND subscription_id IN (SELECT unnest(?::VARCHAR[]))",
        [subscriptions],
    )


def term_spend(
    con: duckdb.DuckDBPyConnection, subscriptions: list[str], replacing: str | None
) -> pl.DataFrame:
    """Every line billed to these subscriptions but term true-ups (and the lines of the
    draft run being replaced): ``subscription_id, period_start, currency, amount``."""
    frame = query_frame(
        con,
        "SELECT subscription_id, period_start, currency, amount FROM rated_charges "
        "WHERE subscription_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND charge_model <> 'term_commitment' AND run_id IS DISTINCT FROM ?",
        [subscriptions, replacing],
    )
    return frame.with_columns(
        pl.col("period_start").dt.convert_time_zone("UTC"), pl.col("amount").cast(ROUNDED_AMOUNT)
    )


def wallet_entries(
    con: duckdb.DuckDBPyConnection, customers: list[str], replacing: str | None
) -> pl.DataFrame:
    """The ledger of these accounts' wallets, but for the entries of the draft run being
    replaced (``rating.wallet.ENTRY_SCHEMA``)."""
    frame = query_frame(
        con,
        "SELECT credit_id, customer_id, currency, entry_date, kind, amount, invoice_id "
        "FROM wallet_ledger WHERE customer_id IN (SELECT unnest(?::VARCHAR[])) "
        "AND run_id IS DISTINCT FROM ?",
        [customers, replacing],
    )
    return frame.cast(ENTRY_SCHEMA) if frame.width else pl.DataFrame(schema=ENTRY_SCHEMA)


RUN_TABLES = (
    "billing_runs",
    "rated_charges",
    "invoices",
    "invoice_lines",
    "quarantine",
    "period_inputs",
    "period_batches",
    "contract_segments",
    "account_hierarchy",
    "wallet_ledger",
)
"""The tables whose rows belong to a billing run (by ``run_id``)."""


def draft_runs(con: duckdb.DuckDBPyConnection, period: str | None = None) -> list[tuple[str, str]]:
    """``(billing_period, run_id)`` of the draft runs (of one period, if given)."""
    rows = con.execute(
        "SELECT billing_period, run_id FROM billing_runs WHERE status = 'draft' "
        "AND (? IS NULL OR billing_period = ?) ORDER BY 1",
        [period, period],
    ).fetchall()
    return [(row[0], row[1]) for row in rows]


def issue_run(con: duckdb.DuckDBPyConnection, run_id: str) -> int:
    """Turn a draft run's invoices into issued ones (the only change an invoice ever sees)."""
    con.execute("BEGIN TRANSACTION")
    try:
        count = con.execute(
            "UPDATE invoices SET status = 'issued' WHERE run_id = ? AND status = 'draft'", [run_id]
        ).fetchone()
        con.execute(
            "UPDATE billing_runs SET status = 'completed' WHERE run_id = ? AND status = 'draft'",
            [run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(count[0]) if count else 0


ROW_KEYS: dict[str, tuple[str, ...]] = {
    "rated_charges": ("run_id", "subscription_id", "charge_code", "period_start", "dimensions"),
    "invoice_lines": ("invoice_id", "line_number"),
}
"""Keys of the large tables, checked on each write instead of indexed (``ddl.sql``): a run's
rows arrive in one write, so unique rows in each write are unique rows in the table."""


def write_tables(
    con: duckdb.DuckDBPyConnection,
    tables: Mapping[str, pl.DataFrame],
    discard_draft: str | None = None,
) -> None:
    """Append rows to several tables in one transaction: all of it lands, or none.

    ``discard_draft``: a draft run whose rows this write replaces, in the same
    transaction (only a draft is ever removed).
    """
    unknown = set(tables) - set(OUTPUT_TABLES)
    if unknown:
        raise ValueError(f"not output tables: {sorted(unknown)}")
    for name, keys in ROW_KEYS.items():
        frame = tables.get(name)
        if frame is not None and frame.select(pl.struct(keys).is_duplicated().any()).item():
            raise RunError(
                f"{name}: two rows share a key ({', '.join(keys)}); nothing was written "
                "(a bug: please report it with the run's inputs)"
            )
    con.execute("BEGIN TRANSACTION")
    try:
        if discard_draft is not None:
            found = con.execute(
                "SELECT status FROM billing_runs WHERE run_id = ?", [discard_draft]
            ).fetchone()
            if found is None or found[0] != "draft":
                raise RunError(f"{discard_draft} is not a draft run: its invoices stay as issued")
            for name in RUN_TABLES:
                con.execute(f"DELETE FROM {name} WHERE run_id = ?", [discard_draft])
        for name in OUTPUT_TABLES:
            frame = tables.get(name)
            if frame is None or frame.is_empty():
                continue
            columns = ", ".join(f'"{c}"' for c in frame.columns)
            con.register("incoming", frame.to_arrow())
            con.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM incoming")
            con.unregister("incoming")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def query_frame(con: duckdb.DuckDBPyConnection, query: str, params: list) -> pl.DataFrame:
    """A parameterised query's rows as a Polars frame."""
    frame = pl.from_arrow(con.sql(query, params=params).to_arrow_table())
    assert isinstance(frame, pl.DataFrame)
    return frame

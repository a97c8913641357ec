"""What a finished run looks like, read back from DuckDB, and printed with rich."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb
from rich import box
from rich.console import Console
from rich.table import Table

from jobs.backfill import BackfillMonth
from jobs.ingest import IngestResult
from rating.money import minor_unit

EXAMPLE_QUERY = (
    "SELECT line_number, description, quantity, amount, currency FROM invoice_lines "
    "WHERE invoice_id = '{invoice_id}' ORDER BY line_number"
)


def money(amount: Decimal, currency: str) -> str:
    """An amount as finance reads it: grouped, at the currency's minor unit.

    >>> money(Decimal("187690.0000"), "JPY"), money(Decimal("1234.5"), "EUR")
    ('187,690', '1,234.50')
    """
    return f"{amount:,.{minor_unit(currency)}f}"


@dataclass(frozen=True)
class RunSummary:
    run: dict
    totals: list[tuple[str, int, Decimal]]
    """(currency, invoice count, total)"""
    top_invoices: list[tuple[str, str, str, str, Decimal]]
    """(currency, invoice_id, customer_id, customer_name, total), top 5 per currency"""


def read_summary(db_path: str | Path, run_id: str) -> RunSummary:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        row = con.execute("SELECT * FROM billing_runs WHERE run_id = ?", [run_id]).fetchone()
        names = [d[0] for d in con.description]
        totals = con.execute(
            "SELECT currency, count(*), sum(total) FROM invoices WHERE run_id = ? "
            "GROUP BY currency ORDER BY currency",
            [run_id],
        ).fetchall()
        top = con.execute(
            """
            SELECT currency, invoice_id, customer_id, customer_name, total FROM (
                SELECT *, row_number() OVER (PARTITION BY currency
                                             ORDER BY total DESC, invoice_id) AS rank
                FROM invoices WHERE run_id = ?)
            WHERE rank <= 5 ORDER BY currency, rank
            """,
            [run_id],
        ).fetchall()
    finally:
        con.close()
    return RunSummary(dict(zip(names, row, strict=True)), totals, top)


def print_summary(
    summary: RunSummary, db_path: str | Path, already_done: bool, console: Console
) -> None:
    run = summary.run
    title = f"Run {run['run_id']}"
    if already_done:
        console.print(
            f"[yellow]Nothing to do:[/] {run['run_id']} already billed these exact inputs; "
            "showing its results."
        )
    counts = Table(title=title, show_header=False, title_justify="left")
    counts.add_column("what")
    counts.add_column("count", justify="right")
    for label, key in (
        ("events of the period's dates", "events_read"),
        ("  rated", "events_rated"),
        ("  no active subscription", "events_quarantined"),
        ("  outside the period", "events_out_of_period"),
        ("customers billed", "customers_billed"),
        ("invoices", "invoice_count"),
        ("rated charges", "rated_charge_count"),
        ("earlier periods adjusted", "periods_adjusted"),
        ("  adjustment lines", "adjustment_count"),
    ):
        counts.add_row(label, f"{run[key]:,}")
    console.print(counts)

    totals = Table(title="Invoices per currency", title_justify="left")
    totals.add_column("currency")
    totals.add_column("invoices", justify="right")
    totals.add_column("total", justify="right")
    for currency, count, total in summary.totals:
        totals.add_row(currency, f"{count:,}", money(total, currency))
    console.print(totals)

    top = Table(title="Top 5 invoices per currency", title_justify="left")
    for name, justify in (
        ("currency", "left"),
        ("invoice", "left"),
        ("customer", "left"),
        ("total", "right"),
    ):
        top.add_column(name, justify=justify)  # type: ignore[arg-type]
    for currency, invoice_id, customer_id, customer_name, total in summary.top_invoices:
        top.add_row(
            currency, invoice_id, f"{customer_name} ({customer_id})", money(total, currency)
        )
    console.print(top)

    console.print(f"Wrote [bold]{Path(db_path).resolve()}[/]. Try:")
    if summary.top_invoices:
        sql = EXAMPLE_QUERY.format(invoice_id=summary.top_invoices[0][1])
        console.print(
            f'  {invoked_as()} query --db {db_path} "{sql}"', highlight=False, soft_wrap=True
        )


def invoked_as(argv0: str | None = None) -> str:
    """How to run ``meter`` again from here: ``meter`` when that is on PATH, else the path
    it was started by (``make demo`` runs ``.venv/bin/meter``, which a shell does not find
    by name)."""
    program = Path(argv0 if argv0 is not None else sys.argv[0])
    if program.name != "meter":
        return "meter"
    on_path = shutil.which("meter")
    if on_path is not None and Path(on_path).resolve() == program.resolve():
        return "meter"
    try:
        return str(program.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(program)


def print_backfill(months: list[BackfillMonth], db_path: str | Path, console: Console) -> None:
    """One row per month of a backfill: billed now, or skipped as billed before."""
    table = Table(title="Backfill", title_justify="left", box=box.SIMPLE_HEAD)
    for name, justify in (
        ("month", "left"),
        ("run", "left"),
        ("invoices", "right"),
        ("events rated", "right"),
        ("adjustments", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for month in months:
        if month.result is None:
            table.add_row(month.period, f"already billed by {month.billed_by}", "", "", "")
            continue
        counts = month.result.counts
        same = " (same inputs: unchanged)" if month.result.already_done else ""
        table.add_row(
            month.period,
            month.result.run_id + same,
            f"{counts['invoice_count']:,}",
            f"{counts['events_rated']:,}",
            f"{counts['adjustment_count']:,}",
        )
    console.print(table)
    billed = sum(1 for month in months if month.result is not None)
    console.print(
        f"Billed {billed} of {len(months)} month(s) into [bold]{Path(db_path).resolve()}[/]."
    )


_INGEST_COUNTS = (
    "rows_read",
    "rows_accepted",
    "rows_quarantined",
    "rows_duplicate",
    "rows_conflict",
    "rows_late",
)


def print_ingest(result: IngestResult, store_path: str | Path, console: Console) -> None:
    """Per file and in total: read = accepted + quarantined + duplicate + conflict."""
    if result.recovered:
        console.print(
            "[yellow]Recovered[/] an interrupted ingestion first: " + ", ".join(result.recovered)
        )
    table = Table(
        title=f"Ingestion batch {result.batch_id or '(nothing new)'}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    # File names only (the full paths are in ingest_files), so the table fits 80 columns.
    table.add_column("file", overflow="fold")
    for name in ("read", "accepted", "quarantined", "duplicate", "conflict", "late"):
        table.add_column(name, justify="right")
    for report in result.files:
        label = Path(report.source_file).name
        if report.status != "ingested":
            status = {"skipped": "already ingested", "repeated": "repeated file"}
            label += f" ({status.get(report.status, report.status)})"
        table.add_row(label, *(f"{getattr(report, name):,}" for name in _INGEST_COUNTS))
    if len(result.files) > 1:
        table.add_section()
        table.add_row("total", *(f"{result.total(name):,}" for name in _INGEST_COUNTS))
    console.print(table)
    if result.batch_id is None:
        console.print("Nothing to do: every file was already ingested.")
    else:
        console.print(f"Events stored under [bold]{Path(store_path).resolve()}[/].")

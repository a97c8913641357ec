"""The ``meter`` command line.

Errors meant for users (:class:`schemas.errors.MeterlineError`) print as one
line and exit with status 2; anything unexpected prints one line too and
exits 1. ``meter --debug ...`` shows the traceback instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from jobs import store as store_module
from jobs.backfill import run_backfill
from jobs.billing import RunInputs, run_billing
from jobs.documents import write_invoice_documents
from jobs.generate import generate as generate_data
from jobs.ingest import IngestInputs, IngestResult, run_ingest
from jobs.progressive import run_progressive_billing
from jobs.report import print_backfill, print_ingest, print_summary, read_summary
from jobs.stages import StageTimer
from schemas.errors import InputError, MeterlineError

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples"
DEFAULT_DB = "meterline.duckdb"
DEFAULT_STORE = "meterline-events"

console = Console()
err_console = Console(stderr=True)


class _Settings:
    debug = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug: bool) -> None:
    """meterline: rate usage events against contracts and write invoices to DuckDB.

    Usage events are Parquet files; meters and plans are a YAML catalog;
    customers and subscriptions are CSV files. Results land in a DuckDB file:
    billing_runs, rated_charges, invoice_lines, invoices and quarantine.
    """
    _Settings.debug = debug


def _progress(*extra: ProgressColumn) -> Progress:
    """A transient progress bar: what is running, the bar, done of total, time taken."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        *extra,
    )
    return Progress(*columns, console=console, transient=True)


def _ingest(inputs: IngestInputs, store: str, db: str) -> IngestResult:
    with _progress() as progress:
        task = progress.add_task("ingesting", total=None)

        def on_file(source: str, index: int, total: int) -> None:
            progress.update(task, total=total, completed=index, description=Path(source).name)

        def on_stage(stage: str) -> None:
            if stage in ("fingerprint", "hash", "resolve", "commit"):
                progress.update(task, description=stage)

        result = run_ingest(inputs, store, db, on_file=on_file, on_stage=on_stage)
    print_ingest(result, store, console)
    return result


def _bill(inputs: RunInputs, db: str) -> None:
    with console.status("rating...") as status:
        result = run_billing(inputs, db, on_stage=lambda s: status.update(f"{s}..."))
    print_summary(read_summary(db, result.run_id), db, result.already_done, console)


_db_option = click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file.")


def _contract_options(command: Callable[..., None]) -> Callable[..., None]:
    """The inputs of a billing run: catalog, customers, subscriptions and their changes."""
    options = [
        click.option(
            "--catalog", required=True, type=click.Path(), help="Catalog YAML (meters, plans)."
        ),
        click.option("--customers", required=True, type=click.Path(), help="customers.csv"),
        click.option("--subscriptions", required=True, type=click.Path(), help="subscriptions.csv"),
        click.option(
            "--changes",
            default=None,
            type=click.Path(),
            help="changes.csv: effective-dated contract changes (plan, quantity, pause, "
            "terminate...).",
        ),
        click.option(
            "--coupons",
            default=None,
            type=click.Path(),
            help="coupons.csv: which subscription redeemed which coupon, from when.",
        ),
        click.option(
            "--credits",
            default=None,
            type=click.Path(),
            help="credits.csv: prepaid credits granted to accounts (top-ups, expiry).",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


_store_option = click.option(
    "--store",
    default=DEFAULT_STORE,
    show_default=True,
    help="Event store directory (Parquet, partitioned by event date).",
)


@cli.command()
@_db_option
@_store_option
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=SAMPLES,
    show_default="the shipped data/samples",
    help="Directory with catalog.yaml, customers.csv, subscriptions.csv and events/.",
)
@click.option("--period", default="2026-10", show_default=True, help="Billing period, YYYY-MM.")
def demo(db: str, store: str, data: Path, period: str) -> None:
    """Ingest the shipped sample events, bill one month and print a summary."""
    _ingest(
        IngestInputs([str(data / "events")], data / "catalog.yaml", data / "customers.csv"),
        store,
        db,
    )
    _bill(
        RunInputs(
            period,
            data / "catalog.yaml",
            data / "customers.csv",
            data / "subscriptions.csv",
            store,
        ),
        db,
    )


@cli.command()
@click.option(
    "--catalog", required=True, type=click.Path(), help="Catalog YAML (event types, meters)."
)
@click.option("--customers", required=True, type=click.Path(), help="customers.csv")
@_db_option
@_store_option
@click.argument("sources", nargs=-1, required=True)
def ingest(catalog: str, customers: str, db: str, store: str, sources: tuple[str, ...]) -> None:
    """Validate, de-duplicate and store usage events from SOURCES.

    SOURCES are Parquet files, directories, globs or fsspec URLs (file://,
    memory://, s3:// with s3fs installed). Bad rows go to the quarantine table
    with a reason; events already ingested count as duplicates; a file whose
    bytes were already ingested is skipped. The batch lands whole or not at
    all, and per-file counts are recorded in ingest_files. Exits with status 2
    if a file could not be read (the other files still land).
    """
    result = _ingest(IngestInputs(list(sources), catalog, customers), store, db)
    if result.rejected:
        first, more = result.rejected[0].error, len(result.rejected) - 1
        plural = "s" if more > 1 else ""
        detail = f" (and {more} more rejected file{plural}: see ingest_files)" if more else ""
        raise InputError(f"{first}{detail}; nothing of a rejected file was stored")


@cli.command()
@click.option("--period", default=None, help="Calendar month to close, YYYY-MM.")
@click.option(
    "--as-of",
    "as_of",
    default=None,
    help="Instead of --period: progressive billing as of this day (YYYY-MM-DD).",
)
@_contract_options
@click.option(
    "--draft",
    is_flag=True,
    help="Write draft invoices: billing the period again replaces them, until `meter issue`.",
)
@_db_option
@_store_option
def bill(
    period: str | None,
    as_of: str | None,
    catalog: str,
    customers: str,
    subscriptions: str,
    changes: str | None,
    coupons: str | None,
    credits: str | None,
    draft: bool,
    db: str,
    store: str,
) -> None:
    """Rate the stored events of one billing period; write charges and invoices to DuckDB.

    Reads the events `meter ingest` committed to the store. --period 2026-10
    closes October (and adjusts earlier months whose inputs changed); --as-of
    2026-10-15 invoices early the usage of plans with progressive_billing that
    reached their level. Re-running with the same inputs changes nothing; the
    write is one transaction.
    """
    if (period is None) == (as_of is None):
        raise click.UsageError("give either --period YYYY-MM or --as-of YYYY-MM-DD")
    inputs = RunInputs(
        period or "",
        catalog,
        customers,
        subscriptions,
        store,
        changes=changes,
        coupons=coupons,
        credits=credits,
        draft=draft,
    )
    if as_of is not None:
        with console.status("progressive billing...") as status:
            result = run_progressive_billing(
                inputs, as_of, db, StageTimer(on_stage=lambda s: status.update(f"{s}..."))
            )
        print_summary(read_summary(db, result.run_id), db, result.already_done, console)
        return
    _bill(inputs, db)


@cli.command()
@click.option("--period", required=True, help="Billing period whose draft invoices to issue.")
@_db_option
def issue(period: str, db: str) -> None:
    """Issue the draft invoices of a billing period (`meter bill --draft`).

    Issued invoices are never changed again; later differences are billed as
    adjustments by the next period's run.
    """
    if not Path(db).is_file():
        raise InputError(f"{db}: no such database (run `meter bill` first)")
    with store_module.exclusive(db), store_module.connect(db) as con:
        drafts = store_module.draft_runs(con, period)
        if not drafts:
            raise InputError(f"billing period {period} has no draft invoices to issue")
        issued = store_module.issue_run(con, drafts[0][1])
    console.print(f"Issued {issued:,} invoice(s) of {period} ({drafts[0][1]}).")


@cli.command()
@click.option("--from", "first", required=True, help="First month to bill, YYYY-MM.")
@click.option("--to", "last", required=True, help="Last month to bill, YYYY-MM (included).")
@_contract_options
@_db_option
@_store_option
def backfill(
    first: str,
    last: str,
    catalog: str,
    customers: str,
    subscriptions: str,
    changes: str | None,
    coupons: str | None,
    credits: str | None,
    db: str,
    store: str,
) -> None:
    """Bill every month from --from to --to in order, skipping months already billed.

    Each month is one atomic billing run, so an interrupted backfill resumes
    where it stopped when run again. Each run also adjusts earlier months whose
    inputs changed.
    """
    inputs = RunInputs(
        first,
        catalog,
        customers,
        subscriptions,
        store,
        changes=changes,
        coupons=coupons,
        credits=credits,
    )
    with _progress(TimeRemainingColumn()) as progress:
        task = progress.add_task("backfill", total=None)

        def on_month(period: str, index: int, total: int) -> None:
            progress.update(task, total=total, completed=index, description=period)

        months = run_backfill(
            inputs,
            first,
            last,
            db,
            on_month=on_month,
            on_stage=lambda stage: progress.update(task, description=f"{stage}"),
        )
    print_backfill(months, db, console)


@cli.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--events",
    "events",
    default=1_000_000,
    show_default=True,
    type=int,
    help="Number of distinct events.",
)
@click.option("--customers", type=int, default=None, help="Customers [default: events/1000].")
@click.option("--files", default=1, show_default=True, type=int, help="Parquet files to write.")
@click.option("--period", default="2026-10", show_default=True, help="Month of the events.")
@click.option(
    "--duplicates",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of extra exact duplicate rows (retries), e.g. 0.02.",
)
@click.option(
    "--malformed",
    default=0.0,
    show_default=True,
    type=float,
    help="Share of rows to break (nulls, unknown ids, NaN), e.g. 0.005.",
)
@click.option("--seed", default=7, show_default=True, type=int, help="Random seed.")
def generate(
    out_dir: Path,
    events: int,
    customers: int | None,
    files: int,
    period: str,
    duplicates: float,
    malformed: float,
    seed: int,
) -> None:
    """Write synthetic data to OUT_DIR: a catalog, customers, subscriptions and events."""
    if events < 1 or files < 1 or not 0 <= duplicates <= 1 or not 0 <= malformed <= 1:
        raise InputError("generate: --events and --files must be >= 1, shares between 0 and 1")
    with console.status(f"generating {events:,} events..."):
        data = generate_data(out_dir, events, customers, files, period, duplicates, malformed, seed)
    console.print(
        f"Wrote {data.events:,} event rows ({data.duplicates:,} duplicates, "
        f"{data.malformed:,} malformed) for {data.customers:,} customers "
        f"in {len(data.event_files)} file(s) under {data.out_dir}"
    )


@cli.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file to read.")
@click.option(
    "--out",
    default="invoices",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Directory to write <invoice_id>.html files into.",
)
@click.option("--period", default=None, help="Only the invoices of this billing period, YYYY-MM.")
@click.option("--invoice", "invoice_ids", multiple=True, help="Only this invoice (repeatable).")
def invoices(db: str, out: str, period: str | None, invoice_ids: tuple[str, ...]) -> None:
    """Render issued invoices as HTML documents (lines, periods, tiers, totals).

    Without --period or --invoice, every invoice in the database is rendered.
    """
    written = write_invoice_documents(db, out, period, list(invoice_ids))
    console.print(f"Wrote {len(written):,} invoice document(s) to [bold]{Path(out).resolve()}[/].")


@cli.command()
@click.option("--db", default=DEFAULT_DB, show_default=True, help="DuckDB file to read.")
@click.argument("sql")
def query(db: str, sql: str) -> None:
    """Run SQL read-only against a meterline DuckDB file and print the result."""
    if not Path(db).is_file():
        raise InputError(f"{db}: no such database (run `meter demo` or `meter bill` first)")
    con = duckdb.connect(db, read_only=True)
    try:
        result = con.sql(sql)
        if result is not None:
            result.show(max_rows=200, max_width=200)
    except duckdb.Error as error:
        raise InputError(f"query failed: {str(error).splitlines()[0]}") from None
    finally:
        con.close()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``meter`` script: one clear line per failure, never a traceback."""
    try:
        cli.main(args=argv, prog_name="meter", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("aborted")
        return 130
    except click.ClickException as error:
        error.show()
        return error.exit_code
    except MeterlineError as error:
        if _Settings.debug:
            raise
        err_console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        return 2
    except Exception as error:
        if _Settings.debug:
            raise
        err_console.print(
            f"[bold red]internal error:[/] {type(error).__name__}: {error} "
            "(run `meter --debug ...` for the traceback, and please report it)",
            highlight=False,
            soft_wrap=True,
        )
        return 1
    return 0


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    run()

"""Stage-by-stage benchmark of a billing run, as ratios to the bare Polars scan + group_by.

Generates synthetic data with ``jobs.generate.generate`` (in a child process, so
its memory does not count towards the billing run's peak RSS), then in this
one process:

1. runs the stages of ``jobs.billing.run_billing`` one by one, calling the
   same functions in the same order, and times each;
2. runs ``run_billing`` itself end to end on a fresh DuckDB file;
3. times the bare baseline, a streaming Polars scan + group_by of the same files
   (median of three runs: it is short, and every ratio is divided by it).

Usage, from the repository root::

    .venv/bin/python benchmarks/run.py --events 200000     # smoke test, seconds
    .venv/bin/python benchmarks/run.py                     # 10M events, 8 files

Absolute times vary 20-30 % between runs; the ratios to the baseline measured
in the same process are the figures to compare (see /work/shared/PERFORMANCE.md).
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import platform
import re
import resource
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import polars as pl

from aggregation.periods import (
    billable_subscriptions,
    customer_periods,
    next_month,
    parse_billing_period,
)
from aggregation.usage import BILLING_STATUS, BillingStatus, aggregate_usage, assign_subscriptions
from jobs import store
from jobs.billing import (
    STAGES,
    RunInputs,
    _no_subscription_quarantine,
    fingerprint_files,
    run_billing,
    run_identity,
    validate_events,
)
from jobs.catalog import load_catalog
from jobs.contracts import load_contracts
from jobs.generate import GeneratedData, generate
from meter.sources import read_events, resolve_sources
from rating.invoice import build_invoice_lines, build_invoices, invoice_numbers
from rating.rate import rate_period
from schemas.events import QUARANTINE_SCHEMA

PERIOD = "2026-10"
SETUP = "setup"
BASELINE_REPEATS = 3
"""The bare baseline is short and noisy: its median over this many runs is the unit."""
"""Work run_billing does before its first timed stage: catalog, contracts, fingerprint."""


# --------------------------------------------------------------------------- memory


def _ru_maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _status_kib(field_name: str) -> int | None:
    """A ``kB`` field of /proc/self/status (VmRSS: now, VmHWM: peak since the last reset)."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"^{field_name}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def _reset_hwm() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Memory(NamedTuple):
    """RSS in KiB around one stage: at its start, its own peak, and the process peak so far."""

    start: int | None
    stage_peak: int | None
    process_peak: int


@dataclass
class Rss:
    """Peak RSS per stage (VmHWM reset at each stage start) and of the process so far.

    Resetting VmHWM also lowers ``ru_maxrss``, so the process peak is kept here
    as the running maximum of every reading. RSS at a stage's start includes
    memory the allocators kept from earlier stages, so a stage's peak is only
    its own growth above that start.
    """

    process_peak: int = 0
    per_stage: bool = True
    _start: int | None = None

    def start(self) -> None:
        self.process_peak = max(self.process_peak, _ru_maxrss_kib())
        if self.per_stage:
            self.per_stage = _reset_hwm()
        self._start = _status_kib("VmRSS")

    def stop(self) -> Memory:
        ru = _ru_maxrss_kib()
        stage = _status_kib("VmHWM") if self.per_stage else None
        self.process_peak = max(self.process_peak, ru, stage or 0)
        return Memory(self._start, stage, self.process_peak)


@dataclass
class Row:
    stage: str
    seconds: float
    memory: Memory | None = None


@dataclass
class Recorder:
    rss: Rss
    rows: list[Row] = field(default_factory=list)
    _name: str | None = None
    _started: float = 0.0

    def begin(self, name: str) -> None:
        self.end()
        gc.collect()
        self.rss.start()
        self._name, self._started = name, time.perf_counter()

    def end(self) -> None:
        if self._name is None:
            return
        seconds = time.perf_counter() - self._started
        self.rows.append(Row(self._name, seconds, self.rss.stop()))
        print(f"  {self._name:<10} {seconds:9.2f} s", file=sys.stderr, flush=True)
        self._name = None


# --------------------------------------------------------------------------- runs


def _generate(out_dir: Path, events: int, files: int, duplicates: float, malformed: float):
    """Runs in a child process: (data, seconds, child peak RSS KiB)."""
    started = time.perf_counter()
    data = generate(
        out_dir,
        events,
        files=files,
        billing_period=PERIOD,
        duplicate_share=duplicates,
        malformed_share=malformed,
    )
    return data, time.perf_counter() - started, _ru_maxrss_kib()


def staged_run(inputs: RunInputs, db_path: Path, rec: Recorder) -> dict[str, int]:
    """The body of jobs.billing.run_billing, one timed stage at a time. Returns its counts."""
    rec.begin(SETUP)
    period_day = parse_billing_period(inputs.billing_period)
    catalog = load_catalog(inputs.catalog)
    contracts = load_contracts(inputs.customers, inputs.subscriptions, catalog.plans)
    sources = resolve_sources(inputs.events)
    events_sha = fingerprint_files(sources)
    run_id = run_identity(inputs.billing_period, catalog, contracts, events_sha)
    with store.connect(db_path) as con:
        assert store.find_run(con, run_id) is None, f"{db_path} is not fresh"
    started_at = datetime.now(UTC)

    rec.begin("read")
    events = read_events(sources).collect()
    rec.begin("validate")
    validated = validate_events(events, contracts, catalog)
    del events
    rec.begin("aggregate")
    periods = customer_periods(contracts.customers, period_day)
    billable = billable_subscriptions(contracts.subscriptions, contracts.customers, period_day)
    assigned = assign_subscriptions(validated.accepted.lazy(), periods, billable).collect()
    status_counts = dict(assigned[BILLING_STATUS].value_counts().iter_rows())
    rated_events = assigned.lazy().filter(pl.col(BILLING_STATUS) == BillingStatus.RATED.value)
    usage = aggregate_usage(rated_events, catalog.meters.values()).collect()
    rec.begin("rate")
    rated = rate_period(billable, usage, catalog.plans).with_columns(
        pl.lit(run_id).alias("run_id"), pl.lit(inputs.billing_period).alias("billing_period")
    )
    rec.begin("invoice")
    lines = build_invoice_lines(rated, invoice_numbers(rated, inputs.billing_period))
    invoices = build_invoices(
        lines, contracts.customers, inputs.billing_period, next_month(period_day)
    )
    quarantine = pl.concat(
        [validated.quarantine, _no_subscription_quarantine(assigned)], how="vertical_relaxed"
    ).select(pl.lit(run_id).alias("run_id"), *QUARANTINE_SCHEMA)

    # Untimed in run_billing too: the counts and the billing_runs row.
    rec.end()
    counts = {
        "events_read": validated.read,
        "events_rated": int(status_counts.get(BillingStatus.RATED.value, 0)),
        "events_quarantined": quarantine.height,
        "events_duplicate": validated.duplicates,
        "events_out_of_period": int(status_counts.get(BillingStatus.OUT_OF_PERIOD.value, 0)),
        "customers_billed": invoices["customer_id"].n_unique(),
        "invoice_count": invoices.height,
        "rated_charge_count": rated.height,
    }
    run_row = pl.DataFrame(
        [
            {
                "run_id": run_id,
                "billing_period": inputs.billing_period,
                "status": "completed",
                "started_at": started_at,
                "finished_at": datetime.now(UTC),
                "catalog_sha256": catalog.sha256,
                "contracts_sha256": contracts.sha256,
                "events_sha256": events_sha,
                "source_files": len(sources),
                **counts,
                "meterline_version": version("meterline"),
            }
        ]
    )

    rec.begin("write")
    with store.connect(db_path) as con:
        store.write_run(
            con,
            {
                "billing_runs": run_row,
                "rated_charges": rated,
                "invoices": invoices,
                "invoice_lines": lines,
                "quarantine": quarantine,
            },
        )
    rec.end()
    return counts


def _overall(memories: list[Memory | None]) -> Memory | None:
    """One Memory over consecutive stages: first start, highest stage peak, last process peak."""
    known = [m for m in memories if m is not None]
    if not known:
        return None
    peaks = [m.stage_peak for m in known if m.stage_peak is not None]
    return Memory(known[0].start, max(peaks) if peaks else None, known[-1].process_peak)


def end_to_end(inputs: RunInputs, db_path: Path, rss: Rss) -> tuple[list[Row], Row, dict]:
    """run_billing as shipped: its own stage seconds, peak RSS per stage via ``on_stage``."""
    memories: list[Memory] = []

    def on_stage(_name: str) -> None:
        memories.append(rss.stop())  # closes the previous window (setup for "read")
        rss.start()

    gc.collect()
    rss.start()
    started = time.perf_counter()
    result = run_billing(inputs, db_path, on_stage=on_stage)
    wall = time.perf_counter() - started
    memories.append(rss.stop())
    assert not result.already_done, f"{db_path} is not fresh"
    # Setup, fingerprint and the counts run outside run_billing's stage timers.
    other = wall - sum(result.seconds.values())
    rows = [Row(f"{SETUP} + counts", other, memories[0])]
    rows += [
        Row(name, result.seconds[name], memory)
        for name, memory in zip(STAGES, memories[1:], strict=True)
    ]
    return rows, Row("run_billing wall", wall, _overall(memories)), result.counts


def bare_baseline(
    files: list[str], rss: Rss, repeats: int = BASELINE_REPEATS
) -> tuple[Row, list[float]]:
    """The streaming scan + group_by, ``repeats`` times; its row carries the median time."""
    gc.collect()
    rss.start()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        (
            pl.scan_parquet(files)
            .group_by("customer_id", "event_type")
            .agg(pl.len(), pl.col("gb").sum())
            .collect(engine="streaming")
        )
        times.append(time.perf_counter() - started)
    print(f"  bare runs: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
    return Row(f"bare (median of {repeats})", statistics.median(times), rss.stop()), times


# --------------------------------------------------------------------------- report


def _environment() -> str:
    threads = os.environ.get("POLARS_MAX_THREADS")
    parts = [
        f"python {platform.python_version()}",
        f"polars {pl.__version__}",
        f"duckdb {version('duckdb')}",
        f"numba {version('numba')}",
        f"pyarrow {version('pyarrow')}",
        f"cpus {os.cpu_count()}",
        "load avg {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()),
        f"polars threads {pl.thread_pool_size()}",
        f"POLARS_MAX_THREADS={threads}" if threads else "POLARS_MAX_THREADS unset",
    ]
    return "env: " + ", ".join(parts)


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def print_table(title: str, rows: list[Row | None], events: int, bare: float) -> None:
    header = (
        f"{'stage':<22} {'seconds':>8} {'events/s':>12} {'x bare':>7} "
        f"{'RSS start KiB':>14} {'stage peak KiB':>15} {'process peak KiB':>17}"
    )
    print(f"\n{title}")
    print(header)
    print("-" * len(header))
    for row in rows:
        if row is None:
            print("-" * len(header))
            continue
        rate = f"{events / row.seconds:,.0f}" if row.seconds > 0 else "inf"
        memory = row.memory or Memory(None, None, 0)
        print(
            f"{row.stage:<22} {row.seconds:8.2f} {rate:>12} {row.seconds / bare:6.2f}x "
            f"{_kib(memory.start):>14} {_kib(memory.stage_peak):>15} "
            f"{_kib(memory.process_peak or None):>17}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--files", type=int, default=8, help="Parquet files to split them into")
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="parent directory for the generated data (default: the system temp dir); "
        "a fresh subdirectory is created in it",
    )
    parser.add_argument("--keep", action="store_true", help="keep the generated data")
    parser.add_argument("--duplicates", type=float, default=0.02, help="share of duplicates")
    parser.add_argument("--malformed", type=float, default=0.005, help="share of malformed rows")
    args = parser.parse_args(argv)

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="meterline-bench-", dir=args.workdir))
    try:
        return _benchmark(args, workdir)
    finally:
        if args.keep:
            print(f"\nkept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _benchmark(args: argparse.Namespace, workdir: Path) -> int:
    print(_environment())
    print(f"workdir: {workdir}")
    print(f"generating {args.events:,} events in {args.files} files ...", file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        data, gen_seconds, gen_rss = pool.submit(
            _generate, workdir, args.events, args.files, args.duplicates, args.malformed
        ).result()
    assert isinstance(data, GeneratedData)
    files = [str(path) for path in data.event_files]
    parquet_bytes = sum(path.stat().st_size for path in data.event_files)
    print(
        f"data: {data.events:,} events ({data.duplicates:,} duplicates, {data.malformed:,} "
        f"malformed), {data.customers:,} customers, {len(files)} files, "
        f"{parquet_bytes / 2**20:,.1f} MiB zstd Parquet"
    )
    print(
        f"generate: {gen_seconds:.2f} s, {data.events / gen_seconds:,.0f} events/s, "
        f"peak RSS {gen_rss:,} KiB (child process)"
    )

    inputs = RunInputs(
        billing_period=PERIOD,
        catalog=workdir / "catalog.yaml",
        customers=workdir / "customers.csv",
        subscriptions=workdir / "subscriptions.csv",
        events=files,
    )
    rss = Rss()
    print("staged run:", file=sys.stderr)
    rec = Recorder(rss)
    staged_counts = staged_run(inputs, workdir / "staged.duckdb", rec)
    gc.collect()
    print("run_billing end to end ...", file=sys.stderr)
    e2e_rows, e2e_total, e2e_counts = end_to_end(inputs, workdir / "run_billing.duckdb", rss)
    print("bare baseline ...", file=sys.stderr)
    bare, bare_times = bare_baseline(files, rss)

    events = staged_counts["events_read"]
    stage_rows = [row for row in rec.rows if row.stage != SETUP]
    staged_total = Row(
        "sum of stages",
        sum(row.seconds for row in stage_rows),
        _overall([row.memory for row in stage_rows]),
    )
    setup_rows = [row for row in rec.rows if row.stage == SETUP]
    print_table(
        "staged run (same functions and order as run_billing):",
        [*setup_rows, *stage_rows, None, staged_total],
        events,
        bare.seconds,
    )
    print_table(
        "run_billing end to end (stage seconds from RunResult.seconds):",
        [*e2e_rows, None, e2e_total],
        events,
        bare.seconds,
    )
    print_table(
        "bare baseline: scan_parquet + group_by(customer_id, event_type), streaming, same files:",
        [bare],
        events,
        bare.seconds,
    )
    print(f"bare runs: {', '.join(f'{t:.2f} s' for t in bare_times)}")
    print("\nload avg at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"events read: {events:,}; counts: {staged_counts}")
    same = "yes" if staged_counts == e2e_counts else f"NO: run_billing gave {e2e_counts}"
    print(f"staged counts equal run_billing's: {same}")
    if not rss.per_stage:
        print("note: /proc/self/clear_refs unavailable; stage peaks not measured")
    print(f"peak RSS of the process: {rss.process_peak:,} KiB ({rss.process_peak / 2**20:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

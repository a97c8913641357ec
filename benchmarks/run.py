"""Stage-by-stage benchmark of a billing run, as ratios to the bare Polars scan + group_by.

Generates synthetic data with ``jobs.generate.generate`` (in a child process, so
its memory does not count towards the billing run's peak RSS), then in this
one process:

0. ingests and bills a small month, untimed, so that no timed stage counts
   Numba compiling a kernel (a one-off after each code change);
1. ingests the previous month into a fresh event store (the history);
2. ingests the month against that history (validate, de-duplicate, write), then
   bills it from the store, taking each stage's seconds from the jobs' own
   timers and each stage's peak RSS from their stage callbacks;
3. times the bare baseline, a streaming Polars scan + group_by of the same files
   (median of three runs: it is short, and every ratio is divided by it);
4. bills the month twice more, each time into a copy of the database as ingestion
   left it (and the store's carried-state checkpoints as they were), so that the
   rate stage, like the baseline, is the median of three runs. The stage table
   and the memory figures are the first billing run's.

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
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, NamedTuple

# isort: split
# Before Polars: importing jobs sets up Polars' allocator as the meter command has it
# (jobs.ALLOCATOR), and it is read once, when Polars loads.
import jobs  # noqa: F401

# isort: split
import polars as pl

from jobs.billing import STAGES as BILLING_STAGES
from jobs.billing import RunInputs, RunResult, run_billing
from jobs.generate import GeneratedData, generate
from jobs.ingest import COUNTS, IngestInputs, IngestResult, run_ingest
from jobs.ingest import STAGES as INGEST_STAGES

PERIOD = "2026-10"
HISTORY_PERIOD = "2026-09"
BASELINE_REPEATS = 3
"""The bare baseline is short and noisy: its median over this many runs is the unit."""
BILLING_REPEATS = 3
"""Billing runs whose median rate stage is compared with the baseline's median."""


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
    cpu: float | None = None
    """CPU seconds of the process (every thread) over the stage: work, where ``seconds``
    is work divided by the parallelism reached."""


# --------------------------------------------------------------------------- runs


def _generate(
    out_dir: Path,
    events: int,
    customers: int,
    files: int,
    duplicates: float,
    malformed: float,
    period: str,
):
    """Runs in a child process: (data, seconds, child peak RSS KiB).

    The same seed for every month gives the same customers and contracts; event
    ids carry the month, so two months never share an id.
    """
    started = time.perf_counter()
    data = generate(
        out_dir,
        events,
        customers=customers,
        files=files,
        billing_period=period,
        duplicate_share=duplicates,
        malformed_share=malformed,
    )
    return data, time.perf_counter() - started, _ru_maxrss_kib()


def _overall(memories: list[Memory | None]) -> Memory | None:
    """One Memory over consecutive stages: first start, highest stage peak, last process peak."""
    known = [m for m in memories if m is not None]
    if not known:
        return None
    peaks = [m.stage_peak for m in known if m.stage_peak is not None]
    return Memory(known[0].start, max(peaks) if peaks else None, known[-1].process_peak)


def staged(
    job: Callable[[Callable[[str], None]], Any], rss: Rss
) -> tuple[Any, float, dict, dict[str, float]]:
    """Run ``job(on_stage)``; per stage name, the highest peak RSS over its windows, and
    the CPU seconds of the process over them."""
    windows: list[tuple[str, Memory]] = []
    cpu: dict[str, float] = {}
    current: list[str] = []
    cpu_mark = [0.0]

    def close_window() -> None:
        if current:
            windows.append((current[0], rss.stop()))
            cpu[current[0]] = cpu.get(current[0], 0.0) + time.process_time() - cpu_mark[0]

    def on_stage(name: str) -> None:
        close_window()
        current[:] = [name]
        cpu_mark[0] = time.process_time()
        rss.start()

    gc.collect()
    rss.start()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = job(on_stage)
    wall = time.perf_counter() - started
    close_window()
    cpu["total"] = time.process_time() - cpu_started
    memory: dict[str, Memory] = {}
    for name, window in windows:
        memory[name] = _overall([memory.get(name), window])
    return result, wall, memory, cpu


def stage_rows(
    title: str,
    stages: tuple[str, ...],
    seconds: dict[str, float],
    wall: float,
    memory: dict,
    cpu: dict[str, float],
) -> list[Row | None]:
    rows: list[Row | None] = [
        Row(name, seconds[name], memory.get(name), cpu.get(name))
        for name in stages
        if name in seconds
    ]
    rows.append(Row("untimed", wall - sum(seconds.values())))
    rows.append(None)
    rows.append(Row(title, wall, _overall(list(memory.values())), cpu["total"]))
    return rows


def ingest(inputs: IngestInputs, root: Path, rss: Rss) -> tuple[IngestResult, list[Row | None]]:
    def job(on_stage: Callable[[str], None]) -> IngestResult:
        return run_ingest(inputs, root / "store", root / "bench.duckdb", on_stage=on_stage)

    result, wall, memory, cpu = staged(job, rss)
    assert result.batch_id is not None and not result.rejected, "ingestion did not land"
    return result, stage_rows("ingest wall", INGEST_STAGES, result.seconds, wall, memory, cpu)


def bill(inputs: RunInputs, root: Path, rss: Rss) -> tuple[RunResult, list[Row | None]]:
    def job(on_stage: Callable[[str], None]) -> RunResult:
        return run_billing(inputs, root / "bench.duckdb", on_stage=on_stage)

    result, wall, memory, cpu = staged(job, rss)
    assert not result.already_done, "the bench database is not fresh"
    rows = stage_rows("run_billing wall", BILLING_STAGES, result.seconds, wall, memory, cpu)
    return result, rows


def _billed_state(root: Path) -> list[Path]:
    """What a billing run changes: the database (and its write-ahead log, should one be
    left) and the store's carried-state checkpoints (``jobs.carry``, which a later run
    would start from)."""
    return [root / "bench.duckdb", root / "bench.duckdb.wal", root / "store" / "carried"]


def snapshot(root: Path) -> Path:
    """A copy of what a billing run changes, as it is now (before the first run)."""
    saved = root / "before-billing"
    saved.mkdir()
    for path in _billed_state(root):
        if path.is_dir():
            shutil.copytree(path, saved / path.name)
        elif path.exists():
            shutil.copy2(path, saved / path.name)
    return saved


def restore(root: Path, saved: Path) -> None:
    """Put back what :func:`snapshot` saved: the next billing run bills the month afresh."""
    for path in _billed_state(root):
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        kept = saved / path.name
        if kept.is_dir():
            shutil.copytree(kept, path)
        elif kept.exists():
            shutil.copy2(kept, path)


def _stage_peak(rows: list[Row | None]) -> int | None:
    """The peak RSS of a job's stages (its wall row's), if measured."""
    wall = rows[-1]
    return None if wall is None or wall.memory is None else wall.memory.stage_peak


def rate_stage(result: RunResult) -> float:
    """The seconds of a billing run's rate stage (``RATE_STAGES``)."""
    return sum(result.seconds.get(stage, 0.0) for stage in RATE_STAGES)


def bare_baseline(
    files: list[str], rss: Rss, repeats: int = BASELINE_REPEATS
) -> tuple[Row, list[float]]:
    """The streaming scan + group_by, ``repeats`` times; its row carries the median time
    and the median CPU seconds."""
    gc.collect()
    rss.start()
    times, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        (
            pl.scan_parquet(files)
            .group_by("customer_id", "event_type")
            .agg(pl.len(), pl.col("gb").sum())
            .collect(engine="streaming")
        )
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    print(f"  bare runs: {', '.join(f'{t:.2f}' for t in times)} s", file=sys.stderr)
    row = Row(
        f"bare (median of {repeats})", statistics.median(times), rss.stop(), statistics.median(cpu)
    )
    return row, times


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
        f"jemalloc {os.environ.get('_RJEM_MALLOC_CONF', 'as Polars sets it')}",
    ]
    return "env: " + ", ".join(parts)


def _kib(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def print_table(title: str, rows: list[Row | None], events: int, bare: float) -> None:
    header = (
        f"{'stage':<26} {'seconds':>8} {'events/s':>12} {'x bare':>7} {'CPU s':>6} "
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
        cpu = "" if row.cpu is None else f"{row.cpu:.2f}"
        print(
            f"{row.stage:<26} {row.seconds:8.2f} {rate:>12} {row.seconds / bare:6.2f}x {cpu:>6} "
            f"{_kib(memory.start):>14} {_kib(memory.stage_peak):>15} "
            f"{_kib(memory.process_peak or None):>17}"
        )


ALL_MODELS_CATALOG = Path(__file__).resolve().parent / "all_models_catalog.yaml"
RATE_STAGES = ("aggregate", "rate")
"""The billing stages that make the issue's "rate stage": usage aggregation and pricing."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000, help="events to generate")
    parser.add_argument("--files", type=int, default=8, help="Parquet files to split them into")
    parser.add_argument(
        "--customers",
        type=int,
        default=100_000,
        help="customers, one subscription each (the bill stage: a month of 100k subscriptions)",
    )
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
    parser.add_argument(
        "--catalog",
        type=Path,
        default=ALL_MODELS_CATALOG,
        help="catalog for ingestion and billing (default: every aggregation and charge model "
        "active, benchmarks/all_models_catalog.yaml)",
    )
    parser.add_argument(
        "--no-bill",
        action="store_true",
        help="skip the billing run (it still holds a month in memory: issue #5/#6 work)",
    )
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


def _generate_month(args: argparse.Namespace, out: Path, period: str) -> GeneratedData:
    print(
        f"generating {args.events:,} events of {period} in {args.files} files ...", file=sys.stderr
    )
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        data, seconds, rss = pool.submit(
            _generate,
            out,
            args.events,
            args.customers,
            args.files,
            args.duplicates,
            args.malformed,
            period,
        ).result()
    parquet_bytes = sum(path.stat().st_size for path in data.event_files)
    print(
        f"{period}: {data.events:,} rows ({data.duplicates:,} duplicates, {data.malformed:,} "
        f"malformed), {data.customers:,} customers, {len(data.event_files)} files, "
        f"{parquet_bytes / 2**20:,.1f} MiB zstd Parquet; generated in {seconds:.2f} s "
        f"({data.events / seconds:,.0f} events/s, child peak RSS {rss:,} KiB)"
    )
    return data


WARM_UP_EVENTS = 20_000


def warm_up(workdir: Path, catalog: Path) -> float:
    """Ingest and bill a small month first, untimed; its seconds.

    Numba compiles a kernel the first time it meets it after a code change (then
    loads it from its cache): a one-off, which would otherwise land in whichever
    timed stage first calls the kernel.
    """
    started = time.perf_counter()
    out = workdir / "warm-up"
    generate(out, WARM_UP_EVENTS, customers=300, duplicate_share=0.02, malformed_share=0.005)
    store, db = out / "store", out / "warm-up.duckdb"
    run_ingest(IngestInputs([str(out / "events")], catalog, out / "customers.csv"), store, db)
    contracts = (out / "customers.csv", out / "subscriptions.csv")
    run_billing(RunInputs(PERIOD, catalog, *contracts, store), db)
    shutil.rmtree(out, ignore_errors=True)
    return time.perf_counter() - started


def _benchmark(args: argparse.Namespace, workdir: Path) -> int:
    print(_environment())
    print(f"workdir: {workdir}")
    _generate_month(args, workdir / "history", HISTORY_PERIOD)
    data = _generate_month(args, workdir / "current", PERIOD)
    files = [str(path) for path in data.event_files]
    current = workdir / "current"

    rss = Rss()
    catalog = args.catalog.resolve()
    print(f"catalog: {catalog}")
    print(
        f"warm-up: a month of {WARM_UP_EVENTS:,} events ingested and billed, untimed, "
        f"in {warm_up(workdir, catalog):.2f} s (Numba kernels compiled or loaded from cache)"
    )
    print("ingesting the previous month (the history) ...", file=sys.stderr)
    history = IngestInputs(
        [str(workdir / "history" / "events")], catalog, current / "customers.csv"
    )
    _, history_rows = ingest(history, workdir, rss)
    print("ingesting the month against that history ...", file=sys.stderr)
    inputs = IngestInputs(files, catalog, current / "customers.csv")
    ingested, ingest_rows = ingest(inputs, workdir, rss)
    billed, bill_rows = None, []
    if not args.no_bill:
        print("billing the month from the store ...", file=sys.stderr)
        billing = RunInputs(
            PERIOD,
            catalog,
            current / "customers.csv",
            current / "subscriptions.csv",
            workdir / "store",
        )
        before_billing = snapshot(workdir)
        billed, bill_rows = bill(billing, workdir, rss)
    print("bare baseline ...", file=sys.stderr)
    bare, bare_times = bare_baseline(files, rss)
    rate_runs: list[float] = []
    billing_peaks: list[int | None] = []
    if billed is not None:
        rate_runs, billing_peaks = [rate_stage(billed)], [_stage_peak(bill_rows)]
        for repeat in range(2, BILLING_REPEATS + 1):
            print(f"billing the month again ({repeat} of {BILLING_REPEATS}) ...", file=sys.stderr)
            restore(workdir, before_billing)
            again, again_rows = bill(billing, workdir, rss)
            assert again.counts == billed.counts, "a repeated billing run billed something else"
            rate_runs.append(rate_stage(again))
            billing_peaks.append(_stage_peak(again_rows))

    events = ingested.total("rows_read")
    print_table(
        f"ingest {PERIOD} into a store holding {HISTORY_PERIOD} "
        "(stage seconds from IngestResult.seconds; read/validate/write summed over chunks):",
        ingest_rows,
        events,
        bare.seconds,
    )
    if bill_rows:
        print_table(
            f"billing {PERIOD} from the store (events/s over the rows ingested):",
            bill_rows,
            events,
            bare.seconds,
        )
    if billed is not None:
        wall = bill_rows[-1]
        assert wall is not None
        peak = _stage_peak(bill_rows)
        print(
            f"\nbill stage: a month of {args.customers:,} subscriptions and {events:,} events "
            f"billed in {wall.seconds:.2f} s ({events / wall.seconds:,.0f} events/s), "
            f"{billed.counts['invoice_count']:,} invoices, "
            f"{billed.counts['rated_charge_count']:,} rated charges, peak RSS "
            + (f"{peak:,} KiB" if peak is not None else "not measured")
        )
        rating_cpu = sum(row.cpu or 0.0 for row in bill_rows if row and row.stage in RATE_STAGES)
        print_table(
            "the rate stage (aggregate + rate, every model active): the billing run above, "
            f"and the median of {len(rate_runs)} billing runs of the month:",
            [
                Row("rate stage, run above", rate_runs[0], cpu=rating_cpu),
                Row(f"rate stage (median of {len(rate_runs)})", statistics.median(rate_runs)),
            ],
            events,
            bare.seconds,
        )
    print_table(
        "bare baseline: scan_parquet + group_by(customer_id, event_type), streaming, same files:",
        [bare],
        events,
        bare.seconds,
    )
    history_wall = history_rows[-1]
    assert history_wall is not None
    print(f"history ingest ({HISTORY_PERIOD}, empty store): {history_wall.seconds:.2f} s")
    print(f"bare runs: {', '.join(f'{t:.2f} s' for t in bare_times)}")
    if rate_runs:
        print(f"rate stage runs: {', '.join(f'{t:.2f} s' for t in rate_runs)}")
        print(f"billing runs' peak RSS: {', '.join(_kib(peak) for peak in billing_peaks)} KiB")
    print("\nload avg at the end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    counts = {name: ingested.total(name) for name in COUNTS}
    print(f"ingest counts: {counts}, late {ingested.total('rows_late')}")
    if billed is not None:
        print(f"billing counts: {billed.counts}")
    if not rss.per_stage:
        print("note: /proc/self/clear_refs unavailable; stage peaks not measured")
    print(f"peak RSS of the process: {rss.process_peak:,} KiB ({rss.process_peak / 2**20:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

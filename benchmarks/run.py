"""Stage-by-stage benchmark of a billing run, as ratios to the bare Polars scan + group_by.

Generates synthetic data with ``jobs.generate.generate`` (in a child process, so
its memory does not count towards the billing run's peak RSS), then in this
one process:

1. runs ``jobs.billing.run_billing`` end to end on a fresh DuckDB file, taking
   each stage's seconds from the run's own timers and its peak RSS from the
   stage callback;
2. times the bare baseline, a streaming Polars scan + group_by of the same files
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
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import NamedTuple

import polars as pl

from jobs.billing import (
    STAGES,
    RunInputs,
    run_billing,
)
from jobs.generate import GeneratedData, generate

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
        memories.append(rss.stop())  # closes the previous window
        rss.start()

    gc.collect()
    rss.start()
    started = time.perf_counter()
    result = run_billing(inputs, db_path, on_stage=on_stage)
    wall = time.perf_counter() - started
    memories.append(rss.stop())
    assert not result.already_done, f"{db_path} is not fresh"
    rows = [
        Row(name, result.seconds[name], memory)
        for name, memory in zip(STAGES, memories[1:], strict=True)
    ]
    rows.append(Row("untimed (counts, run row)", wall - sum(result.seconds.values())))
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
        f"{'stage':<26} {'seconds':>8} {'events/s':>12} {'x bare':>7} "
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
            f"{row.stage:<26} {row.seconds:8.2f} {rate:>12} {row.seconds / bare:6.2f}x "
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
    print("run_billing end to end ...", file=sys.stderr)
    rows, total, counts = end_to_end(inputs, workdir / "run_billing.duckdb", rss)
    print("bare baseline ...", file=sys.stderr)
    bare, bare_times = bare_baseline(files, rss)

    events = counts["events_read"]
    print_table(
        "run_billing end to end (stage seconds from RunResult.seconds):",
        [*rows, None, total],
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
    print(f"events read: {events:,}; counts: {counts}")
    if not rss.per_stage:
        print("note: /proc/self/clear_refs unavailable; stage peaks not measured")
    print(f"peak RSS of the process: {rss.process_peak:,} KiB ({rss.process_peak / 2**20:.2f} GiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

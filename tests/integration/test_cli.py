"""The ``meter`` command as a user runs it: help texts and one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from jobs.cli import cli
from jobs.report import invoked_as

METER = str(Path(sys.executable).parent / "meter")
SUBCOMMANDS = tuple(sorted(cli.commands))
"""Every subcommand the ``meter`` group has, so a new one is checked without editing this."""

pytestmark = pytest.mark.integration


def meter(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METER, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
        env={"PATH": str(Path(sys.executable).parent), "COLUMNS": "200", "HOME": "/tmp"},
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_lists_every_subcommand():
    result = meter("--help")
    assert result.returncode == 0
    for name in SUBCOMMANDS:
        assert name in result.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_every_subcommand_explains_itself(name: str):
    result = meter(name, "--help")
    assert result.returncode == 0
    first = result.stdout.split("\n\n")[1].strip()
    assert len(first) > 20, result.stdout


@pytest.fixture
def inputs(tmp_path: Path, sample_dir: Path) -> Path:
    for name in ("catalog.yaml", "customers.csv", "subscriptions.csv"):
        shutil.copy(sample_dir / name, tmp_path / name)
    return tmp_path


def ingest(root: Path, *sources: str) -> subprocess.CompletedProcess[str]:
    return meter(
        "ingest",
        "--catalog",
        str(root / "catalog.yaml"),
        "--customers",
        str(root / "customers.csv"),
        "--store",
        str(root / "store"),
        "--db",
        str(root / "out.duckdb"),
        *sources,
    )


def bill(root: Path, period: str = "2026-10") -> subprocess.CompletedProcess[str]:
    return meter(
        "bill",
        "--period",
        period,
        "--catalog",
        str(root / "catalog.yaml"),
        "--customers",
        str(root / "customers.csv"),
        "--subscriptions",
        str(root / "subscriptions.csv"),
        "--store",
        str(root / "store"),
        "--db",
        str(root / "out.duckdb"),
    )


def test_wrong_events_path(inputs: Path):
    missing = str(inputs / "nope.parquet")
    assert_one_line_error(ingest(inputs, missing), missing, "no such file")


def test_malformed_catalog_lists_every_problem_with_its_path(inputs: Path, sample_dir: Path):
    (inputs / "catalog.yaml").write_text(
        "meters:\n"
        "  - {code: calls, event_type: call, aggregation: median}\n"
        "plans:\n"
        "  - code: p\n"
        "    currency: XXX\n"
        "    charges:\n"
        "      - {code: c, model: graduated, meter: calls, tiers: [{up_to: 5, unit_price: 1},"
        " {up_to: 3, unit_price: 1}]}\n"
    )
    result = ingest(inputs, str(sample_dir / "events"))
    assert_one_line_error(
        result,
        "catalog.yaml",
        "meters.calls.aggregation: unknown aggregation 'median'",
        "plans.p.currency: unknown currency 'XXX'",
        "plans.p.charges[0].tiers[1].up_to",
    )


def test_catalog_that_is_not_yaml(inputs: Path, sample_dir: Path):
    (inputs / "catalog.yaml").write_text("meters: [\n  - {code: x")
    assert_one_line_error(ingest(inputs, str(sample_dir / "events")), "not valid YAML")
    assert_one_line_error(bill(inputs), "not valid YAML")


def test_parquet_without_event_id_is_rejected_whole(inputs: Path):
    path = inputs / "events.parquet"
    pl.DataFrame({"customer_id": ["c"], "event_type": ["api_call"]}).write_parquet(path)
    assert_one_line_error(
        ingest(inputs, str(path)), str(path), "missing required column 'event_id'"
    )
    with duckdb.connect(str(inputs / "out.duckdb"), read_only=True) as con:
        assert con.execute(
            "SELECT status, rows_read FROM ingest_files WHERE source_file = ?", [str(path)]
        ).fetchall() == [("rejected", 0)]
    assert not list((inputs / "store" / "events").glob("*/*.parquet"))


def test_file_that_is_not_parquet(inputs: Path):
    path = inputs / "events.parquet"
    path.write_text("event_id,customer_id\n1,2\n")
    assert_one_line_error(ingest(inputs, str(path)), str(path), "not a readable Parquet file")


def test_naive_timestamps_are_rejected(inputs: Path):
    path = inputs / "events.parquet"
    pl.DataFrame(
        {
            "event_id": ["e"],
            "customer_id": ["c"],
            "event_type": ["api_call"],
            "timestamp": [datetime(2026, 10, 1)],
        }
    ).write_parquet(path)
    assert_one_line_error(ingest(inputs, str(path)), str(path), "no time zone")


def test_mistyped_required_column(inputs: Path):
    path = inputs / "events.parquet"
    pl.DataFrame(
        {
            "event_id": ["e"],
            "customer_id": ["c"],
            "event_type": [1.5],
            "timestamp": ["2026-10-01T00:00:00Z"],
        }
    ).write_parquet(path)
    assert_one_line_error(ingest(inputs, str(path)), str(path), "'event_type'")


def test_subscription_for_unknown_plan_names_the_line(inputs: Path, sample_dir: Path):
    with (inputs / "subscriptions.csv").open("a") as handle:
        handle.write("sub_x,cust_00001,platinum,2026-01-01,,1\n")
    lines = (inputs / "subscriptions.csv").read_text().count("\n")
    assert_one_line_error(
        bill(inputs),
        "subscriptions.csv",
        f"line {lines}: unknown plan platinum",
    )


def test_bad_period(inputs: Path):
    assert_one_line_error(bill(inputs, "October"), "expected YYYY-MM")


def test_several_rejected_files_are_one_line_and_the_good_file_lands(
    inputs: Path, sample_dir: Path
):
    bad = [inputs / "a.parquet", inputs / "b.parquet"]
    for path in bad:
        path.write_text(f"{path.name} is not parquet")
    good = sorted((sample_dir / "events").glob("*.parquet"))[0]
    result = ingest(inputs, str(bad[0]), str(bad[1]), str(good))
    assert_one_line_error(result, str(bad[0]), "and 1 more rejected file")
    assert "accepted" in result.stdout
    with duckdb.connect(str(inputs / "out.duckdb"), read_only=True) as con:
        statuses = dict(con.execute("SELECT source_file, status FROM ingest_files").fetchall())
    expected = {str(bad[0]): "rejected", str(bad[1]): "rejected", str(good): "ingested"}
    assert {Path(k).name: v for k, v in statuses.items()} == {
        Path(k).name: v for k, v in expected.items()
    }


def test_demo_prints_summary_and_query_reads_it(tmp_path: Path):
    db = tmp_path / "demo.duckdb"
    # The demo's event store lands in the working directory: a fresh one, not the checkout.
    result = meter("demo", "--db", str(db), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for text in (
        "accepted",
        "quarantined",
        "duplicate",
        "conflict",
        "no active subscription",
        "Invoices per currency",
        "Top 5 invoices",
        "EUR",
        "JPY",
        "USD",
        str(db),
    ):
        assert text in result.stdout
    again = meter("demo", "--db", str(db), cwd=tmp_path)
    assert again.returncode == 0 and "already ingested" in again.stdout
    assert "Nothing to do" in again.stdout
    query = meter("query", "--db", str(db), "SELECT count(*) AS n FROM billing_runs")
    assert query.returncode == 0 and "1" in query.stdout


def test_query_on_missing_database(tmp_path: Path):
    assert_one_line_error(
        meter("query", "--db", str(tmp_path / "x.duckdb"), "SELECT 1"), "no such database"
    )


def test_the_suggested_query_runs_meter_as_it_was_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # `make demo` runs .venv/bin/meter, which a shell does not find by name: the hint says
    # .venv/bin/meter; where `meter` is on PATH (an activated venv) it says meter.
    program = tmp_path / ".venv" / "bin" / "meter"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PATH", "/nonexistent")
    assert invoked_as(".venv/bin/meter") == ".venv/bin/meter"
    monkeypatch.setenv("PATH", str(program.parent))
    assert invoked_as(".venv/bin/meter") == "meter"
    assert invoked_as("/usr/bin/python3") == "meter"

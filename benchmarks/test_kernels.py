"""Micro-benchmarks of the billing kernels on ~1M in-memory rows.

Run with benchmarks enabled (pyproject's addopts disable them)::

    .venv/bin/python -m pytest benchmarks -q --benchmark-enable --benchmark-only

Without ``--benchmark-enable`` every case runs its kernel once, as a smoke test.
The inputs come from the project's own generator and reader (one Parquet file
in a session temp dir), ingested into an event store where a kernel needs stored
events, so their shapes and types are the real ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from aggregation.assignment import BILLING_STATUS, BillingStatus, assign_subscriptions
from aggregation.periods import billable_subscriptions, customer_periods, parse_billing_period
from aggregation.usage import aggregate_usage
from jobs.catalog import load_catalog
from jobs.contracts import load_contracts
from jobs.generate import generate
from jobs.ingest import IngestInputs, run_ingest
from meter.dedup import find_candidates
from meter.event_store import INDEX_RECORD, EventStore
from meter.idhash import hash_strings, repeated
from meter.sources import read_events
from meter.validate import REASON, classify
from rating.models.graduated import GraduatedSpec, Tier
from rating.models.graduated import price as graduated_price
from rating.models.per_unit import PerUnitSpec
from rating.models.per_unit import price as per_unit_price
from rating.running import EVENT_AMOUNT, running_graduated
from schemas.catalog import Aggregation, Meter
from schemas.types import QUANTITY

ROWS = 1_000_000
PERIOD = "2026-10"
TIERS = GraduatedSpec(
    (
        Tier(Decimal(100), Decimal("0.10")),
        Tier(Decimal(1000), Decimal("0.08")),
        Tier(None, Decimal("0.05")),
    )
)


LATEST = datetime(2026, 11, 2, tzinfo=UTC)


@pytest.fixture(scope="session")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernels")
    data = generate(
        out,
        ROWS,
        files=1,
        billing_period=PERIOD,
        duplicate_share=0.02,
        malformed_share=0.005,
    )
    catalog = load_catalog(out / "catalog.yaml")
    contracts = load_contracts(out / "customers.csv", out / "subscriptions.csv", catalog.plans)
    events = read_events([str(path) for path in data.event_files]).collect()
    return out, catalog, contracts, events


@pytest.fixture(scope="session")
def rated_events(generated):
    """Ingested events assigned to subscriptions, as ``run_billing`` has them."""
    out, _, contracts, _ = generated
    inputs = IngestInputs([str(out / "events")], out / "catalog.yaml", out / "customers.csv")
    batch = run_ingest(inputs, out / "store", out / "db.duckdb").batch_id
    stored = EventStore(out / "store").scan([batch]).collect()
    period = parse_billing_period(PERIOD)
    periods = customer_periods(contracts.customers, period)
    billable = billable_subscriptions(contracts.subscriptions, contracts.customers, period)
    assigned = assign_subscriptions(stored, periods, billable)
    return assigned.filter(pl.col(BILLING_STATUS) == BillingStatus.RATED.value)


@pytest.fixture(scope="session")
def id_hashes(generated):
    return hash_strings(generated[3]["event_id"].drop_nulls())


@pytest.fixture(scope="session")
def quantities():
    """~1M Decimal(38, 6) quantities spread over all three tiers of ``TIERS``."""
    rng = np.random.default_rng(11)
    values = np.round(rng.lognormal(mean=5.5, sigma=1.5, size=ROWS), 3)
    return pl.DataFrame({"quantity": values}).select(pl.col("quantity").cast(QUANTITY))


@pytest.mark.benchmark(group="rating")
def test_graduated_price(benchmark, quantities):
    expr = graduated_price(pl.col("quantity"), TIERS).alias("amount")
    result = benchmark(quantities.select, expr)
    assert result.height == quantities.height
    assert result["amount"].null_count() == 0
    # Worked example of rating.models.graduated: 1,250 units cost 94.50.
    check = pl.DataFrame({"quantity": [Decimal(1250)]}, schema={"quantity": QUANTITY})
    assert check.select(expr).item() == Decimal("94.5")


@pytest.mark.benchmark(group="rating")
def test_per_unit_price(benchmark, quantities):
    expr = per_unit_price(pl.col("quantity"), PerUnitSpec(Decimal("0.002"))).alias("amount")
    result = benchmark(quantities.select, expr)
    assert result.height == quantities.height


@pytest.mark.benchmark(group="aggregate")
def test_aggregate_usage(benchmark, generated, rated_events):
    _, catalog, contracts, _ = generated
    meters = list(catalog.meters.values())
    period = parse_billing_period(PERIOD)
    windows = billable_subscriptions(contracts.subscriptions, contracts.customers, period)
    usage = benchmark(lambda: aggregate_usage(rated_events.lazy(), meters, windows).collect())
    assert int(usage["event_count"].sum()) == rated_events.height


@pytest.mark.benchmark(group="aggregate")
@pytest.mark.parametrize("aggregation", [Aggregation.GAUGE, Aggregation.LATEST])
@pytest.mark.parametrize("keyed_by", ["code", "text"])
def test_time_based_meter(benchmark, generated, rated_events, aggregation, keyed_by):
    """A ``gauge`` or ``latest`` meter over the storage events: keyed by the run's Enum of
    subscriptions (kernels over codes, no sort) or by text (sorted and grouped)."""
    _, _, contracts, _ = generated
    windows = billable_subscriptions(
        contracts.subscriptions, contracts.customers, parse_billing_period(PERIOD)
    )
    events = rated_events.filter(pl.col("event_type") == "storage")
    if keyed_by == "text":
        events = events.with_columns(pl.col("subscription_id").cast(pl.String))
    meter = Meter("storage_meter", "storage", aggregation, "gb")
    usage = benchmark(lambda: aggregate_usage(events.lazy(), [meter], windows).collect())
    assert int(usage["event_count"].sum()) == events.height


@pytest.mark.benchmark(group="ingest")
def test_hash_event_ids(benchmark, generated):
    ids = generated[3]["event_id"]
    hashes = benchmark(hash_strings, ids)
    assert len(hashes) == ids.len()


@pytest.mark.benchmark(group="ingest")
def test_repeated_against_history(benchmark, id_hashes):
    history, batch = id_hashes[: len(id_hashes) // 2], id_hashes
    in_batch, in_history = benchmark(repeated, history, batch)
    assert in_batch.sum() >= len(history) and in_history.all()


@pytest.mark.benchmark(group="ingest")
def test_find_candidates_in_16_buckets(benchmark, id_hashes):
    history = np.empty(len(id_hashes) // 2, dtype=INDEX_RECORD)
    history["id_hash"] = id_hashes[: len(history)]
    history["day"] = 20_000
    buckets = {b: history[(history["id_hash"] >> np.uint64(60)) == b] for b in range(16)}
    found = benchmark(find_candidates, id_hashes, buckets.__getitem__, 4)
    assert found.mask.sum() >= len(history)


@pytest.mark.benchmark(group="ingest")
def test_classify(benchmark, generated):
    _, catalog, contracts, events = generated
    customers = contracts.customers["customer_id"].to_list()
    meters = list(catalog.meters.values())
    classified = benchmark(
        lambda: classify(
            events.lazy(), customers, meters, catalog.event_types, latest_allowed=LATEST
        ).collect()
    )
    quarantined = classified[REASON].is_not_null().sum()
    assert 0 < quarantined < events.height * 0.05


RUNNING_EVENTS = 4_000_000


@pytest.mark.benchmark(group="rating")
def test_running_graduated(benchmark):
    """Per-event running rating of 4M events of 20,000 subscriptions, in billing order.

    ns/event is in ``extra_info`` (PERFORMANCE.md: ~10 ns/event for the bare kernel).
    """
    rng = np.random.default_rng(5)
    events = (
        pl.DataFrame(
            {
                "subscription_id": np.sort(rng.integers(0, 20_000, RUNNING_EVENTS)),
                "quantity": np.round(rng.lognormal(mean=1.0, sigma=1.5, size=RUNNING_EVENTS), 3),
            }
        )
        .with_columns(
            pl.format("sub-{}", pl.col("subscription_id").cast(pl.String).str.zfill(6)),
            pl.col("quantity").cast(QUANTITY),
        )
        .sort("subscription_id", maintain_order=True)
    )
    running_graduated(events.head(1000), TIERS)  # JIT (or its cache) loads outside the timing
    rated = benchmark(running_graduated, events, TIERS)
    if benchmark.stats is not None:
        mean_ns = benchmark.stats.stats.mean * 1e9
        benchmark.extra_info["ns_per_event"] = round(mean_ns / RUNNING_EVENTS, 1)
    # The event amounts add up exactly to each subscription's period price.
    period = rated.group_by("subscription_id").agg(pl.col("quantity", EVENT_AMOUNT).sum())
    period_price = graduated_price(pl.col("quantity"), TIERS)
    assert period.filter(pl.col(EVENT_AMOUNT) != period_price).height == 0

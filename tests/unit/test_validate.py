"""Row-level validation: each bad-input class is quarantined with its reason, field and detail.

Every case mixes good rows of each event type with the bad row, so a check
that fires too widely shows up as a good row with a reason. The property test
compares ``classify`` with a plain-Python statement of the rule order.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobs.catalog import Catalog, load_catalog, parse_catalog
from jobs.generate import MALFORMED_KINDS, generate
from meter.sources import TIMESTAMP_UNPARSED, read_events
from meter.validate import (
    DETAIL,
    FIELD,
    REASON,
    classify,
    measured_as_quantities,
    quarantine_rows,
)
from schemas.events import QUARANTINE_SCHEMA, QuarantineReason

FEE = {"code": "fee", "model": "flat_fee", "amount": Decimal(1)}
CATALOG = parse_catalog(
    {
        "event_types": {
            "call": {
                "properties": {
                    "region": {"type": "string", "max_length": 8},
                    "premium": {"type": "boolean"},
                }
            },
            "store": {"properties": {"gb": {"type": "number", "required": True}}},
            "pay": {
                "properties": {
                    "amount": {"type": "number", "required": True},
                    "currency": {"type": "string", "max_length": 3, "required": True},
                }
            },
            "run": {"properties": {"seconds": {"type": "integer"}}},
            "ping": None,
        },
        "meters": [
            {"code": "calls", "event_type": "call", "aggregation": "count"},
            {"code": "storage", "event_type": "store", "aggregation": "sum", "property": "gb"},
            {"code": "volume", "event_type": "pay", "aggregation": "sum", "property": "amount"},
            {
                "code": "runtime",
                "event_type": "run",
                "aggregation": "sum",
                "property": "seconds",
                "allow_negative": True,
            },
        ],
        "plans": [{"code": "p", "currency": "EUR", "charges": [FEE]}],
    },
    "test catalog",
)
CUSTOMERS = ["c1", "c2"]
NOW = datetime(2026, 11, 2, 12, tzinfo=UTC)
LATEST = NOW + timedelta(days=1)
WHEN = datetime(2026, 10, 5, 8, 30, tzinfo=UTC)

# Property columns and their dtypes: text where a test needs text that is not a number.
PROPERTIES: dict[str, pl.DataType] = {
    "region": pl.String(),
    "premium": pl.String(),
    "gb": pl.Float64(),
    "amount": pl.String(),
    "currency": pl.String(),
    "seconds": pl.Float64(),
}
GOOD_ROWS: list[dict[str, Any]] = [
    {"event_type": "call", "region": "eu", "premium": "TRUE"},
    {"event_type": "call"},
    {"event_type": "store", "gb": 1.5},
    {"event_type": "pay", "amount": "12.25", "currency": "EUR"},
    {"event_type": "run", "seconds": 30.0},
    {"event_type": "run", "seconds": -4.0},  # runtime allows negative values
    {"event_type": "ping", "gb": float("nan"), "amount": "abc"},  # ping declares neither
]


def row(number: int, **values: Any) -> dict[str, Any]:
    base = {
        "event_id": f"e{number}",
        "customer_id": "c1",
        "event_type": "call",
        "timestamp": WHEN,
        TIMESTAMP_UNPARSED: False,
    }
    return base | values


def frame(rows: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> pl.DataFrame:
    schema = {
        "event_id": pl.String(),
        "customer_id": pl.String(),
        "event_type": pl.String(),
        "timestamp": pl.Datetime("us", "UTC"),
        TIMESTAMP_UNPARSED: pl.Boolean(),
        **PROPERTIES,
    }
    full = [{name: r.get(name) for name in schema} for r in rows]
    return (
        pl.DataFrame(full, schema=schema, orient="row")
        .drop(drop)
        .with_columns(
            pl.lit("f.parquet").alias("source_file"),
            pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row_number"),
        )
    )


def run(events: pl.DataFrame, catalog: Catalog = CATALOG) -> pl.DataFrame:
    return classify(
        events.lazy(),
        CUSTOMERS,
        catalog.meters.values(),
        catalog.event_types,
        latest_allowed=LATEST,
    ).collect()


def check_one_bad_row(bad: dict[str, Any], drop: tuple[str, ...] = ()) -> tuple[str, str, str]:
    """Classify the good rows with ``bad`` in the middle; return the bad row's verdict."""
    rows = [row(i, **r) for i, r in enumerate(GOOD_ROWS)]
    middle = len(rows) // 2
    rows.insert(middle, row(99) | bad)
    classified = run(frame(rows, drop))
    verdicts = classified.select(REASON, FIELD, DETAIL).rows()
    good = verdicts[:middle] + verdicts[middle + 1 :]
    assert good == [(None, None, None)] * len(GOOD_ROWS)
    return verdicts[middle]


LONG_ID = "x" * 300


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"event_id": None}, ("missing_field", "event_id", "event_id is null")),
        ({"customer_id": None}, ("missing_field", "customer_id", "customer_id is null")),
        ({"event_type": None}, ("missing_field", "event_type", "event_type is null")),
        ({"timestamp": None}, ("missing_field", "timestamp", "timestamp is null")),
        (
            {"event_type": "store", "gb": None},
            ("missing_field", "gb", "gb is null; event type store requires it"),
        ),
        (
            {"event_type": "pay", "amount": "1", "currency": None},
            ("missing_field", "currency", "currency is null; event type pay requires it"),
        ),
    ],
)
def test_missing_field(bad: dict[str, Any], expected: tuple[str, str, str]):
    assert check_one_bad_row(bad) == expected


def test_required_property_absent_from_the_file():
    # The file has no currency column: every pay row misses it, other types are fine.
    rows = [row(i, **r) for i, r in enumerate(GOOD_ROWS)]
    classified = run(frame(rows, drop=("currency",)))
    verdicts = dict(zip(classified["event_type"], classified[REASON], strict=True))
    assert verdicts == {
        "call": None,
        "store": None,
        "pay": "missing_field",
        "run": None,
        "ping": None,
    }
    pay = classified.filter(pl.col("event_type") == "pay")
    assert pay.select(FIELD, DETAIL).row(0) == (
        "currency",
        "currency is missing from the file; event type pay requires it",
    )


def test_invalid_timestamp(tmp_path: Path):
    # Only a text timestamp can be unparseable: written as text, read by the real reader.
    texts = ["2026-10-05T08:30:00+02:00", "next tuesday", None, "2026-10-06T00:00:00Z"]
    pl.DataFrame(
        {
            "event_id": ["a", "b", "c", "d"],
            "customer_id": ["c1"] * 4,
            "event_type": ["call"] * 4,
            "timestamp": texts,
        }
    ).write_parquet(tmp_path / "events.parquet")
    events = read_events([str(tmp_path / "events.parquet")]).collect()
    verdicts = run(events).select(REASON, FIELD, DETAIL).rows()
    assert verdicts == [
        (None, None, None),
        (
            "invalid_timestamp",
            "timestamp",
            "timestamp is not an ISO 8601 instant with an offset",
        ),
        ("missing_field", "timestamp", "timestamp is null"),
        (None, None, None),
    ]


def test_future_timestamp():
    assert check_one_bad_row({"timestamp": datetime(2026, 11, 4, tzinfo=UTC)}) == (
        "future_timestamp",
        "timestamp",
        "timestamp 2026-11-04T00:00:00Z is in the future (later than ingestion time plus "
        "clock skew)",
    )
    # The bound itself is accepted.
    assert run(frame([row(1, timestamp=LATEST)]))[REASON].to_list() == [None]


@pytest.mark.parametrize("name", ["event_id", "customer_id", "event_type"])
def test_id_too_long(name: str):
    assert check_one_bad_row({name: LONG_ID}) == (
        "id_too_long",
        name,
        f'{name} "{"x" * 40}…" is 300 characters long; at most 256 are allowed',
    )


def test_value_too_long():
    # region has max_length 8; currency 3.
    assert check_one_bad_row({"region": "eu-west-1"}) == (
        "value_too_long",
        "region",
        'region "eu-west-1" is 9 characters long; at most 8 are allowed',
    )
    assert check_one_bad_row({"event_type": "pay", "amount": "5", "currency": "EURO"}) == (
        "value_too_long",
        "currency",
        'currency "EURO" is 4 characters long; at most 3 are allowed',
    )


def test_unknown_customer():
    assert check_one_bad_row({"customer_id": "cust_9"}) == (
        "unknown_customer",
        "customer_id",
        "customer cust_9 is not in the customer list",
    )


def test_unknown_event_type_is_decided_by_event_types_not_meters():
    # "ping" has no meter but is declared: accepted (a good row). "teleport" is not declared.
    assert check_one_bad_row({"event_type": "teleport"}) == (
        "unknown_event_type",
        "event_type",
        "event type teleport is not declared in the catalog's event_types "
        "(call, store, pay, run, ping)",
    )


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"event_type": "pay", "amount": "abc", "currency": "EUR"},
            ("wrong_type", "amount", 'amount "abc" is not a number'),
        ),
        (
            {"event_type": "run", "seconds": 1.5},
            ("wrong_type", "seconds", "seconds 1.5 is not an integer"),
        ),
        ({"premium": "yes"}, ("wrong_type", "premium", 'premium "yes" is not true or false')),
    ],
)
def test_wrong_type(bad: dict[str, Any], expected: tuple[str, str, str]):
    assert check_one_bad_row(bad) == expected


def test_wrong_type_for_a_whole_column_of_another_type():
    # A boolean column cannot hold gb (a number): every store row with a value is wrong.
    events = frame([row(1, event_type="store", gb=1.0), row(2, event_type="call")])
    events = events.with_columns(pl.Series("gb", [True, None]))
    assert run(events).select(REASON, FIELD, DETAIL).rows() == [
        ("wrong_type", "gb", "gb is a Boolean column in this file; it must hold a number"),
        (None, None, None),
    ]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"event_type": "store", "gb": float("nan")}, ("non_finite", "gb", "gb is NaN")),
        ({"event_type": "store", "gb": float("inf")}, ("non_finite", "gb", "gb is inf")),
        ({"event_type": "store", "gb": float("-inf")}, ("non_finite", "gb", "gb is -inf")),
        (
            {"event_type": "pay", "amount": "NaN", "currency": "EUR"},
            ("non_finite", "amount", "amount is NaN"),
        ),
        (
            {"event_type": "run", "seconds": float("nan")},
            ("non_finite", "seconds", "seconds is NaN"),
        ),
    ],
)
def test_non_finite(bad: dict[str, Any], expected: tuple[str, str, str]):
    assert check_one_bad_row(bad) == expected


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (
            {"event_type": "store", "gb": 1e40},
            ("out_of_range", "gb", "gb 1e+40 is too large: a quantity is below 1E+32"),
        ),
        (
            {"event_type": "pay", "amount": "1e35", "currency": "EUR"},
            ("out_of_range", "amount", "amount 1e35 is too large: a quantity is below 1E+32"),
        ),
        (
            {"event_type": "run", "seconds": 1e20},
            (
                "out_of_range",
                "seconds",
                "seconds 1e+20 is out of range: an integer is 64-bit (-2^63 to 2^63-1)",
            ),
        ),
    ],
)
def test_out_of_range(bad: dict[str, Any], expected: tuple[str, str, str]):
    assert check_one_bad_row(bad) == expected


def test_negative_value():
    assert check_one_bad_row({"event_type": "pay", "amount": "-3.5", "currency": "EUR"}) == (
        "negative_value",
        "amount",
        "amount -3.5 is negative; meter volume does not allow negative values",
    )
    assert check_one_bad_row({"event_type": "store", "gb": -0.25}) == (
        "negative_value",
        "gb",
        "gb -0.25 is negative; meter storage does not allow negative values",
    )


def test_negative_value_outside_a_meters_filter_is_accepted():
    catalog = parse_catalog(
        {
            "event_types": {
                "pay": {"properties": {"amount": {"type": "number"}, "kind": {"type": "string"}}}
            },
            "meters": [
                {
                    "code": "sales",
                    "event_type": "pay",
                    "aggregation": "sum",
                    "property": "amount",
                    "filters": {"kind": ["sale"]},
                },
            ],
            "plans": [{"code": "p", "currency": "EUR", "charges": [FEE]}],
        },
        "filtered",
    )
    events = pl.DataFrame(
        {
            "event_id": ["a", "b"],
            "customer_id": ["c1", "c1"],
            "event_type": ["pay", "pay"],
            "timestamp": [WHEN, WHEN],
            TIMESTAMP_UNPARSED: [False, False],
            "amount": [-5.0, -5.0],
            "kind": ["refund", "sale"],
        }
    )
    classified = run(events, catalog)
    assert classified[REASON].to_list() == [None, "negative_value"]


def test_first_rule_wins():
    # An unknown customer and a NaN gb: the customer is checked first.
    bad = {"customer_id": "nobody", "event_type": "store", "gb": float("nan")}
    assert check_one_bad_row(bad)[0] == "unknown_customer"
    # Among properties, rules go one at a time over every property: currency
    # missing (a missing_field) beats the wrong type of amount, declared before it.
    bad = {"event_type": "pay", "amount": "abc", "currency": None}
    assert check_one_bad_row(bad)[:2] == ("missing_field", "currency")


def test_no_rows_and_no_bad_rows():
    assert run(frame([])).height == 0
    assert run(frame([row(1)]))[REASON].to_list() == [None]


def test_naive_latest_allowed_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        classify(
            frame([row(1)]).lazy(),
            CUSTOMERS,
            CATALOG.meters.values(),
            CATALOG.event_types,
            latest_allowed=datetime(2026, 11, 3),
        )


def test_quarantine_rows_and_measured_quantities():
    events = frame(
        [row(1, event_type="pay", amount="1.25", currency="EUR"), row(2, customer_id="x")]
    )
    classified = run(events)
    quarantined = quarantine_rows(classified).collect()
    assert quarantined.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert quarantined.rows() == [
        (
            "f.parquet",
            2,
            "e2",
            "customer_id",
            "unknown_customer",
            "customer x is not in the customer list",
        )
    ]
    accepted = classified.filter(pl.col(REASON).is_null())
    quantities = measured_as_quantities(accepted.lazy(), CATALOG.meters.values()).collect()
    assert quantities["amount"].to_list() == [Decimal("1.25")]


# --------------------------------------------------------------------------- property test

# Each column draws from a few values, good and bad; the reference says which is which.
CHOICES: dict[str, list[Any]] = {
    "event_id": ["e", None, LONG_ID],
    "customer_id": ["c1", "c2", "zz", None, LONG_ID],
    "event_type": ["call", "store", "pay", "run", "ping", "teleport", None, LONG_ID],
    "timestamp": ["ok", "future", "null", "unparsed"],
    "region": ["eu", "eu-west-1", None],
    "premium": ["true", "False", "yes", None],
    "gb": [1.5, 0.0, -2.0, float("nan"), float("inf"), 1e40, None],
    "amount": ["3.25", "-3.5", "abc", "NaN", "1e35", None],
    "currency": ["EUR", "EURO", None],
    "seconds": [3.0, -5.0, 1.5, float("nan"), 1e20, None],
}
DECLARED = {
    "call": [("region", "string", 8, False), ("premium", "boolean", None, False)],
    "store": [("gb", "number", None, True)],
    "pay": [("amount", "number", None, True), ("currency", "string", 3, True)],
    "run": [("seconds", "integer", None, False)],
    "ping": [],
}
NO_NEGATIVE = {"store": "gb", "pay": "amount"}  # storage and volume; runtime allows them


def value_problem(kind: str, max_length: int | None, value: Any) -> str | None:
    """Plain Python: what is wrong with a non-null value of a declared type."""
    if kind == "string":
        return "value_too_long" if len(value) > max_length else None
    if kind == "boolean":
        return None if value.lower() in ("true", "false") else "wrong_type"
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return "wrong_type"
    if math.isnan(value) or math.isinf(value):
        return "non_finite"
    if kind == "integer" and value != int(value):
        return "wrong_type"
    limit = 2.0**63 if kind == "integer" else 1e32
    return "out_of_range" if abs(value) >= limit else None


def expected_reason(r: dict[str, Any]) -> tuple[str, str] | None:
    """The rule order of docs/data-contract.md, one ``if`` at a time."""
    for name in ("event_id", "customer_id", "event_type"):
        if r[name] is None:
            return ("missing_field", name)
    if r["timestamp"] == "null":
        return ("missing_field", "timestamp")
    if r["timestamp"] == "unparsed":
        return ("invalid_timestamp", "timestamp")
    if r["timestamp"] == "future":
        return ("future_timestamp", "timestamp")
    for name in ("event_id", "customer_id", "event_type"):
        if len(r[name]) > 256:
            return ("id_too_long", name)
    if r["customer_id"] not in CUSTOMERS:
        return ("unknown_customer", "customer_id")
    if r["event_type"] not in DECLARED:
        return ("unknown_event_type", "event_type")
    declared = DECLARED[r["event_type"]]
    for name, _, _, required in declared:
        if required and r[name] is None:
            return ("missing_field", name)
    for reason in ("wrong_type", "value_too_long", "non_finite", "out_of_range"):
        for name, kind, max_length, _ in declared:
            if r[name] is not None and value_problem(kind, max_length, r[name]) == reason:
                return (reason, name)
    name = NO_NEGATIVE.get(r["event_type"])
    if name is not None and float(r[name]) < 0:
        return ("negative_value", name)
    return None


def as_event(number: int, r: dict[str, Any]) -> dict[str, Any]:
    stamp = {
        "ok": (WHEN, False),
        "future": (LATEST + timedelta(seconds=1), False),
        "null": (None, False),
        "unparsed": (None, True),
    }[r["timestamp"]]
    event_id = f"e{number}" if r["event_id"] == "e" else r["event_id"]
    return r | {"event_id": event_id, "timestamp": stamp[0], TIMESTAMP_UNPARSED: stamp[1]}


rows_strategy = st.lists(
    st.fixed_dictionaries({name: st.sampled_from(values) for name, values in CHOICES.items()}),
    max_size=40,
)


@pytest.mark.hypothesis
@settings(deadline=None)
@given(rows=rows_strategy)
def test_classify_matches_the_rule_order(rows: list[dict[str, Any]]):
    events = frame([as_event(number, r) for number, r in enumerate(rows)])
    classified = run(events)
    verdicts = classified.select(REASON, FIELD).rows()
    expected = [expected_reason(r) or (None, None) for r in rows]
    assert verdicts == expected
    accepted = classified.filter(pl.col(REASON).is_null()).height
    quarantined = quarantine_rows(classified).collect().height
    assert accepted + quarantined == len(rows)
    # Every quarantined row says what is wrong.
    assert classified.filter(pl.col(REASON).is_not_null())[DETAIL].null_count() == 0
    assert {reason for reason, _ in verdicts if reason} <= {r.value for r in QuarantineReason}


def test_generated_malformed_rows_are_quarantined_with_every_promised_reason(tmp_path: Path):
    data = generate(tmp_path, 20_000, files=2, malformed_share=0.05, seed=5)
    catalog = load_catalog(tmp_path / "catalog.yaml")
    customers = pl.read_csv(tmp_path / "customers.csv")["customer_id"].to_list()
    events = read_events([str(path) for path in data.event_files])
    classified = classify(
        events,
        customers,
        catalog.meters.values(),
        catalog.event_types,
        latest_allowed=datetime.now(UTC) + timedelta(days=1),
    ).collect()
    reasons = classified[REASON].drop_nulls()
    # 5 % of 20,000 rows are broken, each quarantined; every other row is accepted.
    assert reasons.len() == data.malformed == 1_000
    assert set(reasons) == {reason for _, reason in MALFORMED_KINDS}


@pytest.mark.parametrize("engine", ["streaming", "in-memory"])
def test_rows_read_from_several_files(tmp_path: Path, engine: str):
    # Frames read from several files have columns chunked differently; Polars'
    # streaming engine once panicked building details there (see _format).
    rows = [as_event(n, r) for n, r in enumerate(SEVERAL_FILES_ROWS)]
    events = frame(rows).drop(TIMESTAMP_UNPARSED, "source_file", "row_number")
    for part in range(3):  # 5, 5 and 3 rows
        events.slice(part * 5, 5).write_parquet(tmp_path / f"part-{part}.parquet")
    read = read_events([str(tmp_path / f"part-{part}.parquet") for part in range(3)]).collect()
    classified = classify(
        read.lazy(),
        CUSTOMERS,
        CATALOG.meters.values(),
        CATALOG.event_types,
        latest_allowed=LATEST,
    ).collect(engine=engine)
    expected = [expected_reason(r) or (None, None) for r in SEVERAL_FILES_ROWS]
    assert classified.select(REASON, FIELD).rows() == expected
    assert classified.filter(pl.col(REASON).is_not_null())[DETAIL].null_count() == 0


GOOD = {name: values[0] for name, values in CHOICES.items()}
SEVERAL_FILES_ROWS = [
    GOOD,
    GOOD | {"customer_id": "zz"},
    GOOD | {"event_type": "store", "gb": float("nan")},
    GOOD | {"event_id": None},
    GOOD | {"event_type": "pay", "amount": "-3.5"},
    GOOD | {"region": "eu-west-1"},
    GOOD | {"event_type": "teleport"},
    GOOD | {"event_type": "store", "gb": 2.5},
    GOOD | {"timestamp": "future"},
    GOOD | {"event_type": "run", "seconds": 1.5},
    GOOD | {"customer_id": LONG_ID},
    GOOD | {"event_type": "pay", "currency": None},
    GOOD | {"event_type": "call", "premium": "yes"},
]


def classify_column(values: list, dtype: pl.DataType, kind: str, **spec: Any) -> list:
    """Reasons for one property column ``v`` of ``dtype``, declared ``kind`` and measured."""
    numeric = kind in ("number", "integer")
    catalog = parse_catalog(
        {
            "event_types": {"t": {"properties": {"v": {"type": kind, **spec}}}},
            "meters": [
                {"code": "m", "event_type": "t", "aggregation": "sum", "property": "v"}
                if numeric
                else {"code": "m", "event_type": "t", "aggregation": "count"}
            ],
            "plans": [{"code": "p", "currency": "EUR", "charges": [FEE]}],
        },
        "one column",
    )
    events = frame([row(i, event_type="t") for i in range(len(values))]).with_columns(
        pl.Series("v", values, dtype=dtype)
    )
    classified = run(events, catalog)
    return classified[REASON].to_list()


@pytest.mark.parametrize(
    ("values", "dtype", "kind", "spec", "expected"),
    [
        # Decimals: exact; a fraction is no integer; 35 digits do not fit a quantity.
        (
            [Decimal("1.5"), Decimal("-2")],
            pl.Decimal(38, 2),
            "number",
            {},
            [None, "negative_value"],
        ),
        ([Decimal("1.5"), Decimal(3)], pl.Decimal(38, 2), "integer", {}, ["wrong_type", None]),
        ([Decimal(10**34)], pl.Decimal(38, 0), "number", {}, ["out_of_range"]),
        # 2**64 - 1 is a fine quantity but no 64-bit integer.
        ([2**64 - 1], pl.UInt64, "number", {}, [None]),
        ([2**64 - 1], pl.UInt64, "integer", {}, ["out_of_range"]),
        # Integer text only ("-7" is read, and negative); "1.0" and "1e3" are not
        # integers, " 4" is no number.
        (
            ["42", "-7", "1.0", "1e3", "9223372036854775808", "inf", " 4"],
            pl.String,
            "integer",
            {},
            [
                None,
                "negative_value",
                "wrong_type",
                "wrong_type",
                "out_of_range",
                "non_finite",
                "wrong_type",
            ],
        ),
        # -0.0 is not negative; the tiniest negative float is.
        ([1.5, -0.0, -1e-9], pl.Float32, "number", {}, [None, None, "negative_value"]),
        # Strings: integers and categoricals are read as text.
        ([123456789, 5], pl.Int64, "string", {"max_length": 4}, ["value_too_long", None]),
        (["abcdef", "ab"], pl.Categorical, "string", {"max_length": 4}, ["value_too_long", None]),
        ([1.5, None], pl.Float64, "string", {}, ["wrong_type", None]),
        # Booleans: a boolean column, or true/false text in any case.
        ([True, None], pl.Boolean, "boolean", {}, [None, None]),
        (["FALSE", "1"], pl.String, "boolean", {}, [None, "wrong_type"]),
        ([1, 0], pl.Int64, "boolean", {}, ["wrong_type", "wrong_type"]),
        # A column of nulls has nothing wrong unless the property is required.
        ([None, None], pl.Null, "number", {}, [None, None]),
        ([None], pl.Null, "number", {"required": True}, ["missing_field"]),
        ([[1], None], pl.List(pl.Int64), "number", {}, ["wrong_type", None]),
    ],
)
def test_column_dtypes(values: list, dtype: pl.DataType, kind: str, spec: dict, expected: list):
    assert classify_column(values, dtype, kind, **spec) == expected

"""Customers and subscriptions CSV: validated with the line of every problem."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from jobs.contracts import load_contracts
from schemas.errors import InputError

CUSTOMERS = "customer_id,name,timezone\na,A,Europe/Paris\nb,B,\n"


def write(tmp_path: Path, customers: str, subscriptions: str) -> tuple[Path, Path]:
    (tmp_path / "c.csv").write_text(customers)
    (tmp_path / "s.csv").write_text(subscriptions)
    return tmp_path / "c.csv", tmp_path / "s.csv"


def test_loads_with_defaults(tmp_path: Path):
    paths = write(
        tmp_path, CUSTOMERS, "subscription_id,customer_id,plan_code,start_date\ns1,a,p,2026-01-31\n"
    )
    contracts = load_contracts(*paths, {"p"})
    assert contracts.customers["timezone"].to_list() == ["Europe/Paris", "UTC"]
    row = contracts.subscriptions.row(0, named=True)
    assert row["start_date"] == date(2026, 1, 31)
    assert row["end_date"] is None and row["item_quantity"] == 1


@pytest.mark.parametrize(
    ("subscriptions", "message"),
    [
        ("s1,zz,p,2026-01-01,,", "line 2: unknown customer zz"),
        ("s1,a,q,2026-01-01,,", "line 2: unknown plan q"),
        ("s1,a,p,2026-02-30,,", "line 2: start_date 2026-02-30 is not a date"),
        ("s1,a,p,2026-03-01,2026-02-01,", "line 2: end_date must be after start_date"),
        ("s1,a,p,2026-01-01,,0", "line 2: quantity 0 is not a positive whole number"),
        ("s1,a,p,2026-01-01,,\ns1,b,p,2026-01-01,,", "line 3: duplicate subscription_id s1"),
        (
            "s1,a,p,2026-01-01,2026-06-01,\ns2,a,p,2026-05-01,,",
            "line 3: subscription s2 of customer a overlaps the one on line 2",
        ),
    ],
)
def test_bad_rows_are_named(tmp_path: Path, subscriptions: str, message: str):
    header = "subscription_id,customer_id,plan_code,start_date,end_date,quantity\n"
    paths = write(tmp_path, CUSTOMERS, header + subscriptions + "\n")
    with pytest.raises(InputError, match=message):
        load_contracts(*paths, {"p"})


def test_back_to_back_subscriptions_do_not_overlap(tmp_path: Path):
    paths = write(
        tmp_path,
        CUSTOMERS,
        "subscription_id,customer_id,plan_code,start_date,end_date\n"
        "s1,a,p,2026-01-01,2026-06-01\ns2,a,p,2026-06-01,\n",
    )
    assert load_contracts(*paths, {"p"}).subscriptions.height == 2


def test_unknown_timezone(tmp_path: Path):
    paths = write(
        tmp_path,
        "customer_id,name,timezone\na,A,Mars/Olympus\n",
        "subscription_id,customer_id,plan_code,start_date\n",
    )
    with pytest.raises(InputError, match="line 2: unknown timezone Mars/Olympus"):
        load_contracts(*paths, {"p"})

"""changes.csv: every bad change is named by its line; good ones become segments."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from jobs.contracts import load_contracts
from schemas.errors import InputError

CUSTOMERS = "customer_id,name,timezone\na,A,UTC\nb,B,UTC\n"
SUBSCRIPTIONS = (
    "subscription_id,customer_id,plan_code,start_date,end_date\n"
    "s1,a,basic,2026-09-01,\n"
    "s2,b,basic,2026-09-01,2026-12-01\n"
)
HEADER = "subscription_id,effective_date,change,value,reason\n"


def load(tmp_path: Path, changes: str):
    for name, text in (
        ("customers.csv", CUSTOMERS),
        ("subscriptions.csv", SUBSCRIPTIONS),
        ("changes.csv", HEADER + changes),
    ):
        (tmp_path / name).write_text(text)
    return load_contracts(
        tmp_path / "customers.csv",
        tmp_path / "subscriptions.csv",
        {"basic", "pro"},
        tmp_path / "changes.csv",
    )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            "s1,2026-08-01,change_plan,pro,\n",
            "line 2: change_plan of s1 on 2026-08-01: on or before its start 2026-09-01",
        ),
        (
            "s1,2026-09-01,pause,,\n",
            "line 2: pause of s1 on 2026-09-01: on or before its start 2026-09-01",
        ),
        (
            "s2,2026-12-01,change_plan,pro,\n",
            "line 2: change_plan of s2 on 2026-12-01: the subscription ends on 2026-12-01",
        ),
        (
            "s1,2026-10-01,terminate,,\ns1,2026-10-05,change_plan,pro,\n",
            "line 3: change_plan of s1 on 2026-10-05: the subscription ends on 2026-10-01",
        ),
        (
            "s1,2026-10-01,change_plan,pro,\ns1,2026-10-01,change_quantity,2,\n",
            "line 3: change_quantity of s1 on 2026-10-01: overlaps the change on line 2 (same day)",
        ),
        (
            "s1,2026-10-01,resume,,\n",
            "line 2: resume of s1 on 2026-10-01: resume of a subscription that is not paused",
        ),
        (
            "s1,2026-10-01,pause,,\ns1,2026-10-03,pause,,\n",
            "line 3: pause of s1 on 2026-10-03: the subscription is already paused",
        ),
        (
            "s1,2026-10-01,change_plan,gold,\n",
            "line 2: change_plan of s1 on 2026-10-01: unknown plan 'gold' (not in the catalog)",
        ),
        (
            "s1,2026-10-01,change_quantity,0,\n",
            "line 2: change_quantity of s1 on 2026-10-01: quantity '0' is not a positive "
            "whole number",
        ),
        (
            "s1,2026-10-01,transfer,zed,\n",
            "line 2: transfer of s1 on 2026-10-01: transfer to unknown customer 'zed'",
        ),
        (
            "s1,2026-10-01,terminate,two weeks,\n",
            "line 2: terminate of s1 on 2026-10-01: notice 'two weeks': expected 'N days', "
            "'N months' or empty (none)",
        ),
        (
            "s2,2026-11-01,terminate,2 months,\n",
            "line 2: terminate of s2 on 2026-11-01: the subscription already ends on 2026-12-01",
        ),
        ("s9,2026-10-01,pause,,\n", "line 2: unknown subscription 's9'"),
        (
            "s1,2026-13-01,pause,,\n",
            "line 2: effective_date '2026-13-01' is not a date (YYYY-MM-DD)",
        ),
        (
            "s1,2026-10-01,upgrade,pro,\n",
            "line 2: unknown change 'upgrade' (expected one of ['change_plan', "
            "'change_quantity', 'pause', 'resume', 'terminate', 'transfer'])",
        ),
    ],
)
def test_bad_changes_name_their_line(tmp_path: Path, changes: str, problem: str):
    with pytest.raises(InputError) as error:
        load(tmp_path, changes)
    assert str(error.value) == f"{tmp_path / 'changes.csv'}: {problem}"


def test_a_transfer_onto_a_busy_customer_is_refused(tmp_path: Path):
    with pytest.raises(
        InputError,
        match=r"subscription s2 would overlap subscription s1 of customer b from 2026-10-01 "
        r"\(their plans price a common meter\)",
    ):
        load(tmp_path, "s1,2026-10-01,transfer,b,\n")


def test_changes_become_segments_anchored_on_the_first_day(tmp_path: Path):
    contracts = load(
        tmp_path,
        "s1,2026-10-11,change_plan,pro,upgrade\ns1,2026-11-05,terminate,1 month,left\n",
    )
    rows = contracts.subscriptions.filter(segment_of="s1").select(
        "subscription_id", "plan_code", "start_date", "end_date", "anchor_date", "end_reason"
    )
    assert rows.rows() == [
        (
            "s1",
            "basic",
            date(2026, 9, 1),
            date(2026, 10, 11),
            date(2026, 9, 1),
            "change_plan: upgrade",
        ),
        (
            "s1@2026-10-11",
            "pro",
            date(2026, 10, 11),
            date(2026, 12, 5),
            date(2026, 9, 1),
            "terminate: left",
        ),
    ]
    assert contracts.subscriptions.filter(segment_of="s2").height == 1

"""Contract changes: effective-dated lifecycle events that split subscriptions into segments.

``changes.csv``: ``subscription_id, effective_date, change, value, reason``
(``value`` and ``reason`` may be empty). Dates are local ``YYYY-MM-DD`` in the
customer's timezone, like the subscription's own. A change takes effect at
the start of its day:

=================  ===================  ==========================================
change             value                effect from ``effective_date``
=================  ===================  ==========================================
``change_plan``    a plan code          upgrade / downgrade / other billing period
``change_quantity`` a positive integer  units of the plan's fees
``pause``          (empty)              no recurring fees until ``resume``; usage
                                        is still metered and billed
``resume``         (empty)              recurring fees again
``terminate``      notice: ``N days``,  the subscription ends ``effective_date``
                   ``N months`` or      plus the notice (the request date, when
                   empty (none)         empty); ``reason`` is kept
``transfer``       a customer id        the subscription belongs to that customer
=================  ===================  ==========================================

A subscription with changes becomes consecutive *segments*, each billed like a
subscription of its own (fees prorated to its days, usage metered in its
dates) but anchored on the subscription's first day. Applied to subscriptions
already billed, the next run's adjustments credit and charge the difference
(:mod:`jobs.adjust`). Errors name the line: a change before the start or on
its first day, after the subscription's end, two changes of one subscription
on one day, resume without pause, an unknown plan, customer or change.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum
from pathlib import Path

import polars as pl

from aggregation.schedule import add_months
from jobs.csv_input import LINE, read_csv
from rating.plan import Plan
from rating.price_lists import catalog_plan_code
from schemas.errors import InputError

CHANGE_COLUMNS = ("subscription_id", "effective_date", "change")
SEGMENT_OF = "segment_of"
"""On a segment: the subscription it is part of (``subscription_id`` is the segment's key)."""
_NOTICE = re.compile(r"^(\d{1,4}) (day|month)s?$")


class ChangeKind(StrEnum):
    CHANGE_PLAN = "change_plan"
    CHANGE_QUANTITY = "change_quantity"
    PAUSE = "pause"
    RESUME = "resume"
    TERMINATE = "terminate"
    TRANSFER = "transfer"


@dataclass(frozen=True)
class Change:
    line: int
    subscription_id: str
    effective: date
    kind: ChangeKind
    value: str
    reason: str


@dataclass(frozen=True)
class _State:
    customer_id: str
    plan_code: str
    quantity: int
    paused: bool
    end: date | None


def notice_end(requested: date, notice: str) -> date | None:
    """The end of a subscription terminated on ``requested`` with ``notice``.

    >>> notice_end(date(2026, 10, 10), "30 days"), notice_end(date(2026, 1, 31), "1 month")
    (datetime.date(2026, 11, 9), datetime.date(2026, 2, 28))
    >>> notice_end(date(2026, 10, 10), "")
    datetime.date(2026, 10, 10)
    """
    if not notice:
        return requested
    match = _NOTICE.match(notice.strip())
    if match is None:
        return None
    count = int(match.group(1))
    if match.group(2) == "day":
        return date.fromordinal(requested.toordinal() + count)
    return add_months(requested, count)


def load_changes(path: str | Path) -> tuple[list[Change], bytes]:
    """Parse ``changes.csv``; every malformed line is named in one error."""
    path = Path(path)
    frame, raw = read_csv(path, CHANGE_COLUMNS)
    for optional in ("value", "reason"):
        if optional not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(optional))
    changes, problems = [], []
    kinds = [kind.value for kind in ChangeKind]
    for row in frame.iter_rows(named=True):
        line = row[LINE]
        sub = (row["subscription_id"] or "").strip()
        text = (row["effective_date"] or "").strip()
        kind = (row["change"] or "").strip()
        if not sub:
            problems.append(f"line {line}: empty subscription_id")
            continue
        try:
            effective = date.fromisoformat(text)
        except ValueError:
            problems.append(f"line {line}: effective_date {text!r} is not a date (YYYY-MM-DD)")
            continue
        if kind not in kinds:
            problems.append(f"line {line}: unknown change {kind!r} (expected one of {kinds})")
            continue
        changes.append(
            Change(
                line,
                sub,
                effective,
                ChangeKind(kind),
                (row["value"] or "").strip(),
                (row["reason"] or "").strip(),
            )
        )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InputError(f"{path}: " + "; ".join(problems[:5]) + more)
    return changes, raw


def _apply(
    state: _State,
    change: Change,
    customer_ids: Collection[str],
    plan_codes: Collection[str],
) -> tuple[_State, str | None]:
    """The state after one change, or a problem."""
    kind, value = change.kind, change.value
    if kind is ChangeKind.CHANGE_PLAN:
        if value not in plan_codes:
            return state, f"unknown plan {value!r} (not in the catalog)"
        if value == state.plan_code:
            return state, f"the subscription is already on plan {value!r}"
        return replace(state, plan_code=value), None
    if kind is ChangeKind.CHANGE_QUANTITY:
        if not value.isdigit() or int(value) < 1:
            return state, f"quantity {value!r} is not a positive whole number"
        return replace(state, quantity=int(value)), None
    if kind is ChangeKind.PAUSE:
        if state.paused:
            return state, "the subscription is already paused"
        return replace(state, paused=True), None
    if kind is ChangeKind.RESUME:
        if not state.paused:
            return state, "resume of a subscription that is not paused"
        return replace(state, paused=False), None
    if kind is ChangeKind.TRANSFER:
        if value not in customer_ids:
            return state, f"transfer to unknown customer {value!r}"
        if value == state.customer_id:
            return state, f"the subscription already belongs to {value!r}"
        return replace(state, customer_id=value), None
    end = notice_end(change.effective, value)
    if end is None:
        return state, f"notice {value!r}: expected 'N days', 'N months' or empty (none)"
    if state.end is not None and state.end <= end:
        return state, f"the subscription already ends on {state.end.isoformat()}"
    return replace(state, end=end), None


SEGMENT_SCHEMA: dict[str, pl.DataType] = {
    "subscription_id": pl.String(),
    SEGMENT_OF: pl.String(),
    "customer_id": pl.String(),
    "plan_code": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
    "item_quantity": pl.Int64(),
    "anchor_date": pl.Date(),
    "paused": pl.Boolean(),
    "end_reason": pl.String(),
}


def apply_changes(
    subscriptions: pl.DataFrame,
    changes: list[Change],
    customer_ids: Collection[str],
    plan_codes: Collection[str],
    source: str = "changes.csv",
    replacements: Mapping[str, tuple[str, date]] | None = None,
) -> pl.DataFrame:
    """Subscriptions as segments (``SEGMENT_SCHEMA``); one segment each when unchanged.

    ``replacements`` are the catalog's price-list changes (plan -> (new plan,
    from)): a subscription on a replaced plan on that day moves to the new one.
    The loop runs over the changed subscriptions only.
    """
    replacements = replacements or {}
    plain = subscriptions.with_columns(
        pl.col("subscription_id").alias(SEGMENT_OF),
        pl.col("start_date").alias("anchor_date"),
        pl.lit(value=False).alias("paused"),
        pl.lit(None, dtype=pl.String).alias("end_reason"),
    ).select(list(SEGMENT_SCHEMA))
    grouped: dict[str, list[Change]] = {}
    for change in changes:
        grouped.setdefault(change.subscription_id, []).append(change)
    trials = pl.col("trial_days") > 0 if "trial_days" in subscriptions.columns else False
    implicit = subscriptions.filter(pl.col("plan_code").is_in(list(replacements)) | trials)
    for sub_id in implicit["subscription_id"]:
        grouped.setdefault(sub_id, [])
    if not grouped:
        return plain
    changed_rows = subscriptions.filter(pl.col("subscription_id").is_in(list(grouped)))
    by_id = {row["subscription_id"]: row for row in changed_rows.iter_rows(named=True)}
    problems = [
        f"line {change.line}: unknown subscription {change.subscription_id!r}"
        for change in changes
        if change.subscription_id not in by_id
    ]
    rows = []
    for sub_id, sub_changes in sorted(grouped.items()):
        if sub_id in by_id:
            rows.extend(
                _segments(
                    by_id[sub_id], sub_changes, customer_ids, plan_codes, replacements, problems
                )
            )
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise InputError(f"{source}: " + "; ".join(problems[:5]) + more)
    changed = pl.DataFrame(rows, schema=SEGMENT_SCHEMA, orient="row")
    return pl.concat([plain.filter(~pl.col(SEGMENT_OF).is_in(list(grouped))), changed]).sort(
        SEGMENT_OF, "start_date"
    )


PRICE_LIST = "price list change"


def _segments(
    row: dict,
    sub_changes: list[Change],
    customer_ids: Collection[str],
    plan_codes: Collection[str],
    replacements: Mapping[str, tuple[str, date]],
    problems: list[str],
) -> list[tuple]:
    """One subscription's segments: its explicit changes and the price-list moves between."""
    sub_id: str = row["subscription_id"]
    start: date = row["start_date"]
    trial_days = row.get("trial_days") or 0
    state = _State(
        row["customer_id"], row["plan_code"], row["item_quantity"], trial_days > 0, row["end_date"]
    )
    trial_end: date | None = (
        date.fromordinal(start.toordinal() + trial_days) if trial_days else None
    )
    rows: list[tuple] = []
    seg_start = start

    def key() -> str:
        return sub_id if not rows else f"{sub_id}@{seg_start.isoformat()}"

    def end_trial(until: date | None) -> None:
        """A trial is a first segment without recurring fees (usage is billed)."""
        nonlocal state, seg_start, trial_end
        if trial_end is None or not state.paused or (until is not None and trial_end > until):
            return
        if state.end is None or trial_end < state.end:
            rows.append(_row(key(), sub_id, state, seg_start, trial_end, start, "trial"))
            state, seg_start = replace(state, paused=False), trial_end
        trial_end = None

    def reprice(until: date | None) -> None:
        nonlocal state, seg_start
        while state.plan_code in replacements:
            target, day = replacements[state.plan_code]
            if until is not None and day >= until:
                return
            if state.end is not None and day >= state.end:
                return
            if day > seg_start:
                rows.append(_row(key(), sub_id, state, seg_start, day, start, PRICE_LIST))
                seg_start = day
            # From its first day on, a segment on a replaced plan is on the new one.
            state = replace(state, plan_code=target)

    ordered = sorted(sub_changes, key=lambda c: (c.effective, c.line))
    for previous, change in zip([None, *ordered], ordered, strict=False):
        where = f"line {change.line}: {change.kind.value} of {sub_id} on {change.effective}"
        if previous is not None and previous.effective == change.effective:
            problems.append(f"{where}: overlaps the change on line {previous.line} (same day)")
            continue
        if change.effective <= start:
            problems.append(f"{where}: on or before its start {start.isoformat()}")
            continue
        if state.end is not None and change.effective >= state.end:
            problems.append(f"{where}: the subscription ends on {state.end.isoformat()}")
            continue
        end_trial(change.effective)
        reprice(change.effective)
        after, problem = _apply(state, change, customer_ids, plan_codes)
        if problem is not None:
            problems.append(f"{where}: {problem}")
            continue
        if change.kind is ChangeKind.TERMINATE:
            state = after  # only the end moves: the segment goes on until then
            continue
        if change.kind is ChangeKind.RESUME:
            trial_end = None  # resuming during a trial ends it early
        rows.append(_row(key(), sub_id, state, seg_start, change.effective, start, _reason(change)))
        state, seg_start = after, change.effective
    end_trial(None)
    reprice(None)
    terminations = [c for c in ordered if c.kind is ChangeKind.TERMINATE]
    last = terminations[-1] if terminations and state.end != row["end_date"] else None
    reason = None if last is None else _reason(last)
    rows.append(_row(key(), sub_id, state, seg_start, state.end, start, reason))
    return rows


def _reason(change: Change) -> str:
    return change.kind.value + (f": {change.reason}" if change.reason else "")


def _row(
    key: str,
    sub_id: str,
    state: _State,
    start: date,
    end: date | None,
    anchor: date,
    reason: str | None,
) -> tuple:
    """The segment ``[start, end)`` in ``state``, ended for ``reason``."""
    return (
        key,
        sub_id,
        state.customer_id,
        state.plan_code,
        start,
        end,
        state.quantity,
        anchor,
        state.paused,
        reason,
    )


def sharing_plans(plans: Mapping[str, Plan] | Collection[str]) -> pl.DataFrame:
    """``plan_code, other_plan``: pairs of plans that price a common meter, so one customer
    may not hold both at once (whose events would it be?). Without plan definitions,
    every pair."""
    if not isinstance(plans, Mapping):
        codes = sorted(plans)
        pairs = [(a, b) for a in codes for b in codes]
    else:
        pairs = [
            (a, b)
            for a, plan in plans.items()
            for b, other in plans.items()
            if isinstance(plan, Plan) and isinstance(other, Plan) and plan.meters & other.meters
        ]
    return pl.DataFrame(
        pairs, schema={"plan_code": pl.String, "other_plan": pl.String}, orient="row"
    )


def concurrent_conflicts(frame: pl.DataFrame, sharing: pl.DataFrame, key: str) -> pl.DataFrame:
    """Pairs of rows (``key``, ``other``) of one customer whose dates overlap and whose
    plans share a meter; ``key`` orders each pair once."""
    left = frame.select("customer_id", key, "plan_code", "start_date", "end_date")
    right = left.rename(
        {key: "other", "plan_code": "other_plan", "start_date": "os", "end_date": "oe"}
    )
    return (
        left.join(right, on="customer_id")
        .filter(pl.col("other") < pl.col(key))
        .filter(
            (pl.col("oe").is_null() | (pl.col("oe") > pl.col("start_date")))
            & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("os")))
        )
        .join(sharing, on=["plan_code", "other_plan"], how="semi")
        .sort(key, "other")
    )


def check_segment_overlaps(segments: pl.DataFrame, sharing: pl.DataFrame, source: str) -> None:
    """After the changes (a transfer, a plan change), a customer still never holds two
    subscriptions at once whose plans price a common meter."""
    clashes = concurrent_conflicts(
        segments.with_columns(pl.col(SEGMENT_OF).alias("_key")), sharing, "_key"
    ).filter(pl.col("_key") != pl.col("other"))
    if clashes.height:
        row = clashes.row(0, named=True)
        raise InputError(
            f"{source}: subscription {row['_key']} would overlap subscription "
            f"{row['other']} of customer {row['customer_id']} from "
            f"{max(row['start_date'], row['os']).isoformat()} (their plans price a common meter)"
        )


def changed_segments(segments: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """The ``contract_segments`` rows of a run: every segment of a changed subscription."""
    changed = segments.filter(
        (pl.len().over(SEGMENT_OF) > 1) | pl.col("end_reason").is_not_null().any().over(SEGMENT_OF)
    )
    return changed.select(
        pl.lit(run_id).alias("run_id"),
        pl.col(SEGMENT_OF).alias("subscription_id"),
        "start_date",
        "end_date",
        "customer_id",
        catalog_plan_code(),
        "item_quantity",
        "paused",
        "end_reason",
    ).sort("subscription_id", "start_date")

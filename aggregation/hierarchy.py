"""Account hierarchies: the tree each account sits in, who receives its invoice, its co-term.

Accounts form trees of any depth (a managed service provider over its client
companies, a company over subsidiaries, departments, sites): each account names
at most one ``parent_id``; an account without one is a *root*. Per account:

* ``root_id`` and ``depth`` (a root is at depth 0);
* ``bill_to``, the account whose invoice carries its lines. ``invoice_to``
  (input) is empty to bill the account itself, or one of its ancestors to
  consolidate into that ancestor's invoice; an ancestor that consolidates
  further up passes the lines on, so ``bill_to`` is the first account on the
  way up that bills itself;
* ``coterm_date``, the date the account's anniversary-aligned subscriptions
  renew on: its own, else its nearest ancestor's (none: each subscription
  renews on its own anniversary).

Each step below walks the trees one level at a time (a few joins per level of
depth), never one account at a time.

>>> from datetime import date
>>> accounts = pl.DataFrame({
...     "customer_id": ["msp", "acme", "acme-paris", "solo"],
...     "parent_id": [None, "msp", "acme", None],
...     "invoice_to": [None, "msp", "acme", None],
...     "coterm_date": [date(2026, 1, 15), None, None, None],
... })
>>> account_tree(accounts).accounts.sort("customer_id").rows()  # doctest: +NORMALIZE_WHITESPACE
[('acme', 'msp', 'msp', 1, 'msp', datetime.date(2026, 1, 15)),
 ('acme-paris', 'acme', 'msp', 2, 'msp', datetime.date(2026, 1, 15)),
 ('msp', None, 'msp', 0, 'msp', datetime.date(2026, 1, 15)),
 ('solo', None, 'solo', 0, 'solo', None)]
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from schemas.errors import InputError

ACCOUNT_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "parent_id": pl.String(),
    "root_id": pl.String(),
    "depth": pl.Int32(),
    "bill_to": pl.String(),
    "coterm_date": pl.Date(),
}
"""One row per account: where it sits, who its invoice goes to, when it renews."""

ANCESTOR_SCHEMA: dict[str, pl.DataType] = {
    "customer_id": pl.String(),
    "ancestor_id": pl.String(),
    "distance": pl.Int32(),
}
"""The closure of the trees: every account with itself (distance 0) and each ancestor."""


class HierarchyError(InputError):
    """The accounts do not form trees, or an account's invoice goes to a non-ancestor."""

    def __init__(self, message: str, customers: list[str]) -> None:
        super().__init__(message)
        self.customers = customers
        """The accounts at fault, in the order the message names them."""


@dataclass(frozen=True)
class AccountTree:
    accounts: pl.DataFrame
    """:data:`ACCOUNT_SCHEMA`"""
    ancestors: pl.DataFrame
    """:data:`ANCESTOR_SCHEMA`"""


def account_tree(accounts: pl.DataFrame) -> AccountTree:
    """The trees of ``accounts`` (``customer_id, parent_id, invoice_to, coterm_date``).

    Every ``parent_id`` must be an account (the caller checks, naming its
    lines). Raises :class:`HierarchyError` on a cycle, or when an
    ``invoice_to`` is not an ancestor of its account.
    """
    levels = _levels(accounts)
    if sum(level.height for level in levels) < accounts.height:
        placed = pl.concat([level.select("customer_id") for level in levels]) if levels else None
        unplaced = (
            accounts if placed is None else accounts.join(placed, on="customer_id", how="anti")
        )
        cycle = _a_cycle(unplaced)
        raise HierarchyError(
            "accounts form a cycle: " + " -> ".join([*cycle, cycle[0]]) + " (each account's "
            "parent_id leads back to it; a hierarchy needs a root)",
            cycle,
        )
    ancestors = _closure(levels)
    return AccountTree(_resolve(accounts, levels, ancestors), ancestors)


def _levels(accounts: pl.DataFrame) -> list[pl.DataFrame]:
    """The accounts reachable from a root, one frame per depth: ``customer_id, parent_id,
    root_id, depth``."""
    nodes = accounts.select("customer_id", "parent_id")
    level = nodes.filter(pl.col("parent_id").is_null()).select(
        "customer_id",
        "parent_id",
        pl.col("customer_id").alias("root_id"),
        pl.lit(0, dtype=pl.Int32).alias("depth"),
    )
    levels = []
    while level.height:
        levels.append(level)
        level = nodes.join(
            level.select(pl.col("customer_id").alias("parent_id"), "root_id", pl.col("depth") + 1),
            on="parent_id",
        )
    return levels


def _a_cycle(unplaced: pl.DataFrame) -> list[str]:
    """One cycle among accounts that no root reaches, starting from the least id.

    Only on the error path, and only over those accounts: a plain walk."""
    parent = dict(unplaced.select("customer_id", "parent_id").iter_rows())
    seen: list[str] = []
    node = min(parent)
    while node not in seen:
        seen.append(node)
        node = parent[node]
    cycle = seen[seen.index(node) :]
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]


def _closure(levels: list[pl.DataFrame]) -> pl.DataFrame:
    """Each account with itself and its ancestors, built one level at a time."""
    parts = []
    above = pl.DataFrame(schema=ANCESTOR_SCHEMA)
    for level in levels:
        own = level.select(
            "customer_id",
            pl.col("customer_id").alias("ancestor_id"),
            pl.lit(0, dtype=pl.Int32).alias("distance"),
        )
        inherited = level.select("customer_id", "parent_id").join(
            above.select(pl.col("customer_id").alias("parent_id"), "ancestor_id", "distance"),
            on="parent_id",
        )
        above = pl.concat(
            [own, inherited.select("customer_id", "ancestor_id", pl.col("distance") + 1)]
        )
        parts.append(above)
    return pl.concat(parts) if parts else pl.DataFrame(schema=ANCESTOR_SCHEMA)


def _resolve(
    accounts: pl.DataFrame, levels: list[pl.DataFrame], ancestors: pl.DataFrame
) -> pl.DataFrame:
    """``bill_to`` and the inherited ``coterm_date``, top-down: an account's target and
    parent sit at lower depths, resolved before it."""
    wrong = (
        accounts.filter(pl.col("invoice_to").is_not_null())
        .join(
            ancestors.filter(pl.col("distance") > 0),
            left_on=["customer_id", "invoice_to"],
            right_on=["customer_id", "ancestor_id"],
            how="anti",
        )
        .sort("customer_id")
    )
    if wrong.height:
        customer, target = wrong.row(0, named=True)["customer_id"], wrong["invoice_to"][0]
        raise HierarchyError(
            f"account {customer} has invoice_to {target}, which is not one of its ancestors "
            "(an account's lines can only go up its own tree)",
            wrong["customer_id"].to_list(),
        )
    own = accounts.select("customer_id", "invoice_to", "coterm_date")
    resolved = pl.DataFrame(
        schema={k: ACCOUNT_SCHEMA[k] for k in ("customer_id", "bill_to", "coterm_date")}
    )
    parts = []
    for level in levels:
        part = (
            level.join(own, on="customer_id", how="left")
            .join(
                resolved.select(pl.col("customer_id").alias("invoice_to"), "bill_to"),
                on="invoice_to",
                how="left",
            )
            .join(
                resolved.select(
                    pl.col("customer_id").alias("parent_id"),
                    pl.col("coterm_date").alias("_inherited"),
                ),
                on="parent_id",
                how="left",
            )
            .select(
                "customer_id",
                "parent_id",
                "root_id",
                "depth",
                pl.coalesce("bill_to", "customer_id").alias("bill_to"),
                pl.coalesce("coterm_date", "_inherited").alias("coterm_date"),
            )
        )
        parts.append(part)
        resolved = pl.concat([resolved, part.select(resolved.columns)])
    placed = pl.concat(parts) if parts else pl.DataFrame(schema=ACCOUNT_SCHEMA)
    return placed.select(pl.col(name).cast(dtype) for name, dtype in ACCOUNT_SCHEMA.items())

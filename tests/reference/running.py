"""Reference running rating: one ``Decimal`` running total per subscription, in a loop.

Restates what ``rating.running`` promises, in the most direct way: walk the
events in order, keep each subscription's running quantity, and price it with
the reference graduated model after every event. The event's amount is the
difference of two such prices. Nothing here imports the project.

The kernel's representation limits are restated too (int64 micro-units for
quantities, int64 nano-units for the unit price of the tier usage lands in,
``Decimal(38, 15)`` for amounts), so a test can tell which inputs must be
refused rather than rated.

Worked example, tiers ``[0, 100] at 0.10``, ``(100, 1000] at 0.08`` plus a
fee of 5 once reached, ``(1000, inf) at 0.05``:

>>> from decimal import Decimal as D
>>> tiers = [Tier(D(100), D("0.10")), Tier(D(1000), D("0.08"), D(5)), Tier(None, D("0.05"))]
>>> rows = running([("a", D(60)), ("a", D(60)), ("a", D(900)), ("b", D(100))], tiers)
>>> [str(row.event_amount) for row in rows]  # 6; 16.60 - 6; 88 - 16.60; 10
['6.00', '10.60', '71.40', '10.00']
>>> first_crossing(rows, amount_threshold=D(10))  # a reaches 10 at its 2nd event, b at once
{'a': 1, 'b': 3}
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext

from tests.reference.rating import EXACT, Tier, graduated_amount

__all__ = ["EXACT", "Tier", "first_crossing", "first_refused_row", "running"]

MAX_QUANTITY = Decimal(2**63 - 1).scaleb(-6, EXACT)
"""Largest event or running quantity: 2**63 - 1 micro-units."""
MAX_UNIT_PRICE = Decimal(2**63 - 1).scaleb(-9, EXACT)
"""Largest unit price of the tier usage lands in: 2**63 - 1 nano-units."""
MAX_AMOUNT = Decimal(10**38 - 1).scaleb(-15, EXACT)
"""Largest amount: what ``Decimal(38, 15)`` holds."""


@dataclass(frozen=True)
class Row:
    subscription: Hashable
    quantity: Decimal
    cumulative_quantity: Decimal
    cumulative_amount: Decimal
    event_amount: Decimal


def running(events: Sequence[tuple[Hashable, Decimal | None]], tiers: Sequence[Tier]) -> list[Row]:
    """Per event, in order: the running quantity, its price, and the price's increase.

    A subscription's total restarts at 0 where its rows start; a ``None``
    quantity counts as 0 (a null adds nothing to a sum).
    """
    rows: list[Row] = []
    with localcontext(EXACT):
        previous: Hashable = object()
        total = amount = Decimal(0)
        for subscription, given in events:
            if subscription != previous:
                previous, total, amount = subscription, Decimal(0), Decimal(0)
            quantity = Decimal(0) if given is None else given
            total += quantity
            after = graduated_amount(total, tiers)
            rows.append(Row(subscription, quantity, total, after, after - amount))
            amount = after
    return rows


def landing_tier(quantity: Decimal, tiers: Sequence[Tier]) -> Tier | None:
    """The tier ``(lower, up_to]`` holding ``quantity``; ``None`` when it is 0 or less."""
    lower = Decimal(0)
    for tier in tiers:
        if quantity <= lower:
            return None
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
        lower = tier.up_to
    return None


def first_refused_row(rows: Sequence[Row], tiers: Sequence[Tier]) -> int | None:
    """The first row the kernel cannot represent exactly, or ``None`` when all fit."""
    for index, row in enumerate(rows):
        tier = landing_tier(row.cumulative_quantity, tiers)
        # copy_abs, not abs(): abs() rounds to the context's 28 digits.
        if (
            row.quantity.copy_abs() > MAX_QUANTITY
            or row.cumulative_quantity.copy_abs() > MAX_QUANTITY
            or (tier is not None and tier.unit_price > MAX_UNIT_PRICE)
            or row.cumulative_amount.copy_abs() > MAX_AMOUNT
            or row.event_amount.copy_abs() > MAX_AMOUNT
        ):
            return index
    return None


def first_crossing(
    rows: Sequence[Row],
    *,
    amount_threshold: Decimal | None = None,
    quantity_threshold: Decimal | None = None,
) -> dict[Hashable, int]:
    """Per subscription, the index of its first row whose running amount or quantity
    reaches its threshold (``>=``); subscriptions that never reach one are absent."""
    found: dict[Hashable, int] = {}
    for index, row in enumerate(rows):
        if row.subscription in found:
            continue
        if (amount_threshold is not None and row.cumulative_amount >= amount_threshold) or (
            quantity_threshold is not None and row.cumulative_quantity >= quantity_threshold
        ):
            found[row.subscription] = index
    return found

"""Reference wallet: a dict of what is left on each grant, spent invoice by invoice.

Imports nothing from the project. A grant is ``(credit_id, customer_id,
currency, amount, granted_on, expires_on)``; an invoice ``(invoice_id,
customer_id, currency, total)``; an entry ``(credit_id, customer_id,
currency, entry_date, kind, amount, invoice_id)``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

Grant = tuple[str, str, str, Decimal, date, date | None]
Invoice = tuple[str, str, str, Decimal]
Entry = tuple[str, str, str, date, str, Decimal, str | None]


def reference_wallet_run(
    grants: list[Grant], left: dict[str, Decimal], invoices: list[Invoice], day: date
) -> tuple[list[Entry], dict[str, Decimal]]:
    """The entries of a run issuing on ``day`` and what each invoice took; ``left`` (what
    remains of each recorded grant) is updated in place."""
    entries: list[Entry] = []
    for credit, customer, currency, amount, granted, _ in grants:
        if granted <= day and credit not in left:
            entries.append((credit, customer, currency, granted, "top_up", amount, None))
            left[credit] = amount
    for credit, customer, currency, _, _, expires in grants:
        if credit in left and left[credit] > 0 and expires is not None and expires <= day:
            entries.append((credit, customer, currency, expires, "expired", -left[credit], None))
            left[credit] = Decimal(0)
    usable = sorted(
        (g for g in grants if left.get(g[0], Decimal(0)) > 0),
        key=lambda g: (g[5] is None, g[5] or date.min, g[4], g[0]),
    )
    applied: dict[str, Decimal] = {}
    for invoice_id, customer, currency, total in sorted(invoices):
        need = total
        for credit, owner, grant_currency, *_ in usable:
            if need <= 0:
                break
            if (owner, grant_currency) != (customer, currency) or left[credit] <= 0:
                continue
            take = min(need, left[credit])
            left[credit] -= take
            need -= take
            applied[invoice_id] = applied.get(invoice_id, Decimal(0)) + take
            entries.append((credit, customer, currency, day, "consumed", -take, invoice_id))
    return entries, applied

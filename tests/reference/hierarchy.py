"""Reference account trees: walk each account's parents one step at a time, in plain dicts.

Imports nothing from the project. ``parents`` maps an account to its parent
(or None), ``invoice_to`` an account to the ancestor it consolidates into (or
None to bill itself), ``coterm`` an account to its own co-term date (or None).

>>> parents = {"root": None, "child": "root", "leaf": "child"}
>>> reference_accounts(parents, {"leaf": "root"}, {})["leaf"]
('root', 2, 'root', None)
"""

from __future__ import annotations

from datetime import date


def ancestors(parents: dict[str, str | None], account: str) -> list[str]:
    """The account's parent, grandparent, ... up to its root."""
    chain = []
    parent = parents[account]
    while parent is not None:
        chain.append(parent)
        parent = parents[parent]
    return chain


def reference_accounts(
    parents: dict[str, str | None],
    invoice_to: dict[str, str | None],
    coterm: dict[str, date | None],
) -> dict[str, tuple[str, int, str, date | None]]:
    """Per account: ``(root_id, depth, bill_to, coterm_date)``."""
    result = {}
    for account in parents:
        chain = ancestors(parents, account)
        recipient = account
        while invoice_to.get(recipient) is not None:
            recipient = invoice_to[recipient]
        inherited = next((coterm[a] for a in [account, *chain] if coterm.get(a) is not None), None)
        result[account] = (chain[-1] if chain else account, len(chain), recipient, inherited)
    return result

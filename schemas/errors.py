"""The error hierarchy users see.

Every error names where the problem is (file, row, field or catalog path) and,
where it is not obvious, what to do about it. The CLI prints ``str(error)`` on
one line and exits non-zero; nothing else reaches a user.
"""

from __future__ import annotations

from collections.abc import Iterable


class MeterlineError(Exception):
    """Base of every error meant for a user rather than a developer."""


class InputError(MeterlineError):
    """An input file cannot be used: missing, unreadable or not of the contract's shape."""


class CatalogError(MeterlineError):
    """The catalog (meters and plans) is invalid.

    Collects every problem at once, each prefixed by its path in the catalog
    (``plans.pro.charges[2].tiers[1]``), so a user fixes the file in one pass.

    >>> str(CatalogError("catalog.yaml", ["meters[0].code: missing", "plans: empty"]))
    'catalog.yaml: 2 problems: meters[0].code: missing; plans: empty'
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        count = len(self.problems)
        head = "1 problem" if count == 1 else f"{count} problems"
        super().__init__(f"{source}: {head}: " + "; ".join(self.problems))


class RatingError(MeterlineError):
    """Rating cannot produce an exact amount (for example a decimal overflow)."""


class RunError(MeterlineError):
    """A billing run cannot proceed (conflicting earlier run, locked database, ...)."""

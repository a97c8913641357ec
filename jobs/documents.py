"""Invoice documents: each issued invoice as a self-contained HTML file finance can send.

A document shows the invoice header (number, customer, issue date, billing
period, currency), one row per line with its service period in the customer's
local dates, quantity and amount (on an invoice consolidating several accounts
of a hierarchy: grouped by account, each with its subtotal), the tier breakdown of tiered lines, the
proration of partial fees, adjustments of earlier periods, and the totals.
Amounts are the stored ones, formatted at the currency's minor unit; the
document adds nothing up itself except what it prints from the database.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb

from jobs.report import money
from schemas.errors import InputError

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2.5em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
table { border-collapse: collapse; width: 100%; margin-top: 1.5em; }
th, td { padding: 0.35em 0.6em; border-bottom: 1px solid #ddd; vertical-align: top; }
th { text-align: left; background: #f4f4f4; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.detail td { color: #666; font-size: 0.9em; border-bottom: none; }
tr.total td { font-weight: bold; border-top: 2px solid #222; }
tr.account td { font-weight: bold; background: #fafafa; }
tr.subtotal td { font-style: italic; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1.2em; }
dt { color: #666; }
"""


@dataclass(frozen=True)
class TierDetail:
    tier: int
    units: Decimal
    unit_price: Decimal
    flat_fee: Decimal
    amount: Decimal


@dataclass(frozen=True)
class AccountPart:
    """One account's part of a consolidated invoice."""

    customer_id: str
    name: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True)
class DocumentLine:
    number: int
    customer_id: str
    description: str
    period_start: datetime
    period_end: datetime
    quantity: Decimal
    amount: Decimal
    adjusted_period: str | None
    prorated_days: int | None
    period_days: int | None
    tiers: tuple[TierDetail, ...]


@dataclass(frozen=True)
class InvoiceDocument:
    invoice_id: str
    customer_id: str
    customer_name: str
    timezone: str
    currency: str
    billing_period: str
    issue_date: date
    status: str
    subtotal: Decimal
    total: Decimal
    lines: tuple[DocumentLine, ...]
    taxes: tuple[tuple[str, Decimal, Decimal, Decimal], ...] = ()
    """(tax code, rate %, taxable amount, tax) per treatment and rate."""
    accounts: tuple[AccountPart, ...] = ()
    """The accounts whose lines it holds, in line order (one unless consolidated)."""


def _number(value: Decimal) -> str:
    """A quantity without trailing zeros: 1500.000000 -> 1,500; 2.500000 -> 2.5."""
    return f"{value.normalize():,f}"


def local_span(start: datetime, end: datetime, timezone: str) -> str:
    """A half-open span of instants as the local days it covers.

    >>> from datetime import UTC
    >>> local_span(datetime(2026, 9, 30, 22, tzinfo=UTC), datetime(2026, 10, 31, 23, tzinfo=UTC),
    ...            "Europe/Paris")
    '2026-10-01 – 2026-10-31'
    """
    zone = ZoneInfo(timezone)
    first = start.astimezone(zone).date()
    last = (end.astimezone(zone) - timedelta(microseconds=1)).date()
    return first.isoformat() if last <= first else f"{first.isoformat()} – {last.isoformat()}"


def _line_rows(line: DocumentLine, doc: InvoiceDocument) -> list[str]:
    esc = html.escape
    notes = []
    if line.prorated_days is not None and line.period_days is not None:
        notes.append(f"prorated: {line.prorated_days} of {line.period_days} days")
    if line.adjusted_period is not None:
        notes.append(f"corrects the {line.adjusted_period} invoice")
    note = f"<br><small>{esc('; '.join(notes))}</small>" if notes else ""
    rows = [
        "<tr>"
        f'<td class="num">{line.number}</td>'
        f"<td>{esc(line.description)}{note}</td>"
        f"<td>{esc(local_span(line.period_start, line.period_end, doc.timezone))}</td>"
        f'<td class="num">{esc(_number(line.quantity))}</td>'
        f'<td class="num">{esc(money(line.amount, doc.currency))}</td>'
        "</tr>"
    ]
    for tier in line.tiers:
        fee = f" + {_number(tier.flat_fee)} flat" if tier.flat_fee else ""
        rows.append(
            '<tr class="detail"><td></td>'
            f"<td>tier {tier.tier}: {esc(_number(tier.units))} × "
            f"{esc(_number(tier.unit_price))}{esc(fee)}</td><td></td><td></td>"
            f'<td class="num">{esc(_number(tier.amount))}</td></tr>'
        )
    return rows


_TAX_LABELS = {
    "domestic": "VAT {rate}%",
    "eu_consumer": "VAT {rate}% (customer's country)",
    "reverse_charge": "VAT reverse charge (article 196, Directive 2006/112/EC)",
    "export": "No VAT: outside the EU",
    "exempt": "VAT exempt",
}


def _tax_label(code: str, rate: Decimal) -> str:
    """How a tax treatment reads on the invoice.

    >>> _tax_label("domestic", Decimal("20.0000"))
    'VAT 20%'
    """
    return _TAX_LABELS.get(code, code).format(rate=_number(rate))


def _grouped_rows(doc: InvoiceDocument) -> list[str]:
    """Line rows; on a consolidated invoice, under each account's name with its subtotal."""
    if len(doc.accounts) < 2:
        return [row for line in doc.lines for row in _line_rows(line, doc)]
    esc = html.escape
    rows = []
    for part in doc.accounts:
        rows.append(
            f'<tr class="account"><td></td><td colspan="4">{esc(part.name)} '
            f"({esc(part.customer_id)})</td></tr>"
        )
        for line in doc.lines:
            if line.customer_id == part.customer_id:
                rows.extend(_line_rows(line, doc))
        rows.append(
            f'<tr class="subtotal"><td></td><td colspan="3">Subtotal {esc(part.name)}: '
            f"{esc(money(part.subtotal, doc.currency))} + tax "
            f"{esc(money(part.tax, doc.currency))}</td>"
            f'<td class="num">{esc(money(part.total, doc.currency))}</td></tr>'
        )
    return rows


def render_invoice(doc: InvoiceDocument) -> str:
    """The invoice as one HTML page (no external resources)."""
    esc = html.escape
    kind = "Credit note" if doc.total < 0 else "Invoice"
    rows = _grouped_rows(doc)
    header = (
        f"<dl><dt>Customer</dt><dd>{esc(doc.customer_name)} ({esc(doc.customer_id)})</dd>"
        f"<dt>Issue date</dt><dd>{doc.issue_date.isoformat()}</dd>"
        f"<dt>Billing period</dt><dd>{esc(doc.billing_period)}</dd>"
        f"<dt>Currency</dt><dd>{esc(doc.currency)}</dd>"
        f"<dt>Status</dt><dd>{esc(doc.status)}</dd></dl>"
    )
    taxes = [
        f'<tr><td></td><td colspan="3">{esc(_tax_label(code, rate))} on '
        f"{esc(money(taxable, doc.currency))}</td>"
        f'<td class="num">{esc(money(tax, doc.currency))}</td></tr>'
        for code, rate, taxable, tax in doc.taxes
        if code != "none"
    ] or [
        f'<tr><td></td><td colspan="3">Taxes (none configured)</td>'
        f'<td class="num">{esc(money(doc.total - doc.subtotal, doc.currency))}</td></tr>'
    ]
    totals = (
        f'<tr><td></td><td colspan="3">Subtotal</td>'
        f'<td class="num">{esc(money(doc.subtotal, doc.currency))}</td></tr>'
        + "".join(taxes)
        + f'<tr class="total"><td></td><td colspan="3">Total {esc(doc.currency)}</td>'
        f'<td class="num">{esc(money(doc.total, doc.currency))}</td></tr>'
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{kind} {esc(doc.invoice_id)}'
        f"</title><style>{STYLE}</style></head><body>\n"
        f"<h1>{kind} {esc(doc.invoice_id)}</h1>\n{header}\n"
        "<table><thead><tr><th class='num'>#</th><th>Description</th><th>Service period</th>"
        "<th class='num'>Quantity</th><th class='num'>Amount</th></tr></thead><tbody>\n"
        + "\n".join(rows)
        + f"\n{totals}\n</tbody></table>\n</body></html>\n"
    )


_LINES = """
SELECT l.invoice_id, l.line_number, l.customer_id, l.description, l.period_start,
       l.period_end, l.quantity, l.amount, l.adjusted_period, r.prorated_days, r.period_days,
       r.tier_breakdown
FROM invoice_lines l
LEFT JOIN rated_charges r
  ON r.run_id = l.run_id AND r.subscription_id = l.subscription_id
 AND r.charge_code = l.charge_code AND r.period_start = l.period_start
 AND r.dimensions = l.dimensions
WHERE l.invoice_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY l.invoice_id, l.line_number
"""

_ACCOUNTS = """
SELECT a.invoice_id, a.customer_id, coalesce(h.name, a.customer_id), a.subtotal, a.tax_total,
       a.total
FROM invoice_accounts a
JOIN invoices i USING (invoice_id)
LEFT JOIN account_hierarchy h ON h.run_id = i.run_id AND h.customer_id = a.customer_id
WHERE a.invoice_id IN (SELECT unnest(?::VARCHAR[]))
ORDER BY a.invoice_id, a.customer_id
"""

_HEADERS = """
SELECT invoice_id, customer_id, customer_name, timezone, currency, billing_period,
       issue_date, status, subtotal, total
FROM invoices WHERE {where} ORDER BY invoice_id
"""


def load_documents(
    con: duckdb.DuckDBPyConnection, period: str | None, invoice_ids: list[str]
) -> list[InvoiceDocument]:
    if invoice_ids:
        headers = con.execute(
            _HEADERS.format(where="invoice_id IN (SELECT unnest(?::VARCHAR[]))"), [invoice_ids]
        ).fetchall()
        missing = sorted(set(invoice_ids) - {row[0] for row in headers})
        if missing:
            raise InputError(f"no such invoice: {', '.join(missing)}")
    elif period is not None:
        headers = con.execute(_HEADERS.format(where="billing_period = ?"), [period]).fetchall()
        if not headers:
            raise InputError(f"no invoices for billing period {period} (run `meter bill` first)")
    else:
        headers = con.execute(_HEADERS.format(where="true")).fetchall()
    lines: dict[str, list[DocumentLine]] = {}
    ids = [row[0] for row in headers]
    for row in con.execute(_LINES, [ids]).fetchall():
        invoice_id, number, account, description, start, end, quantity, amount, *rest = row
        adjusted, days, of, tiers = rest
        details = tuple(
            TierDetail(t["tier"], t["units"], t["unit_price"], t["flat_fee"], t["amount"])
            for t in tiers or []
        )
        lines.setdefault(invoice_id, []).append(
            DocumentLine(
                number,
                account,
                description,
                start,
                end,
                quantity,
                amount,
                adjusted,
                days,
                of,
                details,
            )
        )
    taxes: dict[str, list[tuple[str, Decimal, Decimal, Decimal]]] = {}
    for invoice_id, *tax in con.execute(
        "SELECT invoice_id, tax_code, tax_rate, taxable_amount, tax_amount FROM invoice_taxes "
        "WHERE invoice_id IN (SELECT unnest(?::VARCHAR[])) ORDER BY invoice_id, tax_code, tax_rate",
        [ids],
    ).fetchall():
        taxes.setdefault(invoice_id, []).append(tuple(tax))  # type: ignore[arg-type]
    accounts: dict[str, list[AccountPart]] = {}
    for invoice_id, *part in con.execute(_ACCOUNTS, [ids]).fetchall():
        accounts.setdefault(invoice_id, []).append(AccountPart(*part))
    return [
        InvoiceDocument(
            *row,
            lines=tuple(lines.get(row[0], [])),
            taxes=tuple(taxes.get(row[0], [])),
            accounts=tuple(accounts.get(row[0], [])),
        )
        for row in headers
    ]


def write_invoice_documents(
    db_path: str | Path,
    out_dir: str | Path,
    period: str | None = None,
    invoice_ids: list[str] | None = None,
) -> list[Path]:
    """Render the chosen invoices (one period's, some ids', or all) to ``<out>/<id>.html``."""
    if not Path(db_path).is_file():
        raise InputError(f"{db_path}: no such database (run `meter bill` first)")
    with duckdb.connect(str(db_path), read_only=True) as con:
        documents = load_documents(con, period, invoice_ids or [])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for doc in documents:
        path = out / f"{doc.invoice_id}.html"
        path.write_text(render_invoice(doc), encoding="utf-8")
        written.append(path)
    return written

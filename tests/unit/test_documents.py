"""Invoice documents: what finance sends, rendered from the stored invoice."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.documents import DocumentLine, InvoiceDocument, TierDetail, render_invoice
from tests.golden.test_handmade_run import ingest_and_bill

D = Decimal
VOID = {"meta", "br"}


class Balanced(HTMLParser):
    """Collects the text and checks that every opened element is closed in order."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def text_of(page: str) -> str:
    parser = Balanced()
    parser.feed(page)
    assert parser.open == []
    return " ".join(" ".join(parser.text).split())


def line(number: int, description: str, amount: str, **extra: object) -> DocumentLine:
    fields: dict = {
        "number": number,
        "customer_id": "b",
        "description": description,
        "period_start": datetime(2026, 9, 30, 22, tzinfo=UTC),
        "period_end": datetime(2026, 10, 31, 23, tzinfo=UTC),
        "quantity": D(1),
        "amount": D(amount),
        "adjusted_period": None,
        "prorated_days": None,
        "period_days": None,
        "tiers": (),
    }
    return DocumentLine(**(fields | extra))


def test_a_credit_note_shows_its_adjustments_prorations_and_escapes_text():
    doc = InvoiceDocument(
        "INV-202611-000002",
        "b",
        "B <script>alert(1)</script> & Co",
        "Europe/Paris",
        "EUR",
        "2026-11",
        date(2026, 12, 1),
        "issued",
        D("-52.0000"),
        D("-52.0000"),
        (
            line(1, "Adjustment 2026-09: fee", "-21.0000", adjusted_period="2026-09"),
            line(2, "Fee", "10.0000", prorated_days=10, period_days=31),
        ),
    )
    page = render_invoice(doc)
    text = text_of(page)
    assert "<script>" not in page
    assert "Credit note INV-202611-000002" in text
    assert "B <script>alert(1)</script> & Co (b)" in text
    assert "Adjustment 2026-09: fee corrects the 2026-09 invoice" in text
    assert "Fee prorated: 10 of 31 days" in text
    assert "2026-10-01 – 2026-10-31" in text  # local days in Paris, not UTC
    assert "Total EUR -52.00" in text


def test_tiers_show_under_their_line():
    tiers = (
        TierDetail(1, D("10"), D("0"), D("1.5"), D("1.5")),
        TierDetail(3, D("2.5"), D("0.25"), D("2"), D("2.625")),
    )
    doc = InvoiceDocument(
        "INV-1",
        "c",
        "C",
        "Europe/Paris",
        "JPY",
        "2026-10",
        date(2026, 11, 1),
        "issued",
        D("1500"),
        D("1500"),
        (line(1, "Storage", "1500", quantity=D("1500.000000"), tiers=tiers),),
    )
    text = text_of(render_invoice(doc))
    assert "Storage 2026-10-01 – 2026-10-31 1,500 1,500" in text
    assert "tier 1: 10 × 0 + 1.5 flat 1.5" in text
    assert "tier 3: 2.5 × 0.25 + 2 flat 2.625" in text


@pytest.mark.integration
def test_meter_invoices_renders_every_invoice_of_a_period(tmp_path: Path):
    _, _, db = ingest_and_bill(tmp_path)
    out = tmp_path / "docs"
    assert main(["invoices", "--db", str(db), "--period", "2026-10", "--out", str(out)]) == 0
    pages = sorted(out.glob("*.html"))
    assert len(pages) == 3
    texts = [text_of(page.read_text()) for page in pages]
    paris = next(text for text in texts if "(paris)" in text)
    assert "Total EUR 29.51" in paris
    assert "tier 3: 2.5 × 0.25 + 2 flat 2.625" in paris
    assert main(["invoices", "--db", str(db), "--invoice", "INV-nope", "--out", str(out)]) == 2

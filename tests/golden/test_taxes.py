"""VAT on invoices, worked out by hand (seller in France; FR 20 %, DE 19 %).

One monthly fee each, October 2026, billed in arrears:

* fr (France, no VAT id), plan ``net`` 100.00: domestic, 20.00 -> 120.00;
* de_b2b (Germany, VAT id): reverse charge, 0 -> 100.00;
* de_b2c (Germany, no VAT id): German rate, 19.00 -> 119.00;
* us (United States): export, 0 -> 100.00;
* ngo (France, tax exempt): exempt, 0 -> 100.00;
* frg (France), plan ``gross`` 120.00 with prices including tax: tax 120 x 20/120 = 20.00,
  net 100.00 -> 120.00;
* odd (France), plan ``odd`` 10.125: the line is 10.13 (rounded half away), its tax
  10.13 x 20 % = 2.026 -> 2.03 -> 12.16.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from jobs.cli import main
from schemas.errors import InputError
from tests.scenario import CALLS_CATALOG, scenario

D = Decimal

CATALOG = (
    CALLS_CATALOG
    + """
tax:
  seller_country: FR
  rates: {FR: 20, DE: 19}
plans:
  - code: net
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 100.00}]
  - code: gross
    currency: EUR
    prices_include_tax: true
    charges: [{code: fee, model: flat_fee, amount: 120.00}]
  - code: odd
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 10.125}]
"""
)
CUSTOMERS = """customer_id,name,timezone,country,vat_id,tax_exempt
fr,FR,Europe/Paris,FR,,
de_b2b,DE B2B,Europe/Berlin,DE,DE123456789,
de_b2c,DE B2C,Europe/Berlin,de,,
us,US,America/New_York,US,,
ngo,NGO,Europe/Paris,FR,,true
frg,FRG,Europe/Paris,FR,,
odd,ODD,Europe/Paris,FR,,
"""
SUBSCRIPTIONS = "subscription_id,customer_id,plan_code,start_date\n" + "".join(
    f"s-{c},{c},{plan},2026-09-01\n"
    for c, plan in [
        ("fr", "net"),
        ("de_b2b", "net"),
        ("de_b2c", "net"),
        ("us", "net"),
        ("ngo", "net"),
        ("frg", "gross"),
        ("odd", "odd"),
    ]
)


@pytest.mark.integration
def test_each_customer_gets_its_treatment_and_exact_tax(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.bill("2026-10")
    assert world.query(
        "SELECT customer_id, subtotal, tax_total, total FROM invoices ORDER BY 1"
    ) == [
        ("de_b2b", D("100.00"), D("0.00"), D("100.00")),
        ("de_b2c", D("100.00"), D("19.00"), D("119.00")),
        ("fr", D("100.00"), D("20.00"), D("120.00")),
        ("frg", D("100.00"), D("20.00"), D("120.00")),
        ("ngo", D("100.00"), D("0.00"), D("100.00")),
        ("odd", D("10.13"), D("2.03"), D("12.16")),
        ("us", D("100.00"), D("0.00"), D("100.00")),
    ]
    assert world.query(
        "SELECT i.customer_id, t.tax_code, t.tax_rate, t.taxable_amount, t.tax_amount "
        "FROM invoice_taxes t JOIN invoices i USING (invoice_id) ORDER BY 1"
    ) == [
        ("de_b2b", "reverse_charge", D("0"), D("100.00"), D("0.00")),
        ("de_b2c", "eu_consumer", D("19"), D("100.00"), D("19.00")),
        ("fr", "domestic", D("20"), D("100.00"), D("20.00")),
        ("frg", "domestic", D("20"), D("100.00"), D("20.00")),
        ("ngo", "exempt", D("0"), D("100.00"), D("0.00")),
        ("odd", "domestic", D("20"), D("10.13"), D("2.03")),
        ("us", "export", D("0"), D("100.00"), D("0.00")),
    ]


def test_a_consumer_in_a_country_without_a_rate_is_named(tmp_path: Path):
    world = scenario(
        tmp_path,
        CATALOG,
        CUSTOMERS + "it,IT,Europe/Rome,IT,,\n",
        SUBSCRIPTIONS,
    )
    with pytest.raises(InputError, match=r"line 9: customer it in IT without a VAT id needs"):
        world.bill("2026-10")


def test_a_customer_without_a_country_is_named_when_the_catalog_taxes(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS + "nowhere,N,UTC,,,\n", SUBSCRIPTIONS)
    with pytest.raises(InputError, match=r"line 9: empty country \(the catalog taxes"):
        world.bill("2026-10")


@pytest.mark.integration
def test_the_invoice_document_shows_tax_per_rate(tmp_path: Path):
    world = scenario(tmp_path, CATALOG, CUSTOMERS, SUBSCRIPTIONS)
    world.bill("2026-10")
    [invoice_id] = world.query("SELECT invoice_id FROM invoices WHERE customer_id = 'de_b2b'")[0]
    render = ["invoices", "--db", str(world.db), "--out", str(tmp_path), "--invoice"]
    assert main([*render, invoice_id]) == 0
    page = (tmp_path / f"{invoice_id}.html").read_text()
    assert "VAT reverse charge (article 196, Directive 2006/112/EC) on 100.00" in page
    [fr] = world.query("SELECT invoice_id FROM invoices WHERE customer_id = 'fr'")[0]
    assert main([*render, fr]) == 0
    page = (tmp_path / f"{fr}.html").read_text()
    assert "VAT 20% on 100.00" in page and ">120.00<" in page

"""Account hierarchies, worked out by hand: October 2026, monthly fees in arrears, seller in
France (FR 20 %, DE 19 %). Plan ``base`` is 100.00 plus 0.50 a call; ``seat`` is 10.00.

A 3-level tree consolidated to its root ``msp`` (every account sends its lines up):

* msp (FR, root), base: 100.00 + 20.00 VAT = 120.00;
* acme (DE with a VAT id, under msp): base 100.00 + 4 calls = 102.00, reverse charge: 102.00;
* acme-berlin (DE, no VAT id, under acme, sends to acme which sends to msp): seat 10.00
  + 1.90 = 11.90;
* beta (FR, under msp, names msp itself as recipient): seat 10.00 + 2.00 = 12.00.

One invoice to msp: subtotal 222.00, tax 23.90, total 245.90 = 120.00 + 102.00 + 11.90
+ 12.00, what the four accounts are billed alone.

A mixed tree ``group``: group (base, 120.00) receives shop-a's lines (seat, 12.00): 132.00;
shop-b bills itself and receives its kiosk's lines: 12.00 + 12.00 = 24.00.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from jobs.cli import main
from jobs.progressive import run_progressive_billing
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
  - code: base
    currency: EUR
    charges:
      - {code: fee, model: flat_fee, amount: 100.00}
      - {code: calls, meter: calls, model: per_unit, unit_price: 0.50}
  - code: seat
    currency: EUR
    charges: [{code: fee, model: flat_fee, amount: 10.00}]
"""
)
HEADER = "customer_id,name,timezone,country,vat_id,parent_id,invoice_to\n"
TREES = """msp,MSP,Europe/Paris,FR,,,
acme,Acme,Europe/Berlin,DE,DE123456789,msp,parent
acme-berlin,Acme Berlin,Europe/Berlin,DE,,acme,parent
beta,Beta,Europe/Paris,FR,,msp,msp
group,Group,Europe/Paris,FR,,,
shop-a,Shop A,Europe/Paris,FR,,group,parent
shop-b,Shop B,Europe/Paris,FR,,group,
shop-b-kiosk,Kiosk,Europe/Paris,FR,,shop-b,parent
"""
PLANS = {
    "msp": "base",
    "acme": "base",
    "acme-berlin": "seat",
    "beta": "seat",
    "group": "base",
    "shop-a": "seat",
    "shop-b": "seat",
    "shop-b-kiosk": "seat",
}
SUBSCRIPTIONS = "subscription_id,customer_id,plan_code,start_date\n" + "".join(
    f"s-{account},{account},{plan},2026-09-01\n" for account, plan in PLANS.items()
)
CALLS = [(f"e{i}", "acme", "call", datetime(2026, 10, 5 + i, tzinfo=UTC)) for i in range(4)]


def _world(root: Path, customers: str):
    world = scenario(root, CATALOG, customers, SUBSCRIPTIONS)
    world.ingest(CALLS)
    world.bill("2026-10")
    return world


@pytest.mark.integration
def test_trees_consolidate_into_their_recipients_invoices(tmp_path: Path):
    world = _world(tmp_path, HEADER + TREES)
    assert world.query(
        "SELECT customer_id, account_count, line_count, subtotal, tax_total, total "
        "FROM invoices ORDER BY 1"
    ) == [
        ("group", 2, 3, D("110.00"), D("22.00"), D("132.00")),
        ("msp", 4, 6, D("222.00"), D("23.90"), D("245.90")),
        ("shop-b", 2, 2, D("20.00"), D("4.00"), D("24.00")),
    ]
    # The recipient's invoice shows each account's part, its lines grouped by account.
    msp = "(SELECT invoice_id FROM invoices WHERE customer_id = 'msp')"
    assert world.query(
        f"SELECT customer_id, subtotal, tax_total, total FROM invoice_accounts "
        f"WHERE invoice_id = {msp} ORDER BY 1"
    ) == [
        ("acme", D("102.00"), D("0.00"), D("102.00")),
        ("acme-berlin", D("10.00"), D("1.90"), D("11.90")),
        ("beta", D("10.00"), D("2.00"), D("12.00")),
        ("msp", D("100.00"), D("20.00"), D("120.00")),
    ]
    assert world.query(
        f"SELECT line_number, customer_id, charge_code, tax_code FROM invoice_lines "
        f"WHERE invoice_id = {msp} ORDER BY 1"
    ) == [
        (1, "acme", "fee", "reverse_charge"),
        (2, "acme", "calls", "reverse_charge"),
        (3, "acme-berlin", "fee", "eu_consumer"),
        (4, "beta", "fee", "domestic"),
        (5, "msp", "fee", "domestic"),
        (6, "msp", "calls", "domestic"),
    ]
    [(invoice_id,)] = world.query(msp[1:-1])
    out = tmp_path / "documents"
    assert main(["invoices", "--db", str(world.db), "--out", str(out)]) == 0
    page = (out / f"{invoice_id}.html").read_text()
    assert page.index("Acme Berlin (acme-berlin)") < page.index("Subtotal Acme Berlin: 10.00")
    assert 'Subtotal Acme Berlin: 10.00 + tax 1.90</td><td class="num">11.90' in page
    assert "Subtotal MSP: 100.00 + tax 20.00" in page and ">245.90<" in page


@pytest.mark.integration
def test_a_consolidated_total_is_what_each_account_is_billed_alone(tmp_path: Path):
    (tmp_path / "tree").mkdir()
    (tmp_path / "flat").mkdir()
    tree = _world(tmp_path / "tree", HEADER + TREES)
    alone = "".join(",".join(line.split(",")[:5]) + ",,\n" for line in TREES.splitlines())
    flat = _world(tmp_path / "flat", HEADER + alone)
    totals = dict(flat.query("SELECT customer_id, total FROM invoices"))
    assert totals == {
        "msp": D("120.00"),
        "acme": D("102.00"),
        "acme-berlin": D("11.90"),
        "beta": D("12.00"),
        "group": D("120.00"),
        "shop-a": D("12.00"),
        "shop-b": D("12.00"),
        "shop-b-kiosk": D("12.00"),
    }
    routed = tree.query("SELECT h.bill_to, h.customer_id FROM account_hierarchy h")
    for recipient, total in tree.query("SELECT customer_id, total FROM invoices"):
        assert total == sum(totals[account] for to, account in routed if to == recipient)


@pytest.mark.integration
def test_roll_up_views_sum_each_subtree(tmp_path: Path):
    world = _world(tmp_path, HEADER + TREES)
    assert world.query(
        "SELECT account_id, depth, accounts_billed, own_subtotal, subtotal, total "
        "FROM revenue_rollup WHERE root_id = 'msp' ORDER BY depth, account_id"
    ) == [
        ("msp", 0, 4, D("100.00"), D("222.00"), D("245.90")),
        ("acme", 1, 2, D("102.00"), D("112.00"), D("113.90")),
        ("beta", 1, 1, D("10.00"), D("10.00"), D("12.00")),
        ("acme-berlin", 2, 1, D("10.00"), D("10.00"), D("11.90")),
    ]
    assert world.query(
        "SELECT depth, accounts_billed, subtotal FROM revenue_by_level "
        "WHERE root_id = 'msp' ORDER BY depth"
    ) == [(0, 1, D("100.00")), (1, 2, D("112.00")), (2, 1, D("10.00"))]
    assert world.query(
        "SELECT account_id, own_quantity, quantity, event_count FROM usage_rollup "
        "WHERE root_id = 'msp' ORDER BY account_id"
    ) == [("acme", D("4"), D("4"), 4), ("msp", D("0"), D("4"), 4)]
    assert world.query(
        "SELECT account_id, own_invoices, own_total, invoices, total FROM invoice_rollup "
        "WHERE root_id = 'group' ORDER BY depth, account_id"
    ) == [("group", 1, D("132.00"), 2, D("156.00")), ("shop-b", 1, D("24.00"), 1, D("24.00"))]


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            "a,A,UTC,FR,,c,\nb,B,UTC,FR,,a,\nc,C,UTC,FR,,b,\n",
            r"lines 2, 3, 4: accounts form a cycle: a -> c -> b -> a",
        ),
        ("a,A,UTC,FR,,,\nb,B,UTC,FR,,x,\n", r"line 3: parent_id x of customer b is not a customer"),
        (
            "a,A,UTC,FR,,,\nb,B,UTC,FR,,a,\nc,C,UTC,FR,,,\nb,B,UTC,FR,,c,\n",
            r"line 3: customer b is listed under a \(line 3\) and c \(line 5\): an account "
            r"belongs to one tree",
        ),
        (
            "a,A,UTC,FR,,,\nb,B,UTC,FR,,,a\n",
            r"line 3: account b has invoice_to a, which is not one of its ancestors",
        ),
        ("a,A,UTC,FR,,,parent\n", r"line 2: customer a has invoice_to parent but no parent_id"),
    ],
)
def test_a_bad_hierarchy_is_named_by_line_and_nothing_is_written(
    tmp_path: Path, rows: str, problem: str, capsys: pytest.CaptureFixture[str]
):
    world = scenario(
        tmp_path, CATALOG, HEADER + rows, "subscription_id,customer_id,plan_code,start_date\n"
    )
    with pytest.raises(InputError, match=problem):
        world.bill("2026-10")
    code = main(
        [
            "bill",
            "--period",
            "2026-10",
            "--catalog",
            str(tmp_path / "catalog.yaml"),
            "--customers",
            str(tmp_path / "customers.csv"),
            "--subscriptions",
            str(tmp_path / "subscriptions.csv"),
            "--store",
            str(tmp_path / "store"),
            "--db",
            str(world.db),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "customers.csv" in err[0]
    assert not world.db.exists() or world.query("SELECT count(*) FROM billing_runs") == [(0,)]


COTERM_CATALOG = (
    CALLS_CATALOG
    + """
plans:
  - code: site
    currency: EUR
    alignment: anniversary
    charges: [{code: fee, model: flat_fee, amount: 30.00}]
"""
)
COTERM_CUSTOMERS = """customer_id,name,timezone,parent_id,invoice_to,coterm_date
hq,HQ,UTC,,,2026-01-15
site-1,Site 1,UTC,hq,parent,
site-2,Site 2,UTC,hq,parent,
site-3,Site 3,UTC,hq,parent,
"""
COTERM_SUBSCRIPTIONS = """subscription_id,customer_id,plan_code,start_date
s-1,site-1,site,2026-09-05
s-2,site-2,site,2026-09-20
s-3,site-3,site,2026-10-01
"""


@pytest.mark.integration
def test_co_terming_renews_every_subscription_of_a_tree_on_one_date(tmp_path: Path):
    """hq renews on the 15th (coterm_date 2026-01-15), its sites inherit it; 30.00 a month.

    * s-1 (from 5 September): 5-15 September, 10 of 31 days (15 Aug - 15 Sep) = 9.677... ->
      9.68 in the September run; then 15 Sep - 15 Oct, 30.00;
    * s-2 (from 20 September): 20 Sep - 15 Oct, 25 of 30 days = 25.00;
    * s-3 (from 1 October): 1-15 October, 14 of 30 days = 14.00.

    October: one invoice to hq, 69.00, every line ending 15 October; November: 3 x 30.00.
    """
    world = scenario(tmp_path, COTERM_CATALOG, COTERM_CUSTOMERS, COTERM_SUBSCRIPTIONS)
    world.bill("2026-09", "2026-10", "2026-11")
    assert world.query(
        "SELECT billing_period, customer_id, account_count, total FROM invoices ORDER BY 1"
    ) == [
        ("2026-09", "hq", 1, D("9.68")),
        ("2026-10", "hq", 3, D("69.00")),
        ("2026-11", "hq", 3, D("90.00")),
    ]
    october = world.query(
        "SELECT l.customer_id, l.period_start::DATE, l.period_end::DATE, l.amount "
        "FROM invoice_lines l JOIN invoices i USING (invoice_id) "
        "WHERE i.billing_period = '2026-10' ORDER BY 1"
    )
    assert october == [
        ("site-1", date(2026, 9, 15), date(2026, 10, 15), D("30.00")),
        ("site-2", date(2026, 9, 20), date(2026, 10, 15), D("25.00")),
        ("site-3", date(2026, 10, 1), date(2026, 10, 15), D("14.00")),
    ]
    assert world.query(
        "SELECT DISTINCT l.period_end::DATE FROM invoice_lines l JOIN invoices i "
        "USING (invoice_id) WHERE i.billing_period = '2026-11'"
    ) == [(date(2026, 11, 15),)]


@pytest.mark.integration
def test_a_progressive_invoice_goes_to_the_recipient_too(tmp_path: Path):
    """kid sends its lines to its parent: the early invoice of its usage (3 calls x 0.50
    past a level of 1.00, no tax configured here) is the parent's, like its month."""
    catalog = (
        CALLS_CATALOG
        + """
plans:
  - code: early
    currency: EUR
    progressive_billing: {amount: 1}
    charges: [{code: calls, meter: calls, model: per_unit, unit_price: 0.50}]
"""
    )
    world = scenario(
        tmp_path,
        catalog,
        "customer_id,name,timezone,parent_id,invoice_to\nmom,Mom,UTC,,\nkid,Kid,UTC,mom,parent\n",
        "subscription_id,customer_id,plan_code,start_date\ns-kid,kid,early,2026-09-01\n",
    )
    world.ingest(
        [(f"k{i}", "kid", "call", datetime(2026, 10, 2 + i, tzinfo=UTC)) for i in range(3)]
    )
    run_progressive_billing(world.inputs(""), "2026-10-10", world.db)
    assert world.query("SELECT customer_id, account_count, total FROM invoices") == [
        ("mom", 1, D("1.50"))
    ]
    assert world.query("SELECT customer_id FROM invoice_lines") == [("kid",)]

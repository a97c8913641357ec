"""Taxes (VAT) on invoice lines: which treatment a customer gets, and each line's tax, exactly.

The catalog's ``tax`` section names the seller's country and the VAT rate of
each country it sells to (percent)::

    tax:
      seller_country: FR
      rates: {FR: 20, DE: 19, IT: 22}

A customer (``customers.csv``: ``country``, ``vat_id``, ``tax_exempt``) gets,
in this order:

=====================  =====================================  ==============
``tax_code``           when                                   rate
=====================  =====================================  ==============
``exempt``             ``tax_exempt`` is true                 0
``domestic``           same country as the seller             seller's rate
``reverse_charge``     another EU country, with a VAT id      0 (the buyer
                       (B2B)                                  accounts for it)
``eu_consumer``        another EU country, no VAT id (B2C)    that country's
``export``             outside the EU                         0
=====================  =====================================  ==============

Each line is taxed on its own, rounded once to the currency's minor unit,
half away from zero; an invoice's tax is the sum of its lines' taxes. A plan
with ``prices_include_tax: true`` rates gross amounts: the tax is
``gross x rate / (100 + rate)`` (rounded the same way) and the line's net
amount is the gross less it, so net + tax is exactly the price.

>>> from decimal import Decimal as D
>>> lines = pl.DataFrame({"customer_id": ["c"], "plan_code": ["p"], "currency": ["EUR"],
...     "amount": [D("10.00")]}, schema_overrides={"amount": pl.Decimal(38, 4)})
>>> rules = pl.DataFrame({"customer_id": ["c"], "tax_code": ["domestic"],
...     "tax_rate": [D("20")]}, schema_overrides={"tax_rate": TAX_RATE})
>>> taxed = apply_taxes(lines, rules, inclusive_plans=set())
>>> taxed.select("amount", "tax_amount").row(0)
(Decimal('10.0000'), Decimal('2.0000'))
>>> apply_taxes(lines, rules, inclusive_plans={"p"}).select("amount", "tax_amount").row(0)
(Decimal('8.3300'), Decimal('1.6700'))
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from rating import params
from rating.money import round_to_minor
from schemas.types import AMOUNT, ROUNDED_AMOUNT

TAX_RATE = pl.Decimal(9, 4)
"""A tax rate in percent, up to 4 decimals (e.g. 7.7)."""

EU_COUNTRIES = frozenset(
    {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU"}
    | {"IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"}
)
"""The 27 member states (Greece as GR, its ISO code)."""
_COUNTRY = re.compile(r"^[A-Z]{2}$")


class TaxCode:
    EXEMPT = "exempt"
    DOMESTIC = "domestic"
    REVERSE_CHARGE = "reverse_charge"
    EU_CONSUMER = "eu_consumer"
    EXPORT = "export"
    NONE = "none"
    """No tax section in the catalog: nothing is taxed."""


@dataclass(frozen=True)
class TaxConfig:
    seller_country: str
    rates: Mapping[str, Decimal]
    """Percent per ISO 3166 country code."""


def parse_tax(raw: Any, problems: list[str]) -> TaxConfig | None:
    """The catalog's ``tax`` section, or problems naming each bad key."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        problems.append("tax: expected a mapping {seller_country, rates}")
        return None
    params.reject_unknown(raw, {"seller_country", "rates"}, "tax", problems)
    seller = raw.get("seller_country")
    if not isinstance(seller, str) or not _COUNTRY.match(seller):
        problems.append(f"tax.seller_country: expected a country code such as FR, got {seller!r}")
        seller = None
    rates_raw = raw.get("rates")
    if not isinstance(rates_raw, Mapping) or not rates_raw:
        problems.append("tax.rates: expected a mapping of country code to percent")
        return None
    rates: dict[str, Decimal] = {}
    for country, value in rates_raw.items():
        path = f"tax.rates.{country}"
        if not isinstance(country, str) or not _COUNTRY.match(country):
            problems.append(f"{path}: not a country code (two capital letters)")
            continue
        rate = params.to_decimal(value, path, problems, scale=4, integer_digits=2)
        if rate is None:
            continue
        rates[country] = rate
    if seller is not None and seller not in rates:
        problems.append(f"tax.rates: no rate for the seller's country {seller}")
        return None
    if seller is None or len(rates) != len(rates_raw):
        return None
    return TaxConfig(seller, rates)


def treatments(customers: pl.DataFrame, config: TaxConfig | None) -> pl.DataFrame:
    """``customer_id, tax_code, tax_rate`` of every customer (see the module's table).

    ``customers`` has ``customer_id`` and, when taxes are configured,
    ``country``, ``vat_id`` and ``tax_exempt``.
    """
    if config is None:
        return customers.select(
            "customer_id",
            pl.lit(TaxCode.NONE).alias("tax_code"),
            pl.lit(0, dtype=TAX_RATE).alias("tax_rate"),
        )
    country, has_vat_id = pl.col("country"), pl.col("vat_id").is_not_null()
    rate_of = pl.DataFrame(
        {"country": list(config.rates), "_rate": list(config.rates.values())},
        schema={"country": pl.String, "_rate": TAX_RATE},
    )
    in_eu = country.is_in(sorted(EU_COUNTRIES))
    code = (
        pl.when(pl.col("tax_exempt"))
        .then(pl.lit(TaxCode.EXEMPT))
        .when(country == config.seller_country)
        .then(pl.lit(TaxCode.DOMESTIC))
        .when(in_eu & has_vat_id)
        .then(pl.lit(TaxCode.REVERSE_CHARGE))
        .when(in_eu)
        .then(pl.lit(TaxCode.EU_CONSUMER))
        .otherwise(pl.lit(TaxCode.EXPORT))
    )
    taxed = pl.col("tax_code").is_in([TaxCode.DOMESTIC, TaxCode.EU_CONSUMER])
    return (
        customers.join(rate_of, on="country", how="left")
        .with_columns(code.alias("tax_code"))
        .select(
            "customer_id",
            "tax_code",
            pl.when(taxed)
            .then(pl.col("_rate"))
            .otherwise(pl.lit(0, dtype=TAX_RATE))
            .cast(TAX_RATE)
            .alias("tax_rate"),
        )
    )


def missing_rates(customers: pl.DataFrame, config: TaxConfig) -> pl.DataFrame:
    """Customers whose treatment needs a rate the catalog does not give (EU consumers)."""
    rules = treatments(customers, config)
    known = list(config.rates)
    return customers.join(rules, on="customer_id").filter(
        (pl.col("tax_code") == TaxCode.EU_CONSUMER) & ~pl.col("country").is_in(known)
    )


def apply_taxes(
    lines: pl.DataFrame, rules: pl.DataFrame, inclusive_plans: Collection[str]
) -> pl.DataFrame:
    """``lines`` (``customer_id, plan_code, currency, amount``) with ``tax_code``,
    ``tax_rate`` and ``tax_amount``; ``amount`` becomes the net of a tax-inclusive plan's
    lines. One rounding per line, to its currency's minor unit (the loop runs over
    currencies, a few)."""
    joined = (
        lines.with_row_index("_line")
        .join(rules, on="customer_id", how="left", maintain_order="left")
        .with_columns(
            pl.col("tax_code").fill_null(TaxCode.NONE),
            pl.col("tax_rate").fill_null(pl.lit(0, dtype=TAX_RATE)),
        )
    )
    gross = pl.col("plan_code").is_in(sorted(inclusive_plans))
    rate = pl.col("tax_rate").cast(AMOUNT)
    hundred = pl.lit(100, dtype=AMOUNT)
    amount = pl.col("amount").cast(AMOUNT)
    exact = (
        pl.when(gross)
        .then(amount * rate / (hundred + rate))
        .otherwise(amount * rate / hundred)
        .cast(AMOUNT)
    )
    parts = [
        joined.filter(pl.col("currency") == currency).with_columns(
            round_to_minor(exact, currency).cast(ROUNDED_AMOUNT).alias("tax_amount")
        )
        for currency in sorted(joined["currency"].unique().to_list())
    ]
    taxed = (
        pl.concat(parts)
        if parts
        else joined.with_columns(pl.lit(0, dtype=ROUNDED_AMOUNT).alias("tax_amount"))
    )
    return (
        taxed.sort("_line")
        .with_columns(
            pl.when(gross)
            .then(pl.col("amount") - pl.col("tax_amount"))
            .otherwise(pl.col("amount"))
            .cast(ROUNDED_AMOUNT)
            .alias("amount")
        )
        .select(*lines.columns, "tax_code", "tax_rate", "tax_amount")
    )

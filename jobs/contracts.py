"""Loading customers and subscriptions from CSV, validated row by row.

``customers.csv``: ``customer_id, name, timezone`` (IANA name; empty means UTC);
optionally the tax columns ``country, vat_id, tax_exempt`` (:mod:`rating.tax`)
and the hierarchy columns ``parent_id, invoice_to, coterm_date``
(:mod:`aggregation.hierarchy`).
``subscriptions.csv``: ``subscription_id, customer_id, plan_code, start_date``
and optionally ``end_date`` (exclusive; empty = open-ended) and ``quantity``
(units of the plan's fixed fees, default 1). Dates are ISO ``YYYY-MM-DD`` in
the customer's timezone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import available_timezones

import polars as pl

from aggregation.hierarchy import HierarchyError, account_tree
from jobs.changes import (
    SEGMENT_OF,
    apply_changes,
    check_segment_overlaps,
    concurrent_conflicts,
    load_changes,
    sharing_plans,
)
from jobs.credits import load_credits
from jobs.csv_input import (
    LINE,
    MAX_LISTED,
    as_date,
    date_span,
    fail_on,
    fail_on_duplicates,
    fail_on_unknown_customers,
    read_csv,
    read_rows,
)
from rating.coupons import Coupon
from rating.money import MINOR_UNITS
from rating.tax import TaxConfig, missing_rates
from schemas.errors import InputError

CUSTOMER_COLUMNS = ("customer_id", "name", "timezone")
SUBSCRIPTION_COLUMNS = ("subscription_id", "customer_id", "plan_code", "start_date")


@dataclass(frozen=True)
class Contracts:
    customers: pl.DataFrame
    """``customer_id, name, timezone``"""
    subscriptions: pl.DataFrame
    """Segments of subscriptions (``jobs.changes.SEGMENT_SCHEMA``): ``subscription_id`` (the
    segment's key), ``segment_of``, ``customer_id, plan_code, start_date, end_date,
    item_quantity, anchor_date, paused, end_reason``; one per unchanged subscription."""
    sha256: str
    redemptions: pl.DataFrame | None = None
    """Redeemed coupons: ``subscription_id, coupon_code, start_date, end_date``."""
    grants: pl.DataFrame | None = None
    """Prepaid credits granted (``jobs.credits``, ``rating.wallet.GRANT_SCHEMA``)."""


def _fail_on_two_parents(frame: pl.DataFrame, path: Path) -> None:
    """A customer listed twice under different parents would sit in two trees."""
    if "parent_id" not in frame.columns:
        return
    parents = frame.group_by("customer_id").agg(
        pl.col("parent_id").n_unique().alias("_parents"),
        pl.format("{} (line {})", pl.col("parent_id").fill_null("no parent"), LINE)
        .str.join(" and ")
        .alias("_under"),
    )
    fail_on(
        frame.join(parents.filter(pl.col("_parents") > 1), on="customer_id").unique(
            "customer_id", keep="first"
        ),
        pl.lit(value=True),
        pl.format(
            "customer {} is listed under {}: an account belongs to one tree",
            "customer_id",
            "_under",
        ),
        path,
    )


def load_customers(path: str | Path, tax: TaxConfig | None = None) -> tuple[pl.DataFrame, bytes]:
    path = Path(path)
    frame, raw = read_csv(path, ("customer_id",))
    if "name" not in frame.columns:
        frame = frame.with_columns(pl.col("customer_id").alias("name"))
    if "timezone" not in frame.columns:
        frame = frame.with_columns(pl.lit("UTC").alias("timezone"))
    frame = frame.with_columns(pl.col("timezone").fill_null("UTC"))
    fail_on(frame, pl.col("customer_id").is_null(), pl.lit("empty customer_id"), path)
    _fail_on_two_parents(frame, path)
    fail_on_duplicates(frame, "customer_id", path)
    fail_on(
        frame,
        ~pl.col("timezone").is_in(sorted(available_timezones())),
        pl.format("unknown timezone {} (use an IANA name such as Europe/Paris)", "timezone"),
        path,
    )
    frame = _tax_columns(frame, tax, path)
    frame = _hierarchy(frame, path)
    frame = _currency(frame, path)
    return (
        frame.select(LINE, *CUSTOMER_COLUMNS, *TAX_COLUMNS, *HIERARCHY_COLUMNS, "currency"),
        raw,
    )


def _currency(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """``currency``: the account bills in it (empty: each plan in its own currency)."""
    if "currency" not in frame.columns:
        return frame.with_columns(pl.lit(None, dtype=pl.String).alias("currency"))
    frame = frame.with_columns(pl.col("currency").str.to_uppercase())
    fail_on(
        frame,
        pl.col("currency").is_not_null() & ~pl.col("currency").is_in(sorted(MINOR_UNITS)),
        pl.format(
            "unknown currency {} of customer {} (use an ISO 4217 code such as EUR)",
            "currency",
            "customer_id",
        ),
        path,
    )
    return frame


HIERARCHY_COLUMNS = ("parent_id", "root_id", "depth", "bill_to", "coterm_date")


def _hierarchy(frame: pl.DataFrame, path: Path) -> pl.DataFrame:
    """The account tree columns (``aggregation.hierarchy``) from the optional ``parent_id``,
    ``invoice_to`` (empty or ``self``, ``parent``, or an ancestor's id) and ``coterm_date``."""
    for name in ("parent_id", "invoice_to", "coterm_date"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    fail_on(
        frame,
        pl.col("parent_id").is_not_null()
        & ~pl.col("parent_id").is_in(frame["customer_id"].implode()),
        pl.format("parent_id {} of customer {} is not a customer", "parent_id", "customer_id"),
        path,
    )
    fail_on(
        frame,
        pl.col("invoice_to").eq_missing(pl.lit("parent")) & pl.col("parent_id").is_null(),
        pl.format("customer {} has invoice_to parent but no parent_id", "customer_id"),
        path,
    )
    fail_on(
        frame,
        as_date("coterm_date").is_null() & pl.col("coterm_date").is_not_null(),
        pl.format("coterm_date {} is not a date (YYYY-MM-DD)", "coterm_date"),
        path,
    )
    accounts = frame.select(
        "customer_id",
        "parent_id",
        pl.when(pl.col("invoice_to") == "parent")
        .then(pl.col("parent_id"))
        .when((pl.col("invoice_to") == "self") | (pl.col("invoice_to") == pl.col("customer_id")))
        .then(None)
        .otherwise(pl.col("invoice_to"))
        .alias("invoice_to"),
        as_date("coterm_date"),
    )
    try:
        tree = account_tree(accounts)
    except HierarchyError as error:
        lines = frame.filter(pl.col("customer_id").is_in(error.customers)).sort(LINE)[LINE]
        listed = ", ".join(str(line) for line in lines.head(MAX_LISTED))
        raise InputError(
            f"{path}: line{'s' if lines.len() > 1 else ''} {listed}: {error}"
        ) from None
    return frame.drop("parent_id", "coterm_date").join(
        tree.accounts, on="customer_id", how="left", maintain_order="left"
    )


TAX_COLUMNS = ("country", "vat_id", "tax_exempt")


def _tax_columns(frame: pl.DataFrame, tax: TaxConfig | None, path: Path) -> pl.DataFrame:
    """``country`` (ISO code), ``vat_id`` and ``tax_exempt``: optional unless the catalog
    taxes, then every customer needs a country with a known treatment."""
    for name in TAX_COLUMNS:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias(name))
    exempt = pl.col("tax_exempt").str.to_lowercase()
    fail_on(
        frame,
        exempt.is_not_null() & ~exempt.is_in(["true", "false"]),
        pl.format("tax_exempt {} is not true or false", "tax_exempt"),
        path,
    )
    frame = frame.with_columns(
        pl.col("country").str.to_uppercase(),
        (exempt == "true").fill_null(value=False).alias("tax_exempt"),
    )
    if tax is None:
        return frame
    fail_on(
        frame,
        pl.col("country").is_null(),
        pl.lit("empty country (the catalog taxes: every customer needs one, e.g. FR)"),
        path,
    )
    fail_on(
        frame,
        ~pl.col("country").str.contains(r"^[A-Z]{2}$"),
        pl.format("country {} is not a country code such as FR", "country"),
        path,
    )
    unknown = missing_rates(frame, tax)
    fail_on(
        frame.join(unknown.select("customer_id"), on="customer_id", how="semi"),
        pl.lit(value=True),
        pl.format(
            "customer {} in {} without a VAT id needs that country's rate in tax.rates",
            "customer_id",
            "country",
        ),
        path,
    )
    return frame


def load_subscriptions(
    path: str | Path,
    customer_ids: Collection[str],
    plan_codes: Collection[str],
    sharing: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, bytes]:
    path = Path(path)
    frame, raw = read_rows(path, SUBSCRIPTION_COLUMNS, ("end_date", "quantity", "trial_days"))
    fail_on_duplicates(frame, "subscription_id", path)
    fail_on_unknown_customers(frame, customer_ids, path)
    fail_on(
        frame,
        ~pl.col("plan_code").is_in(list(plan_codes)),
        pl.format("unknown plan {} (not in the catalog)", "plan_code"),
        path,
    )
    frame = date_span(frame, path).with_columns(
        pl.col("quantity").fill_null("1").cast(pl.Int64, strict=False).alias("item_quantity"),
        pl.col("trial_days").fill_null("0").cast(pl.Int64, strict=False).alias("trial"),
    )
    fail_on(
        frame,
        pl.col("item_quantity").is_null() | (pl.col("item_quantity") < 1),
        pl.format("quantity {} is not a positive whole number", pl.col("quantity")),
        path,
    )
    _fail_on_overlaps(frame, sharing_plans(plan_codes) if sharing is None else sharing, path)
    fail_on(
        frame,
        pl.col("trial").is_null() | (pl.col("trial") < 0),
        pl.format("trial_days {} is not a whole number of days", pl.col("trial_days")),
        path,
    )
    frame = frame.with_columns(pl.col("trial").alias("trial_days"))
    return frame.select(LINE, *SUBSCRIPTION_COLUMNS, "end_date", "item_quantity", "trial_days"), raw


def _fail_on_overlaps(frame: pl.DataFrame, sharing: pl.DataFrame, path: Path) -> None:
    """A customer may hold several subscriptions at once only when their plans price
    different meters (a cross-sold add-on): each event then belongs to one of them."""
    clashes = concurrent_conflicts(frame.with_columns(pl.col(LINE).alias("_key")), sharing, "_key")
    fail_on(
        frame.join(
            clashes.select(pl.col("_key").alias(LINE), pl.col("other").alias("_previous")),
            on=LINE,
        ),
        pl.lit(value=True),
        pl.format(
            "subscription {} of customer {} overlaps the one on line {} (their plans price "
            "a common meter)",
            "subscription_id",
            "customer_id",
            "_previous",
        ),
        path,
    )


def load_contracts(
    customers_path: str | Path,
    subscriptions_path: str | Path,
    plan_codes: Collection[str],
    changes_path: str | Path | None = None,
    replacements: Mapping[str, tuple[str, date]] | None = None,
    tax: TaxConfig | None = None,
    coupons_path: str | Path | None = None,
    coupons: Mapping[str, Coupon] | None = None,
    price_lists: pl.DataFrame | None = None,
    credits_path: str | Path | None = None,
) -> Contracts:
    """Customers and subscriptions, with the effective-dated changes (``changes_path``) and
    the catalog's price-list changes (``replacements``) applied, as segments; each segment
    of a customer with a ``currency`` is priced in it (``price_lists``:
    ``rating.price_lists.plan_currencies``)."""
    customers, customers_raw = load_customers(customers_path, tax)
    customer_ids = customers["customer_id"].to_list()
    sharing = sharing_plans(plan_codes)
    subscriptions, subscriptions_raw = load_subscriptions(
        subscriptions_path, customer_ids, plan_codes, sharing
    )
    changes, changes_raw = ([], b"") if changes_path is None else load_changes(changes_path)
    source = str(changes_path or "changes")
    segments = apply_changes(
        subscriptions.drop(LINE), changes, customer_ids, plan_codes, source, replacements
    )
    check_segment_overlaps(segments, sharing, source)
    if price_lists is not None:
        segments = in_account_currency(
            segments, customers, price_lists, subscriptions, Path(subscriptions_path)
        )
    redemptions, coupons_raw = (
        (None, b"")
        if coupons_path is None
        else load_redemptions(coupons_path, subscriptions, coupons or {}, segments)
    )
    grants, credits_raw = (
        (None, b"") if credits_path is None else load_credits(credits_path, customer_ids)
    )
    parts = [customers_raw, subscriptions_raw, changes_raw, coupons_raw]
    digest = hashlib.sha256(
        b"\0".join(parts if credits_path is None else [*parts, credits_raw])
    ).hexdigest()
    return Contracts(customers.drop(LINE), segments, digest, redemptions, grants)


def in_account_currency(
    segments: pl.DataFrame,
    customers: pl.DataFrame,
    price_lists: pl.DataFrame,
    subscriptions: pl.DataFrame,
    path: Path,
) -> pl.DataFrame:
    """Segments whose customer bills in a currency, on their plan's price list in it
    (``plan_code`` becomes the priced code, e.g. ``pro@USD``)."""
    priced = segments.join(
        customers.select("customer_id", pl.col("currency").alias("_currency")),
        on="customer_id",
        how="left",
    ).join(
        price_lists.rename({"currency": "_currency"}),
        on=["plan_code", "_currency"],
        how="left",
    )
    missing = (
        priced.filter(pl.col("_currency").is_not_null() & pl.col("priced_code").is_null())
        .join(
            subscriptions.select(pl.col("subscription_id").alias(SEGMENT_OF), LINE),
            on=SEGMENT_OF,
            how="left",
        )
        .sort(LINE, "start_date")
    )
    fail_on(
        missing,
        pl.lit(value=True),
        pl.format(
            "subscription {} of customer {}: plan {} has no {} prices (the customer bills in "
            "{}; add prices.{} to the plan in the catalog)",
            SEGMENT_OF,
            "customer_id",
            "plan_code",
            "_currency",
            "_currency",
            "_currency",
        ),
        path,
    )
    return priced.with_columns(pl.coalesce("priced_code", "plan_code").alias("plan_code")).select(
        segments.columns
    )


REDEMPTION_COLUMNS = ("subscription_id", "coupon_code", "start_date")


def load_redemptions(
    path: str | Path,
    subscriptions: pl.DataFrame,
    coupons: Mapping[str, Coupon],
    segments: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, bytes]:
    """``coupons.csv``: which subscription redeemed which coupon, from (and to) when.

    A coupon with a fixed amount is in its plan's currency: it cannot be redeemed on a
    subscription billed in another (``segments`` priced in the account's currency)."""
    path = Path(path)
    frame, raw = read_rows(path, REDEMPTION_COLUMNS, ("end_date",))
    fail_on(
        frame,
        ~pl.col("coupon_code").is_in(sorted(coupons)),
        pl.format("unknown coupon {} (not in the catalog's coupons)", "coupon_code"),
        path,
    )
    plans = subscriptions.select("subscription_id", "plan_code")
    frame = frame.join(plans, on="subscription_id", how="left", maintain_order="left")
    fail_on(
        frame,
        pl.col("plan_code").is_null(),
        pl.format("unknown subscription {}", "subscription_id"),
        path,
    )
    allowed = pl.DataFrame(
        [(code, plan) for code, coupon in coupons.items() for plan in coupon.plans],
        schema={"coupon_code": pl.String, "plan_code": pl.String},
        orient="row",
    )
    restricted = [code for code, coupon in coupons.items() if coupon.plans]
    wrong_plan = frame.filter(pl.col("coupon_code").is_in(restricted)).join(
        allowed, on=["coupon_code", "plan_code"], how="anti"
    )
    fail_on(
        wrong_plan,
        pl.lit(value=True),
        pl.format(
            "coupon {} is not for plan {} of subscription {}",
            "coupon_code",
            "plan_code",
            "subscription_id",
        ),
        path,
    )
    if segments is not None:
        fixed = [code for code, coupon in coupons.items() if coupon.discount.amount is not None]
        elsewhere = segments.filter(pl.col("plan_code").str.contains("@", literal=True)).select(
            pl.col(SEGMENT_OF).alias("subscription_id"), pl.col("plan_code").alias("_priced")
        )
        fail_on(
            frame.filter(pl.col("coupon_code").is_in(fixed)).join(
                elsewhere.unique("subscription_id", keep="first"), on="subscription_id"
            ),
            pl.lit(value=True),
            pl.format(
                "coupon {} takes a fixed amount off in plan {}'s currency; subscription {} "
                "bills in another ({})",
                "coupon_code",
                "plan_code",
                "subscription_id",
                "_priced",
            ),
            path,
        )
    frame = date_span(frame, path)
    return frame.select("subscription_id", "coupon_code", "start_date", "end_date"), raw

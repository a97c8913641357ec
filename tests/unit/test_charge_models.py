"""Every charge model: its worked example runs, it is registered, and its parser names each
mistake by its catalog path.

The models are found by walking the ``rating.models`` package, so a new model module is
checked here without anyone listing it.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from decimal import Decimal as D
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import rating.models
from rating.models.graduated import GraduatedSpec, Tier
from rating.models.graduated_percentage import GraduatedPercentageSpec, RateTier
from rating.models.one_shot import OneShotSpec
from rating.models.package import PackageSpec
from rating.models.percentage import PercentageSpec
from rating.models.stairstep import Band, StairstepSpec
from rating.models.volume import VolumeSpec
from rating.registry import CHARGE_MODELS

PATH = "plans.pro.charges[1]"

MODEL_MODULES: dict[str, ModuleType] = {
    info.name: importlib.import_module(f"rating.models.{info.name}")
    for info in pkgutil.iter_modules(rating.models.__path__)
}


# --- every module: a worked example that runs, and one registry entry ---------------------


@pytest.mark.parametrize("name", sorted(MODEL_MODULES))
def test_module_docstring_has_a_worked_example_that_runs(name: str) -> None:
    module = MODEL_MODULES[name]
    assert module.__doc__ and ">>>" in module.__doc__, f"{name}: no doctest example"
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{name}: {result.failed} doctest example(s) failed"


def test_every_model_module_is_registered_under_its_own_name() -> None:
    assert set(MODEL_MODULES) == set(CHARGE_MODELS)
    for name, model in CHARGE_MODELS.items():
        module = MODEL_MODULES[name]
        assert model.name == name
        assert model.parse is module.parse
        assert model.price is module.price
        assert model.breakdown is getattr(module, "breakdown", None)


def test_registry_flags() -> None:
    each_event = {name for name, model in CHARGE_MODELS.items() if model.prices_each_event}
    once = {name for name, model in CHARGE_MODELS.items() if model.once}
    fees = {name for name, model in CHARGE_MODELS.items() if not model.usage_based}
    assert (each_event, once, fees) == ({"percentage"}, {"one_shot"}, {"flat_fee", "one_shot"})


# --- parsing: valid specs ------------------------------------------------------------------


def parse(model: str, raw: dict[str, Any]) -> tuple[Any, list[str]]:
    problems: list[str] = []
    spec = CHARGE_MODELS[model].parse(raw, PATH, problems)
    assert (spec is None) == bool(problems), (spec, problems)
    return spec, problems


@pytest.mark.parametrize(
    ("model", "raw", "spec"),
    [
        (
            "package",
            {"package_size": 1000, "package_price": "5.00"},
            PackageSpec(D(1000), D("5.00"), D(0)),
        ),
        (
            "package",
            {"package_size": "0.5", "package_price": 0, "free_units": 100},
            PackageSpec(D("0.5"), D(0), D(100)),
        ),
        (
            "volume",
            {"tiers": [{"up_to": 100, "unit_price": "0.1"}, {"unit_price": 0, "flat_fee": 5}]},
            VolumeSpec((Tier(D(100), D("0.1")), Tier(None, D(0), D(5)))),
        ),
        (
            "stairstep",
            {"bands": [{"up_to": 0, "price": 0}, {"up_to": 10, "price": 50}, {"price": 200}]},
            StairstepSpec((Band(D(0), D(0)), Band(D(10), D(50)), Band(None, D(200)))),
        ),
        ("stairstep", {"bands": [{"price": 9}]}, StairstepSpec((Band(None, D(9)),))),
        ("percentage", {"rate": "2.9"}, PercentageSpec(D("2.9"))),
        (
            "percentage",
            {
                "rate": "2.9",
                "fixed_fee": "0.30",
                "min_per_transaction": "0.50",
                "max_per_transaction": "0.50",  # min == max: every fee is 0.50
            },
            PercentageSpec(D("2.9"), D("0.30"), D("0.50"), D("0.50")),
        ),
        ("percentage", {"rate": "0.0000001"}, PercentageSpec(D("0.0000001"))),
        (
            "graduated_percentage",
            {"tiers": [{"up_to": 10000, "rate": 3}, {"rate": "2.5", "flat_fee": 50}]},
            GraduatedPercentageSpec((RateTier(D(10000), D(3)), RateTier(None, D("2.5"), D(50)))),
        ),
        ("one_shot", {"amount": "250.00"}, OneShotSpec(D("250.00"))),
    ],
)
def test_parse_accepts(model: str, raw: dict[str, Any], spec: Any) -> None:
    assert parse(model, raw) == (spec, [])


def test_graduated_percentage_is_graduated_at_rate_over_100() -> None:
    spec, _ = parse("graduated_percentage", {"tiers": [{"up_to": 10, "rate": "2.9"}, {"rate": 1}]})
    assert spec.as_graduated() == GraduatedSpec((Tier(D(10), D("0.029")), Tier(None, D("0.01"))))


# --- parsing: every mistake, named by its path ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "raw", "problems"),
    [
        # package
        ("package", {"package_price": 5}, [f"{PATH}.package_size: missing"]),
        ("package", {"package_size": 10}, [f"{PATH}.package_price: missing"]),
        (
            "package",
            {"package_size": 0, "package_price": 5},
            [f"{PATH}.package_size: must be greater than 0, got 0"],
        ),
        (
            "package",
            {"package_size": "0.000000", "package_price": 5},
            [f"{PATH}.package_size: must be greater than 0, got 0.000000"],
        ),
        (
            "package",
            {"package_size": -10, "package_price": 5},
            [f"{PATH}.package_size: must not be negative, got -10"],
        ),
        (
            "package",
            {"package_size": "0.0000001", "package_price": 5},
            [f"{PATH}.package_size: at most 6 decimal places allowed, got 0.0000001"],
        ),
        (
            "package",
            {"package_size": 10, "package_price": 5, "free_units": -1},
            [f"{PATH}.free_units: must not be negative, got -1"],
        ),
        (
            "package",  # every mistake at once, in one load
            {"package_size": 0, "package_price": -5, "size": 10},
            [
                f"{PATH}.size: unknown parameter "
                "(expected one of ['free_units', 'package_price', 'package_size'])",
                f"{PATH}.package_size: must be greater than 0, got 0",
                f"{PATH}.package_price: must not be negative, got -5",
            ],
        ),
        # volume (graduated's tier rules)
        ("volume", {}, [f"{PATH}.tiers: expected a non-empty list of tiers"]),
        (
            "volume",
            {"tiers": [{"up_to": 10, "unit_price": 1}, {"up_to": 10, "unit_price": 1}, {}]},
            [
                f"{PATH}.tiers[1].up_to: must be greater than 10, got 10",
                f"{PATH}.tiers[2].unit_price: missing",
            ],
        ),
        (
            "volume",
            {"tiers": [{"up_to": 0, "unit_price": 1}, {"unit_price": 1}]},
            [f"{PATH}.tiers[0].up_to: must be greater than 0, got 0"],  # (0, 0] holds nothing
        ),
        (
            "volume",
            {"tiers": [{"unit_price": 1}, {"unit_price": 2}]},
            [f"{PATH}.tiers[0].up_to: only the last tier may be unbounded"],
        ),
        (
            "volume",
            {"tiers": [{"up_to": 10, "unit_price": 1}], "tier": []},
            [
                f"{PATH}.tier: unknown parameter (expected one of ['tiers'])",
                f"{PATH}.tiers[0].up_to: the last tier must be unbounded (omit up_to)",
            ],
        ),
        (
            "volume",
            {"tiers": [{"unit_price": 1, "fee": 5}]},
            [
                f"{PATH}.tiers[0].fee: unknown parameter "
                "(expected one of ['flat_fee', 'unit_price', 'up_to'])"
            ],
        ),
        # stairstep
        ("stairstep", {"bands": []}, [f"{PATH}.bands: expected a non-empty list of bands"]),
        (
            "stairstep",
            {"bands": [{"up_to": 0, "price": 0}, {"up_to": 0, "price": 5}, {"price": 9}]},
            [f"{PATH}.bands[1].up_to: must be greater than 0, got 0"],
        ),
        (
            "stairstep",
            {"bands": [{"up_to": 100, "price": 1}, {"up_to": 50, "price": 2}, {"price": 3}]},
            [f"{PATH}.bands[1].up_to: must be greater than 100, got 50"],
        ),
        (
            "stairstep",
            {"bands": [{"up_to": 10, "price": 1}, {"up_to": 20, "price": 2}]},
            [f"{PATH}.bands[1].up_to: the last band must be unbounded (omit up_to)"],
        ),
        (
            "stairstep",  # tiers' key in a band: named, and the price is still missing
            {"bands": [{"unit_price": 1}]},
            [
                f"{PATH}.bands[0].unit_price: unknown parameter "
                "(expected one of ['price', 'up_to'])",
                f"{PATH}.bands[0].price: missing",
            ],
        ),
        (
            "stairstep",
            {"bands": [{"up_to": -1, "price": 1}, {"price": -2}]},
            [
                f"{PATH}.bands[0].up_to: must not be negative, got -1",
                f"{PATH}.bands[1].price: must not be negative, got -2",
            ],
        ),
        (
            "stairstep",
            {"bands": ["10: 5"]},
            [f"{PATH}.bands[0]: expected a mapping with up_to and price"],
        ),
        # percentage
        ("percentage", {}, [f"{PATH}.rate: missing"]),
        ("percentage", {"rate": -1}, [f"{PATH}.rate: must not be negative, got -1"]),
        (
            "percentage",
            {"rate": "2.90000001"},
            [f"{PATH}.rate: at most 7 decimal places allowed, got 2.90000001"],
        ),
        (
            "percentage",
            {"rate": "1E+25"},  # rate / 100 would not fit a price
            [f"{PATH}.rate: must be less than 1E+25, got 1E+25"],
        ),
        (
            "percentage",
            {"rate": 3, "min_per_transaction": "1.00", "max_per_transaction": "0.99"},
            [f"{PATH}.max_per_transaction: must not be below min_per_transaction (1.00), got 0.99"],
        ),
        (
            "percentage",
            {"rate": 3, "fixed_fee": "-0.30", "maximum": 10},
            [
                f"{PATH}.maximum: unknown parameter (expected one of ['fixed_fee', "
                "'max_per_transaction', 'min_per_transaction', 'rate'])",
                f"{PATH}.fixed_fee: must not be negative, got -0.30",
            ],
        ),
        (
            "percentage",
            {"rate": True, "min_per_transaction": None},
            [
                f"{PATH}.rate: expected a number, got True",
                f"{PATH}.min_per_transaction: expected a number, got None",
            ],
        ),
        # graduated percentage
        (
            "graduated_percentage",
            {"tiers": [{"up_to": 10, "unit_price": 1}, {"rate": 1}]},
            [
                f"{PATH}.tiers[0].unit_price: unknown parameter "
                "(expected one of ['flat_fee', 'rate', 'up_to'])",
                f"{PATH}.tiers[0].rate: missing",
            ],
        ),
        (
            "graduated_percentage",
            {"tiers": [{"up_to": 10, "rate": 1}, {"up_to": 5, "rate": 1}, {"rate": "0.12345678"}]},
            [
                f"{PATH}.tiers[1].up_to: must be greater than 10, got 5",
                f"{PATH}.tiers[2].rate: at most 7 decimal places allowed, got 0.12345678",
            ],
        ),
        (
            "graduated_percentage",
            {"tiers": [{"up_to": 0, "rate": 1}, {"rate": 1}]},
            [f"{PATH}.tiers[0].up_to: must be greater than 0, got 0"],
        ),
        # one-shot
        ("one_shot", {}, [f"{PATH}.amount: missing"]),
        (
            "one_shot",
            {"amount": 100, "unit_price": 1},
            [f"{PATH}.unit_price: unknown parameter (expected one of ['amount'])"],
        ),
        ("one_shot", {"amount": "-100"}, [f"{PATH}.amount: must not be negative, got -100"]),
    ],
)
def test_parse_reports_every_problem_with_its_path(
    model: str, raw: dict[str, Any], problems: list[str]
) -> None:
    assert parse(model, raw) == (None, problems)


def test_only_stairstep_accepts_a_first_bound_of_zero() -> None:
    zero_first = [{"up_to": 0, "unit_price": 0}, {"unit_price": 1}]
    _, problems = parse("graduated", {"tiers": zero_first})
    assert problems == [f"{PATH}.tiers[0].up_to: must be greater than 0, got 0"]
    spec, problems = parse("stairstep", {"bands": [{"up_to": 0, "price": 0}, {"price": 1}]})
    assert problems == [] and spec.bands[0] == Band(D(0), D(0))


def test_every_registered_model_has_a_section_in_the_docs() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "charge-models.md").read_text()
    headings = set(re.findall(r"^## `(\w+)`$", docs, flags=re.MULTILINE))
    assert headings == set(CHARGE_MODELS)

"""The one formatter: a golden table per unit, and the catalog's units all known."""

from __future__ import annotations

import math

import pytest

from daytwo import units
from daytwo.metrics.catalog import METRICS

VALUES = [
    ("rate", 0.583, "58.3%"),
    ("rate", 0.0, "0.0%"),
    ("ms", 1463.0, "1,463 ms"),
    ("s", 45.0, "45 s"),
    ("s", 3.25, "3.2 s"),
    ("s", 185.0, "3 min 05 s"),
    ("s", 12_000.0, "3.3 h"),
    ("s", 4_500_000.0, "1,250 h"),
    ("currency", 6.4207, "€6.42"),
    ("currency", 0.0042, "€0.0042"),
    ("currency", 1234.5, "€1,234"),
    ("currency", -12.3, "-€12.30"),
    ("count", 12_408.0, "12,408"),
    ("count", 7.0, "7"),
    ("score", 4.213, "4.21"),
    ("score", 32.4, "32"),
    ("score", -0.12, "-0.12"),
]

DELTAS = [
    ("rate", 0.057, "+5.7 pts"),
    ("rate", -0.108, "-10.8 pts"),
    ("ms", 772.0, "+772 ms"),
    ("s", -45.0, "-45 s"),
    ("currency", 0.8, "+€0.80"),
    ("count", 1204.0, "+1,204"),
    ("score", 0.12, "+0.12"),
    ("score", 5.0, "+5.0"),
    ("score", -12.0, "-12"),
]


@pytest.mark.parametrize(("unit", "value", "shown"), VALUES)
def test_values(unit: str, value: float, shown: str) -> None:
    assert units.fmt_value(value, unit, "EUR") == shown


@pytest.mark.parametrize(("unit", "delta", "shown"), DELTAS)
def test_deltas(unit: str, delta: float, shown: str) -> None:
    assert units.fmt_delta(delta, unit, "EUR") == shown


def test_missing_values_are_a_dash_never_zero() -> None:
    for unit in units.UNITS:
        assert units.fmt_value(None, unit) == units.MISSING
        assert units.fmt_value(math.nan, unit) == units.MISSING
        assert units.fmt_delta(math.inf, unit) == units.MISSING


def test_change_reads_from_before_to_after_in_points() -> None:
    assert units.fmt_change(0.28, 0.337, "rate") == "28.0% → 33.7% (+5.7 pts)"
    assert units.fmt_change(None, 691.0, "ms") == "— → 691 ms"


def test_currency_codes_are_iso_4217() -> None:
    assert units.is_currency("EUR")
    assert units.is_currency("JPY")
    assert not units.is_currency("eur")
    assert not units.is_currency("ABC")
    assert not units.is_currency("EURO")
    assert units.fmt_money(1234.0, "JPY") == "¥1,234"
    assert units.fmt_money(2.5, "USD") == "$2.50"


def test_p_values_and_severities_have_one_wording() -> None:
    assert units.fmt_p(0.0) == "p < 0.001"
    assert units.fmt_p(0.0234) == "p = 0.023"
    assert units.fmt_p(0.41) == "p = 0.41"
    assert [units.severity_label(i) for i in range(5)] == list(units.SEVERITIES)
    assert units.severity_label("4") == "critical"
    assert units.severity_label("high") == "high"
    with pytest.raises(ValueError, match="outside"):
        units.severity_label(7)


def test_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown unit"):
        units.fmt_value(1.0, "furlongs")


def test_every_catalog_metric_declares_a_known_unit() -> None:
    for m in METRICS:
        assert m.unit in units.UNITS, m.id


def test_chart_scale_picks_a_readable_duration() -> None:
    assert units.chart_scale("s", [30.0]).suffix == "s"
    assert units.chart_scale("s", [600.0, None]).suffix == "min"
    assert units.chart_scale("s", [40_000.0]).factor == pytest.approx(1 / 3600)
    assert units.chart_scale("rate").format == ".0%"

"""calc.py on hand-checkable numbers: intervals against published values, every status branch."""

from __future__ import annotations

import math

import pytest

from daytwo.metrics.calc import Z95, Estimate, delta, mean, ratio, score, target_status, wilson


def test_z_is_the_two_sided_95_percent_normal_quantile() -> None:
    # Φ(z) = 0.975
    assert 0.5 * math.erfc(-Z95 / math.sqrt(2)) == pytest.approx(0.975, abs=1e-12)


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [
        # Textbook values of the 95% Wilson score interval (no continuity correction):
        # Newcombe 1998, "Two-sided confidence intervals for the single proportion", Table I,
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # and the usual worked examples: none, half and all of ten.
        (0, 10, 0.0, 0.2775),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
        (2, 5, 0.1176, 0.7693),
        (1, 1, 0.2065, 1.0),
    ],
)
def test_wilson_matches_published_intervals(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=5e-5)
    assert got[1] == pytest.approx(hi, abs=5e-5)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)  # nothing observed: anything is possible
    lo, hi = wilson(0, 10)
    assert lo == 0.0
    assert hi == pytest.approx(Z95**2 / (10 + Z95**2))  # the closed form at k = 0
    lo, hi = wilson(5, 10)
    assert lo + hi == pytest.approx(1.0)  # symmetric around one half
    narrow, wide = wilson(50, 100), wilson(5, 10)
    assert wide[0] < narrow[0] < 0.5 < narrow[1] < wide[1]
    z1 = wilson(5, 10, z=1.0)
    assert wide[0] < z1[0] < 0.5 < z1[1] < wide[1]


def test_ratio() -> None:
    assert ratio(0, 0) == Estimate(None, 0)
    assert ratio(None, None) == Estimate(None, 0)
    assert ratio(None, 4) == Estimate(0.0, 4, *wilson(0, 4))  # no successes counted
    est = ratio(2, 5)
    assert (est.value, est.n) == (0.4, 5)
    assert (est.lo, est.hi) == (pytest.approx(0.1176, abs=5e-5), pytest.approx(0.7693, abs=5e-5))


def test_score_has_no_interval() -> None:
    assert score(25.0, 4) == Estimate(6.25, 4)
    assert score(-1, 3) == Estimate(-1 / 3, 3)
    assert score(None, 0) == Estimate(None, 0)


@pytest.mark.parametrize(
    ("value", "n", "sd", "expected"),
    [
        # half-width z·sd/√n: 1.96 · 2 / √4 = 1.96
        (10.0, 4, 2.0, Estimate(10.0, 4, 10.0 - Z95, 10.0 + Z95)),
        # 1.96 · 30√2 / √2 = 1.96 · 30
        (90.0, 2, 30 * math.sqrt(2), Estimate(90.0, 2, 90.0 - 30 * Z95, 90.0 + 30 * Z95)),
        (7.0, 100, 0.0, Estimate(7.0, 100, 7.0, 7.0)),  # no spread, no width
        (3.0, 1, None, Estimate(3.0, 1)),  # one value: no interval
        (3.0, 1, math.nan, Estimate(3.0, 1)),
        (3.0, 5, None, Estimate(3.0, 5)),  # spread unknown
        (None, 0, None, Estimate(None, 0)),
        (None, None, None, Estimate(None, 0)),
    ],
)
def test_mean(value: float | None, n: int | None, sd: float | None, expected: Estimate) -> None:
    got = mean(value, n, sd)
    assert (got.value, got.n) == (expected.value, expected.n)
    if expected.lo is None:
        assert (got.lo, got.hi) == (None, None)
    else:
        assert (got.lo, got.hi) == (pytest.approx(expected.lo), pytest.approx(expected.hi))


def test_delta() -> None:
    assert delta(0.5, 0.4) == pytest.approx(0.1)
    assert delta(0.4, 0.5) == pytest.approx(-0.1)
    assert delta(None, 0.4) is None
    assert delta(0.4, None) is None


@pytest.mark.parametrize(
    ("est", "target", "good", "status"),
    [
        (Estimate(None, 0), 0.5, "up", "no_data"),
        (Estimate(None, 0), None, None, "no_data"),
        (Estimate(0.4, 100), None, "up", "no_target"),
        (Estimate(5.0, None), 3.0, None, "no_target"),  # no better direction
        # the right side of the target, or on it
        (Estimate(0.7, 100, 0.6, 0.8), 0.6, "up", "on_target"),
        (Estimate(0.6, 100, 0.5, 0.7), 0.6, "up", "on_target"),
        (Estimate(900.0, 50), 1000.0, "down", "on_target"),
        (Estimate(1000.0, 50), 1000.0, "down", "on_target"),
        # wrong side but within 10% of the target, even with a confident interval
        (Estimate(0.58, 1000, 0.55, 0.59), 0.6, "up", "at_risk"),
        (Estimate(1080.0, 50, 1070.0, 1090.0), 1000.0, "down", "at_risk"),
        # far, but the interval reaches the target: a small segment, not a failure
        (Estimate(0.3, 5, 0.05, 0.7), 0.6, "up", "at_risk"),
        (Estimate(2000.0, 3, 900.0, 3100.0), 1000.0, "down", "at_risk"),
        # far, and the whole interval on the wrong side
        (Estimate(0.3, 1000, 0.27, 0.33), 0.6, "up", "breached"),
        (Estimate(2000.0, 50, 1800.0, 2200.0), 1000.0, "down", "breached"),
        # far, with no interval at all (counts, sums)
        (Estimate(2000.0, None), 1000.0, "down", "breached"),
        (Estimate(10.0, None), 100.0, "up", "breached"),
        # a target of zero: any excess is far
        (Estimate(0.01, None), 0.0, "down", "breached"),
    ],
)
def test_target_status(est: Estimate, target: float | None, good: str | None, status: str) -> None:
    assert target_status(est, target, good) == status  # type: ignore[arg-type]

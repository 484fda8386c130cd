"""calc.py on hand-checkable numbers."""

from __future__ import annotations

import pytest

from daytwo.metrics.calc import Estimate, delta, mean, ratio, target_status, wilson


@pytest.mark.parametrize(
    ("k", "n", "lo", "hi"),
    [  # Published values (Newcombe 1998, Table I; z = 1.96).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_intervals(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=6e-4)
    assert got[1] == pytest.approx(hi, abs=6e-4)


def test_ratio_and_mean() -> None:
    assert ratio(0, 0) == Estimate(None, 0)
    assert ratio(5, 10).value == 0.5
    est = mean(10.0, 4, 2.0)
    assert est.lo == pytest.approx(10 - 1.959963984540054)
    assert mean(None, 0, None).value is None
    assert mean(3.0, 1, None) == Estimate(3.0, 1)
    assert delta(0.5, 0.4) == pytest.approx(0.1)
    assert delta(None, 0.4) is None


@pytest.mark.parametrize(
    ("est", "target", "good", "status"),
    [
        (Estimate(None, 0), 0.5, "up", "no_data"),
        (Estimate(0.4, 100), None, "up", "no_target"),
        (Estimate(0.7, 100, 0.6, 0.8), 0.6, "up", "on_target"),
        (Estimate(0.58, 100, 0.48, 0.67), 0.6, "up", "at_risk"),  # within 10%
        (Estimate(0.3, 1000, 0.27, 0.33), 0.6, "up", "breached"),
        (Estimate(0.3, 5, 0.05, 0.7), 0.6, "up", "at_risk"),  # far, but the interval says maybe
        (Estimate(900.0, 50), 1000.0, "down", "on_target"),
        (Estimate(2000.0, 50), 1000.0, "down", "breached"),
    ],
)
def test_target_status(est: Estimate, target: float | None, good: str, status: str) -> None:
    assert target_status(est, target, good) == status  # type: ignore[arg-type]

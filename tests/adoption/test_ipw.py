"""Golden cases of the inverse-probability-weighted comparison."""

from __future__ import annotations

import numpy as np
import pytest

from daytwo.adoption.fair import Rows, standardised_gap
from daytwo.adoption.ipw import design, factors_of, weighted_gap


def _by_hand() -> Rows:
    # The hand-worked case of test_fair: two strata, focus mix (0.1, 0.9), like for like 0.19.
    focus = [True] * 10 + [False] * 10
    stratum = [0] + [1] * 9 + [0] * 9 + [1]
    num = [4] + [9] * 9 + [3] * 9 + [7]
    return Rows.of(focus, stratum, list(range(20)), num, [10] * 20)


def test_a_saturated_model_equals_direct_standardisation() -> None:
    # One factor with one level per stratum: the odds are the denominators' ratio per stratum
    # (1/9 in s0, 9/1 in s1), so the reweighted other group is 0.1 * 0.3 + 0.9 * 0.7 = 0.66 and
    # the gap is 0.85 - 0.66 = 0.19, as standardisation gives.
    rows = _by_hand()
    g = weighted_gap(rows, [[0], [1]], resamples=200, seed=1)
    s = standardised_gap(rows, resamples=200, seed=1)
    assert g.naive == pytest.approx(0.51)
    assert g.adjusted == pytest.approx(s.adjusted, abs=1e-3)
    assert g.other_weighted == pytest.approx(0.66, abs=1e-3)
    assert g.lo <= g.adjusted <= g.hi
    assert (g.focus_clusters, g.other_clusters) == (10, 10)


def _confounded(seed: int, effect: float = 0.10) -> tuple[Rows, np.ndarray]:
    """Agents in 4 tenure bands x 3 sites; the experienced volunteer far more often, and take
    more suggestions anyway (+0.08 a band); the focus group takes ``effect`` more on top."""
    rng = np.random.default_rng(seed)
    n = 600
    tenure, site = rng.integers(0, 4, n), rng.integers(0, 3, n)
    odds = np.array([0.1, 0.4, 1.0, 2.5])[tenure] * np.array([1.0, 0.6, 1.4])[site]
    focus = rng.random(n) < odds / (1 + odds)
    rate = 0.2 + 0.08 * tenure + 0.03 * site + effect * focus + rng.normal(0, 0.03, n)
    offered = rng.integers(20, 60, n)
    used = rng.binomial(offered, np.clip(rate, 0, 1))
    stratum = tenure * 3 + site
    factors = np.array([[t, s] for t in range(4) for s in range(3)])
    return Rows.of(focus, stratum, np.arange(n), used, offered), factors


def test_weighting_recovers_a_known_effect_the_naive_gap_overstates() -> None:
    # The focus group is mostly experienced agents, so the naive gap adds about 0.08 a band of
    # tenure difference to the true 0.10; weighting by the propensity of (tenure, site) takes
    # it back out.
    rows, factors = _confounded(seed=3)
    g = weighted_gap(rows, factors, resamples=300, seed=2)
    assert g.naive > 0.17
    assert g.adjusted == pytest.approx(0.10, abs=0.02)
    assert g.lo <= 0.10 <= g.hi
    assert g.lo < g.adjusted < g.hi
    assert 0 < g.effective_other <= g.other_clusters


def test_the_interval_covers_the_truth_as_often_as_it_says() -> None:
    # 40 synthetic worlds with the effect known: a 95% interval should miss about 2 of them;
    # more than 6 misses (P < 0.001 for an honest interval) means it is too narrow.
    # The same worlds check direct standardisation's agent bootstrap.
    misses = standardised_misses = 0
    for seed in range(40):
        rows, factors = _confounded(seed=100 + seed)
        g = weighted_gap(rows, factors, resamples=200, seed=seed)
        misses += not g.lo <= 0.10 <= g.hi
        s = standardised_gap(rows, resamples=200, seed=seed)
        standardised_misses += not s.lo <= 0.10 <= s.hi
    assert misses <= 6
    assert standardised_misses <= 6


def test_bad_input_is_refused() -> None:
    rows = _by_hand()
    with pytest.raises(ValueError, match="every stratum"):
        weighted_gap(rows, [[0]], resamples=200)
    with pytest.raises(ValueError, match="both groups"):
        weighted_gap(rows.where(rows.focus), [[0], [1]], resamples=200)
    with pytest.raises(ValueError, match="100 resamples"):
        weighted_gap(rows, [[0], [1]], resamples=10)
    with pytest.raises(ValueError, match="one row per stratum"):
        design([0, 1])


def test_factors_from_stratum_keys() -> None:
    keys: list[tuple[object, ...]] = [("0-6m", "porto"), ("2y+", "porto"), ("0-6m", "cork")]
    assert factors_of(keys).tolist() == [[0, 1], [1, 1], [0, 0]]

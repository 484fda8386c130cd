"""The statistics detectors share: normal tails, two-sample tests, false-discovery control.

Plain numpy and ``math``; every function can be checked by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z(k1: float, n1: float, k2: float, n2: float) -> float:
    """z statistic of ``k2/n2 - k1/n1`` with the pooled variance (0 when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return 0.0
    pooled = (k1 + k2) / (n1 + n2)
    var = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 0.0
    return (k2 / n2 - k1 / n1) / math.sqrt(var)


def welch_z(mean1: float, var1: float, n1: float, mean2: float, var2: float, n2: float) -> float:
    """Welch's statistic of ``mean2 - mean1`` (normal approximation; samples are large)."""
    if n1 < 2 or n2 < 2:
        return 0.0
    se = math.sqrt(var1 / n1 + var2 / n2)
    if se <= 0:
        return 0.0
    return (mean2 - mean1) / se


def chi2_sf(x: float, dof: int) -> float:
    """P(X > x) for chi-square with ``dof`` degrees of freedom (Wilson-Hilferty)."""
    if dof <= 0:
        return 1.0
    if x <= 0:
        return 1.0
    k = float(dof)
    z = ((x / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return normal_sf(z)


def benjamini_hochberg(p_values: Sequence[float], q: float) -> np.ndarray:
    """Which hypotheses are discoveries at false-discovery rate ``q`` (step-up procedure)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = len(p)
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    thresholds = q * np.arange(1, m + 1) / m
    passed = p[order] <= thresholds
    out = np.zeros(m, dtype=bool)
    if passed.any():
        last = int(np.flatnonzero(passed).max())
        out[order[: last + 1]] = True
    return out


def poisson_log_sf0(expected: float) -> float:
    """log P(N = 0) for N ~ Poisson(expected): how unlikely an empty period is."""
    return -expected


def two_poisson_rates_sf(current: int, baseline: int, share: float) -> float:
    """The conditional test of two Poisson rates: how likely ``current`` or more of the
    ``current + baseline`` events fall in the current period by chance, when each lands there
    with the chance of that period's ``share`` of the exposure (days, conversations)."""
    from scipy.stats import binom  # only where the test runs: SciPy is slow to import

    total = current + baseline
    if current <= 0 or total <= 0:
        return 1.0
    return float(binom.sf(current - 1, total, share))


def two_poisson_rates_sf_many(
    current: npt.ArrayLike, baseline: npt.ArrayLike, share: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """:func:`two_poisson_rates_sf` of many tests at once, element by element (the same
    values; one SciPy call instead of one per test)."""
    from scipy.stats import binom

    cur = np.asarray(current, dtype=np.int64)
    total = cur + np.asarray(baseline, dtype=np.int64)
    tested = (cur > 0) & (total > 0)
    out = np.ones(cur.shape, dtype=np.float64)
    if tested.any():
        shares = np.broadcast_to(np.asarray(share, dtype=np.float64), cur.shape)
        out[tested] = binom.sf(cur[tested] - 1, total[tested], shares[tested])
    return out

"""Like-for-like gaps by inverse-probability weighting, with a cluster bootstrap that refits.

The second way (beside direct standardisation, :mod:`daytwo.adoption.fair`) to ask how far
apart two groups are once who was in each is held equal. It takes the same :class:`Rows` and,
for each stratum, the factors it is made of (tenure band, site, journey):

- A **propensity model** says how likely a unit of the KPI in a stratum belongs to the focus
  group: a logistic regression on the factors' main effects (one-hot), fitted on the strata's
  totals weighted by their denominators (binomial counts per stratum, Newton's method, every
  bootstrap resample at once, a tiny ridge so a stratum one group fills stays finite). Main
  effects, not one parameter per stratum, so a stratum with few rows borrows from its
  neighbours and a stratum one group lacks still gets a propensity.
- The **other group is reweighted** to look like the focus group (weights ``e / (1 − e)``, the
  odds of the propensity, as for an effect on the treated); the focus group keeps weight one.
  The gap is the focus group's KPI minus the reweighted other group's KPI (ratios of weighted
  sums, so the weights need not sum to anything).
- **Intervals** resample agents with replacement within each group (a cluster bootstrap: an
  agent's rows move together) and **refit the propensity model in every resample**, so the
  interval carries the uncertainty of the weights as well as of the outcomes; percentile
  interval.

With one parameter per stratum (a saturated model) the odds are the ratio of the two groups'
denominators and the estimate equals direct standardisation on the focus group; the golden
cases check both that identity and a confounded case where the naive gap is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daytwo.adoption.fair import Floats, Ints, Rows, _counts, _draw, _matrix

# Odds beyond this are clipped: a stratum the focus group nearly fills cannot make one other
# agent stand for hundreds.
MAX_ODDS = 50.0
# Newton's method stops when no coefficient moved more than this: it converges quadratically,
# so what is left after such a step is of the order of its square (1e-14).
TOLERANCE = 1e-7
STEPS = 30  # or after this many steps


@dataclass(frozen=True, slots=True)
class WeightedGap:
    """An inverse-probability-weighted gap (focus minus reweighted other) and its interval."""

    naive: float
    adjusted: float
    lo: float
    hi: float
    focus_value: float
    other_weighted: float  # the other group's KPI reweighted to the focus group's mix
    effective_other: float  # Kish effective size of the reweighted other group's clusters
    focus_clusters: int
    other_clusters: int
    level: float
    resamples: int


def design(factors: npt.ArrayLike) -> Floats:
    """Main effects of per-stratum factor codes (ints from 0): an intercept, then one column
    per level of each factor but its first."""
    f = np.asarray(factors, dtype=np.int64)
    if f.ndim != 2:
        raise ValueError("factors need one row per stratum and one column per factor")
    cols = [np.ones(len(f))]
    for j in range(f.shape[1]):
        cols += [(f[:, j] == level).astype(np.float64) for level in range(1, f[:, j].max() + 1)]
    out: Floats = np.column_stack(cols)
    return out


def _fit(x: Floats, f_den: Floats, o_den: Floats, start: Floats | None = None) -> Floats:
    """Propensity coefficients, for each row of (resamples × strata) totals: a binomial
    logistic regression of the focus group's share of each stratum's denominator. Newton's
    method, all rows at once, from ``start`` (the point estimate's, for resamples: a few steps
    fewer) until no coefficient moves by more than ``TOLERANCE`` or ``STEPS`` are taken."""
    f2, o2 = np.atleast_2d(f_den), np.atleast_2d(o_den)
    n = f2 + o2
    scale = n.sum(axis=1, keepdims=True)
    f2, n = f2 / scale, n / scale  # shares: the ridge means the same at any size
    ridge = 1e-4 * np.eye(x.shape[1])
    beta = np.zeros((len(n), x.shape[1])) if start is None else np.tile(start, (len(n), 1))
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-np.clip(beta @ x.T, -30, 30)))
        grad = (f2 - n * p) @ x - beta @ ridge
        # X' diag(w) X per row as one batched product (an einsum of three operands is ~20x
        # slower at 400 resamples).
        hess = ((n * p * (1 - p))[:, None, :] * x.T) @ x + ridge
        step = np.linalg.solve(hess, grad[..., None])[..., 0]
        beta = beta + step
        if np.abs(step).max() < TOLERANCE:
            break
    return beta


def _odds(x: Floats, beta: Floats) -> Floats:
    """The propensity odds per stratum of fitted coefficients, clipped at ``MAX_ODDS``."""
    out: Floats = np.minimum(np.exp(np.clip(beta @ x.T, -30, 30)), MAX_ODDS)
    return out


def _gaps(
    odds: Floats, fn: Floats, fd: Floats, on: Floats, od: Floats
) -> tuple[Floats, Floats, Floats, Floats]:
    """Naive and weighted gaps for stacked (resamples × strata) sums and odds."""
    fn, fd, on, od = (np.atleast_2d(a) for a in (fn, fd, on, od))
    with np.errstate(invalid="ignore", divide="ignore"):
        focus = fn.sum(axis=1) / fd.sum(axis=1)
        other_w = (odds * on).sum(axis=1) / (odds * od).sum(axis=1)
        naive = focus - on.sum(axis=1) / od.sum(axis=1)
    return naive, focus - other_w, focus, other_w


def weighted_gap(
    rows: Rows,
    factors: npt.ArrayLike,
    *,
    resamples: int = 400,
    level: float = 0.95,
    seed: int = 0,
) -> WeightedGap:
    """The naive and the inverse-probability-weighted gap of ``rows`` (see the module
    docstring); ``factors[s]`` holds the factor codes of stratum ``s``."""
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if resamples < 100:
        raise ValueError("use at least 100 resamples")
    if not rows.focus.any() or rows.focus.all():
        raise ValueError("both groups need rows")
    x = design(factors)
    n_strata = len(x)
    if int(rows.stratum.max()) >= n_strata:
        raise ValueError("every stratum needs its factors")
    mats = []
    for side in (True, False):
        mask = rows.focus == side
        _, own = np.unique(rows.cluster[mask], return_inverse=True)
        k = int(own.max()) + 1
        mats.append(
            (
                _matrix(own, rows.stratum[mask], rows.num[mask], k, n_strata),
                _matrix(own, rows.stratum[mask], rows.den[mask], k, n_strata),
                k,
            )
        )
    (fn, fd, kf), (on, od, ko) = mats
    tot = [np.asarray(m.sum(axis=0), dtype=np.float64)[0] for m in (fn, fd, on, od)]
    beta = _fit(x, tot[1], tot[3])
    odds = _odds(x, beta)
    naive, adjusted, focus, other_w = (float(v[0]) for v in _gaps(odds, *tot))
    odds = odds[0]
    per_agent = np.asarray(od @ odds, dtype=np.float64).ravel()
    effective = float(per_agent.sum() ** 2 / (per_agent**2).sum()) if per_agent.any() else 0.0

    rng = np.random.default_rng(seed)
    draws_f, draws_o = _counts(rng, kf, resamples), _counts(rng, ko, resamples)
    sums = [_draw(draws_f, fn), _draw(draws_f, fd), _draw(draws_o, on), _draw(draws_o, od)]
    boot = _gaps(_odds(x, _fit(x, sums[1], sums[3], start=beta[0])), *sums)[1]
    ok = boot[np.isfinite(boot)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(ok, [alpha, 1 - alpha]) if len(ok) else (np.nan, np.nan)
    return WeightedGap(
        naive=naive,
        adjusted=adjusted,
        lo=float(lo),
        hi=float(hi),
        focus_value=focus,
        other_weighted=other_w,
        effective_other=effective,
        focus_clusters=kf,
        other_clusters=ko,
        level=level,
        resamples=len(ok),
    )


def factors_of(keys: list[tuple[object, ...]]) -> Ints:
    """Per-stratum factor codes from the keys :func:`daytwo.adoption.fair.codes` returns."""
    if not keys:
        raise ValueError("no strata")
    cols = list(zip(*keys, strict=True))
    out = np.empty((len(keys), len(cols)), dtype=np.int64)
    for j, col in enumerate(cols):
        _, inverse = np.unique(np.asarray([str(v) for v in col]), return_inverse=True)
        out[:, j] = inverse
    return out

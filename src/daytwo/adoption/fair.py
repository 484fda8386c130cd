"""Like-for-like comparisons of two groups: direct standardisation with a cluster bootstrap.

Used twice: the pilot against the rollout (were the pilot's agents better, or only different?)
and conversations where the AI was used against the legacy path (does using it pay, for the
same journey, agent group and week?). Pure numpy.

Rows are units of the KPI (a suggestion shown, a conversation), each with its group (the
*focus* group, or the other), a stratum (tenure band × site × journey, say), a cluster (the
agent: rows of one agent are not independent) and a numerator and denominator (used and
offered; handle time and 1).

- The **naive gap** is the focus group's pooled KPI minus the other's.
- The **like-for-like gap** compares the two inside each stratum and averages the differences
  with the standard population's weights (its share of the denominator in each stratum):

      gap = Σ_s w_s (focus_s − other_s) / Σ_s w_s   over strata where both groups have rows

  With the focus group as the standard (the default) this asks: *had the other group's agents
  been distributed like the focus group's, how far apart would they be?* ``coverage`` is the
  standard's share in strata both groups reach; strata one group lacks cannot be compared and
  are left out (and said so).
- **Intervals** resample agents with replacement within each group (a cluster bootstrap), so an
  agent's many suggestions count as one agent's, and recompute both gaps; percentile interval.
- The **selection share** is the part of the naive gap the like-for-like gap does not keep:
  ``(naive − like-for-like) / naive``: how much of the naive gap is who was in each group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Standard = Literal["focus", "other"]


@dataclass(frozen=True, slots=True)
class Rows:
    """The rows of a comparison (see the module docstring); codes are ints from 0."""

    focus: Bools
    stratum: Ints
    cluster: Ints
    num: Floats
    den: Floats

    @classmethod
    def of(
        cls,
        focus: npt.ArrayLike,
        stratum: npt.ArrayLike,
        cluster: npt.ArrayLike,
        num: npt.ArrayLike,
        den: npt.ArrayLike | None = None,
    ) -> Rows:
        f = np.asarray(focus, dtype=bool)
        n = np.asarray(num, dtype=np.float64)
        d = np.ones_like(n) if den is None else np.asarray(den, dtype=np.float64)
        s = np.asarray(stratum, dtype=np.int64)
        c = np.asarray(cluster, dtype=np.int64)
        if not (len(f) == len(s) == len(c) == len(n) == len(d)):
            raise ValueError("focus, stratum, cluster, num and den need the same length")
        if np.any(d < 0):
            raise ValueError("denominators cannot be negative")
        return cls(f, s, c, n, d)

    def where(self, mask: Bools) -> Rows:
        return Rows(
            self.focus[mask], self.stratum[mask], self.cluster[mask], self.num[mask],
            self.den[mask],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Gap:
    """A naive and a like-for-like gap (focus minus other) with their intervals."""

    naive: float
    naive_lo: float
    naive_hi: float
    adjusted: float
    lo: float
    hi: float
    focus_value: float  # the focus group's pooled KPI
    other_value: float  # the other group's pooled KPI
    other_standardised: float  # the other group's KPI in the standard population's mix
    coverage: float  # the standard's share in strata both groups reach
    strata: int  # strata compared
    focus_clusters: int
    other_clusters: int
    level: float
    resamples: int

    @property
    def selection_share(self) -> float | None:
        """The share of the naive gap that is who was in each group; None when undefined."""
        if not np.isfinite(self.naive) or abs(self.naive) < 1e-12:
            return None
        return (self.naive - self.adjusted) / self.naive

    @property
    def relative(self) -> float | None:
        """The like-for-like gap as a fraction of the other group's standardised KPI."""
        if not np.isfinite(self.other_standardised) or abs(self.other_standardised) < 1e-12:
            return None
        return self.adjusted / self.other_standardised


def _matrix(
    codes: Ints, stratum: Ints, values: Floats, n_codes: int, n_strata: int
) -> sparse.csr_matrix:
    """Sums of ``values`` per cluster (row) and stratum (column): sparse, since an agent sits
    in few of the strata (one tenure band, one site)."""
    return sparse.csr_matrix((values, (codes, stratum)), shape=(n_codes, n_strata))


def _draw(draws: Floats, m: sparse.csr_matrix) -> Floats:
    """Resampled sums per stratum: (resamples x clusters) draws times (clusters x strata)."""
    out: Floats = np.asarray((m.T @ draws.T).T, dtype=np.float64)
    return out


def _gaps(
    f_num: Floats, f_den: Floats, o_num: Floats, o_den: Floats, standard: Standard
) -> tuple[Floats, Floats, Floats, Floats, Floats]:
    """Naive and like-for-like gaps for stacked (resamples × strata) sums."""
    with np.errstate(invalid="ignore", divide="ignore"):
        focus = f_num.sum(axis=1) / f_den.sum(axis=1)
        other = o_num.sum(axis=1) / o_den.sum(axis=1)
        both = (f_den > 0) & (o_den > 0)
        w = np.where(both, f_den if standard == "focus" else o_den, 0.0)
        fs = np.where(both, f_num / np.where(f_den > 0, f_den, 1), 0.0)
        os_ = np.where(both, o_num / np.where(o_den > 0, o_den, 1), 0.0)
        wsum = w.sum(axis=1)
        adjusted = (w * (fs - os_)).sum(axis=1) / wsum
        other_std = (w * os_).sum(axis=1) / wsum
    return focus - other, adjusted, focus, other, other_std


def standardised_gap(
    rows: Rows,
    *,
    standard: Standard = "focus",
    resamples: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    paired: bool = False,
) -> Gap:
    """The naive and the like-for-like gap of ``rows`` (see the module docstring).

    ``paired``: the same clusters appear in both groups (an agent's conversations with the AI
    and without it), so each resample draws agents once for both groups.
    """
    if not 0 < level < 1:
        raise ValueError("level must be between 0 and 1")
    if resamples < 100:
        raise ValueError("use at least 100 resamples")
    if not rows.focus.any() or rows.focus.all():
        raise ValueError("both groups need rows")
    n_strata = int(rows.stratum.max()) + 1
    groups: list[tuple[sparse.csr_matrix, sparse.csr_matrix, int]] = []
    _, shared = np.unique(rows.cluster, return_inverse=True)
    n_shared = int(shared.max()) + 1
    for side in (True, False):
        mask = rows.focus == side
        if paired:
            codes, k = shared[mask].astype(np.int64), n_shared
        else:
            _, own = np.unique(rows.cluster[mask], return_inverse=True)
            codes = own.astype(np.int64)
            k = int(codes.max()) + 1
        num = _matrix(codes, rows.stratum[mask], rows.num[mask], k, n_strata)
        den = _matrix(codes, rows.stratum[mask], rows.den[mask], k, n_strata)
        groups.append((num, den, k))
    (fn, fd, kf), (on, od, ko) = groups
    t_fn, t_fd, t_on, t_od = (np.asarray(m.sum(axis=0), dtype=np.float64) for m in (fn, fd, on, od))
    naive, adjusted, focus, other, other_std = _gaps(t_fn, t_fd, t_on, t_od, standard)
    f_den, o_den = t_fd[0], t_od[0]
    both = (f_den > 0) & (o_den > 0)
    weight = f_den if standard == "focus" else o_den
    coverage = float(weight[both].sum() / weight.sum()) if weight.sum() > 0 else 0.0

    rng = np.random.default_rng(seed)
    draws_f = _counts(rng, kf, resamples)
    draws_o = draws_f if paired else _counts(rng, ko, resamples)
    b_naive, b_adj, *_ = _gaps(
        _draw(draws_f, fn), _draw(draws_f, fd), _draw(draws_o, on), _draw(draws_o, od), standard
    )
    alpha = (1 - level) / 2
    ok_n, ok_a = b_naive[np.isfinite(b_naive)], b_adj[np.isfinite(b_adj)]
    n_lo, n_hi = np.quantile(ok_n, [alpha, 1 - alpha]) if len(ok_n) else (np.nan, np.nan)
    a_lo, a_hi = np.quantile(ok_a, [alpha, 1 - alpha]) if len(ok_a) else (np.nan, np.nan)
    return Gap(
        naive=float(naive[0]),
        naive_lo=float(n_lo),
        naive_hi=float(n_hi),
        adjusted=float(adjusted[0]),
        lo=float(a_lo),
        hi=float(a_hi),
        focus_value=float(focus[0]),
        other_value=float(other[0]),
        other_standardised=float(other_std[0]),
        coverage=coverage,
        strata=int(both.sum()),
        focus_clusters=int(np.count_nonzero(np.asarray(fd.sum(axis=1)))),
        other_clusters=int(np.count_nonzero(np.asarray(od.sum(axis=1)))),
        level=level,
        resamples=len(ok_a),
    )


def codes(*columns: npt.ArrayLike) -> tuple[Ints, list[tuple[object, ...]]]:
    """One int code per distinct combination of the columns (numbered in order of first
    appearance), and the combinations."""
    if not columns:
        raise ValueError("give at least one column")
    arrays = [np.asarray(c, dtype=object) for c in columns]
    combined = np.zeros(len(arrays[0]), dtype=np.int64)
    for a in arrays:
        encoded = pa.array(a, from_pandas=True).dictionary_encode()
        index = np.asarray(pc.fill_null(encoded.indices, -1), dtype=np.int64) + 1
        combined = combined * (len(encoded.dictionary) + 1) + index
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    # Renumber by first appearance, so codes do not depend on how values sort.
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    out: Ints = rank[inverse].astype(np.int64)
    keys = [tuple(a[i] for a in arrays) for i in np.sort(first)]
    return out, keys


def _counts(rng: np.random.Generator, k: int, resamples: int) -> Floats:
    """How often each of ``k`` clusters is drawn, per resample (draws with replacement)."""
    picks = rng.integers(0, k, size=(resamples, k)) + (np.arange(resamples) * k)[:, None]
    out: Floats = np.bincount(picks.ravel(), minlength=resamples * k).astype(np.float64)
    return out.reshape(resamples, k)


def selection_sentence(
    gap: Gap, kpi: str, fmt: Callable[[float], str], focus: str, other: str
) -> str:
    """One sentence on how much of the naive gap is who was in each group.

    ``fmt`` formats a difference of the KPI in its unit (``+6.1 points``, ``-38 s``). Where
    the naive gap's own interval holds zero there is no gap to split, and the sentence says so.
    """
    share = gap.selection_share
    head = (
        f"{kpi}: the {focus} is {fmt(gap.naive)} against the {other}; like for like "
        f"{fmt(gap.adjusted)} ({fmt(gap.lo)} to {fmt(gap.hi)})"
    )
    cover = "" if gap.coverage >= 0.995 else f" ({gap.coverage:.0%} of the {focus} compared)"
    if share is None or gap.naive_lo <= 0 <= gap.naive_hi:
        return f"{head}: the naive gap is within what chance gives{cover}."
    if share >= 0.995:
        tail = "all of the naive gap is who was in each group"
    elif share <= -0.005:
        tail = "who was in each group hid part of the gap: like for like it is larger"
    else:
        tail = f"about {round(share * 100)}% of the naive gap is who was in each group"
    return f"{head}: {tail}{cover}."

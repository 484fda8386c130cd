"""Difference-in-differences with a day-block bootstrap: did a change move its metric?

The treated group (the journeys a change touched) and a control group (journeys outside its
scope) are each summarised per day as a numerator and a denominator (contained / conversations
with an outcome; or a sum and a count for means). The estimate is

    (treated after − treated before) − (control after − control before)

of the pooled ratios. Its interval comes from resampling *days* with replacement inside each
window, the same days for treated and control, so that what moves both groups on a day (a
holiday, an outage) cancels in every resample as it does in the estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from daytwo.errors import InputError

Verdict = Literal["improved", "regressed", "inconclusive", "pending"]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Window:
    """Daily numerators and denominators of treated and control, aligned by day."""

    treated_num: Floats
    treated_den: Floats
    control_num: Floats
    control_den: Floats

    @classmethod
    def of(
        cls,
        treated: list[tuple[float, float]],
        control: list[tuple[float, float]],
    ) -> Window:
        if len(treated) != len(control):
            raise InputError("Treated and control need the same days.")
        t = np.asarray(treated, dtype=np.float64).reshape(-1, 2)
        c = np.asarray(control, dtype=np.float64).reshape(-1, 2)
        return cls(t[:, 0], t[:, 1], c[:, 0], c[:, 1])

    @property
    def days(self) -> int:
        return int(self.treated_num.shape[0])

    def rates(self) -> tuple[float, float]:
        return (
            _ratio(self.treated_num.sum(), self.treated_den.sum()),
            _ratio(self.control_num.sum(), self.control_den.sum()),
        )


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


@dataclass(frozen=True, slots=True)
class DidResult:
    estimate: float
    lo: float
    hi: float
    level: float
    treated_before: float
    treated_after: float
    control_before: float
    control_after: float
    days_before: int
    days_after: int
    resamples: int


def _boot_rates(w: Window, idx: npt.NDArray[np.intp]) -> tuple[Floats, Floats]:
    t = w.treated_num[idx].sum(axis=1) / w.treated_den[idx].sum(axis=1)
    c = w.control_num[idx].sum(axis=1) / w.control_den[idx].sum(axis=1)
    return t, c


def did(
    before: Window,
    after: Window,
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> DidResult:
    """The difference-in-differences estimate with a percentile day-block bootstrap interval."""
    for name, w in (("before", before), ("after", after)):
        if w.days < 2:
            raise InputError(f"The {name} window needs at least two days of data.")
        if w.treated_den.sum() <= 0 or w.control_den.sum() <= 0:
            raise InputError(f"The {name} window has no data for treated or control.")
    if not 0 < level < 1:
        raise InputError("level must be between 0 and 1.")
    if resamples < 100:
        raise InputError("Use at least 100 bootstrap resamples.")
    tb, cb = before.rates()
    ta, ca = after.rates()
    estimate = (ta - tb) - (ca - cb)
    rng = np.random.default_rng(seed)
    ib = rng.integers(0, before.days, size=(resamples, before.days))
    ia = rng.integers(0, after.days, size=(resamples, after.days))
    with np.errstate(invalid="ignore", divide="ignore"):
        btb, bcb = _boot_rates(before, ib)
        bta, bca = _boot_rates(after, ia)
        draws = (bta - btb) - (bca - bcb)
    draws = draws[np.isfinite(draws)]
    alpha = (1 - level) / 2
    lo, hi = np.quantile(draws, [alpha, 1 - alpha])
    return DidResult(
        estimate=float(estimate),
        lo=float(lo),
        hi=float(hi),
        level=level,
        treated_before=tb,
        treated_after=ta,
        control_before=cb,
        control_after=ca,
        days_before=before.days,
        days_after=after.days,
        resamples=int(draws.shape[0]),
    )


def verdict(result: DidResult, good: Literal["up", "down"] | None) -> Verdict:
    """improved / regressed when the whole interval is on one side of zero, else inconclusive."""
    if result.lo > 0:
        side = 1
    elif result.hi < 0:
        side = -1
    else:
        return "inconclusive"
    if good is None:
        return "inconclusive"
    better = side > 0 if good == "up" else side < 0
    return "improved" if better else "regressed"

"""Pure calculations on aggregated metric values: intervals, deltas, target status.

Nothing here touches a database; the functions take numbers and return numbers, so each can be
checked by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Z95 = 1.959963984540054
Status = Literal["on_target", "at_risk", "breached", "no_target", "no_data"]
# Within this relative distance of the target, a value on the wrong side is "at risk".
AT_RISK_MARGIN = 0.10


@dataclass(frozen=True, slots=True)
class Estimate:
    """A metric value with its sample size and 95% interval (None where not defined)."""

    value: float | None
    n: int | None
    lo: float | None = None
    hi: float | None = None


def wilson(successes: float, total: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; honest for small samples and extreme rates."""
    if total <= 0:
        return (0.0, 1.0)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def ratio(numerator: float | None, denominator: float | None) -> Estimate:
    if not denominator:
        return Estimate(None, int(denominator or 0))
    num = float(numerator or 0)
    lo, hi = wilson(num, float(denominator))
    return Estimate(num / float(denominator), int(denominator), lo, hi)


def score(numerator: float | None, denominator: float | None) -> Estimate:
    if not denominator:
        return Estimate(None, int(denominator or 0))
    return Estimate(float(numerator or 0) / float(denominator), int(denominator))


def mean(value: float | None, n: int | None, sd: float | None) -> Estimate:
    if not n or value is None:
        return Estimate(None, int(n or 0))
    if n < 2 or sd is None or math.isnan(sd):
        return Estimate(float(value), int(n))
    half = Z95 * sd / math.sqrt(n)
    return Estimate(float(value), int(n), float(value) - half, float(value) + half)


def delta(current: float | None, reference: float | None) -> float | None:
    """Absolute change from ``reference`` to ``current``."""
    if current is None or reference is None:
        return None
    return current - reference


def target_status(
    est: Estimate, target: float | None, good: Literal["up", "down"] | None
) -> Status:
    """On target, at risk, or breached, taking the interval into account.

    A value on the wrong side of the target is *breached* only when its whole interval is on
    the wrong side and it is more than 10% away; otherwise it is *at risk*, so a small segment
    is never shown as a confident failure.
    """
    if est.value is None:
        return "no_data"
    if target is None or good is None:
        return "no_target"
    sign = 1.0 if good == "up" else -1.0
    if sign * (est.value - target) >= 0:
        return "on_target"
    far = abs(est.value - target) > AT_RISK_MARGIN * max(abs(target), 1e-9)
    best = est.hi if good == "up" else est.lo
    confident = best is None or sign * (best - target) < 0
    return "breached" if (far and confident) else "at_risk"

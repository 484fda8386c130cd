"""Who stopped using the AI: each agent tested against their own baseline, rolled up by group.

Pure numpy over per-agent daily counts (how often a feature was offered to an agent on a day,
and how often they used it); no database, no web. Every function can be checked by hand on a
few rows (``tests/adoption/test_calc.py``).

**Fell from their own baseline.** An agent's use rate (used / offered) in the current window
is compared with their own rate in the baseline window just before it by a one-sided
two-proportion test. Suggestions of one agent on one day are not independent draws (a busy
morning, a bad queue), so the variance is scaled by the agent's own day-to-day dispersion in
the baseline (Pearson χ² per degree of freedom, at least 1: a quasi-binomial test). The
p-values of all agents are controlled for false discoveries (Benjamini-Hochberg), and a drop
must also be large (a quarter of their own rate, by default) to count.

**Stopped.** An agent stopped when, on each of their last *N* working days (days on which the
feature was offered to them at least once), they used it not once, although their baseline
rate makes that very unlikely: ``(1 - baseline rate) ** offered < alpha``.

**Groups where the share rises.** Per site, team and tenure band, the share of agents who fell
or stopped in the current window is compared with the share in the window before it (the
same tests, one window earlier): a one-sided two-proportion test on agents.

What they find is put in words by :mod:`daytwo.adoption.wording`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from daytwo.detect.stats import benjamini_hochberg, normal_sf, two_proportion_z

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class StopParams:
    """How a fall from one's own baseline and a stop are told (defaults: the product's)."""

    baseline_days: int = 28
    current_days: int = 14
    min_baseline_offered: int = 40
    min_current_offered: int = 15
    min_baseline_rate: float = 0.10  # an agent who hardly used it cannot stop using it
    min_relative_drop: float = 0.25  # of their own baseline rate
    fdr: float = 0.05
    stop_days: int = 5  # working days in a row without a single use
    stop_alpha: float = 0.001
    # Groups: at least this many agents fell or stopped, and their share rose this much.
    min_group_agents: int = 5
    min_share_rise: float = 0.10
    group_alpha: float = 0.01

    def __post_init__(self) -> None:
        if self.baseline_days < 7 or self.current_days < 3:
            raise ValueError("baseline_days must be at least 7 and current_days at least 3")
        if self.stop_days < 1 or self.stop_days > self.current_days:
            raise ValueError("stop_days must be between 1 and current_days")


@dataclass(frozen=True, slots=True)
class AgentDays:
    """Per agent and day (ints from 0), how often a feature was offered and used."""

    agent: Ints
    day: Ints
    offered: Floats
    used: Floats
    n_agents: int

    @classmethod
    def of(
        cls,
        agent: Sequence[int] | Ints,
        day: Sequence[int] | Ints,
        offered: Sequence[float] | Floats,
        used: Sequence[float] | Floats,
        n_agents: int | None = None,
    ) -> AgentDays:
        a = np.asarray(agent, dtype=np.int64)
        u = np.asarray(used, dtype=np.float64)
        o = np.asarray(offered, dtype=np.float64)
        if not (len(a) == len(u) == len(o) == len(day)):
            raise ValueError("agent, day, offered and used need the same length")
        if np.any(u > o) or np.any(u < 0):
            raise ValueError("used must be between 0 and offered")
        n = int(a.max()) + 1 if n_agents is None and len(a) else int(n_agents or 0)
        return cls(a, np.asarray(day, dtype=np.int64), o, u, n)


@dataclass(frozen=True, slots=True)
class AgentTests:
    """One value per agent (index = agent code)."""

    baseline_offered: Floats
    baseline_rate: Floats  # nan where never offered
    current_offered: Floats
    current_rate: Floats
    dispersion: Floats
    z: Floats
    p: Floats
    eligible: Bools  # enough data on both sides to be tested
    fell: Bools  # significantly below their own baseline, by enough
    stopped: Bools  # no use on their last N working days, improbably
    stopped_since: Ints  # first day of the run without a use; -1 where not stopped

    @property
    def flags(self) -> Flags:
        return Flags(self.eligible, self.fell, self.stopped)


@dataclass(frozen=True, slots=True)
class Flags:
    """Per agent: tested, fell from their own baseline, stopped (see the module docstring)."""

    eligible: Bools
    fell: Bools
    stopped: Bools

    @property
    def flagged(self) -> Bools:
        out: Bools = self.fell | self.stopped
        return out

    @property
    def counted(self) -> Bools:
        """Agents counted in a group's share: tested, or stopped (a stop is a finding even
        where too little was offered in the window to test a fall)."""
        out: Bools = self.eligible | self.stopped
        return out

    @staticmethod
    def either(flags: Sequence[Flags]) -> Flags:
        """Flags over several features: an agent flagged for any of them."""
        if not flags:
            raise ValueError("nothing to combine")
        out = flags[0]
        for f in flags[1:]:
            out = Flags(out.eligible | f.eligible, out.fell | f.fell, out.stopped | f.stopped)
        return out


def _per_agent(keys: Ints, values: Floats, n: int) -> Floats:
    out: Floats = np.bincount(keys, weights=values, minlength=n).astype(np.float64)
    return out


def _rate(used: Floats, offered: Floats) -> Floats:
    with np.errstate(invalid="ignore", divide="ignore"):
        out: Floats = np.where(offered > 0, used / offered, np.nan)
    return out


def agent_tests(data: AgentDays, current_start: int, params: StopParams) -> AgentTests:
    """Test every agent's use in ``[current_start, current_start + current_days)`` against
    their own in the ``baseline_days`` before it (see the module docstring)."""
    n = data.n_agents
    base = (data.day >= current_start - params.baseline_days) & (data.day < current_start)
    cur = (data.day >= current_start) & (data.day < current_start + params.current_days)
    bo = _per_agent(data.agent[base], data.offered[base], n)
    bu = _per_agent(data.agent[base], data.used[base], n)
    co = _per_agent(data.agent[cur], data.offered[cur], n)
    cu = _per_agent(data.agent[cur], data.used[cur], n)
    pb, pc = _rate(bu, bo), _rate(cu, co)

    # Day-to-day dispersion of each agent's baseline: Pearson chi-square per degree of freedom.
    b_agent = data.agent[base]
    b_off, b_used = data.offered[base], data.used[base]
    p_agent = np.nan_to_num(pb[b_agent])
    var = b_off * p_agent * (1 - p_agent)
    with np.errstate(invalid="ignore", divide="ignore"):
        chi = np.where(var > 0, (b_used - b_off * p_agent) ** 2 / var, 0.0)
    days = np.bincount(b_agent[b_off > 0], minlength=n).astype(np.float64)
    chi_sum = _per_agent(b_agent, chi, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        dispersion = np.where(days > 1, np.maximum(1.0, chi_sum / np.maximum(days - 1, 1)), 1.0)

    eligible = (
        (bo >= params.min_baseline_offered)
        & (co >= params.min_current_offered)
        & (np.nan_to_num(pb) >= params.min_baseline_rate)
    )
    pooled = np.where(bo + co > 0, (bu + cu) / np.maximum(bo + co, 1), 0.0)
    se = np.sqrt(
        dispersion * pooled * (1 - pooled) * (1 / np.maximum(bo, 1) + 1 / np.maximum(co, 1))
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(eligible & (se > 0), (np.nan_to_num(pb) - np.nan_to_num(pc)) / se, 0.0)
    p = np.asarray(ndtr(-z), dtype=np.float64)  # P(Z > z)
    fell = np.zeros(n, dtype=bool)
    idx = np.flatnonzero(eligible)
    if len(idx):
        found = benjamini_hochberg(p[idx].tolist(), params.fdr)
        drop = (pb[idx] - pc[idx]) / pb[idx]
        fell[idx[found & (drop >= params.min_relative_drop)]] = True

    stopped, since = _stopped(data, cur, pb, bo, params)
    return AgentTests(bo, pb, co, pc, dispersion, z, p, eligible, fell, stopped, since)


def _stopped(
    data: AgentDays, cur: Bools, pb: Floats, bo: Floats, params: StopParams
) -> tuple[Bools, Ints]:
    """Agents whose last ``stop_days`` working days of the window had no use at all."""
    n = data.n_agents
    stopped = np.zeros(n, dtype=bool)
    since = np.full(n, -1, dtype=np.int64)
    rows = np.flatnonzero(cur & (data.offered > 0))
    if not len(rows):
        return stopped, since
    # Working days of each agent, latest first; per agent, the run of days without a use
    # that ends the window (its length is the position of its first day with one).
    order = rows[np.lexsort((-data.day[rows], data.agent[rows]))]
    agents, starts, counts = np.unique(data.agent[order], return_index=True, return_counts=True)
    position = np.arange(len(order)) - np.repeat(starts, counts)
    first_use = np.where(data.used[order] > 0, position, len(order))
    run = np.minimum(np.minimum.reduceat(first_use, starts), counts)
    offered = np.concatenate([[0.0], np.cumsum(data.offered[order])])
    in_run = offered[starts + run] - offered[starts]
    rate = np.clip(pb[agents], 0.0, 1 - 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        unlikely = in_run * np.log1p(-np.nan_to_num(rate)) < math.log(params.stop_alpha)
    ok = (
        (bo[agents] >= params.min_baseline_offered)
        & (np.nan_to_num(pb[agents]) >= params.min_baseline_rate)
        & (run >= params.stop_days)
        & unlikely
    )
    stopped[agents[ok]] = True
    last = order[starts[ok] + run[ok] - 1]
    since[agents[ok]] = data.day[last]
    return stopped, since


@dataclass(frozen=True, slots=True)
class GroupRise:
    """A group whose share of agents who fell or stopped rose (see :func:`rising_groups`)."""

    key: str
    value: str
    agents: int  # tested now
    flagged: int  # fell or stopped now
    stopped: int
    previous_agents: int
    previous_flagged: int
    z: float
    p: float
    newest: int  # of the flagged, how many are in the newest tenure band
    members: tuple[int, ...] = field(default=(), repr=False)  # agent codes flagged now

    @property
    def share(self) -> float:
        return self.flagged / self.agents if self.agents else 0.0

    @property
    def previous_share(self) -> float:
        return self.previous_flagged / self.previous_agents if self.previous_agents else 0.0


def rising_groups(
    groups: Mapping[str, Sequence[str | None]],
    now: Flags,
    before: Flags,
    newest: Bools,
    params: StopParams,
) -> list[GroupRise]:
    """Groups (per key: one label per agent) where the share of flagged agents rose.

    ``now`` and ``before`` are the flags of the current window and of the window before it;
    ``newest`` marks agents in the newest tenure band. A group is reported when at least
    ``min_group_agents`` of its agents are flagged now, its share rose by ``min_share_rise``,
    and a one-sided two-proportion test on agents (before vs now) rejects at ``group_alpha``
    after Benjamini-Hochberg over all groups tested.
    """
    candidates: list[GroupRise] = []
    for key, labels in groups.items():
        values = np.array([v if v is not None else "" for v in labels], dtype=object)
        for value in sorted({str(v) for v in values if v}):
            inside = values == value
            flagged_now = inside & now.flagged & now.counted
            flagged_before = inside & before.flagged & before.counted
            k2, n2 = int(flagged_now.sum()), int((inside & now.counted).sum())
            k1, n1 = int(flagged_before.sum()), int((inside & before.counted).sum())
            if k2 < params.min_group_agents or n2 == 0:
                continue
            z = two_proportion_z(k1, n1, k2, n2) if n1 else 0.0
            candidates.append(
                GroupRise(
                    key=key,
                    value=value,
                    agents=n2,
                    flagged=k2,
                    stopped=int((inside & now.stopped).sum()),
                    previous_agents=n1,
                    previous_flagged=k1,
                    z=z,
                    p=normal_sf(z) if n1 else 1.0,
                    newest=int((flagged_now & newest).sum()),
                    members=tuple(int(i) for i in np.flatnonzero(flagged_now)),
                )
            )
    if not candidates:
        return []
    found = benjamini_hochberg([c.p for c in candidates], params.group_alpha)
    return [
        c
        for c, ok in zip(candidates, found, strict=True)
        if ok and c.share - c.previous_share >= params.min_share_rise
    ]


@dataclass(frozen=True, slots=True)
class DeclineParams:
    """When a group's use has fallen from its own recent past (defaults: the product's)."""

    windows: tuple[int, ...] = (3, 7)  # the last days judged
    baseline_days: int = 28  # against the days just before them
    min_baseline_offered: int = 300
    min_current_offered: int = 100
    min_drop: float = 0.03  # share points
    min_relative_drop: float = 0.08  # of the group's own baseline rate
    fdr: float = 0.01

    def __post_init__(self) -> None:
        if not self.windows or min(self.windows) < 1 or self.baseline_days < 7:
            raise ValueError("windows need at least one day and baseline_days at least 7")


@dataclass(frozen=True, slots=True)
class Decline:
    """A group whose use in its last ``window`` days fell below its own baseline."""

    group: int
    window: int
    baseline_rate: float
    current_rate: float
    baseline_offered: float
    current_offered: float
    dispersion: float
    z: float
    p: float
    onset: int  # the day index where its use most plausibly changed


def _dispersion(offered: Floats, used: Floats, rate: float) -> float:
    """Pearson chi-square per degree of freedom of daily counts around ``rate`` (at least 1)."""
    has = offered > 0
    days = int(has.sum())
    if days < 2 or not 0 < rate < 1:
        return 1.0
    expected = offered[has] * rate
    chi = float(np.sum((used[has] - expected) ** 2 / (expected * (1 - rate))))
    return max(1.0, chi / (days - 1))


def _z(nb: float, ub: float, nc: float, uc: float, phi: float) -> float:
    if nb <= 0 or nc <= 0:
        return 0.0
    pooled = (ub + uc) / (nb + nc)
    var = phi * pooled * (1 - pooled) * (1 / nb + 1 / nc)
    return (ub / nb - uc / nc) / math.sqrt(var) if var > 0 else 0.0


def onset_day(offered: Floats, used: Floats, first: int, last: int) -> int:
    """The split ``s`` in ``[first, last]`` where the days before and from ``s`` differ most
    (the largest two-proportion z of a fall): a single change point."""
    best, best_z = last, -math.inf
    co, cu = np.cumsum(offered), np.cumsum(used)
    total_o, total_u = float(co[-1]), float(cu[-1])
    for s in range(max(first, 1), last + 1):
        nb, ub = float(co[s - 1]), float(cu[s - 1])
        z = _z(nb, ub, total_o - nb, total_u - ub, 1.0)
        if z > best_z:
            best, best_z = s, z
    return best


def group_declines(offered: Floats, used: Floats, params: DeclineParams) -> list[Decline]:
    """Groups (rows) whose use in their last days fell from the days before (columns are days,
    the last column the latest). One-sided quasi-binomial test per group and window, the day-
    to-day dispersion of the group's baseline scaling its variance; Benjamini-Hochberg over
    every test; a fall must also clear ``min_drop`` and ``min_relative_drop``. Each group is
    reported once, in its window of largest z."""
    o = np.asarray(offered, dtype=np.float64)
    u = np.asarray(used, dtype=np.float64)
    if o.shape != u.shape or o.ndim != 2:
        raise ValueError("offered and used must be groups x days arrays of one shape")
    n_days = o.shape[1]
    tests: list[Decline] = []
    for g in range(o.shape[0]):
        for w in params.windows:
            b0 = n_days - w - params.baseline_days
            if b0 < 0:
                continue
            bo, bu = o[g, b0 : n_days - w], u[g, b0 : n_days - w]
            nb, ub = float(bo.sum()), float(bu.sum())
            nc, uc = float(o[g, n_days - w :].sum()), float(u[g, n_days - w :].sum())
            if nb < params.min_baseline_offered or nc < params.min_current_offered:
                continue
            phi = _dispersion(bo, bu, ub / nb)
            z = _z(nb, ub, nc, uc, phi)
            tests.append(Decline(g, w, ub / nb, uc / nc, nb, nc, phi, z, normal_sf(z), n_days - w))
    if not tests:
        return []
    found = benjamini_hochberg([t.p for t in tests], params.fdr)
    best: dict[int, Decline] = {}
    for t, ok in zip(tests, found, strict=True):
        drop = t.baseline_rate - t.current_rate
        if not ok or drop < params.min_drop or drop < params.min_relative_drop * t.baseline_rate:
            continue
        if t.group not in best or t.z > best[t.group].z:
            best[t.group] = t
    out = []
    for g, t in sorted(best.items()):
        first = n_days - max(params.windows) - params.baseline_days // 2
        onset = onset_day(o[g], u[g], max(first, 1), n_days - 1)
        out.append(replace(t, onset=onset))
    return out


def nest(rises: Sequence[GroupRise], min_agents: int) -> list[int | None]:
    """For each rise, the rise that explains it (None: it stands on its own).

    A rise is explained by a larger rise of another key when fewer than ``min_agents`` of its
    flagged agents are outside that one: the 2y+ band's rise is Porto's when nearly all its
    agents who stopped are at Porto; a Porto team's is Porto's. The whole deployment explains
    nothing (it would explain everything). Each points at the top of its chain.
    """
    order = sorted(range(len(rises)), key=lambda i: (-rises[i].flagged, rises[i].key))
    parent: list[int | None] = [None] * len(rises)
    for i in order:
        r = rises[i]
        for j in order:
            big = rises[j]
            if j == i or big.key in (r.key, "deployment") or big.flagged <= r.flagged:
                continue
            if len(set(r.members) - set(big.members)) < min_agents:
                parent[i] = j
                break
    for i in range(len(rises)):
        seen = {i}
        while (p := parent[i]) is not None and parent[p] is not None and p not in seen:
            seen.add(p)
            parent[i] = parent[p]
    return parent

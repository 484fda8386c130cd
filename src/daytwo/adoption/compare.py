"""Two comparisons made fair (the estimator: :mod:`daytwo.adoption.fair`).

**Pilot vs rollout.** Per KPI, the naive gap (pilot minus rollout) and the like-for-like gap
after standardising for who was in each cohort: tenure band × site × journey, with the pilot's
mix as the standard, and an agent bootstrap interval. The default basis is *the same age*:
each cohort's first ``days`` days with the tool (``days`` defaults to the pilot's length), so
the comparison also answers "is the rollout doing as well as the pilot did at the same age?".
The ``calendar`` basis compares the pilot's first days with the rollout in the period asked
for, as people usually (and unfairly) do.

**AI vs the legacy path.** Per outcome (handle time, CSAT, resolution, escalation), the
agents' conversations in which the AI was used against those in which it was not, like for like
within the same journey, tenure band and week, each agent's two kinds of conversation drawn
together in the bootstrap. Also per tenure band (the tool helps new agents most).
"""

# SQL here is built from module constants; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.adoption.cohorts import Resolved, first_offered
from daytwo.adoption.fair import Gap, Rows, codes, selection_sentence, standardised_gap
from daytwo.adoption.ipw import factors_of, weighted_gap
from daytwo.adoption.rollup import AGENT_DAYS, source
from daytwo.adoption.schemas import Comparison, KpiGap, Period
from daytwo.errors import InputError
from daytwo.store.events import EventStore

Basis = Literal["same_age", "calendar"]
RESAMPLES = 400
PILOT_STRATA = ("tenure", "site", "journey")
LEGACY_STRATA = ("journey", "tenure", "week")
MAX_AGE_DAYS = 28


@dataclass(frozen=True, slots=True)
class Kpi:
    """A KPI as sums in the agent rollup: ``num`` over ``den`` (a rate or a mean)."""

    id: str
    name: str
    unit: str  # share | seconds | score
    num: str
    den: str


def points(v: float) -> str:
    return f"{v * 100:+.1f} points"


def seconds(v: float) -> str:
    return f"{v:+.0f} s"


def score(v: float) -> str:
    return f"{v:+.2f}"


FORMATS: dict[str, Callable[[float], str]] = {"share": points, "seconds": seconds, "score": score}

PILOT_KPIS = (
    Kpi("suggestion_acceptance_rate", "Suggestion acceptance", "share", "used", "shown"),
    Kpi("ai_usage_rate", "AI used", "share", "ai_used", "ai_known"),
    Kpi(
        "average_handle_time", "Handle time", "seconds",
        "coalesce(ai_handle_s, 0) + coalesce(legacy_handle_s, 0)", "ai_handle_n + legacy_handle_n",
    ),
    Kpi(
        "csat", "CSAT", "score",
        "coalesce(ai_csat_s, 0) + coalesce(legacy_csat_s, 0)", "ai_csat_n + legacy_csat_n",
    ),
)  # fmt: skip
# (id, name, unit, column suffix of the sum, of its count)
LEGACY_KPIS = (
    ("average_handle_time", "Handle time", "seconds", "handle_s", "handle_n"),
    ("csat", "CSAT", "score", "csat_s", "csat_n"),
    ("resolution", "Resolved", "share", "resolved", "outcome_n"),
    ("escalation_rate", "Escalated", "share", "escalated", "outcome_n"),
)


def _gap_row(
    kpi: str, name: str, unit: str, gap: Gap | None, focus: str, other: str, why: str = ""
) -> KpiGap:
    if gap is None:
        return KpiGap(
            kpi=kpi, name=name, unit=unit, focus_value=None, other_value=None, naive=None,
            naive_lo=None, naive_hi=None, adjusted=None, lo=None, hi=None, selection_share=None,
            relative=None, coverage=None, strata=0, focus_agents=0, other_agents=0,
            sentence=why or "Not enough data in both groups to compare.",
        )  # fmt: skip

    def num(v: float) -> float | None:
        return float(v) if np.isfinite(v) else None

    return KpiGap(
        kpi=kpi,
        name=name,
        unit=unit,
        focus_value=num(gap.focus_value),
        other_value=num(gap.other_value),
        naive=num(gap.naive),
        naive_lo=num(gap.naive_lo),
        naive_hi=num(gap.naive_hi),
        adjusted=num(gap.adjusted),
        lo=num(gap.lo),
        hi=num(gap.hi),
        selection_share=gap.selection_share,
        relative=gap.relative,
        coverage=gap.coverage,
        strata=gap.strata,
        focus_agents=gap.focus_clusters,
        other_agents=gap.other_clusters,
        sentence=selection_sentence(gap, name, FORMATS[unit], focus, other),
    )


def weighted_agrees(k: KpiGap) -> bool | None:
    """Whether the weighted and the standardised gap agree: closer than half the narrower
    interval's half-width (both estimate the same thing, so a larger distance means thin
    strata); None when either is missing."""
    if k.weighted is None or k.weighted_lo is None or k.weighted_hi is None:
        return None
    if k.adjusted is None or k.lo is None or k.hi is None:
        return None
    half = min(k.hi - k.lo, k.weighted_hi - k.weighted_lo) / 2
    return abs(k.weighted - k.adjusted) <= half / 2


def weighted_sentence(k: KpiGap, fmt: Callable[[float], str], focus: str, other: str) -> str:
    """What the inverse-probability-weighted gap says, and whether it agrees with the
    standardised one (:func:`weighted_agrees`)."""
    if k.weighted is None or k.weighted_lo is None or k.weighted_hi is None:
        return ""
    head = (
        f"Weighted instead, with the {other} reweighted to look like the {focus}: "
        f"{fmt(k.weighted)} ({fmt(k.weighted_lo)} to {fmt(k.weighted_hi)})"
    )
    agrees = weighted_agrees(k)
    if agrees is None or k.adjusted is None:
        return f"{head}."
    apart = abs(k.weighted - k.adjusted)
    if agrees:
        return f"{head}, which agrees with the standardised gap."
    return (
        f"{head}, {fmt(apart).lstrip('+')} from the standardised gap: "
        "the groups overlap thinly here, so trust neither estimate alone."
    )


def _safe_gap(rows: Rows, *, seed: int, paired: bool = False) -> Gap | None:
    """The gap, or None where a group has no rows or no stratum both reach."""
    has = rows.den > 0
    rows = rows.where(has)
    if not rows.focus.any() or rows.focus.all():
        return None
    gap = standardised_gap(rows, resamples=RESAMPLES, seed=seed, paired=paired)
    return gap if gap.strata > 0 else None


EPOCH = date(1970, 1, 1)


class NoComparison(InputError):
    """The pilot and the rollout cannot be compared (a cohort was never offered the AI); the
    message says why, and callers answer it as they answer a missing pilot."""


def _member(values: pa.ChunkedArray | pa.Array, members: frozenset[str]) -> np.ndarray:
    """Which of ``values`` are in ``members``, as a numpy bool array."""
    found = pc.is_in(values, value_set=pa.array(sorted(members), type=pa.string()))
    return np.asarray(pc.fill_null(found, False), dtype=bool)


def _floats(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(values, pa.float64()), 0.0), dtype=np.float64)


def pilot_length(first: dict[str, date], pilot: Resolved, rollout: Resolved) -> int:
    """The pilot's length in days: from its first agents' first offer to the rollout's."""
    p = [first[a] for a in pilot.agents if a in first]
    r = [first[a] for a in rollout.agents if a in first]
    if not p or not r:
        return 14
    span = (min(r) - min(p)).days
    return max(3, min(MAX_AGE_DAYS, span)) if span > 0 else 14


def pilot_vs_rollout(
    events: EventStore,
    deployment: str,
    cohorts: tuple[Resolved, Resolved],
    *,
    basis: Basis = "same_age",
    days: int | None = None,
    period: Period | None = None,
    strata: Sequence[str] = PILOT_STRATA,
) -> Comparison:
    """Each KPI for the pilot and the rollout, naive and like for like (module docstring)."""
    pilot, rollout = cohorts
    first = first_offered(events, deployment)
    length = days or pilot_length(first, pilot, rollout)
    # Each cohort's day one: its first agent's first offer.
    opened = []
    for c in cohorts:
        offered = [first[a] for a in c.agents if a in first]
        if not offered:
            raise NoComparison(
                f"No comparison: none of the {len(c.agents)} agents of the {c.role} "
                f"({c.definition}) has been shown a suggestion in {deployment!r}."
            )
        opened.append(min(offered))
    lo = datetime.combine(min(opened), time(), tzinfo=UTC)
    hi = period.end if period else lo + timedelta(days=3650)
    if basis == "same_age":  # read only the days that hold both cohorts' first ``length``
        hi = min(hi, datetime.combine(max(opened) + timedelta(days=length), time(), tzinfo=UTC))
    rel, params = source(events, AGENT_DAYS, deployment, lo, hi)
    sums = ", ".join(
        f"sum({k.num}) AS n_{i}, sum({k.den}) AS d_{i}" for i, k in enumerate(PILOT_KPIS)
    )
    table = events.query(
        f"SELECT agent_ref, day, {', '.join(strata)}, {sums} FROM {rel} GROUP BY ALL"
        f" ORDER BY agent_ref, day, {', '.join(strata)}",  # the bootstrap's draws, reproducible
        params,
    )
    refs = table["agent_ref"]
    in_pilot = _member(refs, pilot.agents)
    in_rollout = _member(refs, rollout.agents)
    # A cohort's age: days since the tool went live for it (its first agent's first offer),
    # the same clock for every agent of the cohort, however late they first took a call.
    day = np.asarray(pc.days_between(pa.scalar(EPOCH), table["day"]), dtype=np.int64)
    age = np.full(len(day), -1, dtype=np.int64)
    for cohort, member in ((pilot, in_pilot), (rollout, in_rollout)):
        offered = [first[a] for a in cohort.agents if a in first]
        if offered:
            age = np.where(member, day - (min(offered) - EPOCH).days, age)
    if basis == "same_age":
        keep = (in_pilot | in_rollout) & (age >= 0) & (age < length)
        window = f"each cohort's first {length} days with the tool"
    else:
        if period is None:
            raise ValueError("the calendar basis needs a period")
        lo_day, hi_day = ((p.date() - EPOCH).days for p in (period.start, period.end))
        cur = (day >= lo_day) & (day < hi_day)
        keep = (in_pilot & (age >= 0) & (age < length)) | (in_rollout & cur)
        window = (
            f"the pilot's first {length} days against the rollout from "
            f"{period.start.date()} to {(period.end - timedelta(days=1)).date()}"
        )
    if pilot.journeys and "journey" in table.column_names:
        keep &= _member(table["journey"], frozenset(pilot.journeys)) | ~in_pilot
    kept = table.filter(pa.array(keep))
    stratum, keys = codes(*(kept[k].to_numpy(zero_copy_only=False) for k in strata))
    cluster, _ = codes(kept["agent_ref"].to_numpy(zero_copy_only=False))
    focus = in_pilot[keep]
    kpis = []
    for i, k in enumerate(PILOT_KPIS):
        num, den = _floats(kept[f"n_{i}"]), _floats(kept[f"d_{i}"])
        rows = Rows.of(focus, stratum, cluster, num, den)
        row = _gap_row(k.id, k.name, k.unit, _safe_gap(rows, seed=i), "pilot", "rollout")
        if row.adjusted is not None:
            w = weighted_gap(
                rows.where(rows.den > 0), factors_of(keys), resamples=RESAMPLES, seed=i
            )
            update = {"weighted": w.adjusted, "weighted_lo": w.lo, "weighted_hi": w.hi}
            row = row.model_copy(update=update)
            said = weighted_sentence(row, FORMATS[k.unit], "pilot", "rollout")
            row = row.model_copy(
                update={"weighted_sentence": said, "weighted_agrees": weighted_agrees(row)}
            )
        kpis.append(row)
    return Comparison(
        focus=pilot.name,
        other=rollout.name,
        basis=basis,
        strata=list(strata),
        window=window,
        kpis=kpis,
        note=f"{pilot.name}: {pilot.definition}; {rollout.name}: {rollout.definition}.",
    )


def ai_vs_legacy(
    events: EventStore,
    deployment: str,
    period: Period,
    *,
    strata: Sequence[str] = LEGACY_STRATA,
    bands: bool = True,
) -> Comparison:
    """Each outcome with the AI used and on the legacy path, like for like (module docstring)."""
    rel, params = source(events, AGENT_DAYS, deployment, period.start, period.end)
    names = dict.fromkeys(
        f"{side}_{c}" for side in ("ai", "legacy") for *_, n, d in LEGACY_KPIS for c in (n, d)
    )
    cols = ", ".join(f"sum({c}) AS {c}" for c in names)
    table = events.query(
        "SELECT agent_ref, journey, tenure, date_trunc('week', day) AS week, "
        f"{cols} FROM {rel} GROUP BY ALL",
        params,
    )
    n = table.num_rows
    focus = np.concatenate([np.ones(n, dtype=bool), np.zeros(n, dtype=bool)])
    keys = [table[k].to_numpy(zero_copy_only=False) for k in strata]
    stratum, _ = codes(*(np.concatenate([k, k]) for k in keys))
    agents = table["agent_ref"].to_numpy(zero_copy_only=False)
    cluster, _ = codes(np.concatenate([agents, agents]))
    tenure = np.concatenate([table["tenure"].to_numpy(zero_copy_only=False)] * 2)

    def arr(col: str) -> np.ndarray:
        return _floats(table[col])

    kpis: list[KpiGap] = []
    by_band: dict[str, list[KpiGap]] = {}
    for i, (kid, name, unit, n_col, d_col) in enumerate(LEGACY_KPIS):
        num = np.concatenate([arr(f"ai_{n_col}"), arr(f"legacy_{n_col}")])
        den = np.concatenate([arr(f"ai_{d_col}"), arr(f"legacy_{d_col}")])
        base = Rows.of(focus, stratum, cluster, num, den)
        gap = _safe_gap(base, seed=i, paired=True)
        kpis.append(_gap_row(kid, name, unit, gap, "AI-assisted", "legacy path"))
        if bands and kid == "average_handle_time":
            for band in sorted({str(t) for t in tenure if t is not None}):
                sub = base.where(tenure == band)
                g = _safe_gap(sub, seed=100 + i, paired=True)
                by_band.setdefault(band, []).append(
                    _gap_row(kid, name, unit, g, "AI-assisted", "legacy path")
                )
    return Comparison(
        focus="AI used",
        other="legacy path",
        basis="same_period",
        strata=list(strata),
        window=f"{period.start.date()} to {(period.end - timedelta(days=1)).date()}",
        kpis=kpis,
        by_band=by_band,
        note="Conversations of the same agents compared within the same journey, tenure band "
        "and week; an agent's conversations with and without the AI are drawn together.",
    )

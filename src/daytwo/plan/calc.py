"""Pure calculations of the plan: criterion verdicts, the change against the baseline with its
confidence bound, where the plan stands by evidence, rollout transitions and the ranking of
the next journeys.

Nothing here touches a database or the events store: the functions take numbers, dates and
small frozen values and return verdicts, so each can be checked by hand (see
``tests/plan/test_calc.py``, one golden table per criterion kind).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Literal

from daytwo.metrics.calc import Z95, Estimate
from daytwo.metrics.catalog import Metric
from daytwo.plan.schemas import Comparator, Verdict, VsBaseline
from daytwo.units import fmt_delta, fmt_value

PLAN_DAYS = 90
COMPARATOR_TEXT: dict[str, str] = {"at_most": "≤", "at_least": "≥", "below": "<", "above": ">"}
UNBOUNDED = math.inf
# Signed scores on a scale other than [-1, 1] (a score metric is a balance: sentiment is +1 all
# positive, -1 all negative; NPS is % promoters minus % detractors).
SIGNED_RANGES: dict[str, tuple[float, float]] = {"nps": (-100.0, 100.0)}


# -- metric conditions -------------------------------------------------------------------


def metric_range(metric: Metric) -> tuple[float, float]:
    """The values ``metric`` can take: a rate is in [0, 1], NPS in [-100, 100], a signed
    score (sentiment) in [-1, 1], a mean score (CSAT) on a scale up to 10, the rest >= 0."""
    if metric.unit == "rate":
        return (0.0, 1.0)
    if metric.unit == "score" and metric.kind == "score":
        return SIGNED_RANGES.get(metric.id, (-1.0, 1.0))
    if metric.unit == "score":
        return (0.0, 10.0)
    return (0.0, UNBOUNDED)


def holds(value: float, comparator: Comparator, threshold: float) -> bool:
    if comparator == "at_most":
        return value <= threshold
    if comparator == "at_least":
        return value >= threshold
    if comparator == "below":
        return value < threshold
    return value > threshold


def standard_error(est: Estimate, metric: Metric) -> float | None:
    """The standard error of an estimate: exact for a rate (its p and n), else read from its
    95% interval; None where the metric has no interval (quantiles, counts, expressions)."""
    if est.value is None or not est.n:
        return None
    if metric.kind == "ratio":
        p = min(max(est.value, 0.0), 1.0)
        return math.sqrt(p * (1 - p) / est.n)
    if est.lo is None or est.hi is None:
        return None
    return (est.hi - est.lo) / (2 * Z95)


def has_interval(metric: Metric) -> bool:
    """Whether a change of ``metric`` against its baseline can be tested for significance."""
    return metric.kind in ("ratio", "mean")


@dataclass(frozen=True, slots=True)
class BaselineChange:
    """The change from the baseline in the good direction, and its one-sided lower bound."""

    change: float  # positive: better
    bound: float  # the (1 - significance) lower confidence bound of ``change``
    margin: float  # what the bound must reach: +by (better) or -by (not worse)

    @property
    def holds(self) -> bool:
        return self.bound >= self.margin


def baseline_change(
    current: Estimate,
    baseline: Estimate,
    metric: Metric,
    spec: VsBaseline,
) -> BaselineChange | None:
    """The change of ``current`` against ``baseline`` with its confidence bound.

    The difference of two independent estimates; a baseline imported as a single value (no
    sample) counts as exact. None when either side has no value or no standard error.
    """
    if current.value is None or baseline.value is None or metric.good is None:
        return None
    se_now = standard_error(current, metric)
    if se_now is None:
        return None
    se_base = standard_error(baseline, metric) if baseline.n else 0.0
    if se_base is None:
        return None
    sign = 1.0 if metric.good == "up" else -1.0
    change = sign * (current.value - baseline.value)
    z = NormalDist().inv_cdf(1 - spec.significance)
    bound = change - z * math.sqrt(se_now**2 + se_base**2)
    margin = spec.by if spec.change == "better" else -spec.by
    return BaselineChange(change, bound, margin)


@dataclass(frozen=True, slots=True)
class DayCheck:
    """The condition evaluated on the window ending one day."""

    end: date
    verdict: Verdict
    estimate: Estimate
    change: BaselineChange | None = None


@dataclass(frozen=True, slots=True)
class Condition:
    """What a metric criterion asks: a comparator and threshold, or a change against the
    baseline (with the baseline's estimate)."""

    comparator: Comparator | None = None
    threshold: float | None = None
    vs_baseline: VsBaseline | None = None
    baseline: Estimate | None = None

    def parts(
        self,
    ) -> tuple[Comparator | None, float | None, VsBaseline | None, Estimate | None]:
        return self.comparator, self.threshold, self.vs_baseline, self.baseline


def check_window(
    est: Estimate, end: date, metric: Metric, cond: Condition, *, min_sample: int
) -> DayCheck:
    """The verdict of one window: not enough data below ``min_sample`` (or with no value),
    else whether the threshold holds or the baseline change clears its margin."""
    sample = est.n if est.n is not None else (1 if est.value is not None else 0)
    if est.value is None or sample < max(min_sample, 1):
        return DayCheck(end, "no_data", est)
    comparator, threshold, vs_baseline, baseline = cond.parts()
    if vs_baseline is not None:
        if baseline is None:
            return DayCheck(end, "no_data", est)
        change = baseline_change(est, baseline, metric, vs_baseline)
        if change is None:
            return DayCheck(end, "no_data", est)
        return DayCheck(end, "met" if change.holds else "not_met", est, change)
    if comparator is None or threshold is None:
        raise ValueError("a threshold criterion needs comparator and threshold")
    return DayCheck(end, "met" if holds(est.value, comparator, threshold) else "not_met", est)


def day_fails(est: Estimate, metric: Metric, cond: Condition) -> bool | None:
    """Whether one day clearly breaks the condition; None when the day has no data.

    Clearly: its whole 95% interval is on the wrong side of the threshold (or, against the
    baseline, even the optimistic bound of its change misses the margin). A metric without an
    interval (a quantile, a count) fails on its value. So a day of ordinary noise near the
    threshold does not break a sustained criterion, and a day of an incident does.
    """
    if est.value is None or est.n == 0:
        return None
    comparator, threshold, vs_baseline, baseline = cond.parts()
    if vs_baseline is not None:
        if baseline is None or baseline.value is None or metric.good is None:
            return None
        change = baseline_change(est, baseline, metric, vs_baseline)
        if change is None:
            return None
        optimistic = change.change + (change.change - change.bound)  # change + z × se
        return optimistic < change.margin
    if comparator is None or threshold is None:
        raise ValueError("a threshold criterion needs comparator and threshold")
    if est.lo is None or est.hi is None:
        return not holds(est.value, comparator, threshold)
    # The end of the interval most favourable to the condition.
    best = est.lo if comparator in ("at_most", "below") else est.hi
    return not holds(best, comparator, threshold)


# The latest level is fitted on at least this many days with data.
LEVEL_MIN_DAYS = 3
# A rising trend: the line through the sustained days moves in the bad direction by at least
# this many standard errors of its slope, a one-sided test at 1% (chosen on seeds 1-2 of the
# plan bench, where 5% turned 5 of 112 calm gate-days not ready and 1% none; see docs/plan.md).
TREND_Z = NormalDist().inv_cdf(0.99)


@dataclass(frozen=True, slots=True)
class Level:
    """Where the metric stands on the last of the sustained days, from the straight line
    fitted through them (weighted by each day's precision), and whether that holds; the
    line's slope per day with its standard error, and whether it is a rising trend (getting
    worse by at least :data:`TREND_Z` standard errors)."""

    value: float
    se: float
    holds: bool
    slope: float = 0.0
    slope_se: float = math.inf
    rising: bool = False

    @property
    def z(self) -> float:
        """The slope in standard errors (signed as the slope itself)."""
        return self.slope / self.slope_se if self.slope_se > 0 else 0.0


def latest_level(days: Sequence[Estimate], metric: Metric, cond: Condition) -> Level | None:
    """The metric's level on the last of ``days`` (oldest first), judged as the window is,
    and whether its trend over the days is rising.

    The window's value is the mean over its days, so a drift that is still growing shows in
    it only half as large as on its latest day: a gate judged on the window alone reads ready
    for days after the drift has broken the condition. The line fitted through the daily
    values gives the level the drift has reached; it must not be past the condition (against
    the baseline: its change reaches the margin; against a threshold: it holds). The window
    shows the condition holds with confidence; the level is a best estimate, judged on its
    value: asking it for the same confidence (its standard error is about twice the window's)
    would turn calm days not ready whenever a day or two ran high.

    A problem that has only begun (the first days of a knowledge gap opening as more
    customers ask about a new product) can still sit inside the margin on every reading of
    its level while the line already climbs: the slope, weighed by the days' samples, tells
    it from noise. The trend is *rising* when the slope goes the bad way by at least
    :data:`TREND_Z` of its standard errors (one-sided); a gate waits until it has flattened.
    None where the metric has no interval (its days cannot be weighed) or fewer than
    ``LEVEL_MIN_DAYS`` days have data.
    """
    if not has_interval(metric):
        return None
    points = [(x, d) for x, d in enumerate(days) if d.value is not None and d.n]
    if len(points) < LEVEL_MIN_DAYS:
        return None
    if metric.kind == "ratio":  # one rate for all days, so a day at 0% weighs as it should
        total = sum(d.n or 0 for _, d in points)
        p = sum((d.value or 0.0) * (d.n or 0) for _, d in points) / total
        var = max(p * (1 - p), 1e-9)
        variances = [var / (d.n or 1) for _, d in points]
    else:
        ses = [standard_error(d, metric) for _, d in points]
        if any(se is None or se <= 0 for se in ses):
            return None
        variances = [(se or 0.0) ** 2 for se in ses]
    weights = [1 / v for v in variances]
    w = sum(weights)
    x_mean = sum(wt * x for wt, (x, _) in zip(weights, points, strict=True)) / w
    y_mean = sum(wt * (d.value or 0.0) for wt, (_, d) in zip(weights, points, strict=True)) / w
    sxx = sum(wt * (x - x_mean) ** 2 for wt, (x, _) in zip(weights, points, strict=True))
    if sxx <= 0:
        return None
    slope = (
        sum(
            wt * (x - x_mean) * ((d.value or 0.0) - y_mean)
            for wt, (x, d) in zip(weights, points, strict=True)
        )
        / sxx
    )
    last = len(days) - 1
    value = y_mean + slope * (last - x_mean)
    se = math.sqrt(1 / w + (last - x_mean) ** 2 / sxx)
    slope_se = math.sqrt(1 / sxx)
    comparator, threshold, vs_baseline, baseline = cond.parts()
    if vs_baseline is not None:
        if baseline is None or baseline.value is None or metric.good is None:
            return None
        sign = 1.0 if metric.good == "up" else -1.0
        margin = vs_baseline.by if vs_baseline.change == "better" else -vs_baseline.by
        ok = sign * (value - baseline.value) >= margin
    elif comparator is None or threshold is None:
        raise ValueError("a threshold criterion needs comparator and threshold")
    else:
        ok = holds(value, comparator, threshold)
        # The bad direction of a threshold: away from the side the condition wants.
        sign = 1.0 if comparator in ("at_least", "above") else -1.0
    rising = -sign * slope >= TREND_Z * slope_se
    return Level(value, se, ok, slope, slope_se, rising)


# What a finding without a metric of its own makes worse: a knowledge gap (questions the bot
# cannot answer) shows as fallbacks, rephrasing and conversations it does not contain.
KIND_METRICS: dict[str, frozenset[str]] = {
    "knowledge_gap": frozenset(
        {"fallback_rate_turn", "fallback_rate_conversation", "rephrase_rate", "containment_rate"}
    ),
}


@dataclass(frozen=True, slots=True)
class Seen:
    """A finding of the analysis, as much of it as a criterion is judged on."""

    id: int
    kind: str
    title: str
    journey: str | None = None
    segment: tuple[str, str] | None = None
    metric: str | None = None
    baseline: float | None = None
    current: float | None = None
    seen_on: date | None = None  # the day it was last seen (UTC)
    # A finding over the whole deployment that says which journeys it touches (a knowledge
    # gap's questions by journey): those holding at least JOURNEY_SHARE of it.
    journeys: tuple[str, ...] = ()


# A journey holding this share of a deployment-wide finding's conversations is one it touches.
JOURNEY_SHARE = 0.25


def touched_journeys(counts: dict[str, int]) -> tuple[str, ...]:
    """The journeys holding at least :data:`JOURNEY_SHARE` of ``counts`` (journey -> n)."""
    total = sum(counts.values())
    return tuple(sorted(j for j, n in counts.items() if total and n >= JOURNEY_SHARE * total))


def covers(seen: Seen, metric: Metric, journey: str | None, segment: dict[str, str]) -> bool:
    """Whether a finding says ``metric`` got worse on exactly the criterion's scope.

    The scope must be the same (a journey's problem is not the whole deployment's, nor the
    other way round), except that a finding over the deployment covers the journeys it
    touches (a knowledge gap whose questions land in two journeys is a problem of each); the
    finding is about the metric itself, or is of a kind that makes it worse
    (:data:`KIND_METRICS`); and where the finding has both values, the current one is worse
    than its baseline (an improvement found by a detector blocks nothing).
    """
    if len(segment) > 1:  # a finding names one segment
        return False
    wanted = next(iter(segment.items()), None)
    same_journey = seen.journey == journey or (
        seen.journey is None and journey is not None and journey in seen.journeys
    )
    if not same_journey or seen.segment != wanted:
        return False
    if seen.metric is None:
        return metric.id in KIND_METRICS.get(seen.kind, frozenset())
    if seen.metric != metric.id:
        return False
    if metric.good is None or seen.baseline is None or seen.current is None:
        return True
    sign = 1.0 if metric.good == "up" else -1.0
    return sign * (seen.current - seen.baseline) < 0


@dataclass(frozen=True, slots=True)
class Sustained:
    verdict: Verdict
    held: int  # consecutive latest days not clearly broken
    latest: DayCheck
    level: Level | None = None  # the latest level, where it could be fitted
    found: tuple[Seen, ...] = ()  # findings that say the metric got worse in the window


def sustained(
    window: DayCheck,
    days: Sequence[bool | None] = (),
    level: Level | None = None,
    found: Sequence[Seen] = (),
) -> Sustained:
    """The criterion's verdict: its window's, over the last N days (``days``, oldest first:
    True for a day that clearly broke the condition, None for a day without data), the
    level those days have reached (``level``, see :func:`latest_level`), and the findings of
    the analysis that cover the criterion in its window (``found``, see :func:`covers`).

    Met when the window is met, each of the N days has data and none broke it, the latest
    level holds, its trend is not rising and no finding says the metric got worse; not met
    when the window is not met, a day broke it, the latest level does not hold, the trend is
    rising or a finding covers it (once the window has enough data); otherwise not enough
    data.

    The findings are there for what the numbers see late: a problem that grows for weeks (a
    knowledge gap opening as more customers ask about a new product) moves a 7-day window by
    a fraction of its latest day while the detectors that look at the questions themselves
    see it within a day or two.
    """
    held = next((k for k, flag in enumerate(reversed(days)) if flag is not False), len(days))
    if not days:
        held = 1 if window.verdict == "met" else 0
    drifted = (
        level is not None and (not level.holds or level.rising) and window.verdict != "no_data"
    )
    contested = bool(found) and window.verdict != "no_data"
    if window.verdict == "not_met" or any(flag is True for flag in days) or drifted or contested:
        verdict: Verdict = "not_met"
    elif window.verdict == "no_data" or any(flag is None for flag in days):
        verdict = "no_data"
    else:
        verdict = "met"
    return Sustained(verdict, held, window, level, tuple(found))


def condition_text(
    metric: Metric,
    comparator: Comparator | None,
    threshold: float | None,
    vs_baseline: VsBaseline | None,
) -> str:
    if vs_baseline is not None:
        word = "better than" if vs_baseline.change == "better" else "not worse than"
        by = fmt_delta(vs_baseline.by, metric.unit).lstrip("+")
        conf = f"{100 * (1 - vs_baseline.significance):g}%"
        return f"{word} baseline by {by} ({conf} confidence)"
    if comparator is None or threshold is None:
        raise ValueError("a threshold criterion needs comparator and threshold")
    return f"{COMPARATOR_TEXT[comparator]} {fmt_value(threshold, metric.unit)}"


def metric_summary(
    metric: Metric,
    result: Sustained,
    *,
    condition: str,
    window_days: int,
    sustained_days: int,
    min_sample: int,
    baseline: float | None,
    broken: Sequence[tuple[date, Estimate]] = (),
) -> str:
    """One line a person reads: "Error rate 1.4% vs ≤ 1.0% over 7 days, held 0 of 7 days";
    with the days that broke a sustained condition: "…, broken on 2 of the last 7 days (3.2%
    on 31 Oct)"; with a finding that covers it: "…, but an open finding says it got worse:
    Knowledge gap: …"; with a drift whose latest level breaks it: "…, but drifting: 16.1% on
    its latest day by the trend of the last 7 days"; with a rising trend inside the condition:
    "…, but getting worse: +0.6 pts a day over the last 7 days (1.7 standard errors), 12.8%
    on its latest day"."""
    est = result.latest.estimate
    over = f"over {window_days} day{'s' if window_days != 1 else ''}"
    if est.value is None:
        return f"{metric.name}: no data {over}"
    value = fmt_value(est.value, metric.unit)
    if result.latest.verdict == "no_data":
        return (
            f"{metric.name} {value} on n={est.n or 0} {over}: below the minimum sample {min_sample}"
        )
    text = f"{metric.name} {value} vs {condition} {over}"
    if baseline is not None:
        text += f" (baseline {fmt_value(baseline, metric.unit)})"
    if broken:
        day, worst = broken[-1]
        text += (
            f", broken on {len(broken)} of the last {sustained_days} days "
            f"({fmt_value(worst.value, metric.unit)} on {day:%d %b})"
        )
    elif result.found:
        more = len(result.found) - 1
        text += f", but an open finding says it got worse: {result.found[0].title}" + (
            f" (and {more} more)" if more else ""
        )
    elif result.level is not None and not result.level.holds:
        text += (
            f", but drifting: {fmt_value(result.level.value, metric.unit)} on its latest day "
            f"by the trend of the last {sustained_days} days"
        )
    elif result.level is not None and result.level.rising:
        text += (
            f", but getting worse: {fmt_delta(result.level.slope, metric.unit)} a day over the "
            f"last {sustained_days} days ({abs(result.level.z):.1f} standard errors), "
            f"{fmt_value(result.level.value, metric.unit)} on its latest day"
        )
    elif sustained_days > 1:
        text += f", held {result.held} of {sustained_days} days"
    return text


# -- checks on the operation ---------------------------------------------------------------


def share_verdict(good: int, total: int, at_least: float) -> Verdict:
    """A compliance share (SLA, feedback windows): no data when nothing fell due."""
    if total == 0:
        return "no_data"
    return "met" if good / total >= at_least - 1e-12 else "not_met"


def count_verdict(bad: int) -> Verdict:
    return "met" if bad == 0 else "not_met"


# -- where the plan stands -----------------------------------------------------------------

PhaseStatus = Literal["passed", "overridden", "current", "upcoming"]


@dataclass(frozen=True, slots=True)
class PhaseFacts:
    key: str
    name: str
    start_day: int
    end_day: int
    passed: Literal["signoff", "override"] | None = None
    ready: bool | None = None
    met: int | None = None
    total: int | None = None
    unmet: tuple[str, ...] = ()  # summaries of the criteria not met


@dataclass(frozen=True, slots=True)
class Position:
    day: int | None
    current: str | None
    calendar: str | None
    calendar_ahead: bool
    statuses: dict[str, PhaseStatus] = field(default_factory=dict)
    headline: str = ""  # the lead and every unmet criterion
    lead: str = ""  # one sentence


def day_number(go_live: date | None, through: date | None) -> int | None:
    """Day N of the plan: go-live is day 1."""
    if go_live is None or through is None:
        return None
    return (through - go_live).days + 1


def check_phases(phases: Sequence[tuple[str, int, int]]) -> list[tuple[int, str, str]]:
    """Problems of the day ranges (index, field, message): reversed, overlapping, out of
    order. Phases are given in their order; a gap between two phases is allowed."""
    problems: list[tuple[int, str, str]] = []
    for i, (key, start, end) in enumerate(phases):
        if end < start:
            problems.append(
                (i, "end_day", f"phase {key!r} ends (day {end}) before it starts (day {start})")
            )
        if i > 0:
            prev_key, _, prev_end = phases[i - 1]
            if start <= prev_end:
                problems.append(
                    (
                        i,
                        "start_day",
                        f"phase {key!r} starts on day {start}, inside "
                        f"phase {prev_key!r} (which ends on day {prev_end})",
                    )
                )
    return problems


def position(phases: Sequence[PhaseFacts], day: int | None) -> Position:
    """The current phase by evidence (the first not passed), the phase the calendar names,
    and a headline that says when the calendar has run ahead of the evidence."""
    statuses: dict[str, PhaseStatus] = {}
    current: PhaseFacts | None = None
    for p in phases:
        if p.passed == "signoff":
            statuses[p.key] = "passed"
        elif p.passed == "override":
            statuses[p.key] = "overridden"
        elif current is None:
            current = p
            statuses[p.key] = "current"
        else:
            statuses[p.key] = "upcoming"
    calendar = None
    if day is not None:
        calendar = next((p for p in phases if p.start_day <= day <= p.end_day), None)
        if calendar is None and phases and day > phases[-1].end_day:
            calendar = phases[-1]
    order = {p.key: i for i, p in enumerate(phases)}
    ahead = (
        current is not None
        and calendar is not None
        and day is not None
        and (order[calendar.key] > order[current.key] or day > current.end_day)
    )
    total_days = phases[-1].end_day if phases else PLAN_DAYS
    prefix = f"Day {day} of {total_days}" if day is not None else "Before go-live"
    if day is not None and day < 1:
        prefix = f"{1 - day} days before go-live"
    if current is None:
        lead = f"{prefix}: every phase passed."
    else:
        where = "still in" if ahead else "in"
        lead = f"{prefix}, {where} {current.name.lower()}: " + _gate_text(current)
    headline = lead
    if current is not None and current.unmet and not current.ready:
        headline = lead.removesuffix(".") + ": " + "; ".join(current.unmet) + "."
    return Position(
        day,
        current.key if current else None,
        calendar.key if calendar else None,
        bool(ahead),
        statuses,
        headline,
        lead,
    )


def _gate_text(p: PhaseFacts) -> str:
    if p.total is None or p.met is None:
        return "its gate has not been evaluated yet."
    if p.total == 0:
        return "its gate has no criteria."
    if p.ready:
        return f"all {p.total} criteria met; the gate is ready for sign-off."
    return f"{p.total - p.met} of {p.total} criteria not met."


def phase_dates(
    go_live: date | None, start_day: int, end_day: int
) -> tuple[date | None, date | None]:
    if go_live is None:
        return None, None
    return go_live + timedelta(days=start_day - 1), go_live + timedelta(days=end_day - 1)

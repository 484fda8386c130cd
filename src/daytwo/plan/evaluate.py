"""Evaluating a gate: every criterion's value, interval, sample, window and verdict, with the
evidence behind it and the items that block it.

Metric criteria are read from the metric catalog through :func:`rolling_totals`, one query per
scope and window for every metric that shares them, so a whole gate costs a handful of
queries whatever its size. A criterion's windows end on the evaluated day (``through``,
inclusive) and on each of the ``sustained_days - 1`` days before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from sqlalchemy.orm import Session

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.metrics.calc import Estimate
from daytwo.metrics.catalog import REGISTRY, Metric
from daytwo.metrics.query import Slice
from daytwo.metrics.schemas import MetricPoint
from daytwo.metrics.service import baseline_window, metric_points, totals
from daytwo.plan import calc
from daytwo.plan.checks import CheckContext, check_label, run_check
from daytwo.plan.gap_check import GapInput, evaluate_emerging_gap
from daytwo.plan.ledger import (
    MAX_BLOCKING,
    EventsMemo,
    OpenMemo,
    blocking_items,
    findings_seen,
    open_items,
    remembered,
)
from daytwo.plan.schemas import (
    CheckCriterion,
    CheckKind,
    CriterionResult,
    Evidence,
    GateResult,
    MetricCriterion,
    Scope,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

Filters = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class EvalContext:
    ledger: Ledger
    events: EventStore
    deployment: DeploymentPublic
    through: date
    first_data: datetime | None
    # When the ledger's state is read (see CheckContext.state_at); None: the end of the day.
    state_at: datetime | None = None
    # What this evaluation has read of the backlog, for its criteria to share (nothing writes
    # the backlog while one evaluation runs): :func:`daytwo.plan.ledger.open_items`.
    memo: OpenMemo = field(default_factory=dict, compare=False, repr=False)
    # What the evaluations of one caller have read of the events store, shared across days
    # and gates while nothing writes it (:data:`daytwo.plan.ledger.EventsMemo`); None: none.
    reads: EventsMemo | None = field(default=None, compare=False, repr=False)

    @property
    def at(self) -> datetime:
        return datetime.combine(self.through + timedelta(days=1), time(), tzinfo=UTC)

    def checks(self) -> CheckContext:
        return CheckContext(
            self.ledger,
            self.deployment.name,
            tuple(self.deployment.journeys),
            self.through,
            self.state_at,
            self.memo,
        )


def scope_filters(scope: Scope) -> Filters:
    out: list[tuple[str, tuple[str, ...]]] = []
    if scope.journey:
        out.append(("journey", (scope.journey,)))
    for key, value in (scope.segment or {}).items():
        out.append((key, (value,)))
    return tuple(out)


def metric_label(spec: MetricCriterion, metric: Metric) -> str:
    if spec.name:
        return spec.name
    condition = calc.condition_text(metric, spec.comparator, spec.threshold, spec.vs_baseline)
    text = f"{metric.name} {condition} over {spec.window_days} days"
    if spec.sustained_days > 1:
        text += f", sustained {spec.sustained_days} days"
    scope = spec.scope.label()
    return text if scope == "deployment" else f"{text} ({scope})"


def conversations_href(deployment: str, metric: str, scope: Scope, start: date, end: date) -> str:
    params: list[tuple[str, str]] = [
        ("deployment", deployment),
        ("metric", metric),
        ("start", start.isoformat()),
        ("end", end.isoformat()),
    ]
    if scope.journey:
        params.append(("journey", scope.journey))
    for key, value in (scope.segment or {}).items():
        params.append(("channel", value) if key == "channel" else ("segment", f"{key}:{value}"))
    return "/conversations?" + urlencode(params)


def _midnight(d: date) -> datetime:
    return datetime.combine(d, time(), tzinfo=UTC)


def _totals(ctx: EvalContext, metrics: Iterable[str], s: Slice) -> dict[str, Estimate]:
    ids = tuple(sorted(metrics))
    return remembered(ctx.reads, ("totals", ids, s), lambda: totals(ctx.events, ids, s))


def _points(ctx: EvalContext, metrics: Iterable[str], s: Slice) -> list[MetricPoint]:
    ids = tuple(sorted(metrics))
    return remembered(ctx.reads, ("points", ids, s), lambda: metric_points(ctx.events, ids, s))


def _baselines(
    ctx: EvalContext, specs: Sequence[MetricCriterion]
) -> dict[tuple[str, Filters], Estimate]:
    """The baseline of each (metric, scope) compared with it: imported values win at the
    deployment level, else the baseline window's measure."""
    wanted: dict[Filters, set[str]] = {}
    for spec in specs:
        if spec.vs_baseline is not None:
            wanted.setdefault(scope_filters(spec.scope), set()).add(spec.metric)
    if not wanted:
        return {}
    window = baseline_window(ctx.deployment, ctx.first_data)
    out: dict[tuple[str, Filters], Estimate] = {}
    for filters, metrics in wanted.items():
        if window is not None:
            s = Slice(ctx.deployment.name, window[0], window[1], filters=filters)
            for mid, est in _totals(ctx, metrics, s).items():
                out[(mid, filters)] = est
        if not filters:
            for mid in metrics:
                imported = ctx.deployment.baseline_values.get(mid)
                if imported is not None:
                    out[(mid, filters)] = Estimate(float(imported), None)
    return out


def evaluate_metrics(
    ctx: EvalContext, specs: Sequence[tuple[str, MetricCriterion]]
) -> dict[str, CriterionResult]:
    """Every metric criterion of a gate: one query per scope and window for the window's
    values, and one per scope for the daily values of the sustained ones."""
    windows: dict[tuple[Filters, int], set[str]] = {}
    daily_wanted: dict[Filters, tuple[int, set[str]]] = {}
    for _, s in specs:
        filters = scope_filters(s.scope)
        windows.setdefault((filters, s.window_days), set()).add(s.metric)
        if s.sustained_days > 1:
            days, metrics = daily_wanted.get(filters, (0, set()))
            daily_wanted[filters] = (max(days, s.sustained_days), metrics | {s.metric})
    values: dict[tuple[Filters, int, str], Estimate] = {}
    for (filters, window), metrics in windows.items():
        start = _midnight(ctx.through - timedelta(days=window - 1))
        span = Slice(ctx.deployment.name, start, ctx.at, filters=filters)
        for mid, est in _totals(ctx, metrics, span).items():
            values[(filters, window, mid)] = est
    daily: dict[tuple[Filters, str, date], Estimate] = {}
    for filters, (days, metrics) in daily_wanted.items():
        start = _midnight(ctx.through - timedelta(days=days - 1))
        span = Slice(ctx.deployment.name, start, ctx.at, bucket="day", filters=filters)
        for p in _points(ctx, metrics, span):
            if p.bucket is not None:
                daily[(filters, p.metric, p.bucket.date())] = Estimate(p.value, p.n, p.lo, p.hi)
    baselines = _baselines(ctx, [s for _, s in specs])
    longest = max((s.window_days for _, s in specs), default=1)
    out: dict[str, CriterionResult] = {}
    # One session for the gate's reads of the ledger: the findings seen, and the open items
    # behind each criterion not met.
    with ctx.ledger.session() as session:
        seen = findings_seen(
            session, ctx.deployment.name, ctx.at, _midnight(ctx.through - timedelta(longest - 1))
        )
        for cid, s in specs:
            filters = scope_filters(s.scope)
            days_of = [
                daily.get((filters, s.metric, ctx.through - timedelta(days=k)), Estimate(None, 0))
                for k in reversed(range(s.sustained_days))
            ]
            window_value = values[(filters, s.window_days, s.metric)]
            since = ctx.through - timedelta(days=s.window_days - 1)
            found = [f for f in seen if (f.seen_on or since) >= since and _covers(f, s)]
            baseline = baselines.get((s.metric, filters))
            out[cid] = _judge(ctx, session, cid, s, window_value, days_of, baseline, found)
    return out


def _covers(seen: calc.Seen, spec: MetricCriterion) -> bool:
    return calc.covers(seen, REGISTRY[spec.metric], spec.scope.journey, spec.scope.segment or {})


def _judge(
    ctx: EvalContext,
    session: Session,
    cid: str,
    spec: MetricCriterion,
    value: Estimate,
    days: list[Estimate],
    baseline: Estimate | None,
    found: Sequence[calc.Seen] = (),
) -> CriterionResult:
    metric = REGISTRY[spec.metric]
    cond = calc.Condition(spec.comparator, spec.threshold, spec.vs_baseline, baseline)
    window = calc.check_window(value, ctx.through, metric, cond, min_sample=spec.min_sample)
    flags = [calc.day_fails(d, metric, cond) for d in days] if spec.sustained_days > 1 else []
    level = (
        calc.latest_level(days, metric, cond)
        if spec.sustained_days >= calc.LEVEL_MIN_DAYS
        else None
    )
    result = calc.sustained(window, flags, level, found)
    latest = result.latest.estimate
    text = calc.condition_text(metric, spec.comparator, spec.threshold, spec.vs_baseline)
    start = ctx.through - timedelta(days=spec.window_days - 1)
    summary = calc.metric_summary(
        metric,
        result,
        condition=text,
        window_days=spec.window_days,
        sustained_days=spec.sustained_days,
        min_sample=spec.min_sample,
        baseline=baseline.value if baseline else None,
        broken=[
            (ctx.through - timedelta(days=len(days) - 1 - k), d)
            for k, (d, flag) in enumerate(zip(days, flags, strict=False))
            if flag is True
        ],
    )
    evidence = [
        Evidence(
            label=f"conversations behind {metric.name}",
            href=conversations_href(ctx.deployment.name, metric.id, spec.scope, start, ctx.through),
        ),
        Evidence(label=f"definition of {metric.name}", href=f"/metrics#{metric.id}"),
        *(Evidence(label=f.title, href=f"/findings/{f.id}") for f in found[:MAX_BLOCKING]),
    ]
    blocking = []
    if result.verdict != "met":
        rows = open_items(
            session,
            ctx.deployment.name,
            max(ctx.at, ctx.state_at or ctx.at),
            metric=metric.id,
            journey=spec.scope.journey,
            memo=ctx.memo,
        )
        blocking = blocking_items(session, rows)
    return CriterionResult(
        id=cid,
        kind="metric",
        label=metric_label(spec, metric),
        verdict=result.verdict,
        summary=summary,
        value=latest.value,
        lo=latest.lo,
        hi=latest.hi,
        n=latest.n,
        unit=metric.unit,
        window_start=start,
        window_end=ctx.through,
        baseline=baseline.value if baseline else None,
        held_days=result.held,
        sustained_days=spec.sustained_days,
        evidence=evidence,
        blocking=blocking,
    )


def evaluate_gate(
    ctx: EvalContext,
    phase: str,
    criteria: Sequence[MetricCriterion | CheckCriterion],
    ids: Sequence[str],
) -> GateResult:
    """Every criterion of one gate, in the gate's order; ready when every one is met."""
    metric_specs = [
        (cid, c) for cid, c in zip(ids, criteria, strict=True) if isinstance(c, MetricCriterion)
    ]
    by_id = evaluate_metrics(ctx, metric_specs) if metric_specs else {}
    checks = ctx.checks()
    results = []
    for cid, c in zip(ids, criteria, strict=True):
        if isinstance(c, MetricCriterion):
            results.append(by_id[cid])
        elif c.check == CheckKind.no_emerging_gap:
            src = GapInput(ctx.events, ctx.deployment, ctx.through, ctx.first_data)
            results.append(evaluate_emerging_gap(src, c, cid, check_label(c)))
        else:
            results.append(run_check(checks, c, cid))
    met = sum(r.verdict == "met" for r in results)
    return GateResult(
        phase=phase,
        through=ctx.through,
        evaluated_at=datetime.now(UTC),
        ready=bool(results) and met == len(results),
        met=met,
        total=len(results),
        criteria=results,
    )


def with_through(ctx: EvalContext, through: date) -> EvalContext:
    return replace(ctx, through=through, memo={})

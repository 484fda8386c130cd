"""Readiness scorecards of journeys and agent groups, and the journeys to roll out next.

A scorecard reads the unit's last :data:`ReadinessParams.window_days` days from the metric
catalog (volume, how confidently the AI handles it, how steady its outcomes are, its KPIs
against the deployment's targets, adoption where agents use it) and the ledger (open P1 items,
an owner). Each component is met, not met or without enough data; a unit is *ready* when every
component that applies is met, and its readiness is the share met.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from daytwo.deployments.schemas import DeploymentPublic
from daytwo.metrics.calc import Estimate, target_status
from daytwo.metrics.catalog import METRICS, REGISTRY
from daytwo.metrics.query import Slice
from daytwo.metrics.service import metric_points
from daytwo.plan import rollout_calc
from daytwo.plan.ledger import journey_owners, open_items
from daytwo.plan.schemas import RolloutState, Scorecard, ScoreComponent, Verdict
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.units import fmt_value

# The catalog's adoption metrics (active agents, AI use, acceptance, feature use): the
# readiness of a journey where agents use the AI reads them from there, like every metric.
ADOPTION = frozenset(m.id for m in METRICS if m.group == "adoption")


@dataclass(frozen=True, slots=True)
class ReadinessParams:
    """What "ready" means; the defaults are the ones documented in docs/plan.md."""

    window_days: int = 28
    min_per_week: float = 50.0  # enough conversations a week to prove the value
    # Share of its traffic the AI handles confidently: answered without a fallback (virtual
    # agent, LLM app), or with the AI used (agent assist).
    confident_at_least: float = 0.75
    confident_at_least_assist: float = 0.6
    max_outcome_cv: float = 0.25  # day-to-day spread of the main outcome, relative
    min_day_sample: int = 20  # a day counts for the spread with this many conversations


@dataclass(frozen=True, slots=True)
class Unit:
    journey: str | None
    group: tuple[str, str] | None
    state: RolloutState


def _confident_metric(kind: str) -> str:
    return "ai_usage_rate" if kind == "agent_assist" else "fallback_rate_conversation"


def _outcome_metric(kind: str) -> str:
    return "ai_usage_rate" if kind == "agent_assist" else "containment_rate"


def _filters(u: Unit) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out: list[tuple[str, tuple[str, ...]]] = []
    if u.journey:
        out.append(("journey", (u.journey,)))
    if u.group:
        out.append((u.group[0], (u.group[1],)))
    return tuple(out)


def performance_targets(dep: DeploymentPublic) -> dict[str, float]:
    """The targets a journey's performance is judged on: its own outcomes. The system's
    health (errors, latency) is the deployment's, judged by its gates, not a reason to prefer
    one journey to another; adoption is judged apart."""
    return {
        m: t
        for m, t in dep.targets.items()
        if m in REGISTRY and REGISTRY[m].group not in ("system", "adoption")
    }


def adoption_targets(dep: DeploymentPublic) -> dict[str, float]:
    return {m: t for m, t in dep.targets.items() if m in ADOPTION}


def _conversations(dep: str, u: Unit, start: date, end: date, metric: str) -> str:
    from daytwo.plan.evaluate import conversations_href
    from daytwo.plan.schemas import Scope

    scope = Scope(journey=u.journey, segment=dict([u.group]) if u.group else None)
    return conversations_href(dep, metric, scope, start, end)


def scorecards(
    ledger: Ledger,
    events: EventStore,
    dep: DeploymentPublic,
    units: Sequence[Unit],
    through: date,
    params: ReadinessParams = ReadinessParams(),
    *,
    state_at: datetime | None = None,
) -> list[Scorecard]:
    """The scorecard of each unit through ``through`` (inclusive); owners and open items as
    they stood at the end of that day, or at ``state_at`` when later (the current state)."""
    start = through - timedelta(days=params.window_days - 1)
    s = Slice(
        dep.name,
        datetime.combine(start, time(), tzinfo=UTC),
        datetime.combine(through + timedelta(days=1), time(), tzinfo=UTC),
    )
    kind = str(dep.kind.value)
    wanted = sorted(
        {"contact_volume", _confident_metric(kind), _outcome_metric(kind)}
        | set(performance_targets(dep))
        | set(adoption_targets(dep))
    )
    totals_all = {
        p.metric: Estimate(p.value, p.n, p.lo, p.hi)
        for p in metric_points(events, ["contact_volume"], s)
    }
    whole = totals_all.get("contact_volume", Estimate(None, None)).value or 0.0
    at = max(s.end, state_at) if state_at is not None else s.end
    with ledger.session() as session:
        owners = journey_owners(session, dep.name, at)
        p1 = {
            u.journey: open_items(session, dep.name, at, priority="P1", journey=u.journey)
            for u in units
        }
        p1_titles = {j: [f"#{i.id} {i.title}" for i in rows] for j, rows in p1.items()}
    grouped, daily_grouped = _by_journey(events, s, wanted, _outcome_metric(kind), units, params)
    out = []
    for u in units:
        if u.group is None and u.journey is not None:
            values = grouped.get(u.journey, {})
            daily = daily_grouped.get(u.journey, [])
        else:
            unit_slice = replace(s, filters=_filters(u))
            values = {
                p.metric: Estimate(p.value, p.n, p.lo, p.hi)
                for p in metric_points(events, wanted, unit_slice)
            }
            daily = [
                p.value
                for p in metric_points(
                    events, [_outcome_metric(kind)], replace(unit_slice, bucket="day")
                )
                if p.value is not None and (p.n or 0) >= params.min_day_sample
            ]
        comps = _components(
            dep,
            u,
            values,
            daily,
            whole,
            params,
            owners,
            p1_titles.get(u.journey, []),
            href=lambda m, u=u: _conversations(dep.name, u, start, through, m),
        )
        met = sum(c.verdict == "met" for c in comps)
        volume = values.get("contact_volume", Estimate(None, None)).value
        per_week = volume * 7 / params.window_days if volume is not None else None
        containment = values.get("containment_rate", Estimate(None, None)).value
        value, _ = rollout_calc.value_per_interaction(kind, dict(dep.cost_model), containment)
        out.append(
            Scorecard(
                journey=u.journey,
                group=dict([u.group]) if u.group else None,
                state=u.state,
                ready=bool(comps) and met == len(comps),
                readiness=met / len(comps) if comps else 0.0,
                components=comps,
                volume_per_week=per_week,
                value_per_interaction=value,
                expected_value_per_week=per_week * value
                if per_week is not None and value is not None
                else None,
            )
        )
    return out


def _by_journey(
    events: EventStore,
    s: Slice,
    wanted: list[str],
    outcome: str,
    units: Sequence[Unit],
    params: ReadinessParams,
) -> tuple[dict[str, dict[str, Estimate]], dict[str, list[float]]]:
    """Every journey unit's values and daily outcomes from two grouped queries."""
    if not any(u.group is None and u.journey is not None for u in units):
        return {}, {}
    values: dict[str, dict[str, Estimate]] = {}
    for p in metric_points(events, wanted, replace(s, group_by=("journey",))):
        journey = p.group.get("journey")
        if journey is not None:
            values.setdefault(str(journey), {})[p.metric] = Estimate(p.value, p.n, p.lo, p.hi)
    daily: dict[str, list[float]] = {}
    for p in metric_points(events, [outcome], replace(s, group_by=("journey",), bucket="day")):
        journey = p.group.get("journey")
        if journey is not None and p.value is not None and (p.n or 0) >= params.min_day_sample:
            daily.setdefault(str(journey), []).append(p.value)
    return values, daily


def _components(
    dep: DeploymentPublic,
    u: Unit,
    values: dict[str, Estimate],
    daily: list[float],
    whole: float,
    params: ReadinessParams,
    owners: dict[str, str],
    p1: list[str],
    *,
    href: Any,
) -> list[ScoreComponent]:
    kind = str(dep.kind.value)
    comps: list[ScoreComponent] = []
    volume = values.get("contact_volume", Estimate(None, None)).value or 0.0
    per_week = volume * 7 / params.window_days
    share = volume / whole if whole else None
    comps.append(
        ScoreComponent(
            key="volume",
            label="Volume",
            verdict="met"
            if per_week >= params.min_per_week
            else ("no_data" if not volume else "not_met"),
            summary=f"{per_week:,.0f} a week"
            + (f" ({100 * share:.0f}% of traffic)" if share else "")
            + ("" if per_week >= params.min_per_week else f"; below {params.min_per_week:,.0f}"),
            short=f"{per_week:,.0f}/wk",
            value=per_week,
            target=params.min_per_week,
            href=href("contact_volume"),
        )
    )
    cm = _confident_metric(kind)
    floor = (
        params.confident_at_least_assist if kind == "agent_assist" else params.confident_at_least
    )
    est = values.get(cm, Estimate(None, None))
    confident = (
        None if est.value is None else (1 - est.value if cm.startswith("fallback") else est.value)
    )
    what = "without a fallback" if cm.startswith("fallback") else "with the AI used"
    comps.append(
        ScoreComponent(
            key="confident",
            label="Handled confidently",
            verdict=_at_least(confident, floor),
            summary="no data"
            if confident is None
            else f"{100 * confident:.1f}% of conversations {what} vs ≥ {100 * floor:.0f}%",
            short="—" if confident is None else f"{100 * confident:.1f}%",
            value=confident,
            target=floor,
            href=href(cm),
        )
    )
    cv = rollout_calc.coefficient_of_variation(daily)
    outcome = REGISTRY[_outcome_metric(kind)].name.lower()
    comps.append(
        ScoreComponent(
            key="steady",
            label="Steady outcomes",
            verdict="no_data"
            if cv is None
            else ("met" if cv <= params.max_outcome_cv else "not_met"),
            summary="fewer than 3 days with enough conversations"
            if cv is None
            else f"{outcome} varies {100 * cv:.0f}% day to day vs "
            f"≤ {100 * params.max_outcome_cv:.0f}%",
            short="—" if cv is None else f"±{100 * cv:.0f}%",
            value=cv,
            target=params.max_outcome_cv,
            href=href(_outcome_metric(kind)),
        )
    )
    targets = performance_targets(dep)
    comps.append(_targets_component("performance", "Performance vs target", targets, values, href))
    adoption = adoption_targets(dep)
    if kind == "agent_assist" or adoption:
        comps.append(_targets_component("adoption", "Adoption vs target", adoption, values, href))
    comps.append(
        ScoreComponent(
            key="no_p1",
            label="No open P1",
            verdict="met" if not p1 else "not_met",
            summary="no P1 item open" if not p1 else f"{len(p1)} P1 open: " + "; ".join(p1[:2]),
            short=f"{len(p1)} open",
            value=float(len(p1)),
            target=0.0,
            href=f"/backlog?deployment={dep.name}&priority=P1"
            + (f"&journey={u.journey}" if u.journey else ""),
        )
    )
    if u.journey:
        owner = owners.get(u.journey)
        comps.append(
            ScoreComponent(
                key="owner",
                label="Owner",
                verdict="met" if owner else "not_met",
                summary=f"owned by {owner}" if owner else "no routing rule names an owner for it",
                short=owner or "none",
                href=f"/backlog?deployment={dep.name}",
            )
        )
    return comps


def _at_least(value: float | None, floor: float) -> Verdict:
    if value is None:
        return "no_data"
    return "met" if value >= floor else "not_met"


def _targets_component(
    key: str, label: str, targets: dict[str, float], values: dict[str, Estimate], href: Any
) -> ScoreComponent:
    if not targets:
        return ScoreComponent(key=key, label=label, verdict="no_data", summary="no target set")
    breached, measured = [], 0
    for mid, target in sorted(targets.items()):
        m = REGISTRY[mid]
        est = values.get(mid, Estimate(None, None))
        status = target_status(est, target, m.good)
        if status == "no_data":
            continue
        measured += 1
        if status == "breached":
            breached.append(
                f"{m.name} {fmt_value(est.value, m.unit)} vs {fmt_value(target, m.unit)}"
            )
    if not measured:
        return ScoreComponent(
            key=key, label=label, verdict="no_data", summary="no data on its targets"
        )
    return ScoreComponent(
        key=key,
        label=label,
        verdict="met" if not breached else "not_met",
        summary=f"{measured - len(breached)} of {measured} targets held"
        + (": " + "; ".join(breached) if breached else ""),
        short=f"{measured - len(breached)}/{measured}",
        value=(measured - len(breached)) / measured,
        target=1.0,
        href=href(sorted(targets)[0]),
    )

"""Rollout by journey (call type), and for agent assist by agent group: states, history,
readiness, and which journeys to roll out next.

A unit is a journey, an agent group (``site: porto``), or a journey within a group. Its state
moves ``not_started → pilot → live → expanding``; it can be ``paused`` (and resumed) or
``rolled_back`` (and started again with a pilot), each with a reason. Every change is kept with
the readiness it was made on, and expanding a unit that is not ready is allowed but warned
about, in the answer and in its history.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.clock import aware
from daytwo.deployments.schemas import DeploymentPublic
from daytwo.deployments.service import get_deployment
from daytwo.errors import InputError
from daytwo.governance import audit
from daytwo.metrics import rollup
from daytwo.plan import rollout_calc
from daytwo.plan.ledger import data_span, default_through, known_journeys
from daytwo.plan.models import RolloutEvent, RolloutUnit
from daytwo.plan.readiness import Unit, scorecards
from daytwo.plan.schemas import (
    Recommendation,
    RolloutChanged,
    RolloutEventPublic,
    RolloutRecommendations,
    RolloutSet,
    RolloutState,
    RolloutUnitPublic,
    Scorecard,
)
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.units import fmt_value

RECOMMEND = 3


def unit_key(journey: str | None, group: dict[str, str] | None) -> str:
    pair = next(iter(group.items())) if group else None
    return f"{journey or '*'}|{pair[0] + '=' + pair[1] if pair else ''}"


def _group(row: RolloutUnit) -> dict[str, str] | None:
    return {row.group_key: row.group_value or ""} if row.group_key else None


def _public(row: RolloutUnit) -> RolloutUnitPublic:
    return RolloutUnitPublic(
        journey=row.journey,
        group=_group(row),
        state=RolloutState(row.state),
        reason=row.reason,
        since=aware(row.since),
    )


def _check_unit(events: EventStore, dep: DeploymentPublic, spec: RolloutSet) -> None:
    journeys = known_journeys(events, dep)
    if spec.journey is not None and journeys and spec.journey not in journeys:
        raise InputError(
            f"journey: unknown journey {spec.journey!r}; the deployment has: "
            f"{', '.join(journeys)}.",
            details={"field": "journey"},
        )
    if spec.group:
        key, value = next(iter(spec.group.items()))
        known = (rollup.dimension_values(events, dep.name) or {}).get(
            "channel" if key == "channel" else f"segment:{key}"
        )
        if known is not None and value not in known:
            choices = ", ".join(known) if known else "none in the data"
            raise InputError(
                f"group: no agent group {key}={value!r} in the data ({key}: {choices}).",
                details={"field": "group"},
            )


def set_state(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    spec: RolloutSet,
    *,
    actor: str,
    at: datetime | None = None,
    through: date | None = None,
) -> RolloutChanged:
    """Move one unit to ``spec.state``; refuse a skipped state, warn on an unready expansion."""
    dep = get_deployment(ledger, deployment)
    _check_unit(events, dep, spec)
    key = unit_key(spec.journey, spec.group)
    with ledger.session() as session:
        row = session.scalar(
            select(RolloutUnit).where(
                RolloutUnit.deployment == deployment, RolloutUnit.unit_key == key
            )
        )
        current = RolloutState(row.state) if row else RolloutState.not_started
        resume = RolloutState(row.resume_state) if row and row.resume_state else None
    rollout_calc.check_rollout_transition(current, spec.state, resume=resume, reason=spec.reason)
    warnings: list[str] = []
    card: Scorecard | None = None
    if spec.state in rollout_calc.EXPANSIONS or spec.state == RolloutState.pilot:
        day = through or default_through(data_span(events, deployment))
        if day is not None:
            group = next(iter(spec.group.items())) if spec.group else None
            card = scorecards(
                ledger,
                events,
                dep,
                [Unit(spec.journey, group, current)],
                day,
                state_at=None if through else datetime.now(UTC),
            )[0]
            if spec.state in rollout_calc.EXPANSIONS and not card.ready:
                missing = [
                    f"{c.label.lower()}: {c.summary}" for c in card.components if c.verdict != "met"
                ]
                warnings.append(
                    f"{_name(spec.journey, spec.group)} is not ready to go {spec.state.value} "
                    f"({len(missing)} of {len(card.components)} readiness checks not met: "
                    + "; ".join(missing)
                    + ")."
                )
    when = at or datetime.now(UTC)
    with ledger.session() as session:
        row = session.scalar(
            select(RolloutUnit).where(
                RolloutUnit.deployment == deployment, RolloutUnit.unit_key == key
            )
        )
        if row is None:
            pair = next(iter(spec.group.items())) if spec.group else (None, None)
            row = RolloutUnit(
                deployment=deployment,
                unit_key=key,
                journey=spec.journey,
                group_key=pair[0],
                group_value=pair[1],
                state=RolloutState.not_started.value,
                updated_by=actor,
            )
            session.add(row)
            session.flush()
        before = row.state
        row.resume_state = before if spec.state == RolloutState.paused else None
        row.state = spec.state.value
        row.reason = spec.reason.strip()
        row.since = when
        row.updated_by = actor
        session.add(
            RolloutEvent(
                unit_id=row.id,
                at=when,
                actor=actor,
                from_state=before,
                to_state=row.state,
                reason=row.reason,
                warning=" ".join(warnings),
                readiness=card.model_dump(mode="json") if card else {},
            )
        )
        audit.record(
            session,
            actor=actor,
            action="rollout.set",
            target=f"{deployment}/{key}",
            deployment=deployment,
            before={"state": before},
            after={"state": row.state, "reason": row.reason, "warning": " ".join(warnings)},
        )
        public = _public(row)
    return RolloutChanged(unit=public.model_copy(update={"scorecard": card}), warnings=warnings)


def _name(journey: str | None, group: dict[str, str] | None) -> str:
    parts = [journey] if journey else []
    if group:
        parts += [f"{k}={v}" for k, v in group.items()]
    return " · ".join(parts) or "every journey"


def _units(session: Session, deployment: str) -> list[RolloutUnit]:
    return list(
        session.scalars(
            select(RolloutUnit)
            .where(RolloutUnit.deployment == deployment)
            .order_by(RolloutUnit.journey, RolloutUnit.group_key, RolloutUnit.group_value)
        )
    )


def units_of(
    ledger: Ledger, events: EventStore, dep: DeploymentPublic
) -> tuple[list[Unit], dict[str, RolloutUnit]]:
    """Every journey (not started unless recorded) and every recorded group unit."""
    with ledger.session() as session:
        rows = {r.unit_key: r for r in _units(session, dep.name)}
        session.expunge_all()
    units = [
        Unit(
            j,
            None,
            RolloutState(rows[k].state)
            if (k := unit_key(j, None)) in rows
            else RolloutState.not_started,
        )
        for j in known_journeys(events, dep)
    ]
    for r in rows.values():
        if r.group_key:
            units.append(Unit(r.journey, (r.group_key, r.group_value or ""), RolloutState(r.state)))
    return units, rows


def show(
    ledger: Ledger, events: EventStore, deployment: str, *, through: date | None = None
) -> list[RolloutUnitPublic]:
    """Each unit with its state and readiness scorecard."""
    dep = get_deployment(ledger, deployment)
    units, rows = units_of(ledger, events, dep)
    day = through or default_through(data_span(events, deployment))
    now = None if through else datetime.now(UTC)
    cards = (
        scorecards(ledger, events, dep, units, day, state_at=now) if day else [None] * len(units)
    )
    out = []
    for u, card in zip(units, cards, strict=True):
        group = dict([u.group]) if u.group else None
        row = rows.get(unit_key(u.journey, group))
        since = (
            aware(row.since)
            if row
            else datetime.combine(dep.go_live or date.today(), datetime.min.time(), UTC)
        )
        out.append(
            RolloutUnitPublic(
                journey=u.journey,
                group=group,
                state=u.state,
                reason=row.reason if row else "",
                since=since,
                scorecard=card,
            )
        )
    return out


def history(ledger: Ledger, deployment: str, *, limit: int = 200) -> list[RolloutEventPublic]:
    """State changes, newest first."""
    with ledger.session() as session:
        rows = session.execute(
            select(RolloutEvent, RolloutUnit)
            .join(RolloutUnit, RolloutUnit.id == RolloutEvent.unit_id)
            .where(RolloutUnit.deployment == deployment)
            .order_by(RolloutEvent.at.desc(), RolloutEvent.id.desc())
            .limit(limit)
        ).all()
        return [
            RolloutEventPublic(
                at=aware(e.at),
                actor=e.actor,
                journey=u.journey,
                group=_group(u),
                from_state=e.from_state,
                to_state=e.to_state,
                reason=e.reason,
                warning=e.warning,
            )
            for e, u in rows
        ]


def recommend(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    *,
    through: date | None = None,
    count: int = RECOMMEND,
    cards: list[RolloutUnitPublic] | None = None,
) -> RolloutRecommendations:
    """The next ``count`` units to move forward, by expected value × readiness, with reasons
    (a unit with a blocking gap, or more than one check unmet, is not recommended: see
    :func:`rollout_calc.recommendable`); and the units whose scorecard advises against
    moving them."""
    dep = get_deployment(ledger, deployment)
    shown = cards if cards is not None else show(ledger, events, deployment, through=through)
    movable = [u for u in shown if u.state in rollout_calc.FORWARD and u.scorecard is not None]
    candidates = [
        rollout_calc.Candidate(
            _name(u.journey, u.group),
            u.scorecard.readiness,
            u.scorecard.ready,
            u.scorecard.expected_value_per_week,
            u.scorecard.volume_per_week,
        )
        for u in movable
        if u.scorecard is not None
    ]
    ranked = rollout_calc.rank(candidates)
    by_name = {_name(u.journey, u.group): u for u in movable}
    priced = any(c.expected_value is not None for c in candidates)
    _, basis_text = rollout_calc.value_per_interaction(
        str(dep.kind.value), dict(dep.cost_model), None
    )
    recommended: list[Recommendation] = []
    against: list[Recommendation] = []
    for cand, score in ranked:
        u = by_name[cand.name]
        assert u.scorecard is not None
        rec = _recommendation(u, score, dep)
        if not rollout_calc.recommendable([(c.key, c.verdict) for c in u.scorecard.components]):
            against.append(rec)
        elif len(recommended) < count:
            recommended.append(rec)
    basis = (
        "ranked by expected value a week (volume × value per conversation from the cost "
        "model) × readiness"
        if priced
        else f"ranked by volume × readiness ({basis_text})"
    )
    return RolloutRecommendations(
        deployment=deployment, recommended=recommended, advised_against=against, basis=basis
    )


def _recommendation(u: RolloutUnitPublic, score: float, dep: DeploymentPublic) -> Recommendation:
    card = u.scorecard
    assert card is not None
    reasons: list[str] = []
    if card.expected_value_per_week is not None and card.value_per_interaction is not None:
        reasons.append(
            f"{card.volume_per_week or 0:,.0f} conversations a week × "
            f"{fmt_value(card.value_per_interaction, 'currency')} each = "
            f"{fmt_value(card.expected_value_per_week, 'currency')} a week"
        )
    elif card.volume_per_week is not None:
        reasons.append(f"{card.volume_per_week:,.0f} conversations a week")
    met = [c for c in card.components if c.verdict == "met"]
    reasons.append(f"readiness {len(met)} of {len(card.components)}")
    for c in card.components:
        if c.verdict != "met":
            reasons.append(f"{c.label.lower()}: {c.summary}")
    return Recommendation(
        journey=u.journey,
        group=u.group,
        state=u.state,
        next_state=rollout_calc.FORWARD[u.state],
        score=score,
        expected_value_per_week=card.expected_value_per_week,
        readiness=card.readiness,
        ready=card.ready,
        reasons=reasons,
    )

"""The cohorts compared (the pilot, the rollout): defined in the ledger, resolved on the data.

A cohort is one of: the agents whose conversations carry a segment value (``cohort=pilot``), a
list of agents, or the agents first offered the AI in a range of days. Nothing is stored for a
cohort that matches no agent of the deployment or that shares agents with another cohort of it
(its comparison would count them twice).

Without any cohort recorded, a deployment whose conversations carry a ``cohort`` segment with
the value ``pilot`` has a default pair: that pilot, and everyone else as the rollout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import select

from daytwo.adoption.models import Cohort, insert
from daytwo.adoption.rollup import AGENT_DAILY, AGENT_KEYS, EVER, source
from daytwo.adoption.schemas import CohortCreate, CohortPublic, CohortRole
from daytwo.deployments.service import get_deployment
from daytwo.errors import ConflictError, InputError, NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

DEFAULT_SEGMENT = ("cohort", "pilot")


@dataclass(frozen=True, slots=True)
class Resolved:
    """A cohort's agents as the data shows them."""

    name: str
    role: CohortRole
    agents: frozenset[str]
    journeys: tuple[str, ...]
    definition: str


def describe(row: Cohort | CohortCreate) -> str:
    """A cohort's definition in words."""
    if isinstance(row, CohortCreate):
        key, value = _segment(row.segment) if row.segment else (None, None)
        agents, lo, hi = row.agents, row.enabled_from, row.enabled_until
    else:
        key, value, agents = row.segment_key, row.segment_value, row.agents
        lo, hi = row.enabled_from, row.enabled_until
    if key is not None:
        text = f"agents whose conversations carry {key}={value}"
    elif agents:
        text = f"{len(agents)} listed agent{'s' if len(agents) != 1 else ''}"
    else:
        text = "agents first offered the AI " + (
            f"from {lo} to {hi}" if lo and hi else f"from {lo}" if lo else f"until {hi}"
        )
    journeys = row.journeys
    return text + (f", in {', '.join(journeys)}" if journeys else "")


def _segment(text: str) -> tuple[str, str]:
    key, _, value = text.partition("=")
    return key.strip(), value.strip()


def first_offered(events: EventStore, deployment: str) -> dict[str, date]:
    """The day each agent of ``deployment`` was first shown a suggestion."""
    rel, params = source(events, AGENT_DAILY, deployment, EVER[0], EVER[1])
    rows = events.query(
        f"SELECT agent_ref, min(day) AS first FROM {rel} WHERE shown > 0 GROUP BY 1",  # noqa: S608
        params,
    ).to_pylist()
    out = {}
    for r in rows:
        first = r["first"]
        out[str(r["agent_ref"])] = first.date() if isinstance(first, datetime) else first
    return out


# Segments the agent rollup keeps as columns: a cohort on one of them reads the rollup (a few
# hundred thousand rows) instead of every conversation.
ROLLUP_SEGMENTS = frozenset(k for k in AGENT_KEYS if k not in ("agent_ref", "journey"))


def _agents_where(
    events: EventStore, deployment: str, key: str | None, value: str | None
) -> list[object]:
    """The distinct agents of ``deployment``'s conversations, those whose segment ``key`` is
    ``value`` when given: from the agent rollup where the store keeps it, else the raw rows."""
    params: list[object] = [deployment]
    if events.derived_ready(AGENT_DAILY) and (key is None or key in ROLLUP_SEGMENTS):
        sql = f"SELECT DISTINCT agent_ref FROM {AGENT_DAILY} WHERE deployment = ?"  # noqa: S608
        if key is not None:  # one of ROLLUP_SEGMENTS: a column name, never user text
            sql += f" AND {key} = ?"
            params.append(value)
    else:
        sql = "SELECT DISTINCT agent_ref FROM interactions WHERE deployment = ?"
        if key is not None:
            sql += " AND segments[?] = ?"
            params += [key, value]
    rows: list[object] = events.query(sql + " AND agent_ref IS NOT NULL", params)[
        "agent_ref"
    ].to_pylist()
    return rows


def agents_of(events: EventStore, deployment: str) -> set[str]:
    """Every agent the deployment's conversations name."""
    return {str(r) for r in _agents_where(events, deployment, None, None)}


def _resolve(
    events: EventStore,
    deployment: str,
    key: str | None,
    value: str | None,
    agents: list[str],
    lo: date | None,
    hi: date | None,
) -> frozenset[str]:
    if key is not None:
        return frozenset(str(r) for r in _agents_where(events, deployment, key, value))
    if agents:
        return frozenset(agents) & frozenset(agents_of(events, deployment))
    return frozenset(
        a
        for a, first in first_offered(events, deployment).items()
        if (lo is None or first >= lo) and (hi is None or first <= hi)
    )


def resolve(events: EventStore, row: Cohort) -> Resolved:
    agents = _resolve(
        events, row.deployment, row.segment_key, row.segment_value, list(row.agents),
        row.enabled_from, row.enabled_until,
    )  # fmt: skip
    role: CohortRole = "pilot" if row.role == "pilot" else "rollout"
    return Resolved(row.name, role, agents, tuple(row.journeys), describe(row))


def _public(row: Cohort, n_agents: int | None = None) -> CohortPublic:
    role: CohortRole = "pilot" if row.role == "pilot" else "rollout"
    return CohortPublic(
        id=row.id,
        deployment=row.deployment,
        name=row.name,
        role=role,
        definition=describe(row),
        segment_key=row.segment_key,
        segment_value=row.segment_value,
        agents=list(row.agents),
        enabled_from=row.enabled_from,
        enabled_until=row.enabled_until,
        journeys=list(row.journeys),
        description=row.description,
        recorded_by=row.recorded_by,
        n_agents=n_agents,
    )


def create_cohort(
    ledger: Ledger, events: EventStore, spec: CohortCreate, *, actor: str
) -> CohortPublic:
    """Store a cohort; refused (nothing stored) when it matches no agent of the deployment or
    shares agents with another of its cohorts."""
    get_deployment(ledger, spec.deployment)
    key, value = _segment(spec.segment) if spec.segment else (None, None)
    agents = _resolve(
        events, spec.deployment, key, value, spec.agents, spec.enabled_from, spec.enabled_until
    )
    if spec.agents:
        unknown = sorted(set(spec.agents) - agents)
        if unknown:
            raise InputError(
                f"agents: {', '.join(unknown[:5])}{' …' if len(unknown) > 5 else ''} are not "
                f"agents of {spec.deployment!r} (no conversation names them)."
            )
    if not agents:
        raise InputError(
            f"Cohort {spec.name!r} ({describe(spec)}) matches no agent of {spec.deployment!r}: "
            "nothing stored."
        )
    with ledger.session() as session:
        others = session.scalars(select(Cohort).where(Cohort.deployment == spec.deployment)).all()
        for other in others:
            if other.name == spec.name:
                raise ConflictError(f"{spec.deployment!r} already has a cohort {spec.name!r}.")
            shared = sorted(agents & resolve(events, other).agents)
            if shared:
                raise InputError(
                    f"Cohort {spec.name!r} overlaps cohort {other.name!r}: {len(shared)} agents "
                    f"are in both ({', '.join(shared[:5])}{' …' if len(shared) > 5 else ''}). "
                    "A comparison would count them twice: nothing stored."
                )
        row = Cohort(
            deployment=spec.deployment,
            name=spec.name,
            role=spec.role,
            segment_key=key,
            segment_value=value,
            agents=sorted(set(spec.agents)),
            enabled_from=spec.enabled_from,
            enabled_until=spec.enabled_until,
            journeys=list(dict.fromkeys(spec.journeys)),
            description=spec.description,
            recorded_by=actor,
            created_at=datetime.now(UTC),
        )
        insert(session, row, f"{spec.deployment!r} already has a cohort {spec.name!r}.")
        return _public(row, len(agents))


def list_cohorts(
    ledger: Ledger, deployment: str, events: EventStore | None = None
) -> list[CohortPublic]:
    with ledger.session() as session:
        rows = session.scalars(
            select(Cohort).where(Cohort.deployment == deployment).order_by(Cohort.role, Cohort.name)
        ).all()
        return [
            _public(r, len(resolve(events, r).agents) if events is not None else None) for r in rows
        ]


def delete_cohort(ledger: Ledger, deployment: str, name: str) -> None:
    with ledger.session() as session:
        row = session.scalars(
            select(Cohort).where(Cohort.deployment == deployment, Cohort.name == name)
        ).first()
        if row is None:
            raise NotFoundError(f"{deployment!r} has no cohort {name!r}.")
        session.delete(row)


def pilot_and_rollout(
    ledger: Ledger, events: EventStore, deployment: str
) -> tuple[Resolved, Resolved] | None:
    """The pilot and the rollout to compare: the recorded ones (the rollout defaults to every
    other agent), else the default from a ``cohort=pilot`` segment; None when neither."""
    with ledger.session() as session:
        rows = session.scalars(select(Cohort).where(Cohort.deployment == deployment)).all()
        resolved = [resolve(events, r) for r in rows]
    pilots = [c for c in resolved if c.role == "pilot"]
    everyone = agents_of(events, deployment)
    if pilots:
        pilot = pilots[0]
    else:
        key, value = DEFAULT_SEGMENT
        found = _resolve(events, deployment, key, value, [], None, None)
        if not found:
            return None
        pilot = Resolved(
            "pilot", "pilot", found, (), f"agents whose conversations carry {key}={value}"
        )
    rollouts = [c for c in resolved if c.role == "rollout"]
    rollout = rollouts[0] if rollouts else Resolved(
        "rollout", "rollout", frozenset(everyone - pilot.agents), (), "every other agent"
    )  # fmt: skip
    if not pilot.agents or not rollout.agents:
        return None
    return pilot, rollout

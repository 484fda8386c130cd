"""The adoption domain's service: what the pages, the API and the CLI ask for, put together.

Every call takes ``agents_visible``: whether the asker may see individual agents (the analyst,
owner and admin roles). Without it, group rows of fewer than
:data:`~daytwo.adoption.schemas.PRIVACY_FLOOR` agents are hidden with the reason, and nothing
names an agent.
"""

# SQL here is built from module constants; values are parameters.
# ruff: noqa: S608

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from functools import partial

import pyarrow as pa

from daytwo.adoption import champions, cohorts, compare, usage
from daytwo.adoption.calc import nest
from daytwo.adoption.causes import AfterChange, after_changes, suspects
from daytwo.adoption.detectors import DECLINE_KIND, DETECTORS, WORKAROUND_KIND, WorkaroundParams
from daytwo.adoption.detectors import workaround_signals as signals_of
from daytwo.adoption.memo import remembered
from daytwo.adoption.schemas import (
    GROUP_KEYS,
    PRIVACY_FLOOR,
    AdoptionOverview,
    AgentRow,
    Comparison,
    DecayRow,
    Period,
    SignalSummary,
    StoppedGroup,
)
from daytwo.adoption.signals import SIGNAL_NAMES
from daytwo.adoption.stopped import WhoStopped, who_stopped
from daytwo.backlog.policy import BacklogPolicy
from daytwo.deployments.service import get_deployment
from daytwo.detect.cells import with_segment_columns
from daytwo.detect.data import AnalysisData, DeploymentInfo, Window
from daytwo.detect.runner import engine_read
from daytwo.detect.schemas import FindingFilter, FindingPublic
from daytwo.detect.service import list_findings
from daytwo.errors import InputError, NotFoundError
from daytwo.interactions.columns import ASSIST_EVENTS, TURNS
from daytwo.store.events import EventStore
from daytwo.store.events.base import STORED_INTERACTIONS
from daytwo.store.ledger import Ledger

DEFAULT_DAYS = 28
SIGNAL_DEFINITIONS = {
    "retyped": "A suggested reply dismissed, then sent in substance anyway: the agent's next "
    "message is at least 0.6 similar to it (character trigrams).",
    "rewrite": "A suggested reply accepted or edited, then sent keeping less than half of it "
    "(similarity under 0.5).",
    "legacy_path": "Conversations without the AI by agents who have it, in journeys where it "
    "is live, well above what the floor's rate in the same journeys gives them.",
    "after_change": "Suggestion acceptance fell after a recorded change where it reached, more "
    "than where it did not (difference in differences, 95% interval).",
}


def period_of(
    events: EventStore, deployment: str, start: datetime | None, end: datetime | None
) -> Period:
    """The period asked for, or the last :data:`DEFAULT_DAYS` whole days of data."""
    if start is not None and end is not None:
        if end <= start:
            raise InputError("The period is empty: end must be after start.")
        return Period(start=start, end=end)
    last = remembered(
        events,
        ("last", deployment),
        lambda: events.query(
            "SELECT max(started_at) AS m FROM interactions WHERE deployment = ?", [deployment]
        )["m"][0].as_py(),
    )
    if last is None:
        raise NotFoundError(f"No data for {deployment!r} yet.")
    stop = end or datetime.combine(last.date() + timedelta(days=1), time(), tzinfo=UTC)
    return Period(start=start or stop - timedelta(days=DEFAULT_DAYS), end=stop)


def _findings(ledger: Ledger, deployment: str, kind: str) -> list[FindingPublic]:
    return list_findings(
        ledger,
        FindingFilter(deployment=deployment, kind=kind, status=["open", "regressed"], limit=200),
    )


def decay(ledger: Ledger, deployment: str) -> list[DecayRow]:
    """Open adoption-decline findings at the top of their chain, with their suspect changes."""
    out = []
    for f in _findings(ledger, deployment, DECLINE_KIND):
        if f.details.get("root"):
            continue
        seg = f.scope.segment
        out.append(
            DecayRow(
                finding_id=f.id,
                title=f.title,
                scope=", ".join(f"{k}={v}" for k, v in seg.items()) if seg else deployment,
                first_seen=f.first_seen,
                baseline=f.baseline.value,
                current=f.current.value,
                suspects=[s.as_dict() for s in suspects(ledger, f)],
            )
        )
    return out


def signals(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    policy: BacklogPolicy,
    now: datetime,
    *,
    measure_changes: bool = True,
) -> list[SignalSummary]:
    """The latest analysis's finding per workaround signal, and signal 4 measured now (unless
    ``measure_changes`` is off: the page measures it in a section of its own)."""
    found = {
        str(f.details.get("signal")): f for f in _findings(ledger, deployment, WORKAROUND_KIND)
    }
    out = []
    for signal in ("retyped", "legacy_path", "rewrite"):
        f = found.get(signal)
        out.append(
            SignalSummary(
                signal=signal,
                name=SIGNAL_NAMES[signal],
                definition=SIGNAL_DEFINITIONS[signal],
                finding_id=f.id if f else None,
                sentence=str(f.details.get("sentence")) if f else None,
                agents=int(f.details.get("agents_flagged", 0)) if f else 0,
                seen=f.last_seen if f else None,
            )
        )
    if not measure_changes:
        return out
    fell = [c for c in after_changes(ledger, events, deployment, policy, now) if c.fell]
    out.append(after_change_summary(fell, now))
    return out


def after_change_summary(fell: list[AfterChange], now: datetime) -> SignalSummary:
    """Signal 4 as a summary: the changes after which usage fell where they reached."""
    return SignalSummary(
        signal="after_change",
        name=SIGNAL_NAMES["after_change"],
        definition=SIGNAL_DEFINITIONS["after_change"],
        finding_id=None,
        sentence="; ".join(c.sentence() for c in fell) + "." if fell else None,
        agents=0,
        seen=now if fell else None,
    )


def stopped_groups(who: WhoStopped, *, agents_visible: bool) -> list[StoppedGroup]:
    """The groups whose share of agents who fell or stopped rose, each at the top of its
    chain (a Porto team's rise is Porto's)."""
    parents = nest(who.rises, who.params.min_group_agents)
    top = {(r.key, r.value) for r, p in zip(who.rises, parents, strict=True) if p is None}
    return [g for g in who.groups(with_agents=agents_visible) if (g.key, g.value) in top]


def pilot_comparison(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    period: Period,
    basis: compare.Basis = "same_age",
) -> tuple[Comparison | None, str]:
    """The pilot against the rollout, or why there is none."""
    pair = cohorts.pilot_and_rollout(ledger, events, deployment)
    if pair is None:
        return None, (
            "No pilot to compare with: record one (daytwo adoption cohorts add), or send a "
            "'cohort' segment with the value 'pilot'."
        )
    try:
        return compare.pilot_vs_rollout(events, deployment, pair, basis=basis, period=period), ""
    except compare.NoComparison as e:
        return None, str(e)


def overview(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    period: Period,
    policy: BacklogPolicy,
    *,
    agents_visible: bool,
    comparisons: bool = True,
    keys: tuple[str, ...] = GROUP_KEYS,
) -> AdoptionOverview:
    """Everything the adoption page shows for one deployment and period; without
    ``comparisons`` the bootstrapped comparisons and signal 4 are left to the page's sections,
    and only the breakdowns by ``keys`` are made."""
    dep = get_deployment(ledger, deployment)
    floor = None if agents_visible else PRIVACY_FLOOR
    target = dep.targets.get("suggestion_acceptance_rate")
    who = who_stopped(events, deployment, period.end)
    pilot, pilot_note = (
        pilot_comparison(ledger, events, deployment, period) if comparisons else (None, "")
    )
    span = (deployment, period.start, period.end)
    return AdoptionOverview(
        deployment=deployment,
        period=period,
        headline=remembered(
            events,
            ("headline", *span, target),
            partial(usage.headline, events, deployment, period, target),
        ),
        funnel=remembered(
            events, ("funnel", *span), partial(usage.funnel, events, deployment, period)
        ),
        groups={
            k: remembered(
                events,
                ("groups", *span, k, floor),
                partial(usage.groups, events, deployment, period, k, floor=floor),
            )
            for k in keys
        },
        trend=remembered(
            events,
            ("trend", *span),
            partial(usage.trend, events, deployment, period.end - timedelta(weeks=13), period.end),
        ),
        stopped=stopped_groups(who, agents_visible=agents_visible),
        decay=decay(ledger, deployment),
        signals=signals(
            ledger, events, deployment, policy, period.end, measure_changes=comparisons
        ),
        pilot=pilot,
        pilot_note=pilot_note,
        ai_vs_legacy=compare.ai_vs_legacy(events, deployment, period) if comparisons else None,
        champions=champions.view(ledger, events, deployment, period, with_agents=agents_visible)
        if comparisons
        else None,
        agents_visible=agents_visible,
    )


def agents(ledger: Ledger, events: EventStore, deployment: str, period: Period) -> list[AgentRow]:
    """Every agent's use against their own baseline (for analysts and owners only)."""
    get_deployment(ledger, deployment)
    marked = {c.agent_ref for c in champions.list_champions(ledger, deployment)}
    return who_stopped(events, deployment, period.end).agents(marked)


def load(
    events: EventStore,
    deployment: str,
    start: datetime,
    end: datetime,
    current_days: int = 7,
    *,
    messages: bool = True,
) -> AnalysisData:
    """The adoption detectors' input for ``deployment`` over ``[start, end)``, judged over its
    last ``current_days``: interactions with their facts, assist events, and the agents'
    messages (none with ``messages`` False: the detectors' engine reads pair each suggestion
    with its next message themselves)."""
    columns = ", ".join(f.name for f in STORED_INTERACTIONS if f.name != "attributes")
    inter = events.query(
        f"SELECT {columns} FROM interactions WHERE deployment = ? AND started_at >= ? "
        "AND started_at < ? ORDER BY started_at",
        [deployment, start, end],
    )
    within = (
        "interaction_id IN (SELECT interaction_id FROM interactions WHERE deployment = ? "
        "AND started_at >= ? AND started_at < ?)"
    )
    turns = (
        events.query(
            "SELECT interaction_id, seq, ts, role, text FROM turns WHERE deployment = ? "
            f"AND role = 'agent' AND {within} ORDER BY interaction_id, seq",
            [deployment, deployment, start, end],
        )
        if messages
        else TURNS.empty_table().select(["interaction_id", "seq", "ts", "role", "text"])
    )
    assist = events.query(
        f"SELECT {', '.join(ASSIST_EVENTS.names)} FROM assist_events WHERE deployment = ? "
        f"AND {within}",
        [deployment, deployment, start, end],
    ).cast(ASSIST_EVENTS)
    current = max(start, end - timedelta(days=current_days))
    window = Window(start - timedelta(days=1), start, current, end)
    empty = pa.table({"interaction_id": pa.array([], pa.string())})
    info = DeploymentInfo(deployment, "agent_assist")
    return AnalysisData(info, window, with_segment_columns(inter), turns, empty, assist)


# The engine reads the workaround signals judge from (their detector's, as in an analysis).
WORKAROUND_READS = next(d for d in DETECTORS if d.id == "adoption_workarounds").needs.reads


def workaround_agents(events: EventStore, deployment: str, end: datetime) -> dict[str, list[str]]:
    """Per workaround signal, the agents it flags over its days before ``end`` (analysts and
    owners only); the same answer again while the store's data is unchanged (the agent pages
    and the signal filter ask it on every request). The suggestions and the agents' next
    messages come from the detector's own engine reads, as in an analysis: no turn is read."""
    params = WorkaroundParams()

    def compute() -> dict[str, list[str]]:
        start = end - timedelta(days=params.days)
        data = load(events, deployment, start, end, messages=False)
        reads = {
            r.name: engine_read(events, deployment, r, *r.span(data.window, start))
            for r in WORKAROUND_READS
        }
        return {s.signal: list(s.flagged) for s in signals_of(replace(data, reads=reads), params)}

    return remembered(events, ("workaround_agents", deployment, end, params), compute)

"""What may have caused an adoption problem: the recorded changes that fit it, and the changes
after which usage fell more where they reached than where they did not (signal 4).

**Suspects** of a finding are the deployment's recorded changes shipped from three weeks before
its onset to one day after it, ranked by how well their scope fits the finding's (the same
segment value first, then a change to the whole deployment, then any other), then by how close
to the onset they shipped; a change whose own measured effect on suggestion acceptance is a
fall moves up. Each carries the reason in words.

**Usage down after a change** measures every scoped change of the last weeks on suggestion
acceptance (whatever metric it was recorded with) by the change-impact machinery: the groups
it reached against those it did not, before and after, with a day-block bootstrap interval. A
fall beyond the interval is the signal. The groups it did not reach leave out what other
changes reached in the same windows (a team inside a site whose service moved) and the teams
whose champion started in them or in the weeks before (a champion lifts their team's use over
its first weeks).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from daytwo.adoption.champions import EFFECT_DAYS
from daytwo.adoption.models import Champion
from daytwo.backlog.changes import assess
from daytwo.backlog.models import Change
from daytwo.backlog.policy import BacklogPolicy
from daytwo.clock import aware
from daytwo.detect.schemas import FindingPublic
from daytwo.pipeline import Disturbance
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger

ACCEPTANCE = "suggestion_acceptance_rate"
LOOK_BACK = timedelta(days=21)
AFTER_CHANGES_DAYS = 60


def _scope(c: Change) -> str:
    if c.segments:
        key, values = next(iter(c.segments.items()))
        return f"{key} {', '.join(values)}"
    if c.journeys:
        return f"journeys {', '.join(c.journeys)}"
    return "the whole deployment"


@dataclass(frozen=True, slots=True)
class Suspect:
    change_id: int
    title: str
    kind: str
    shipped_at: datetime
    scope: str
    fit: str  # same | deployment | other
    days_before_onset: float
    reason: str
    measured: float | None  # its measured effect on acceptance, where measured

    def as_dict(self) -> dict[str, object]:
        return {
            "change_id": self.change_id,
            "title": self.title,
            "kind": self.kind,
            "shipped_at": self.shipped_at.isoformat(),
            "scope": self.scope,
            "fit": self.fit,
            "reason": self.reason,
            "measured": self.measured,
        }


def _fit(c: Change, segment: dict[str, str] | None) -> str:
    if c.segments and segment:
        key, value = next(iter(segment.items()))
        if value in c.segments.get(key, []):
            return "same"
    if not c.segments and not c.journeys:
        return "deployment"
    return "other"


def suspects(ledger: Ledger, finding: FindingPublic, limit: int = 3) -> list[Suspect]:
    """The recorded changes that fit ``finding``'s onset and scope, best first."""
    return rank_suspects(
        ledger, finding.scope.deployment, finding.scope.segment, finding.first_seen, limit
    )


def rank_suspects(
    ledger: Ledger,
    deployment: str,
    segment: dict[str, str] | None,
    first_seen: datetime,
    limit: int = 3,
) -> list[Suspect]:
    """The recorded changes of ``deployment`` that fit a problem in ``segment`` (None: the
    whole deployment) that began at ``first_seen``, best first."""
    onset = aware(first_seen)
    with ledger.session() as session:
        rows = session.scalars(
            select(Change).where(
                Change.deployment == deployment,
                Change.shipped_at >= onset - LOOK_BACK,
                Change.shipped_at <= onset + timedelta(days=1),
            )
        ).all()
        found = []
        for c in rows:
            shipped = aware(c.shipped_at)
            fit = _fit(c, segment)
            measured = None
            if c.metric == ACCEPTANCE and c.impact and c.impact.get("estimate") is not None:
                measured = float(c.impact["estimate"])
            days = (onset - shipped).total_seconds() / 86_400
            where = segment
            label = f"{next(iter(where.items()))[0]} {next(iter(where.values()))}" if where else ""
            reason = (
                f"{c.kind} change to {_scope(c)} on {shipped:%d %b}"
                + (f", where the fall is ({label})" if fit == "same" else "")
                + f"; use started falling {_days(days)}"
                + (
                    f"; measured on acceptance: {measured * 100:+.1f} points"
                    if measured is not None
                    else ""
                )
            )
            found.append(
                Suspect(
                    change_id=c.id,
                    title=c.title,
                    kind=c.kind,
                    shipped_at=shipped,
                    scope=_scope(c),
                    fit=fit,
                    days_before_onset=round(days, 1),
                    reason=reason,
                    measured=measured,
                )
            )
    rank = {"same": 0, "deployment": 1, "other": 2}
    found.sort(
        key=lambda s: (
            rank[s.fit],
            0 if (s.measured is not None and s.measured < 0) else 1,
            abs(s.days_before_onset),
        )
    )
    return found[:limit]


def _days(days: float) -> str:
    if abs(days) < 1:
        return "the same day"
    n = round(abs(days))
    return f"{n} day{'s' if n != 1 else ''} {'after' if days > 0 else 'before'}"


@dataclass(frozen=True, slots=True)
class AfterChange:
    """Signal 4 for one change: acceptance where it reached against where it did not."""

    change_id: int
    title: str
    kind: str
    shipped_at: datetime
    scope: str
    verdict: str
    estimate: float | None
    lo: float | None
    hi: float | None
    reason: str

    @property
    def fell(self) -> bool:
        return self.verdict == "regressed"

    def sentence(self) -> str:
        if self.estimate is None or self.lo is None or self.hi is None:
            return f"{self.title} ({self.shipped_at:%d %b}): {self.reason}"
        return (
            f"After '{self.title}' ({self.kind}, {self.shipped_at:%d %b}), suggestion "
            f"acceptance in {self.scope} moved {self.estimate * 100:+.1f} points against the "
            f"groups it did not reach ({self.lo * 100:+.1f} to {self.hi * 100:+.1f})"
        )


def champion_lifts(session: Session, deployment: str) -> list[Disturbance]:
    """Each champion of ``deployment`` as what lifts their team's (or site's) use over their
    first :data:`~daytwo.adoption.champions.EFFECT_DAYS` days: a change measured in those
    weeks leaves that team out of its control."""
    return [
        Disturbance(
            label=f"the champion who started on {aware(ch.started_at):%d %b %Y} (a champion "
            f"lifts their {'team' if ch.team else 'site'}'s use over their first "
            f"{EFFECT_DAYS} days)",
            key="team" if ch.team else "site",
            values=frozenset([ch.team or ch.site or ""]),
            start=aware(ch.started_at),
            end=aware(ch.started_at) + timedelta(days=EFFECT_DAYS),
        )
        for ch in session.scalars(
            select(Champion).where(Champion.deployment == deployment).order_by(Champion.id)
        ).all()
        if ch.team or ch.site
    ]


def after_changes(
    ledger: Ledger, events: EventStore, deployment: str, policy: BacklogPolicy, now: datetime
) -> list[AfterChange]:
    """Every scoped change of the last weeks, measured on suggestion acceptance."""
    out = []
    with ledger.session() as session:
        rows = session.scalars(
            select(Change)
            .where(
                Change.deployment == deployment,
                Change.shipped_at >= now - timedelta(days=AFTER_CHANGES_DAYS),
            )
            .order_by(Change.shipped_at.desc())
        ).all()
        lifts = champion_lifts(session, deployment)
        for c in rows:
            if not c.segments and not c.journeys:
                continue
            # The same change judged by acceptance: a transient copy, never added to the session.
            probe = Change(
                id=c.id,
                deployment=c.deployment,
                kind=c.kind,
                title=c.title,
                shipped_at=c.shipped_at,
                journeys=list(c.journeys),
                control_journeys=list(c.control_journeys),
                segments=dict(c.segments or {}),
                control_segments=dict(c.control_segments or {}),
                metric=ACCEPTANCE,
                window_days=c.window_days,
            )
            im = assess(session, events, probe, policy, lifts)
            out.append(
                AfterChange(
                    change_id=c.id,
                    title=c.title,
                    kind=c.kind,
                    shipped_at=aware(c.shipped_at),
                    scope=_scope(c),
                    verdict=im.verdict,
                    estimate=im.estimate,
                    lo=im.lo,
                    hi=im.hi,
                    reason=im.reason,
                )
            )
    return out

"""What the adoption page and API serve: the latest answers, never computed while a reader
waits once the first one exists.

Each part of the page (its top: the headline, funnel, breakdown, trend and who stopped; the
comparisons below it) is kept as its latest answer (:func:`daytwo.adoption.memo.latest`): keyed
by what was asked (the deployment and the period as asked, so the default period follows the
data), computed anew in the background when data arrives or when the ledger rows it reads
change (cohorts, champions, changes), and served meanwhile with its age. The analysis computes
the default page's answers after each run (:func:`warm`), so the first reader after new data
is served at once too, and it stores the pilot-vs-rollout comparison with the run
(:mod:`daytwo.adoption.pilot_runs`), which the page reads rather than comparing anew.

:func:`daytwo.adoption.service.overview` stays the fresh computation (the command line, the
tests); the answers here are the same objects it is made of.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import select

from daytwo.adoption import champions, compare, pilot_runs, service, usage
from daytwo.adoption.causes import AfterChange, after_changes
from daytwo.adoption.detail import TeamDetail, team_detail
from daytwo.adoption.memo import Kept, current, latest, remembered
from daytwo.adoption.memo import warm as warm_latest
from daytwo.adoption.models import Champion
from daytwo.adoption.schemas import (
    GROUP_KEYS,
    PRIVACY_FLOOR,
    AdoptionOverview,
    ChampionsView,
    Comparison,
    Freshness,
    FunnelRow,
    GroupRow,
    Headline,
    Period,
    TrendPoint,
)
from daytwo.adoption.stopped import WhoStopped, who_stopped
from daytwo.backlog.models import Change
from daytwo.backlog.policy import BacklogPolicy
from daytwo.deployments.service import get_deployment, list_deployments
from daytwo.errors import NotFoundError
from daytwo.store.events import EventStore
from daytwo.store.ledger import Ledger
from daytwo.store.ledger.kinds import DeploymentKind

T = TypeVar("T")
DEFAULT_BY = "site"
log = logging.getLogger("daytwo.adoption")


@dataclass(frozen=True, slots=True)
class Top:
    """The top of the page for one period as asked: what every reader sees first."""

    period: Period
    headline: Headline
    funnel: list[FunnelRow]
    groups: dict[str, list[GroupRow]]  # every agent count shown: floors apply when served
    trend: list[TrendPoint]
    who: WhoStopped


def freshness(kept: Kept[Any]) -> Freshness:
    """How current ``kept`` is, as the API and the pages say it."""
    return Freshness(computed_at=kept.computed_at, stale=kept.stale, refreshing=kept.refreshing)


def _top(
    events: EventStore,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    target: float | None,
    keys: tuple[str, ...],
) -> Top:
    period = service.period_of(events, deployment, since, until)
    span = (deployment, period.start, period.end)
    # The parts shared by the page's breakdowns and the API's: computed once per data state.
    return Top(
        period=period,
        headline=remembered(
            events, ("headline", *span, target),
            partial(usage.headline, events, deployment, period, target),
        ),
        funnel=remembered(
            events, ("funnel", *span), partial(usage.funnel, events, deployment, period)
        ),
        groups={
            k: remembered(
                events, ("groups", *span, k, None),
                partial(usage.groups, events, deployment, period, k, floor=None),
            )
            for k in keys
        },
        trend=remembered(
            events, ("trend", *span),
            partial(usage.trend, events, deployment, period.end - timedelta(weeks=13), period.end),
        ),
        who=who_stopped(events, deployment, period.end),
    )  # fmt: skip


def top(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    keys: tuple[str, ...] = (DEFAULT_BY,),
) -> Kept[Top]:
    """The top of the page (the breakdowns by ``keys``), latest answer."""
    target = get_deployment(ledger, deployment).targets.get("suggestion_acceptance_rate")
    return latest(
        events,
        ("top", deployment, since, until, target, keys),
        lambda: _top(events, deployment, since, until, target, keys),
    )


def _changes_state(ledger: Ledger, deployment: str) -> Hashable:
    """What in the ledger the comparisons read besides the cohorts: the champions and the
    recorded changes (their scope and dates)."""
    with ledger.session() as session:
        champs = session.execute(
            select(
                Champion.id, Champion.team, Champion.site, Champion.started_at, Champion.ended_at
            )
            .where(Champion.deployment == deployment)
            .order_by(Champion.id)
        ).all()
        changes = session.execute(
            select(
                Change.id, Change.shipped_at, Change.window_days, Change.journeys,
                Change.control_journeys, Change.segments, Change.control_segments,
            )
            .where(Change.deployment == deployment)
            .order_by(Change.id)
        ).all()  # fmt: skip
    return repr((list(map(tuple, champs)), list(map(tuple, changes))))


def _part(
    ledger: Ledger,
    events: EventStore,
    name: str,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    compute: Callable[[Period], T],
    *,
    also: Hashable = None,
    extra: Hashable = None,
) -> Kept[tuple[Period, T]]:
    def run() -> tuple[Period, T]:
        period = service.period_of(events, deployment, since, until)
        return period, compute(period)

    return latest(events, (name, deployment, since, until, extra), run, also=also)


def legacy(
    ledger: Ledger, events: EventStore, deployment: str, since: datetime | None,
    until: datetime | None,
) -> Kept[tuple[Period, Comparison]]:  # fmt: skip
    """AI vs the legacy path, latest answer."""
    return _part(
        ledger, events, "legacy", deployment, since, until,
        lambda p: compare.ai_vs_legacy(events, deployment, p),
    )  # fmt: skip


def champions_view(
    ledger: Ledger, events: EventStore, deployment: str, since: datetime | None,
    until: datetime | None, *, with_agents: bool,
) -> Kept[tuple[Period, ChampionsView]]:  # fmt: skip
    """Champions, coverage, candidates and their effect, latest answer."""
    return _part(
        ledger, events, "champions", deployment, since, until,
        lambda p: champions.view(ledger, events, deployment, p, with_agents=with_agents),
        also=(_changes_state(ledger, deployment), pilot_runs.cohorts_state(ledger, deployment)),
        extra=with_agents,
    )  # fmt: skip


def changes(
    ledger: Ledger, events: EventStore, deployment: str, since: datetime | None,
    until: datetime | None, policy: BacklogPolicy,
) -> Kept[tuple[Period, list[AfterChange]]]:  # fmt: skip
    """Usage after each recent change (signal 4), latest answer."""
    return _part(
        ledger, events, "changes", deployment, since, until,
        lambda p: after_changes(ledger, events, deployment, policy, p.end),
        also=_changes_state(ledger, deployment),
        extra=(policy.impact_resamples, policy.impact_window_days),
    )  # fmt: skip


def team(
    ledger: Ledger, events: EventStore, deployment: str, name: str, since: datetime | None,
    until: datetime | None, *, agents_visible: bool,
) -> Kept[tuple[Period, TeamDetail, GroupRow | None]]:  # fmt: skip
    """One team's page (its detail and its breakdown row), latest answer."""

    def compute(p: Period) -> tuple[TeamDetail, GroupRow | None]:
        detail = team_detail(ledger, events, deployment, name, p, agents_visible=agents_visible)
        rows = [
            r for r in usage.groups(events, deployment, p, "team", floor=None) if r.value == name
        ]
        return detail, rows[0] if rows else None

    kept = _part(
        ledger, events, "team", deployment, since, until, compute,
        also=_changes_state(ledger, deployment), extra=(name, agents_visible),
    )  # fmt: skip
    period, (detail, row) = kept.answer
    return Kept((period, detail, row), kept.computed_at, kept.stale, kept.refreshing)


@dataclass(frozen=True, slots=True)
class Pilot:
    comparison: Comparison | None
    note: str
    run_id: int | None  # the analysis run that stored it (None: compared for the reader)
    freshness: Freshness


def pilot(
    ledger: Ledger, events: EventStore, deployment: str, since: datetime | None,
    until: datetime | None,
) -> Pilot:  # fmt: skip
    """Pilot vs rollout: over the default period, the one the latest analysis run stored (it
    says which run, and so as of when); else the latest answer computed for the reader."""
    if since is None and until is None:
        stored = pilot_runs.latest(ledger, deployment)
        if stored is not None:
            return Pilot(
                stored.comparison, stored.note, stored.run_id,
                Freshness(computed_at=stored.computed_at),
            )  # fmt: skip
    kept = _part(
        ledger, events, "pilot", deployment, since, until,
        lambda p: pilot_runs.compare_now(ledger, events, deployment, p),
        also=pilot_runs.cohorts_state(ledger, deployment),
    )  # fmt: skip
    _, (found, note) = kept.answer
    return Pilot(found, note, None, freshness(kept))


def overview(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    since: datetime | None,
    until: datetime | None,
    policy: BacklogPolicy,
    *,
    agents_visible: bool,
    comparisons: bool = True,
    keys: tuple[str, ...] = GROUP_KEYS,
) -> AdoptionOverview:
    """What :func:`daytwo.adoption.service.overview` answers, from the latest answers: the
    period is the one the top was computed for, and ``freshness`` says how current it is."""
    kept = top(ledger, events, deployment, since, until, keys)
    t = kept.answer
    floor = None if agents_visible else PRIVACY_FLOOR
    out = AdoptionOverview(
        deployment=deployment,
        period=t.period,
        headline=t.headline,
        funnel=t.funnel,
        groups={k: [usage.suppress(r, floor) for r in rows] for k, rows in t.groups.items()},
        trend=t.trend,
        stopped=service.stopped_groups(t.who, agents_visible=agents_visible),
        decay=service.decay(ledger, deployment),
        signals=service.signals(
            ledger, events, deployment, policy, t.period.end, measure_changes=False
        ),
        pilot=None,
        pilot_note="",
        ai_vs_legacy=None,
        champions=None,
        agents_visible=agents_visible,
        freshness=freshness(kept),
        pilot_history=pilot_runs.history(ledger, deployment),
    )
    if not comparisons:
        return out
    p = pilot(ledger, events, deployment, since, until)
    fell = [
        c for c in changes(ledger, events, deployment, since, until, policy).answer[1] if c.fell
    ]
    return out.model_copy(
        update={
            "signals": [*out.signals, service.after_change_summary(fell, t.period.end)],
            "pilot": p.comparison,
            "pilot_note": p.note,
            "pilot_run": p.run_id,
            "ai_vs_legacy": legacy(ledger, events, deployment, since, until).answer[1],
            "champions": champions_view(
                ledger, events, deployment, since, until, with_agents=agents_visible
            ).answer[1],
        }
    )


@dataclass(frozen=True, slots=True)
class _Job:
    key: Hashable
    compute: Callable[[], Any]
    also: Hashable = None


def _default_jobs(
    ledger: Ledger, events: EventStore, deployment: str, policy: BacklogPolicy
) -> list[_Job]:
    """The default page's answers and the API's, as the readers key them: the top broken
    down by site (the page) and by every key (the API), the comparisons, champions with and
    without agents, and pilot vs rollout where no stored run's comparison stands."""
    target = get_deployment(ledger, deployment).targets.get("suggestion_acceptance_rate")
    period = service.period_of(events, deployment, None, None)
    cohorts = pilot_runs.cohorts_state(ledger, deployment)
    state = _changes_state(ledger, deployment)
    jobs = [
        _Job(
            ("top", deployment, None, None, target, keys),
            partial(_top, events, deployment, None, None, target, keys),
        )
        for keys in ((DEFAULT_BY,), GROUP_KEYS)  # the page's default breakdown; the API's
    ]
    jobs.append(_Job(
        ("legacy", deployment, None, None, None),
        lambda: (period, compare.ai_vs_legacy(events, deployment, period)),
    ))  # fmt: skip
    jobs.extend(
        _Job(
            ("champions", deployment, None, None, with_agents),
            lambda w=with_agents: (  # type: ignore[misc]
                period, champions.view(ledger, events, deployment, period, with_agents=w)
            ),
            also=(state, cohorts),
        )
        for with_agents in (True, False)
    )  # fmt: skip
    jobs.append(_Job(
        ("changes", deployment, None, None, (policy.impact_resamples, policy.impact_window_days)),
        lambda: (period, after_changes(ledger, events, deployment, policy, period.end)),
        also=state,
    ))  # fmt: skip
    if pilot_runs.latest(ledger, deployment) is None:  # what the page would compare live
        jobs.append(_Job(
            ("pilot", deployment, None, None, None),
            lambda: (period, pilot_runs.compare_now(ledger, events, deployment, period)),
            also=cohorts,
        ))  # fmt: skip
    return jobs


def warm(
    ledger: Ledger,
    events: EventStore,
    deployment: str,
    policy: BacklogPolicy,
    *,
    missing_only: bool = False,
    stop: threading.Event | None = None,
) -> int:
    """Compute the default page's answers now, so that no reader waits for them (after an
    analysis; soon after a server starts); how many were computed. ``missing_only``: leave
    the answers kept and current as they are; ``stop``: set, no further answer is started."""
    done = 0
    for job in _default_jobs(ledger, events, deployment, policy):
        if stop is not None and stop.is_set():
            break
        if missing_only and current(events, job.key, also=job.also):
            continue
        warm_latest(events, job.key, job.compute, also=job.also)
        done += 1
    if stop is None or not stop.is_set():
        # The agents each workaround signal flags, which every agent page and the signal
        # filter ask: remembered while the data stays the same (not counted: nothing to do
        # where it already is).
        period = service.period_of(events, deployment, None, None)
        service.workaround_agents(events, deployment, period.end)
    return done


class PrepareAfterStart:
    """Soon after ``daytwo serve`` starts, the default adoption page's and API's answers of
    every agent-assist deployment, computed once in the background, so that the first reader
    of a server that has not analysed since it started does not wait for them.

    It keeps out of the first requests' way: it starts ``delay`` seconds after the server,
    once the rollups' first refresh is done (``ready``: answers computed before it would be
    stale at once), computes one answer at a time in one thread, and leaves alone an answer a
    reader or an analysis has computed meanwhile. A failure is
    logged; readers then compute the answer as they would without it."""

    def __init__(
        self,
        ledger: Ledger,
        events: EventStore,
        policy: BacklogPolicy,
        delay: float,
        ready: threading.Event | None = None,
    ) -> None:
        self.ledger, self.events, self.policy = ledger, events, policy
        self.delay = delay
        self.ready = ready
        self.prepared: dict[str, int] = {}  # answers computed, by deployment
        self.done = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="daytwo-adoption-prepare", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            if self._stop.wait(self.delay):
                return
            while self.ready is not None and not self.ready.wait(0.5):
                if self._stop.is_set():
                    return
            started = time.perf_counter()
            for dep in list_deployments(self.ledger):
                if self._stop.is_set():
                    return
                if dep.kind != DeploymentKind.agent_assist:
                    continue
                try:
                    self.prepared[dep.name] = warm(
                        self.ledger, self.events, dep.name, self.policy,
                        missing_only=True, stop=self._stop,
                    )  # fmt: skip
                except NotFoundError:
                    continue  # no data yet: nothing to show
                except Exception:
                    log.exception("preparing the adoption answers of %s failed", dep.name)
            log.info(
                "adoption answers prepared after start in %.1f s: %s",
                time.perf_counter() - started, self.prepared,
            )  # fmt: skip
        finally:
            self.done.set()

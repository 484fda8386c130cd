"""Who stopped: every agent tested against their own baseline, per feature, and the groups
where the share of agents who fell or stopped rises (the estimators: :mod:`.calc`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pyarrow as pa

from daytwo.adoption.calc import (
    AgentDays,
    AgentTests,
    Flags,
    GroupRise,
    StopParams,
    agent_tests,
    rising_groups,
    stopped_sentence,
)
from daytwo.adoption.schemas import AgentRow, AgentStatus, StoppedGroup
from daytwo.adoption.usage import agent_table, feature_table
from daytwo.store.events import EventStore

_NEWEST = re.compile(r"^0\s*-")
GROUP_KEYS = ("site", "team", "tenure")


def newest_band(bands: list[str]) -> str | None:
    """The tenure band of the newest agents (``0-6m``), where the bands name one."""
    found = sorted(b for b in bands if _NEWEST.match(b))
    return found[0] if found else None


@dataclass(frozen=True, slots=True)
class Roster:
    """The agents seen in a window, with where they sit (their latest day's segments)."""

    refs: list[str]
    site: list[str | None]
    team: list[str | None]
    tenure: list[str | None]
    cohort: list[str | None]
    conversations: np.ndarray
    used: np.ndarray
    shown: np.ndarray
    ai_used: np.ndarray
    ai_known: np.ndarray

    def index(self) -> dict[str, int]:
        return {r: i for i, r in enumerate(self.refs)}


def roster(table: pa.Table, since: date | None = None) -> Roster:
    """Agents of an :func:`~daytwo.adoption.usage.agent_table`, their latest segments, and
    their totals on days from ``since``."""
    rows = table.to_pydict()
    refs = sorted({r for r in rows["agent_ref"] if r is not None})
    index = {r: i for i, r in enumerate(refs)}
    latest: dict[int, tuple[date, str | None, str | None, str | None, str | None]] = {}
    n = len(refs)
    totals = {k: np.zeros(n) for k in ("conversations", "used", "shown", "ai_used", "ai_known")}
    for k, ref in enumerate(rows["agent_ref"]):
        if ref is None:
            continue
        i, day = index[ref], rows["day"][k]
        if i not in latest or day >= latest[i][0]:
            latest[i] = (
                day,
                rows["site"][k],
                rows["team"][k],
                rows["tenure"][k],
                rows["cohort"][k],
            )
        if since is None or day >= since:
            for col, arr in totals.items():
                arr[i] += float(rows[col][k] or 0)
    return Roster(
        refs,
        [latest[i][1] for i in range(n)],
        [latest[i][2] for i in range(n)],
        [latest[i][3] for i in range(n)],
        [latest[i][4] for i in range(n)],
        **totals,
    )


@dataclass(frozen=True, slots=True)
class WhoStopped:
    """The per-agent tests of each feature now and one window earlier, and the groups."""

    roster: Roster
    features: list[str]
    now: dict[str, AgentTests]
    before: dict[str, AgentTests]
    rises: list[GroupRise]
    newest: str | None
    first: date  # day index 0 of the tests
    current_start: date
    params: StopParams

    @property
    def flags(self) -> Flags:
        return Flags.either([t.flags for t in self.now.values()])

    def feature_of(self, members: tuple[int, ...]) -> str:
        """The feature most of these agents fell or stopped on."""
        counts: Counter[str] = Counter()
        for f, t in self.now.items():
            counts[f] = int(np.sum(t.flags.flagged[list(members)])) if members else 0
        return counts.most_common(1)[0][0] if counts else "suggested_reply"

    def groups(self, *, with_agents: bool) -> list[StoppedGroup]:
        out = []
        for r in sorted(self.rises, key=lambda r: (-r.flagged, r.key, r.value)):
            feature = self.feature_of(r.members)
            out.append(
                StoppedGroup(
                    key=r.key,
                    value=r.value,
                    sentence=stopped_sentence(r, feature, self.params.current_days, self.newest),
                    feature=feature,
                    flagged=r.flagged,
                    stopped=r.stopped,
                    agents=r.agents,
                    share=r.share,
                    previous_share=r.previous_share,
                    newest=r.newest,
                    p=r.p,
                    agents_flagged=[self.roster.refs[i] for i in r.members] if with_agents else [],
                )
            )
        return out

    def agents(self, champions: set[str] | None = None) -> list[AgentRow]:
        """One row per agent: their use now against their own baseline, and what they
        fell or stopped on."""
        ro = self.roster
        out = []
        for i, ref in enumerate(ro.refs):
            fell = [f for f, t in self.now.items() if t.fell[i]]
            stopped = [f for f, t in self.now.items() if t.stopped[i]]
            tested = any(t.eligible[i] or t.stopped[i] for t in self.now.values())
            status: AgentStatus = (
                "stopped" if stopped else "fell" if fell else "steady" if tested else "untested"
            )
            since = [int(t.stopped_since[i]) for t in self.now.values() if t.stopped[i]]
            base_o = sum(float(t.baseline_offered[i]) for t in self.now.values())
            base_u = sum(
                float(t.baseline_offered[i] * np.nan_to_num(t.baseline_rate[i]))
                for t in self.now.values()
            )
            out.append(
                AgentRow(
                    agent_ref=ref,
                    site=ro.site[i],
                    team=ro.team[i],
                    tenure=ro.tenure[i],
                    cohort=ro.cohort[i],
                    conversations=int(ro.conversations[i]),
                    acceptance=float(ro.used[i] / ro.shown[i]) if ro.shown[i] else None,
                    baseline_acceptance=base_u / base_o if base_o else None,
                    usage=float(ro.ai_used[i] / ro.ai_known[i]) if ro.ai_known[i] else None,
                    status=status,
                    stopped_since=self.first + timedelta(days=min(since)) if since else None,
                    features=sorted({*fell, *stopped}),
                    champion=ref in (champions or set()),
                )
            )
        return out


def who_stopped(
    events: EventStore,
    deployment: str,
    as_of: datetime,
    params: StopParams | None = None,
    *,
    group_keys: tuple[str, ...] = GROUP_KEYS,
) -> WhoStopped:
    """Test every agent of ``deployment`` for the window of ``current_days`` ending at
    ``as_of`` (and the window before it) against their own baseline, per feature."""
    params = params or StopParams()
    end_day = as_of.date() if as_of.time() == time() else as_of.date() + timedelta(days=1)
    end = datetime.combine(end_day, time(), tzinfo=as_of.tzinfo)
    span = params.baseline_days + 2 * params.current_days
    first = end_day - timedelta(days=span)
    start = datetime.combine(first, time(), tzinfo=as_of.tzinfo)
    current_start = end_day - timedelta(days=params.current_days)
    ro = roster(agent_table(events, deployment, start, end), since=current_start)
    index = ro.index()
    ft = feature_table(events, deployment, start, end).to_pydict()
    features = sorted({f for f in ft["feature"] if f is not None})
    now: dict[str, AgentTests] = {}
    before: dict[str, AgentTests] = {}
    offset = params.baseline_days + params.current_days
    for feature in features:
        keep = [
            k for k, f in enumerate(ft["feature"]) if f == feature and ft["agent_ref"][k] in index
        ]
        data = AgentDays.of(
            [index[ft["agent_ref"][k]] for k in keep],
            [(ft["day"][k] - first).days for k in keep],
            [float(ft["shown"][k] or 0) for k in keep],
            [min(float(ft["used"][k] or 0), float(ft["shown"][k] or 0)) for k in keep],
            len(ro.refs),
        )
        now[feature] = agent_tests(data, offset, params)
        before[feature] = agent_tests(data, offset - params.current_days, params)
    labels: dict[str, list[str | None]] = {
        "site": ro.site,
        "team": ro.team,
        "tenure": ro.tenure,
        "deployment": [deployment] * len(ro.refs),
    }
    band = newest_band([t for t in ro.tenure if t])
    newest = np.array([t == band for t in ro.tenure], dtype=bool)
    rises: list[GroupRise] = []
    if now:
        rises = rising_groups(
            {k: labels[k] for k in group_keys},
            Flags.either([t.flags for t in now.values()]),
            Flags.either([t.flags for t in before.values()]),
            newest,
            params,
        )
    return WhoStopped(ro, features, now, before, rises, band, first, current_start, params)

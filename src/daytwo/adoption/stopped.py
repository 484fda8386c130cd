"""Who stopped: every agent tested against their own baseline, per feature, and the groups
where the share of agents who fell or stopped rises (the estimators: :mod:`.calc`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.adoption.calc import (
    AgentDays,
    AgentTests,
    Flags,
    GroupRise,
    StopParams,
    agent_tests,
    rising_groups,
)
from daytwo.adoption.memo import remembered
from daytwo.adoption.schemas import AgentRow, AgentStatus, StoppedGroup
from daytwo.adoption.usage import agent_table, feature_table
from daytwo.adoption.wording import stopped_sentence
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


def _days(values: pa.ChunkedArray | pa.Array, first: date) -> np.ndarray:
    """Day indices (0 = ``first``) of a date column."""
    out: np.ndarray = np.asarray(pc.days_between(pa.scalar(first), values), dtype=np.int64)
    return out


def _num(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(pc.cast(values, pa.float64()), 0.0), dtype=np.float64)


def roster(agent_days: pa.Table, since: date) -> Roster:
    """The agents of per-agent-day rows (``agent_ref``, ``day``, ``site``, ``team``,
    ``tenure``, ``cohort`` and the counts), their latest day's segments, and their totals on
    days from ``since``."""
    t = agent_days.filter(pc.is_valid(agent_days["agent_ref"]))
    t = t.sort_by([("agent_ref", "ascending"), ("day", "ascending")])
    refs = [str(r) for r in pc.unique(t["agent_ref"]).to_pylist()]
    idx = np.asarray(pc.index_in(t["agent_ref"], pa.array(refs, type=pa.string())))
    n = len(refs)
    last = np.flatnonzero(np.append(idx[1:] != idx[:-1], True)) if len(idx) else idx
    recent = _days(t["day"], since) >= 0

    def latest(col: str) -> list[str | None]:
        return [None if v is None else str(v) for v in t[col].take(pa.array(last)).to_pylist()]

    def total(col: str) -> np.ndarray:
        out: np.ndarray = np.bincount(idx[recent], weights=_num(t[col])[recent], minlength=n)
        return out

    return Roster(
        refs, latest("site"), latest("team"), latest("tenure"), latest("cohort"),
        *(total(c) for c in ("conversations", "used", "shown", "ai_used", "ai_known")),
    )  # fmt: skip


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
    """:func:`who_stopped_from` the rollups of ``deployment`` up to ``as_of``; the same answer
    again while the store's data is unchanged (:mod:`daytwo.adoption.memo`)."""
    params = params or StopParams()
    end_day = as_of.date() if as_of.time() == time() else as_of.date() + timedelta(days=1)
    first = end_day - timedelta(days=params.baseline_days + 2 * params.current_days)
    start, end = (datetime.combine(d, time(), tzinfo=UTC) for d in (first, end_day))
    return remembered(
        events,
        ("who_stopped", deployment, end_day, params, group_keys),
        lambda: who_stopped_from(
            agent_table(events, deployment, start, end),
            feature_table(events, deployment, start, end),
            deployment,
            end_day,
            params,
            group_keys=group_keys,
        ),
    )


def who_stopped_from(
    agent_days: pa.Table,
    feature_days: pa.Table,
    deployment: str,
    end_day: date,
    params: StopParams,
    *,
    group_keys: tuple[str, ...] = GROUP_KEYS,
) -> WhoStopped:
    """Test every agent for the ``current_days`` before ``end_day`` (and the window before
    it) against their own baseline, per feature; then the groups whose share rose.

    ``agent_days``: per agent and day, where they sit and their counts (see :func:`roster`);
    ``feature_days``: per agent, day and feature, ``shown`` and ``used``.
    """
    first = end_day - timedelta(days=params.baseline_days + 2 * params.current_days)
    current_start = end_day - timedelta(days=params.current_days)
    ro = roster(agent_days, current_start)
    refs = pa.array(ro.refs, type=pa.string())
    agent = np.asarray(pc.fill_null(pc.index_in(feature_days["agent_ref"], refs), -1))
    day = _days(feature_days["day"], first)
    shown, used = _num(feature_days["shown"]), _num(feature_days["used"])
    names = feature_days["feature"]
    features = sorted(str(f) for f in pc.unique(names).to_pylist() if f is not None)
    now: dict[str, AgentTests] = {}
    before: dict[str, AgentTests] = {}
    offset = params.baseline_days + params.current_days
    for feature in features:
        keep = np.asarray(pc.fill_null(pc.equal(names, feature), False), dtype=bool)
        keep &= (agent >= 0) & (day >= 0)
        data = AgentDays.of(
            agent[keep], day[keep], shown[keep], np.minimum(used[keep], shown[keep]), len(ro.refs)
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

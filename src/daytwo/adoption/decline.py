"""The ``adoption_decline`` detector: where agents' use of the AI decays, and who stopped.

One finding per group (site, team, tenure band, the whole deployment), from two tests against
the group's and the agents' own recent past (:mod:`daytwo.adoption.calc`); see
:func:`detect_adoption_decline`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.adoption.calc import (
    DeclineParams,
    GroupRise,
    StopParams,
    group_declines,
    nest,
)
from daytwo.adoption.frames import FEATURE_DAYS, agent_days, feature_days
from daytwo.adoption.stopped import WhoStopped, who_stopped_from
from daytwo.adoption.wording import feature_label, group_phrase
from daytwo.detect.cells import segment_column
from daytwo.detect.data import AnalysisData
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.interactions.facts import flag_array

ACCEPTANCE = "suggestion_acceptance_rate"
DECLINE_KIND = "adoption_decline"


@dataclass(frozen=True, slots=True)
class DeclineDetectorParams:
    """The group test, the per-agent tests, and the groups judged."""

    decline: DeclineParams = field(default_factory=DeclineParams)
    stop: StopParams = field(default_factory=StopParams)
    group_keys: tuple[str, ...] = ("site", "team", "tenure")


def _end_day(at: datetime) -> date:
    return at.date() if at.time() == time() else at.date() + timedelta(days=1)


def _at(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _labels(frame: pa.Table, key: str, deployment: str) -> np.ndarray:
    if key == "deployment":
        return np.full(frame.num_rows, deployment, dtype=object)
    out: np.ndarray = frame[key].to_numpy(zero_copy_only=False)
    return out


def _declines(
    ad: pa.Table, deployment: str, end_day: date, params: DeclineDetectorParams
) -> dict[tuple[str, str], tuple[int, float, float, float, float, date, float, float]]:
    """(key, value) -> window, baseline and current rate and offered, onset, z and p."""
    p = params.decline
    n_days = p.baseline_days + max(p.windows)
    first = end_day - timedelta(days=n_days)
    day = np.asarray(pc.days_between(pa.scalar(first), ad["day"]), dtype=np.int64)
    inside = (day >= 0) & (day < n_days)
    shown = np.asarray(ad["shown"], dtype=np.float64)
    used = np.asarray(ad["used"], dtype=np.float64)
    out = {}
    narrower = np.zeros(ad.num_rows, dtype=bool)  # rows of groups that declined on their own
    for key in (*params.group_keys, "deployment"):
        labels = _labels(ad, key, deployment)
        ok = inside & np.array([v is not None for v in labels])
        if key == "deployment" and narrower.any():
            # The deployment declines on its own only if what is left outside the groups that
            # declined does too (else they are the problem, not the whole floor).
            rest = ok & ~narrower
            o = np.bincount(day[rest], weights=shown[rest], minlength=n_days).astype(np.float64)
            u = np.bincount(day[rest], weights=used[rest], minlength=n_days).astype(np.float64)
            if not group_declines(o[None, :], u[None, :], p):
                continue
        values = sorted({str(v) for v in labels[ok]})
        if not values:
            continue
        code = np.array([values.index(str(v)) if v is not None else -1 for v in labels])
        flat = code[ok] * n_days + day[ok]
        size = len(values) * n_days
        o = np.bincount(flat, weights=shown[ok], minlength=size).astype(np.float64)
        u = np.bincount(flat, weights=used[ok], minlength=size).astype(np.float64)
        o, u = o.reshape(len(values), n_days), u.reshape(len(values), n_days)
        for d in group_declines(o, u, p):
            if key == "site":
                narrower |= ok & (code == d.group)
            out[(key, values[d.group])] = (
                d.window, d.baseline_rate, d.current_rate, d.baseline_offered,
                d.current_offered, first + timedelta(days=d.onset), d.z, d.p,
            )  # fmt: skip
    return out


def _severity(drop: float, agents: int) -> Severity:
    if drop >= 0.4 or agents >= 40:
        return Severity.high
    if drop >= 0.2 or agents >= 10:
        return Severity.medium
    return Severity.low


def _group_rows(data: AnalysisData, key: str, value: str, since: datetime) -> np.ndarray:
    t = data.interactions
    mask = flag_array(pc.greater_equal(t["started_at"], pa.scalar(since)))
    mask &= flag_array(pc.is_valid(t["agent_ref"]))
    if key != "deployment":
        mask &= flag_array(pc.equal(segment_column(t, key), value))
    return mask


def detect_adoption_decline(data: AnalysisData, params: DeclineDetectorParams) -> list[Finding]:
    """Where agents' use of the AI decays, and who stopped: one finding per group.

    Two tests, each against the group's or the agent's *own* recent past rather than the
    go-live baseline (a pilot's volunteers are no measure of the floor):

    - **The group's use fell**: per site, team, tenure band and the whole deployment, the
      share of suggestions used in the last 3 and 7 days against the 28 days before them; a
      one-sided test whose variance is scaled by the group's own day-to-day dispersion,
      Benjamini-Hochberg over every group and window, and a fall of at least 3 points and 8%
      of the group's own rate. Its onset is the day that best splits before from after.
    - **More of its agents stopped**: every agent's use of each feature in the last 14 days
      against their own 28 days before (a quasi-binomial test, false-discovery controlled,
      a fall of at least a quarter), or no use at all on their last 5 working days against
      the odds; a group is reported when at least 5 of its agents fell or stopped and their
      share rose against the 14 days before (one-sided test on agents). A group whose rise is
      a larger group's (a Porto team's, the 2y+ band's when its agents who stopped are at
      Porto) is left to that one.

    The finding reads as one sentence: "23 agents at porto stopped or sharply cut their use of
    suggested replies in the last 2 weeks (8 stopped altogether); 17 of them are in their
    first 6 months". Agents are counted, never named, in a finding (the adoption pages show
    them to analysts and owners).
    """
    by_feature = data.read(FEATURE_DAYS)
    t = data.interactions
    if by_feature.num_rows == 0 or not flag_array(pc.is_valid(t["agent_ref"])).any():
        return []
    name = data.deployment.name
    end_day = _end_day(data.window.current_end)
    ad = agent_days(t, data.memo)
    who = who_stopped_from(
        ad, feature_days(by_feature), name, end_day, params.stop, group_keys=params.group_keys
    )
    declines = _declines(ad, name, end_day, params)
    parents = nest(who.rises, params.stop.min_group_agents)
    rises = {(r.key, r.value): r for r, p in zip(who.rises, parents, strict=True) if p is None}
    out = []
    for key, value in sorted(set(declines) | set(rises)):
        out.append(
            _decline_finding(
                data, who, key, value, declines.get((key, value)), rises.get((key, value))
            )
        )
    return out


def _decline_finding(
    data: AnalysisData,
    who: WhoStopped,
    key: str,
    value: str,
    decline: tuple[int, float, float, float, float, date, float, float] | None,
    rise: GroupRise | None,
) -> Finding:
    name = data.deployment.name
    end = data.window.current_end
    details: dict[str, object] = {"group": {"key": key, "value": value}}
    if decline is not None:
        window, b_rate, c_rate, b_n, c_n, onset, z, p = decline
        baseline, current = Measure(b_rate, int(b_n)), Measure(c_rate, int(c_n))
        first_seen = _at(onset)
        since = end - timedelta(days=window)
        details |= {"window_days": window, "z": round(z, 2), "p": p}
    else:
        assert rise is not None
        cur_start = _at(who.current_start)
        b_rate, c_rate = _rates(who, rise)
        baseline, current = Measure(b_rate, 0), Measure(c_rate, 0)
        first_seen, since = cur_start, cur_start
    where = group_phrase(key, value) if key != "deployment" else f"on {name}"
    title = (
        f"Suggestion acceptance {where} fell: {baseline.value:.1%} → {current.value:.1%} "
        f"over the last {details.get('window_days', 14)} days against the weeks before"
    )
    if rise is not None:
        feature = who.feature_of(rise.members)
        sentence = next(
            g.sentence for g in who.groups(with_agents=False) if (g.key, g.value) == (key, value)
        )
        title = sentence.rstrip(".")
        details |= {
            "sentence": sentence,
            "feature": feature,
            "feature_label": feature_label(feature),
            "agents": rise.agents,
            "agents_flagged": rise.flagged,
            "agents_stopped": rise.stopped,
            "newest": rise.newest,
            "newest_band": who.newest,
            "share": round(rise.share, 4),
            "previous_share": round(rise.previous_share, 4),
            "p_rise": rise.p,
        }
        stopped = [
            min(
                (int(t.stopped_since[i]) for t in who.now.values() if t.stopped[i]),
                default=None,
            )
            for i in rise.members
        ]
        known = [s for s in stopped if s is not None]
        if decline is None and known:
            first_seen = _at(who.first + timedelta(days=min(known)))
    rows = _group_rows(data, key, value, since)
    if rise is not None:
        members = pa.array([who.roster.refs[i] for i in rise.members], type=pa.string())
        rows &= flag_array(pc.is_in(data.interactions["agent_ref"], members))
    t = data.interactions
    unused = (
        rows
        & (np.asarray(pc.fill_null(t["n_assist_shown"], 0)) > 0)
        & (
            np.asarray(pc.fill_null(t["n_assist_accepted"], 0))
            + np.asarray(pc.fill_null(t["n_assist_edited"], 0))
            == 0
        )
    )
    ids = t["interaction_id"].filter(pa.array(unused))
    drop = (baseline.value or 0) - (current.value or 0)
    rel = drop / baseline.value if baseline.value else 0.0
    return Finding(
        detector=DECLINE_KIND,
        kind=DECLINE_KIND,
        title=title,
        scope=FindingScope(
            name, segment=None if key == "deployment" else (key, value), metric=ACCEPTANCE
        ),
        severity=_severity(rel, rise.flagged if rise else 0),
        first_seen=min(first_seen, end),
        last_seen=end,
        baseline=baseline,
        current=current,
        evidence=evidence_sample(ids),
        impact=weekly_impact(t.filter(pa.array(rows)), max(1.0, (end - since).days)),
        details=details,
    )


def _rates(who: WhoStopped, rise: GroupRise) -> tuple[float, float]:
    """The flagged agents' baseline and current use, over every feature."""
    bo = bu = co = cu = 0.0
    for t in who.now.values():
        m = list(rise.members)
        bo += float(t.baseline_offered[m].sum())
        bu += float(np.nansum(t.baseline_offered[m] * np.nan_to_num(t.baseline_rate[m])))
        co += float(t.current_offered[m].sum())
        cu += float(np.nansum(t.current_offered[m] * np.nan_to_num(t.current_rate[m])))
    return (bu / bo if bo else 0.0), (cu / co if co else 0.0)

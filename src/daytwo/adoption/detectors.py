"""The adoption domain's detectors: where adoption decays and who stopped; workarounds.

Both are registered definitions like every detector (a stable id, frozen params, a documented
pure calculation over an :class:`~daytwo.detect.data.AnalysisData`); the adoption domain
contributes them to every analysis through the pipeline's ``register_detectors`` hook. They
read the analysis's interactions and assist events (and the agents' messages for the
workaround signals) and report one finding per group or per signal, never one per agent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

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
from daytwo.adoption.frames import agent_days, feature_days, first_offer, suggestions
from daytwo.adoption.schemas import PRIVACY_FLOOR
from daytwo.adoption.signals import (
    SIGNAL_NAMES,
    AgentSignal,
    SignalParams,
    legacy_path,
    retyped,
    rewrite,
)
from daytwo.adoption.stopped import WhoStopped, who_stopped_from
from daytwo.adoption.wording import feature_label, group_phrase
from daytwo.detect.cells import segment_column
from daytwo.detect.data import AnalysisData, Window
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Impact,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.registry import Detector, Needs
from daytwo.interactions.facts import flag_array

ACCEPTANCE = "suggestion_acceptance_rate"
DECLINE_KIND = "adoption_decline"
WORKAROUND_KIND = "adoption_workaround"


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
    assist = data.assist_events
    t = data.interactions
    if assist.num_rows == 0 or not flag_array(pc.is_valid(t["agent_ref"])).any():
        return []
    name = data.deployment.name
    end_day = _end_day(data.window.current_end)
    ad = agent_days(t)
    who = who_stopped_from(
        ad, feature_days(t, assist), name, end_day, params.stop, group_keys=params.group_keys
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


# -- workaround signals ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkaroundParams:
    """The signals' thresholds and the smallest number of agents worth a finding."""

    signals: SignalParams = field(default_factory=lambda: SignalParams(min_events=6))
    min_agents: int = 2
    days: int = 14  # judged over the last days of the analysis (its turns must cover them)
    live_journey_share: float = 0.01  # a journey is live where this share saw a suggestion


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One signal over the current window: per agent, and the agents' refs."""

    signal: str
    agents: list[str]
    result: AgentSignal
    evidence: tuple[str, ...]
    sites: dict[str, int]

    @property
    def flagged(self) -> list[str]:
        return [a for a, f in zip(self.agents, self.result.flagged, strict=True) if f]


def workaround_signals(data: AnalysisData, params: WorkaroundParams) -> list[SignalResult]:
    """Signals 1-3 (:mod:`daytwo.adoption.signals`) over the analysis's current window."""
    t, assist, w = data.interactions, data.assist_events, data.window
    if assist.num_rows == 0:
        return []
    s = suggestions(t, assist, data.turns, _since(w, params), w.current_end)
    refs = sorted({str(a) for a in s.agent_ref if a is not None})
    out = []
    sp = params.signals
    for signal, actions in (("retyped", ("dismissed",)), ("rewrite", ("accepted", "edited"))):
        keep = np.array(
            [
                act in actions and a is not None and txt is not None and msg is not None
                for act, a, txt, msg in zip(
                    s.action, s.agent_ref, s.suggestion, s.next_message, strict=True
                )
            ],
            dtype=bool,
        )
        idx = np.flatnonzero(keep)
        codes = np.array([refs.index(str(s.agent_ref[i])) for i in idx], dtype=np.int64)
        texts = [s.suggestion[i] for i in idx]
        msgs = [s.next_message[i] for i in idx]
        fn = retyped if signal == "retyped" else rewrite
        result = fn(codes, texts, msgs, len(refs), sp)
        hit_ids = _signal_evidence(signal, s.interaction_id[idx], texts, msgs, sp)
        out.append(SignalResult(signal, refs, result, hit_ids, _sites(t, refs, result)))
    out.append(_legacy(data, params))
    return out


def _signal_evidence(
    signal: str,
    ids: np.ndarray,
    texts: list[str | None],
    msgs: list[str | None],
    sp: SignalParams,
) -> tuple[str, ...]:
    from daytwo.adoption.signals import similarities

    sim = similarities(texts, msgs)
    hit = sim >= sp.threshold if signal == "retyped" else sim < sp.keep
    return evidence_sample([str(i) for i in ids[hit]])


def _sites(t: pa.Table, refs: list[str], result: AgentSignal) -> dict[str, int]:
    """Flagged agents per site, for sites with at least the privacy floor of them."""
    flagged = [a for a, f in zip(refs, result.flagged, strict=True) if f]
    if not flagged:
        return {}
    rows = t.filter(pc.is_in(t["agent_ref"], pa.array(flagged, type=pa.string())))
    site = segment_column(rows, "site").to_pylist()
    agent = rows["agent_ref"].to_pylist()
    where = dict(zip(agent, site, strict=True))
    counts: dict[str, int] = {}
    for a in flagged:
        if where.get(a):
            counts[str(where[a])] = counts.get(str(where[a]), 0) + 1
    return {k: v for k, v in sorted(counts.items()) if v >= PRIVACY_FLOOR}


def _legacy(data: AnalysisData, params: WorkaroundParams) -> SignalResult:
    t, w = data.interactions, data.window
    first = first_offer(t, data.assist_events)
    cur = flag_array(pc.greater_equal(t["started_at"], pa.scalar(_since(w, params))))
    cur &= flag_array(pc.less(t["started_at"], pa.scalar(w.current_end)))
    cur &= flag_array(pc.is_valid(t["agent_ref"])) & flag_array(pc.is_valid(t["ai_used"]))
    rows = t.filter(pa.array(cur))
    agents = rows["agent_ref"].to_pylist()
    starts = pc.cast(rows["started_at"], pa.int64()).to_pylist()
    offered = np.asarray(pc.fill_null(rows["n_assist_shown"], 0)) > 0
    journeys = [str(j) for j in rows["journey"].to_pylist()]
    names = sorted(set(journeys))
    jcode = np.array([names.index(j) for j in journeys], dtype=np.int64)
    share = np.bincount(jcode, weights=offered, minlength=len(names)) / np.maximum(
        np.bincount(jcode, minlength=len(names)), 1
    )
    live = np.array(
        [a in first and first[a] <= s for a, s in zip(agents, starts, strict=True)], dtype=bool
    ) & (share[jcode] >= params.live_journey_share)
    refs = sorted({str(a) for a in agents})
    codes = np.array([refs.index(str(a)) for a in agents], dtype=np.int64)
    legacy = ~flag_array(rows["ai_used"])
    result = legacy_path(codes[live], jcode[live], legacy[live], len(refs), params.signals)
    ids = rows["interaction_id"].filter(pa.array(live & legacy))
    return SignalResult("legacy_path", refs, result, evidence_sample(ids), _sites(t, refs, result))


_SENTENCES = {
    "retyped": "{n} agents type suggested replies they dismissed in substance themselves: "
    "{share:.0%} of their dismissals come back in their own words ({floor:.0%} across the floor)",
    "rewrite": "{n} agents accept suggested replies and then rewrite them: {share:.0%} of "
    "what they use is sent mostly rewritten ({floor:.0%} across the floor)",
    "legacy_path": "{n} agents work on the legacy path where the AI is live for them: "
    "{share:.0%} of their conversations without it, {ratio:.1f} times what the floor's "
    "journeys would give them",
}


def detect_adoption_workarounds(data: AnalysisData, params: WorkaroundParams) -> list[Finding]:
    """Agents who have the AI but work around it: one finding per signal, over the last 14 days.

    - **Dismissed, then retyped**: a suggested reply dismissed, and the agent's next message in
      the conversation is the suggestion in substance (character-trigram similarity of the
      normalised texts of at least 0.6). Needs the suggestion's text (a ``text`` attribute on
      the ``shown`` event) and the agents' messages.
    - **Accepted, then rewritten**: a suggested reply accepted or edited whose sent message
      keeps less than half of it (similarity under 0.5).
    - **Legacy path where the AI is live**: conversations without the AI, by an agent who had
      already been offered suggestions, in journeys where suggestions are shown; counted
      against what the floor's legacy rate in the same journeys would give that agent.

    An agent counts for a signal when their share is far above the floor's (an exact binomial
    or Poisson tail, Benjamini-Hochberg over agents) with at least 6 events, 4 hits and a
    quarter of their events (1.5 times the expected, for the legacy path). A signal becomes a
    finding when at least 2 agents count. Agents are counted, never named, in the finding.
    """
    out = []
    w = data.window
    for s in workaround_signals(data, params):
        n = len(s.flagged)
        if n < params.min_agents:
            continue
        r = s.result
        hits, events = float(r.hits[r.flagged].sum()), float(r.events[r.flagged].sum())
        floor = float(r.hits.sum() / r.events.sum()) if r.events.sum() else 0.0
        expected = float(r.expected[r.flagged].sum())
        text = _SENTENCES[s.signal].format(
            n=n,
            share=hits / events if events else 0.0,
            floor=floor,
            ratio=hits / expected if expected else 0.0,
        )
        out.append(
            Finding(
                detector="adoption_workarounds",
                kind=WORKAROUND_KIND,
                title=text,
                scope=FindingScope(data.deployment.name),
                severity=Severity.medium if n >= 5 else Severity.low,
                first_seen=_since(w, params),
                last_seen=w.current_end,
                baseline=Measure(floor, int(r.events.sum())),
                current=Measure(hits / events if events else None, int(events)),
                evidence=s.evidence,
                key=(s.signal,),
                details={
                    "signal": s.signal,
                    "name": SIGNAL_NAMES[s.signal],
                    "sentence": text + ".",
                    "agents_flagged": n,
                    "hits": int(hits),
                    "events": int(events),
                    "floor_share": round(floor, 4),
                    "by_site": s.sites,
                },
                impact=_impact(data, s.flagged, _since(w, params)),
            )
        )
    return out


def _since(w: Window, params: WorkaroundParams) -> datetime:
    """The start of the days the workaround signals judge."""
    return w.current_end - timedelta(days=params.days)


def _impact(data: AnalysisData, agents: list[str], since: datetime) -> Impact:
    t = data.interactions
    rows = flag_array(pc.is_in(t["agent_ref"], pa.array(agents, type=pa.string())))
    rows &= flag_array(pc.greater_equal(t["started_at"], pa.scalar(since)))
    days = (data.window.current_end - since).total_seconds() / 86_400
    return weekly_impact(t.filter(pa.array(rows)), days)


# The definitions the adoption domain contributes to every analysis (``plugin.py``).
DETECTORS: tuple[Detector[Any], ...] = (
    Detector(
        DECLINE_KIND,
        "Adoption decline and who stopped",
        detect_adoption_decline,
        DeclineDetectorParams(),
        Needs(assist_events=True),
    ),
    Detector(
        "adoption_workarounds",
        "Workaround signals",
        detect_adoption_workarounds,
        WorkaroundParams(),
        Needs(turn_columns=("ts", "role", "text"), assist_events=True, turn_days=14),
    ),
)

"""The ``adoption_workarounds`` detector: agents who have the AI but work around it.

Three signals over the last days of the analysis (:mod:`daytwo.adoption.signals`): suggestions
dismissed and then retyped, suggestions accepted and then rewritten, and the legacy path where
the AI is live; one finding per signal, see :func:`detect_adoption_workarounds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.adoption.frames import (
    FEATURE_DAYS,
    FIRST_OFFERS,
    SUGGESTION_DAYS,
    SUGGESTION_EVENTS,
    first_offer,
    suggestions,
)
from daytwo.adoption.schemas import PRIVACY_FLOOR
from daytwo.adoption.signals import (
    SIGNAL_NAMES,
    AgentSignal,
    SignalParams,
    legacy_path,
    retyped,
    rewrite,
)
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
from daytwo.interactions.facts import flag_array

WORKAROUND_KIND = "adoption_workaround"


@dataclass(frozen=True, slots=True)
class WorkaroundParams:
    """The signals' thresholds and the smallest number of agents worth a finding."""

    signals: SignalParams = field(default_factory=lambda: SignalParams(min_events=6))
    min_agents: int = 2
    # Judged over the last days of the analysis (its suggestion events, read for the last
    # SUGGESTION_DAYS, must cover them).
    days: int = SUGGESTION_DAYS
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
    t, w = data.interactions, data.window
    if data.read(FEATURE_DAYS).num_rows == 0:  # no assist event at all
        return []
    # The looks of one read keep each day's suggestion texts where the days judged are those
    # the suggestion events read covers (its last SUGGESTION_DAYS).
    memo = data.memo if params.days <= SUGGESTION_DAYS else None
    s = suggestions(data.read(SUGGESTION_EVENTS), _since(w, params), w.current_end, memo)
    refs = sorted({str(a) for a in s.agent_ref if a is not None})
    position = {r: i for i, r in enumerate(refs)}
    out = []
    sp = params.signals
    # The suggestions with an agent, a text and a next message (each signal keeps its actions).
    judged = np.array(
        [
            a is not None and txt is not None and msg is not None
            for a, txt, msg in zip(s.agent_ref, s.suggestion, s.next_message, strict=True)
        ],
        dtype=bool,
    )
    for signal, actions in (("retyped", ("dismissed",)), ("rewrite", ("accepted", "edited"))):
        keep = judged & np.isin(s.action, np.array(actions, dtype=object))
        idx = np.flatnonzero(keep)
        codes = np.array([position[str(s.agent_ref[i])] for i in idx], dtype=np.int64)
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
    first = first_offer(data.read(FIRST_OFFERS))
    cur = flag_array(pc.greater_equal(t["started_at"], pa.scalar(_since(w, params))))
    cur &= flag_array(pc.less(t["started_at"], pa.scalar(w.current_end)))
    cur &= flag_array(pc.is_valid(t["agent_ref"])) & flag_array(pc.is_valid(t["ai_used"]))
    rows = t.filter(pa.array(cur))
    agents = rows["agent_ref"].to_pylist()
    starts = pc.cast(rows["started_at"], pa.int64()).to_pylist()
    offered = np.asarray(pc.fill_null(rows["n_assist_shown"], 0)) > 0
    journeys = [str(j) for j in rows["journey"].to_pylist()]
    names = sorted(set(journeys))
    jpos = {j: i for i, j in enumerate(names)}
    jcode = np.array([jpos[j] for j in journeys], dtype=np.int64)
    share = np.bincount(jcode, weights=offered, minlength=len(names)) / np.maximum(
        np.bincount(jcode, minlength=len(names)), 1
    )
    live = np.array(
        [a in first and first[a] <= s for a, s in zip(agents, starts, strict=True)], dtype=bool
    ) & (share[jcode] >= params.live_journey_share)
    refs = sorted({str(a) for a in agents})
    rpos = {r: i for i, r in enumerate(refs)}
    codes = np.array([rpos[str(a)] for a in agents], dtype=np.int64)
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

"""Workaround signals: agents who have the AI but work around it. Pure functions.

Four signals, each defined here once (``docs/adoption.md`` explains them in plain words):

1. **Retyped** (``retyped``): a suggested reply the agent dismissed, then sent in substance
   anyway: their next message in the conversation is similar to the suggestion (character
   trigram similarity of the normalised texts at or above ``threshold``, 0.6 by default).
   The agent did the work the tool offered to do.
2. **Legacy path** (``legacy_path``): a conversation in which the AI was not used although it
   was live for that agent (the agent had been offered suggestions before) in a journey that
   is rolled out. Compared like for like: the agent's legacy conversations against what the
   whole floor's legacy rate in the same journeys would give them.
3. **Accept, then rewrite** (``rewrite``): a suggestion accepted or edited whose sent message
   keeps less than ``keep`` of it (similarity below 0.5 by default): used in name only.
4. **Usage down after a change** (``after_change``): usage in the groups a recorded change
   reached fell, after it shipped, by more than in the groups it did not reach (difference in
   differences, :mod:`daytwo.backlog.impact_calc`; measured in :mod:`daytwo.adoption.service`).

Signals 1-3 are counted per agent and an agent is flagged when their share is far above the
floor's: an exact binomial (or Poisson) tail against the floor's pooled rate, Benjamini-
Hochberg over all agents, with a minimum count and share so that a handful of events never
flags anyone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
from scipy.special import bdtrc, pdtrc

from daytwo.detect.stats import benjamini_hochberg

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

SIGNALS = ("retyped", "legacy_path", "rewrite", "after_change")
SIGNAL_NAMES = {
    "retyped": "Dismissed, then retyped",
    "legacy_path": "Legacy path where the AI is live",
    "rewrite": "Accepted, then rewritten",
    "after_change": "Usage down after a change",
}

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str | None) -> str:
    """Lower case, letters and digits only, single spaces: what is compared of a message."""
    if not text:
        return ""
    return _NON_WORD.sub(" ", text.lower()).strip()


@lru_cache(maxsize=65_536)
def trigrams(text: str) -> frozenset[str]:
    """The character trigrams of a normalised text, with its ends marked by spaces."""
    padded = f" {text} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


@lru_cache(maxsize=1 << 16)
def similarity(a: str | None, b: str | None) -> float:
    """Jaccard similarity of the character trigrams of two messages, in [0, 1].

    Robust to case, punctuation, a changed word or two and reordered clauses; 0 when either is
    empty. ``"I have blocked the card."`` against ``"ive blocked the card"`` is about 0.6.
    Remembered: the daily looks of a replay judge the same suggestions and messages again
    (each look's 14 days share 13 with the look before), and each signal judges them twice.
    """
    x, y = normalise(a), normalise(b)
    if not x or not y:
        return 0.0
    if x == y:
        return 1.0
    tx, ty = trigrams(x), trigrams(y)
    return len(tx & ty) / len(tx | ty)


def similarities(a: Sequence[str | None], b: Sequence[str | None]) -> Floats:
    """:func:`similarity` of each pair, computed once per distinct pair."""
    if len(a) != len(b):
        raise ValueError("a and b need the same length")
    seen: dict[tuple[str | None, str | None], float] = {}
    out = np.empty(len(a), dtype=np.float64)
    for i, pair in enumerate(zip(a, b, strict=True)):
        value = seen.get(pair)
        if value is None:
            value = seen[pair] = similarity(*pair)
        out[i] = value
    return out


@dataclass(frozen=True, slots=True)
class SignalParams:
    """When an agent's share of a signal is far enough above the floor's to flag them."""

    threshold: float = 0.6  # retyped: similarity at or above; rewrite: below (1 - keep)
    keep: float = 0.5  # rewrite: the sent message keeps less than this of the suggestion
    min_events: int = 10  # dismissals (retyped), uses (rewrite), live conversations (legacy)
    min_hits: int = 4
    min_share: float = 0.25  # retyped / rewrite: share of their events
    min_ratio: float = 1.5  # legacy path: observed over expected
    fdr: float = 0.05

    def __post_init__(self) -> None:
        if not 0 < self.threshold <= 1 or not 0 < self.keep <= 1:
            raise ValueError("threshold and keep must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class AgentSignal:
    """One value per agent (index = agent code) for one signal."""

    signal: str
    events: Floats  # what could show the signal (dismissals, uses, live conversations)
    hits: Floats  # what showed it
    expected: Floats  # hits the floor's rate would give this agent
    p: Floats
    flagged: Bools

    @property
    def share(self) -> Floats:
        with np.errstate(invalid="ignore", divide="ignore"):
            out: Floats = np.where(self.events > 0, self.hits / self.events, np.nan)
        return out


def _flag(
    signal: str,
    events: Floats,
    hits: Floats,
    expected: Floats,
    p: Floats,
    enough: Bools,
    params: SignalParams,
) -> AgentSignal:
    flagged = np.zeros(len(events), dtype=bool)
    idx = np.flatnonzero(enough)
    if len(idx):
        flagged[idx[benjamini_hochberg(p[idx].tolist(), params.fdr)]] = True
    return AgentSignal(signal, events, hits, expected, p, flagged)


def excess_share(
    signal: str,
    agent: Sequence[int] | Ints,
    hit: Sequence[bool] | Bools,
    n_agents: int,
    params: SignalParams,
) -> AgentSignal:
    """Agents whose share of ``hit`` events is far above the floor's pooled share.

    Each event belongs to one agent; an agent is flagged when they have ``min_events`` events
    and ``min_hits`` hits, a share of at least ``min_share``, and the binomial tail
    P(X >= hits | events, floor share) is a discovery at ``fdr``.
    """
    a = np.asarray(agent, dtype=np.int64)
    h = np.asarray(hit, dtype=bool)
    events = np.bincount(a, minlength=n_agents).astype(np.float64)
    hits = np.bincount(a[h], minlength=n_agents).astype(np.float64)
    floor = float(h.mean()) if len(h) else 0.0
    expected = events * floor
    p = np.ones(n_agents, dtype=np.float64)
    has = events > 0
    if 0 < floor < 1:
        # P(X >= hits): bdtrc(k, n, p) = P(X > k); its counts must be integers.
        p[has] = bdtrc(hits[has].astype(np.int64) - 1, events[has].astype(np.int64), floor)
    elif floor == 0:
        p[has & (hits > 0)] = 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(has, hits / np.maximum(events, 1), 0.0)
    enough = (events >= params.min_events) & (hits >= params.min_hits) & (share >= params.min_share)
    return _flag(signal, events, hits, expected, p, enough, params)


def retyped(
    agent: Sequence[int] | Ints,
    suggestion: Sequence[str | None],
    next_message: Sequence[str | None],
    n_agents: int,
    params: SignalParams,
) -> AgentSignal:
    """Signal 1, over dismissed suggestions that had a text: was the next message the same?"""
    sim = similarities(suggestion, next_message)
    return excess_share("retyped", agent, sim >= params.threshold, n_agents, params)


def rewrite(
    agent: Sequence[int] | Ints,
    suggestion: Sequence[str | None],
    sent: Sequence[str | None],
    n_agents: int,
    params: SignalParams,
) -> AgentSignal:
    """Signal 3, over used suggestions that had a text and a message after them."""
    sim = similarities(suggestion, sent)
    return excess_share("rewrite", agent, sim < params.keep, n_agents, params)


def legacy_path(
    agent: Sequence[int] | Ints,
    journey: Sequence[int] | Ints,
    legacy: Sequence[bool] | Bools,
    n_agents: int,
    params: SignalParams,
) -> AgentSignal:
    """Signal 2, over conversations where the AI was live for the agent and the journey.

    Each agent's expected legacy conversations are the floor's legacy rate of each journey,
    summed over the agent's own conversations (so an agent who takes harder journeys is not
    flagged for their mix); flagged when observed / expected is at least ``min_ratio`` and the
    Poisson tail P(X >= observed | expected) is a discovery.
    """
    a = np.asarray(agent, dtype=np.int64)
    j = np.asarray(journey, dtype=np.int64)
    leg = np.asarray(legacy, dtype=bool)
    n_j = int(j.max()) + 1 if len(j) else 0
    per_journey = np.bincount(j, minlength=n_j).astype(np.float64)
    legacy_journey = np.bincount(j[leg], minlength=n_j).astype(np.float64)
    rate = np.divide(legacy_journey, per_journey, out=np.zeros(n_j), where=per_journey > 0)
    events = np.bincount(a, minlength=n_agents).astype(np.float64)
    hits = np.bincount(a[leg], minlength=n_agents).astype(np.float64)
    expected = np.bincount(a, weights=rate[j], minlength=n_agents).astype(np.float64)
    p = np.ones(n_agents, dtype=np.float64)
    has = expected > 0
    p[has] = pdtrc(hits[has].astype(np.int64) - 1, expected[has])  # P(X >= hits)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(has, hits / np.maximum(expected, 1e-12), 0.0)
    enough = (events >= params.min_events) & (hits >= params.min_hits) & (ratio >= params.min_ratio)
    return _flag("legacy_path", events, hits, expected, p, enough, params)


def precision_recall(flagged: set[str], truth: set[str]) -> tuple[float, float]:
    """Precision and recall of a flagged set against the true set (1.0 where undefined)."""
    hits = len(flagged & truth)
    precision = hits / len(flagged) if flagged else 1.0
    recall = hits / len(truth) if truth else 1.0
    return precision, recall

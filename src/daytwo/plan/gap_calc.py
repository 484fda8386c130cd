"""A knowledge gap as it opens, read from the words of the questions left unanswered (pure).

A gate's metric criteria judge a journey's fallback rate over a window; a gap that opens as
more customers ask about something new (a product launch) moves that window by a fraction of
its latest day, and the analysis clusters the unanswered questions once a week. The questions
themselves say it sooner: a word the journey's unanswered questions hardly used before turns
up in several of them within a day or two.

For every word of the scope's unanswered questions, the conversations that used it in the last
``k`` days (``k`` = 1 … the criterion's window) are compared with those that used it before,
each as a rate per conversation of the scope: the conditional test of two Poisson rates (given
the conversations that used the word in both periods, each lands in the recent one with the
chance of the recent period's share of the scope's conversations). A word *emerges* when that
test is significant once every (word, ``k``) pair that could have been is counted: Tarone's
correction for discrete tests, which leaves out the pairs whose smallest possible p-value
could never reach the threshold (a word seen twice in all cannot be significant among
hundreds), at family-wise level :data:`ALPHA`.

Nothing here reads a store; :mod:`daytwo.plan.gap_check` counts the words and days.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from daytwo.detect.stats import two_poisson_rates_sf, two_poisson_rates_sf_many

# Family-wise error over every (word, days) pair tested: 1%, as the plan's other tests
# (the rising trend) and the gap detector's false-discovery rate.
ALPHA = 0.01
MIN_WORD = 3  # shorter tokens ("i", "my", "to") say nothing about a subject
_TOKEN = re.compile(r"[^\W_]+")
# English function words and the generic words of any request: a surge of them says nothing
# about what is new.
_FUNCTION_WORDS = """
about after again all also and any are because been before being but can cannot could did does
doing don done for from get got had has have having her here him his how into its just know like
more most much need not now off once only other our out over own please same she should some
such tell than that the their them then there these they this those through too under until
very want was way were what when where which while who whom why will with would you your yours
"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())


def words(text: str) -> frozenset[str]:
    """The words of one question that can name a subject: lower case, at least
    :data:`MIN_WORD` characters, with a letter, not a function word."""
    out = set()
    for token in _TOKEN.findall(text.lower()):
        if len(token) >= MIN_WORD and not token.isdigit() and token not in STOPWORDS:
            out.add(token)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Counts:
    """One period of a scope: its conversations, and for each word the conversations whose
    unanswered questions used it."""

    conversations: int
    words: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class EmergingWord:
    word: str
    days: int  # the last ``days`` days, where the word stands out most
    now: int  # conversations that used it in those days
    before: int  # conversations that used it before the window
    expected: float  # conversations expected in those days at the rate before
    p_value: float


@dataclass(frozen=True, slots=True)
class Scan:
    """The words that emerge (most significant first), how many (word, days) pairs were
    counted by Tarone's correction, the threshold each p-value had to reach, and the
    strongest word whether it emerged or not (None when nothing was unanswered)."""

    emerging: tuple[EmergingWord, ...]
    tests: int
    threshold: float
    strongest: EmergingWord | None = None


def p_value(now: int, before: int, share: float) -> float:
    """How likely ``now`` or more of the ``now + before`` conversations fall in the recent
    period by chance when it holds ``share`` of the scope's conversations."""
    return two_poisson_rates_sf(now, before, share)


def tarone_tests(smallest: Sequence[float] | npt.NDArray[np.float64], alpha: float = ALPHA) -> int:
    """Tarone's number of tests: the least ``m`` such that at most ``m`` of the hypotheses
    have a smallest possible p-value at or below ``alpha / m`` (those are the ones counted)."""
    ordered = np.sort(np.asarray(smallest, dtype=float))
    m = 1
    while int(np.searchsorted(ordered, alpha / m, side="right")) > m:
        m += 1
    return m


def emerging_words(days: Sequence[Counts], before: Counts, alpha: float = ALPHA) -> Scan:
    """The words of the unanswered questions that emerge in the last days.

    ``days``: the window's days, newest first (each day's conversations and word counts);
    ``before``: the whole period before the window. A word is tested over the last ``k`` days
    for every ``k`` from 1 to ``len(days)`` (a gap that opened two days ago stands out most
    over those two), so the pairs counted include every ``k``.
    """
    if before.conversations <= 0 or not days:
        return Scan((), 0, alpha)
    # Every (word, k) pair, in order of k and then of the words' first use; the p-values
    # in one call (a large deployment's scope has tens of thousands of pairs).
    names: list[str] = []
    ks: list[int] = []
    nows: list[int] = []
    befores: list[int] = []
    spans: list[int] = []  # the recent period's conversations
    shares: list[float] = []
    recent: dict[str, int] = {}
    conversations = 0
    for k, day in enumerate(days, start=1):
        conversations += day.conversations
        for word, n in day.words.items():
            recent[word] = recent.get(word, 0) + n
        if conversations <= 0:
            continue
        share = conversations / (conversations + before.conversations)
        for word, now in recent.items():
            names.append(word)
            ks.append(k)
            nows.append(now)
            befores.append(before.words.get(word, 0))
            spans.append(conversations)
            shares.append(share)
    if not names:
        return Scan((), 0, alpha)
    now_a = np.asarray(nows, dtype=np.int64)
    before_a = np.asarray(befores, dtype=np.int64)
    share_a = np.asarray(shares, dtype=np.float64)
    p_values = two_poisson_rates_sf_many(now_a, before_a, share_a)
    tests = tarone_tests(share_a ** (now_a + before_a), alpha)
    threshold = alpha / tests

    def candidate(i: int) -> EmergingWord:
        return EmergingWord(
            names[i],
            ks[i],
            nows[i],
            befores[i],
            befores[i] * spans[i] / before.conversations,
            float(p_values[i]),
        )

    best: dict[str, EmergingWord] = {}
    for i in np.flatnonzero(p_values <= threshold).tolist():
        c = candidate(i)
        if c.word not in best or c.p_value < best[c.word].p_value:
            best[c.word] = c
    strongest = candidate(min(range(len(names)), key=lambda i: (p_values[i], -nows[i], names[i])))
    found = tuple(sorted(best.values(), key=lambda c: (c.p_value, -c.now, c.word)))
    return Scan(found, tests, threshold, strongest)

"""The setting every day of the demo is drawn in: what customers say, who answers, how many.

Each day is drawn from its own random streams, keyed by (seed, stream, day, deployment), so one
day can be re-drawn alone: :class:`Plan` re-draws the start times of the days that lose
interactions (the outage, a last day that is today) to count exactly what the batches will
hold, before any batch is made.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa

from daytwo.demo import people
from daytwo.demo.manifest import (
    ASSIST,
    BOT,
    JOURNEY_NAMES,
    JOURNEYS,
    LANGUAGES,
    N_AGENTS,
    SITE_WEIGHTS,
    SITES,
    TEAMS_PER_SITE,
    TENURE_BANDS,
    TENURE_WEIGHTS,
    ProblemSchedule,
)

US = 1_000_000
DAY_US = 86_400 * US
# No conversation lasts longer (longer ones are compressed). On a last day that is today, only
# conversations started this long before now are delivered, so every timestamp is in the past.
MAX_SPAN_S = 7_200
# The customer base, per contact a day, and its skew (> 1: a few customers call often).
CUSTOMERS_PER_DAILY_CONTACT = 150
MAX_CUSTOMERS = 10_000_000  # customer refs have seven digits
CUSTOMER_SKEW = 1.3
CUSTOMER_TENURE_WEIGHTS = (0.15, 0.15, 0.25, 0.45)
# Customers the bot did not help who contact it again the next day.
CALLBACK_SHARE = 0.15

STREAM_PLAN, STREAM_STARTS, STREAM_BODY, STREAM_AGENTS, STREAM_REDELIVERY = range(5)
DEPLOYMENT_CODE = {BOT: 0, ASSIST: 1}

# Phrases of the assistant, the system and the agents (customers speak CLINC150 only).
HELLO = "Hi, I'm the bank's virtual assistant. How can I help you today?"
WELCOME = "You're welcome! Is there anything else I can help with?"
FALLBACK = "Sorry, I did not get that. Could you say it another way?"
ERROR = "Sorry, something went wrong on our side. Please try again in a moment."
HANDOFF = ("Let me pass you to one of our agents.", "Please hold while I transfer your call.")
AGENT_OPENERS = ("Hi, thanks for waiting. I've read the conversation so far.",)
AGENT_GREETINGS = ("Thanks for calling, how can I help today?", "Hi, how can I help you today?")
AGENT_LINES = (
    "Let me check that for you.",
    "Thanks, I can see your account now.",
    "Could you confirm the last four digits of the card?",
    "I've made that change; it should show within the hour.",
    "Is there anything else I can do for you?",
    "Just one moment while I look into it.",
)
AGENT_CLOSINGS = ("Thanks for your patience, have a good day.",)
FEATURES = ("suggested_reply", "knowledge_card", "summary")
COHORTS = ("pilot", "rollout")
TIERS = ("standard", "premier")


@cache
def corpus() -> dict[str, Any]:
    """The shipped CLINC150 subset (see ``demo/data/README.md``)."""
    raw = resources.files("daytwo.demo").joinpath("data/clinc150_subset.json.gz").read_bytes()
    doc: dict[str, Any] = json.loads(gzip.decompress(raw))
    return doc


@dataclass(frozen=True)
class Lexicon:
    """Every string the generator writes, as Arrow vocabularies indexed by integer codes."""

    texts: pa.Array
    pool_start: np.ndarray  # by intent code: first utterance in ``texts``
    pool_size: np.ndarray
    intents: pa.Array  # intent names, then "fallback"
    code: dict[str, int]  # intent name -> code
    journey_intents: np.ndarray  # intent codes, grouped by journey
    journey_start: np.ndarray
    journey_size: np.ndarray
    phrase: dict[str, int]  # fixed phrase -> index in ``texts``
    answer: np.ndarray  # by journey: the phrase index of its answer
    gap_intents: np.ndarray
    agent_lines: np.ndarray
    retyped: np.ndarray  # by journey: the phrase index of its suggested reply, typed anew
    edited: np.ndarray  # by journey: the phrase index of its suggested reply, lightly edited

    def intent_of(self, rng: np.random.Generator, journey: np.ndarray) -> np.ndarray:
        """A customer intent for each journey code."""
        offset = (rng.random(len(journey)) * self.journey_size[journey]).astype(np.int64)
        out: np.ndarray = self.journey_intents[self.journey_start[journey] + offset]
        return out

    def utterance(self, rng: np.random.Generator, intent: np.ndarray) -> np.ndarray:
        """The index in ``texts`` of a random real utterance for each intent code."""
        offset = (rng.random(len(intent)) * self.pool_size[intent]).astype(np.int64)
        out: np.ndarray = self.pool_start[intent] + offset
        return out


@cache
def lexicon() -> Lexicon:
    """The corpus and the set phrases as one Arrow text array, with the code tables into it."""
    doc = corpus()
    names = sorted(doc["utterances"])
    texts: list[str] = []
    starts: list[int] = []
    sizes: list[int] = []
    for items in [*(doc["utterances"][n] for n in names), doc["out_of_scope"]]:
        starts.append(len(texts))
        sizes.append(len(items))
        texts.extend(items)
    intents = [*names, "oos", "fallback"]
    code = {name: i for i, name in enumerate(intents)}
    fixed = [HELLO, WELCOME, FALLBACK, ERROR, *HANDOFF, *AGENT_OPENERS, *AGENT_GREETINGS]
    fixed += [*AGENT_LINES, *AGENT_CLOSINGS, *(j.answer for j in JOURNEYS)]
    fixed += [*(people.retyped(j.answer) for j in JOURNEYS)]
    fixed += [*(people.edited(j.answer) for j in JOURNEYS)]
    phrase = {p: len(texts) + i for i, p in enumerate(fixed)}
    texts.extend(fixed)
    grouped = [[code[i] for i in doc["journeys"][j]] for j in JOURNEY_NAMES]
    return Lexicon(
        texts=pa.array(texts, type=pa.string()),
        pool_start=np.array([*starts, 0], dtype=np.int64),
        pool_size=np.array([*sizes, 1], dtype=np.int64),
        intents=pa.array(intents, type=pa.string()),
        code=code,
        journey_intents=np.array([c for g in grouped for c in g], dtype=np.int64),
        journey_start=np.cumsum([0, *(len(g) for g in grouped[:-1])]).astype(np.int64),
        journey_size=np.array([len(g) for g in grouped], dtype=np.int64),
        phrase=phrase,
        answer=np.array([phrase[j.answer] for j in JOURNEYS], dtype=np.int64),
        gap_intents=np.array([code[i] for i in doc["gap"]], dtype=np.int64),
        agent_lines=np.array([phrase[p] for p in AGENT_LINES], dtype=np.int64),
        retyped=np.array([phrase[people.retyped(j.answer)] for j in JOURNEYS], dtype=np.int64),
        edited=np.array([phrase[people.edited(j.answer)] for j in JOURNEYS], dtype=np.int64),
    )


@dataclass(frozen=True)
class Agents:
    """The human agents: where they sit, how long they have been there, how they use assist."""

    site: np.ndarray
    team: np.ndarray  # code into SEGMENT_VALUES["team"]
    tenure: np.ndarray
    pilot: np.ndarray
    propensity: np.ndarray  # chance they accept or edit a suggestion, once settled
    activity: np.ndarray  # relative number of contacts they take
    retyper: np.ndarray  # types dismissed suggested replies themselves (``people.py``)

    @staticmethod
    def draw(seed: int) -> Agents:
        """The roster for ``seed``: the same agents on every day of the history."""
        rng = np.random.default_rng([seed, STREAM_AGENTS])
        site = rng.choice(len(SITES), N_AGENTS, p=SITE_WEIGHTS)
        tenure = rng.choice(len(TENURE_BANDS), N_AGENTS, p=TENURE_WEIGHTS)
        # Pilot volunteers (mostly experienced agents, whichever site they are on) and each
        # agent's own keenness, from draws made in this order since the first roster, so that
        # teams and activity (which the virtual agent's hand-overs use) stay as they were.
        volunteering = rng.random(N_AGENTS)
        keenness = rng.standard_normal(N_AGENTS)
        team = site * TEAMS_PER_SITE + rng.integers(0, TEAMS_PER_SITE, N_AGENTS)
        activity = rng.gamma(6.0, 1 / 6, N_AGENTS)
        pilot, propensity, retyper = people.roster(
            np.random.default_rng([seed, STREAM_AGENTS, 1]), tenure, volunteering, keenness
        )
        return Agents(site, team, tenure, pilot, propensity, activity, retyper)


SEGMENT_VALUES: dict[str, tuple[str, ...]] = {
    "site": SITES,
    "team": tuple(f"{s}-{t + 1}" for s in SITES for t in range(TEAMS_PER_SITE)),
    "tenure": TENURE_BANDS,
    "cohort": COHORTS,
    "language": LANGUAGES,
    "tier": TIERS,
}


@dataclass(frozen=True)
class Plan:
    """How many interactions each day has and which of them are delivered, known up front."""

    seed: int
    start: date
    days: int
    n_bot: np.ndarray  # per day, before the outage and the cut at ``through``
    n_assist: np.ndarray
    through_us: int  # nothing started at or after ``through_us - MAX_SPAN_S`` is delivered
    schedule: ProblemSchedule | None
    duplicates: dict[int, int]  # day -> copies of its conversations re-delivered next day
    customers: int  # size of the customer base

    def day_us(self, day: int) -> int:
        midnight = datetime.combine(self.start, datetime.min.time(), tzinfo=UTC)
        return int(midnight.timestamp()) * US + day * DAY_US

    def starts(self, day: int, deployment: str) -> np.ndarray:
        """Start times (µs, sorted) of a day's interactions: two daytime peaks, a quiet night."""
        n = int((self.n_bot if deployment == BOT else self.n_assist)[day])
        rng = np.random.default_rng([self.seed, STREAM_STARTS, day, DEPLOYMENT_CODE[deployment]])
        hours = np.where(rng.random(n) < 0.55, rng.normal(11, 2.2, n), rng.normal(16, 2.6, n))
        return self.day_us(day) + np.sort((np.mod(hours, 24) * 3600 * US).astype(np.int64))

    def delivered(self, day: int, starts: np.ndarray) -> np.ndarray:
        """Which of a day's interactions arrive: not in the outage, not too close to now."""
        keep = starts < self.through_us - MAX_SPAN_S * US
        s = self.schedule
        if s is not None and day == s.outage_day:
            lo, hi = (self.day_us(day) + h * 3600 * US for h in s.outage_hours)
            keep &= (starts < lo) | (starts >= hi)
        return keep

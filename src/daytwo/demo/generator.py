"""A seeded, living 90-day contact-center deployment with dated, known problems.

Two deployments share one bank's customers: ``care-bot``, a virtual agent on chat and voice,
and ``care-assist``, the agent-assist tool of about 400 human agents on three sites, piloted
by volunteers for two weeks and then rolled out. Customer messages are real CLINC150
utterances. The problems injected on known days (and written to the manifest, the ground truth
the detectors and the impact estimator are checked against) are those teams meet after
go-live: a knowledge gap, a model regression, a flow change that raises escalations, adoption
decay at one site, a feed outage, duplicate deliveries, and a fix that raises containment.

Everything is vectorised with numpy: a day of data is a handful of array operations, so the
default size generates in seconds and the benchmark size (tens of millions of turns) in
minutes.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pyarrow as pa

from daytwo.interactions.columns import (
    ASSIST_EVENTS,
    INTERACTIONS,
    SEGMENTS,
    TURNS,
    Batch,
    with_locators,
)

US_PER_S = 1_000_000
DAY_US = 86_400 * US_PER_S
SITES = ("leeds", "cork", "porto")
TENURE_BANDS = ("0-6m", "6-12m", "1-2y", "2y+")
LANGUAGES = ("en", "es", "fr")
N_AGENTS = 400
PILOT_AGENTS = 40
PILOT_DAYS = 14
BOT_SHARE = 0.72  # of all interactions; the rest are agent-handled with the assist tool

# Per journey: share of bot traffic, containment, escalation, abandonment, fallback per answer.
JOURNEY_PROFILE: dict[str, tuple[float, float, float, float, float]] = {
    "balance_and_transactions": (0.22, 0.78, 0.10, 0.07, 0.05),
    "payments": (0.17, 0.66, 0.18, 0.09, 0.08),
    "card_lost_or_damaged": (0.12, 0.50, 0.34, 0.10, 0.10),
    "card_declined": (0.11, 0.55, 0.24, 0.12, 0.10),
    "fraud": (0.07, 0.25, 0.65, 0.06, 0.07),
    "credit_limit": (0.10, 0.60, 0.24, 0.10, 0.12),
    "rewards": (0.08, 0.74, 0.12, 0.09, 0.07),
    "applications": (0.07, 0.62, 0.22, 0.10, 0.11),
    "travel_and_fees": (0.06, 0.64, 0.20, 0.11, 0.13),
}

ANSWERS = {
    "balance_and_transactions": "Your available balance and the latest transactions are shown "
    "below.",
    "payments": "I can set that payment up for you. Which account should it come from?",
    "card_lost_or_damaged": "I have blocked the card and ordered a replacement; it arrives in "
    "5 working days.",
    "card_declined": "Your card was declined because of a security check. I can unblock it now.",
    "fraud": "I have frozen the card and opened a fraud case. A specialist will call you.",
    "credit_limit": "Your current limit and rate are shown below; you can request a change here.",
    "rewards": "You have points to redeem; here are the options.",
    "applications": "Your application is being processed; I will send an update by e-mail.",
    "travel_and_fees": "Fees abroad and the travel notice settings are shown below.",
}
FALLBACK_TEXT = "Sorry, I did not get that. Could you say it another way?"


@dataclass(frozen=True)
class DemoConfig:
    seed: int = 7
    days: int = 90
    interactions_per_day: int = 2000
    end: date | None = None
    problems: bool = True


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    kind: str
    go_live: date
    journeys: list[str]
    targets: dict[str, float]
    cost_model: dict[str, float]
    description: str


@dataclass(frozen=True)
class _Problems:
    """Days (from the first day) of each injected problem."""

    gap_onset: int
    model_change: int
    flow_change: int
    fix: int
    decay_onset: int
    outage_day: int
    outage_hours: tuple[int, int]
    duplicate_days: tuple[int, ...]
    decay_site: str = "porto"
    flow_journey: str = "card_declined"
    fix_journey: str = "card_lost_or_damaged"
    fix_effect: float = 0.10  # containment, absolute
    flow_effect: float = 0.22  # escalation, absolute
    model_scope_channel: str = "chat"
    duplicate_share: float = 0.03


@cache
def corpus() -> dict[str, Any]:
    """The shipped CLINC150 subset (see demo/data/README.md)."""
    raw = resources.files("daytwo.demo").joinpath("data/clinc150_subset.json.gz").read_bytes()
    doc: dict[str, Any] = json.loads(gzip.decompress(raw))
    return doc


@dataclass
class _Pools:
    """Utterances as one array, with per-intent offsets and sizes for vectorised sampling."""

    texts: np.ndarray
    offset: dict[str, int]
    size: dict[str, int]

    @classmethod
    def build(cls) -> _Pools:
        doc = corpus()
        texts: list[str] = []
        offset: dict[str, int] = {}
        size: dict[str, int] = {}
        for intent, items in sorted(doc["utterances"].items()):
            offset[intent] = len(texts)
            size[intent] = len(items)
            texts.extend(items)
        offset["oos"] = len(texts)
        size["oos"] = len(doc["out_of_scope"])
        texts.extend(doc["out_of_scope"])
        return cls(np.array(texts, dtype=object), offset, size)

    def sample(self, rng: np.random.Generator, intents: np.ndarray) -> np.ndarray:
        names, inverse = np.unique(intents, return_inverse=True)
        offs = np.array([self.offset[n] for n in names])[inverse]
        sizes = np.array([self.size[n] for n in names])[inverse]
        picks = offs + (rng.random(len(intents)) * sizes).astype(np.int64)
        out: np.ndarray = self.texts[picks]
        return out


@dataclass
class DemoDataset:
    config: DemoConfig
    deployments: list[DeploymentSpec]
    manifest: dict[str, Any]
    start: date = field(default_factory=lambda: datetime.now(UTC).date())
    _problems: _Problems | None = None

    @property
    def n_batches(self) -> int:
        # One per day, plus the last day's re-deliveries if any fall on it.
        return self.config.days + 1

    def batches(self) -> Iterator[Batch]:
        """One batch per day in delivery order; re-deliveries ride in the next day's batch."""
        rng = np.random.default_rng(self.config.seed)
        pools = _Pools.build()
        agents = _agents(np.random.default_rng(self.config.seed + 1))
        carry: Batch | None = None
        for day in range(self.config.days):
            batch, dupes = _day(rng, pools, agents, self, day)
            if carry is not None:
                batch = _concat(batch, carry)
            carry = dupes
            yield batch
        if carry is not None and carry.n_records:
            yield carry


def _agents(rng: np.random.Generator) -> dict[str, np.ndarray]:
    site = rng.choice(len(SITES), N_AGENTS, p=[0.4, 0.35, 0.25])
    tenure = rng.choice(len(TENURE_BANDS), N_AGENTS, p=[0.25, 0.2, 0.25, 0.3])
    # Pilot volunteers: the most experienced agents, spread over the sites.
    seniority = tenure + rng.random(N_AGENTS)
    pilot = np.zeros(N_AGENTS, dtype=bool)
    pilot[np.argsort(-seniority)[:PILOT_AGENTS]] = True
    propensity = np.clip(
        rng.normal(0.42, 0.08, N_AGENTS) + 0.03 * tenure + 0.12 * pilot, 0.05, 0.95
    )
    return {
        "id": np.array([f"a-{i:04d}" for i in range(N_AGENTS)], dtype=object),
        "site": np.array(SITES, dtype=object)[site],
        "team": np.array(
            [f"{SITES[s]}-{t}" for s, t in zip(site, rng.integers(1, 6, N_AGENTS), strict=True)],
            dtype=object,
        ),
        "tenure": np.array(TENURE_BANDS, dtype=object)[tenure],
        "pilot": pilot,
        "propensity": propensity,
    }


def generate(config: DemoConfig | None = None) -> DemoDataset:
    """The demo deployment for ``config``: specs, manifest, and its batches (lazily)."""
    config = config or DemoConfig()
    # The last full day: a living deployment whose newest data is from yesterday.
    end = config.end or datetime.now(UTC).date() - timedelta(days=1)
    start = end - timedelta(days=config.days - 1)
    d = config.days
    problems = (
        _Problems(
            gap_onset=round(d * 0.5),
            model_change=round(d * 0.67),
            flow_change=round(d * 0.58),
            fix=round(d * 0.42),
            decay_onset=round(d * 0.55),
            outage_day=round(d * 0.78),
            outage_hours=(9, 14),
            duplicate_days=tuple(range(round(d * 0.33), round(d * 0.33) + 4)),
        )
        if config.problems
        else None
    )
    journeys = list(JOURNEY_PROFILE)
    deployments = [
        DeploymentSpec(
            name="care-bot",
            kind="virtual_agent",
            go_live=start,
            journeys=journeys,
            targets={
                "containment_rate": 0.62,
                "escalation_rate": 0.25,
                "fallback_rate_conversation": 0.2,
                "latency_p95": 2500.0,
                "csat": 3.8,
                "abandonment_rate": 0.1,
                "error_rate": 0.01,
            },
            cost_model={"escalation": 6.5, "agent_minute": 0.9, "ai_per_interaction": 0.04},
            description="Virtual agent on web chat and the phone line (voice) for retail "
            "banking customers.",
        ),
        DeploymentSpec(
            name="care-assist",
            kind="agent_assist",
            go_live=start,
            journeys=journeys,
            targets={
                "suggestion_acceptance_rate": 0.45,
                "feature_utilisation": 0.8,
                "average_handle_time": 420.0,
                "csat": 4.0,
            },
            cost_model={"agent_minute": 0.9, "ai_per_interaction": 0.02},
            description="Agent-assist (suggested replies, knowledge cards, summaries) for "
            "about 400 agents on three sites; piloted by volunteers for two weeks.",
        ),
    ]
    dataset = DemoDataset(config, deployments, {}, start=start, _problems=problems)
    dataset.manifest = _manifest(dataset)
    return dataset


def _iso(start: date, day: int, hour: int = 0) -> str:
    return (
        (datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(days=day, hours=hour))
        .isoformat()
        .replace("+00:00", "Z")
    )


def _manifest(ds: DemoDataset) -> dict[str, Any]:
    p = ds._problems
    out: dict[str, Any] = {
        "seed": ds.config.seed,
        "start": ds.start.isoformat(),
        "end": (ds.start + timedelta(days=ds.config.days - 1)).isoformat(),
        "interactions_per_day": ds.config.interactions_per_day,
        "problems": [],
    }
    if p is None:
        return out
    s = ds.start
    out["problems"] = [
        {
            "id": "knowledge-gap-payroll",
            "kind": "knowledge_gap",
            "deployment": "care-bot",
            "scope": {
                "intents": corpus()["gap"],
                "journeys": ["payments", "balance_and_transactions"],
            },
            "onset": _iso(s, p.gap_onset),
            "end": None,
            "description": "Customers start asking about direct deposit, payday, W-2s and taxes "
            "after a payroll product launch; the bot was never built for it and "
            "misroutes them to payments and balance.",
            "expected": {"fallback_rate_of_topic": 0.8, "share_of_bot_traffic_at_end": 0.05},
        },
        {
            "id": "model-regression",
            "kind": "latency_error_regression",
            "deployment": "care-bot",
            "scope": {"channel": p.model_scope_channel, "model": "gpt-4.1-mini"},
            "onset": _iso(s, p.model_change),
            "end": None,
            "description": "The chat assistant moves to a new model: answers are slower and "
            "more of them fail.",
            "expected": {
                "latency_factor": 1.7,
                "error_rate_before": 0.004,
                "error_rate_after": 0.05,
            },
        },
        {
            "id": "flow-change-escalations",
            "kind": "escalation_rise",
            "deployment": "care-bot",
            "scope": {"journey": p.flow_journey},
            "onset": _iso(s, p.flow_change),
            "end": None,
            "description": "A new identity check in the card-declined flow sends many more "
            "customers to an agent.",
            "expected": {"escalation_rate_delta": p.flow_effect},
        },
        {
            "id": "adoption-decay-porto",
            "kind": "adoption_decay",
            "deployment": "care-assist",
            "scope": {"site": p.decay_site},
            "onset": _iso(s, p.decay_onset),
            "end": None,
            "description": "Agents in Porto stop accepting suggestions after a workaround spreads "
            "(acceptance falls to a quarter of its level over three weeks).",
            "expected": {"acceptance_factor_at_end": 0.25},
        },
        {
            "id": "feed-outage",
            "kind": "feed_outage",
            "deployment": "*",
            "scope": {},
            "onset": _iso(s, p.outage_day, p.outage_hours[0]),
            "end": _iso(s, p.outage_day, p.outage_hours[1]),
            "description": "The export job fails for five hours: no interactions arrive.",
            "expected": {"interactions_in_window": 0},
        },
        {
            "id": "duplicate-deliveries",
            "kind": "duplicate_deliveries",
            "deployment": "care-bot",
            "scope": {},
            "onset": _iso(s, p.duplicate_days[0]),
            "end": _iso(s, p.duplicate_days[-1] + 1),
            "description": "A retrying exporter re-sends about 3% of a few days' conversations "
            "in the next day's batch.",
            "expected": {"share": p.duplicate_share},
        },
        {
            "id": "containment-fix",
            "kind": "improvement",
            "deployment": "care-bot",
            "scope": {"journey": p.fix_journey},
            "onset": _iso(s, p.fix),
            "end": None,
            "description": "A new knowledge article for lost and damaged cards lets the bot "
            "finish more of them.",
            "expected": {"containment_delta": p.fix_effect},
        },
    ]
    return out


def _ramp(day: int, onset: int, length: int) -> float:
    """0 before onset, rising linearly to 1 over ``length`` days."""
    if day < onset:
        return 0.0
    return min(1.0, (day - onset + 1) / length)


def _start_times(rng: np.random.Generator, day_us: int, n: int) -> np.ndarray:
    # Two daytime peaks and a quiet night: a contact center's day.
    hour = np.where(rng.random(n) < 0.55, rng.normal(11, 2.2, n), rng.normal(16, 2.5, n))
    hour = np.mod(hour, 24)
    return (day_us + hour * 3600 * US_PER_S).astype(np.int64)


def _day(
    rng: np.random.Generator,
    pools: _Pools,
    agents: dict[str, np.ndarray],
    ds: DemoDataset,
    day: int,
) -> tuple[Batch, Batch]:
    cfg, p = ds.config, ds._problems
    day_date = ds.start + timedelta(days=day)
    day_us = int(datetime.combine(day_date, datetime.min.time(), tzinfo=UTC).timestamp() * US_PER_S)
    weekend = day_date.weekday() >= 5
    volume = (
        cfg.interactions_per_day * (0.7 if weekend else 1.08) * (0.85 + 0.15 * min(1, day / 30))
    )
    n_bot = int(rng.poisson(volume * BOT_SHARE))
    n_assist = int(rng.poisson(volume * (1 - BOT_SHARE)))
    bot = _bot(rng, pools, agents, ds, day, day_us, n_bot)
    assist = _assist(rng, pools, agents, ds, day, day_us, n_assist)
    batch = _concat(bot, assist)
    if p is not None and day == p.outage_day:
        batch = _drop_window(
            batch,
            day_us + p.outage_hours[0] * 3600 * US_PER_S,
            day_us + p.outage_hours[1] * 3600 * US_PER_S,
        )
    dupes = Batch.empty()
    if p is not None and day in p.duplicate_days:
        bot_rows = np.flatnonzero(
            np.asarray(
                batch.interactions["deployment"].to_numpy(zero_copy_only=False) == "care-bot"
            )
        )
        chosen = rng.choice(bot_rows, int(len(bot_rows) * p.duplicate_share), replace=False)
        dupes = _take_records(batch, batch.interactions["_record"].to_numpy()[chosen])
    return batch, dupes


def _drop_window(batch: Batch, lo: int, hi: int) -> Batch:
    started = batch.interactions["started_at"].cast(pa.int64()).to_numpy()
    keep = batch.interactions["_record"].to_numpy()[(started < lo) | (started >= hi)]
    return _take_records(batch, keep)


def _take_records(batch: Batch, records: np.ndarray) -> Batch:
    wanted = pa.array(records, type=pa.int64())
    import pyarrow.compute as pc

    def keep(t: pa.Table) -> pa.Table:
        return t.filter(pc.is_in(t["_record"], value_set=wanted))

    return Batch(keep(batch.interactions), keep(batch.turns), keep(batch.assist_events))


def _concat(a: Batch, b: Batch) -> Batch:
    """Two batches as one, with ``_record`` values kept unique."""
    if not b.n_records:
        return a
    if not a.n_records:
        return b
    shift = int(a.interactions["_record"].to_numpy().max()) + 1

    def moved(t: pa.Table) -> pa.Table:
        i = t.schema.get_field_index("_record")
        return t.set_column(
            i, t.schema.field(i), pa.array(t["_record"].to_numpy() + shift, type=pa.int64())
        )

    return Batch(
        pa.concat_tables([a.interactions, moved(b.interactions)]),
        pa.concat_tables([a.turns, moved(b.turns)]),
        pa.concat_tables([a.assist_events, moved(b.assist_events)]),
    )


def _segments(columns: dict[str, np.ndarray]) -> pa.Array:
    keys = list(columns)
    n = len(next(iter(columns.values())))
    k = len(keys)
    offsets = pa.array(np.arange(0, (n + 1) * k, k, dtype=np.int32)[: n + 1])
    flat_keys = pa.array(np.tile(np.array(keys, dtype=object), n), type=pa.string())
    flat_vals = pa.array(np.stack([columns[c] for c in keys], axis=1).ravel(), type=pa.string())
    return pa.MapArray.from_arrays(offsets, flat_keys, flat_vals).cast(SEGMENTS)


def _ts(values: np.ndarray) -> pa.Array:
    return pa.array(values.astype(np.int64), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _bot(
    rng: np.random.Generator,
    pools: _Pools,
    agents: dict[str, np.ndarray],
    ds: DemoDataset,
    day: int,
    day_us: int,
    n: int,
) -> Batch:
    p = ds._problems
    names = np.array(list(JOURNEY_PROFILE), dtype=object)
    prof = np.array(list(JOURNEY_PROFILE.values()))
    journey_idx = rng.choice(len(names), n, p=prof[:, 0] / prof[:, 0].sum())
    journey = names[journey_idx]
    doc = corpus()
    intents = np.empty(n, dtype=object)
    for j, name in enumerate(names):
        rows = np.flatnonzero(journey_idx == j)
        intents[rows] = rng.choice(np.array(doc["journeys"][name], dtype=object), len(rows))
    in_gap = np.zeros(n, dtype=bool)
    if p is not None:
        share = 0.05 * _ramp(day, p.gap_onset, 21)
        in_gap = rng.random(n) < share
        intents[in_gap] = rng.choice(np.array(doc["gap"], dtype=object), int(in_gap.sum()))
        # The bot misroutes them to the closest journeys it has.
        journey[in_gap] = np.where(
            rng.random(int(in_gap.sum())) < 0.6, "payments", "balance_and_transactions"
        )
    oos = rng.random(n) < 0.03
    intents[oos & ~in_gap] = "oos"
    channel = np.where(rng.random(n) < 0.65, "chat", "voice").astype(object)
    start = _start_times(rng, day_us, n)

    contain, escal, aband, fb = (
        prof[journey_idx, 1].copy(),
        prof[journey_idx, 2].copy(),
        prof[journey_idx, 3].copy(),
        prof[journey_idx, 4].copy(),
    )
    if p is not None:
        if day >= p.fix:
            fix = journey == p.fix_journey
            contain[fix] += p.fix_effect
            escal[fix] -= p.fix_effect
        if day >= p.flow_change:
            flow = journey == p.flow_journey
            escal[flow] += p.flow_effect
            contain[flow] -= p.flow_effect
    fb[oos] = 0.85
    contain[oos], escal[oos], aband[oos] = 0.1, 0.55, 0.3
    fb[in_gap] = 0.82
    contain[in_gap], escal[in_gap], aband[in_gap] = 0.08, 0.6, 0.27
    u = rng.random(n)
    outcome = np.where(
        u < contain,
        "contained",
        np.where(
            u < contain + escal,
            np.where(rng.random(n) < 0.85, "escalated", "transferred"),
            np.where(u < contain + escal + aband, "abandoned", "resolved_by_agent"),
        ),
    ).astype(object)
    handed = (outcome == "escalated") | (outcome == "transferred")

    # Turn pairs: customer message + assistant answer; an agent joins if handed over.
    pairs = 1 + np.minimum(rng.poisson(np.where(handed | (outcome == "abandoned"), 1.8, 0.9)), 5)
    n_turns = 2 * pairs + handed.astype(np.int64)
    rows = np.repeat(np.arange(n), n_turns)
    first = np.repeat(np.cumsum(n_turns) - n_turns, n_turns)
    pos = np.arange(len(rows)) - first
    is_agent = handed[rows] & (pos == n_turns[rows] - 1)
    role = np.where(is_agent, "agent", np.where(pos % 2 == 0, "user", "assistant")).astype(object)
    is_user = role == "user"
    is_bot = role == "assistant"

    # Fallbacks: more likely in conversations that end badly.
    bad_end = ~(outcome == "contained")
    p_fb = fb[rows] * np.where(bad_end[rows], 1.9, 0.6)
    fallback = is_bot & (rng.random(len(rows)) < p_fb)
    confidence = np.where(fallback, rng.beta(2, 7, len(rows)), rng.beta(9, 1.6, len(rows)))

    model_new = np.zeros(len(rows), dtype=bool)
    if p is not None and day >= p.model_change:
        model_new = channel[rows] == p.model_scope_channel
    latency = np.exp(
        rng.normal(np.where(channel[rows] == "voice", np.log(1100), np.log(700)), 0.45)
    )
    latency = np.where(model_new, latency * 1.7, latency)
    error_p = np.where(model_new, 0.05, 0.004)
    error = is_bot & (rng.random(len(rows)) < error_p)
    tokens_in = rng.integers(250, 900, len(rows))
    tokens_out = rng.integers(15, 140, len(rows))
    model = np.where(model_new, "gpt-4.1-mini", "gpt-4o-mini").astype(object)
    price_in = np.where(model_new, 0.4e-6, 0.15e-6)
    price_out = np.where(model_new, 1.6e-6, 0.6e-6)

    user_text = pools.sample(rng, intents[rows])
    answer = np.array([ANSWERS[j] for j in names], dtype=object)[journey_idx][rows]
    prev_fb = np.zeros(len(rows), dtype=bool)
    prev_fb[1:] = fallback[:-1] & (rows[1:] == rows[:-1])
    text = np.where(
        is_user,
        user_text,
        np.where(
            fallback,
            FALLBACK_TEXT,
            np.where(
                is_agent,
                "Hi, I'm taking over from the assistant. Let me look at this for you.",
                answer,
            ),
        ),
    )
    gaps_s = np.where(is_user, rng.gamma(2, 6, len(rows)), latency / 1000)
    # Seconds since the start of each conversation, cumulative within it.
    csum = np.cumsum(gaps_s)
    ts = start[rows] + ((csum - csum[first]) * US_PER_S).astype(np.int64)

    agent_pick = rng.integers(0, N_AGENTS, n)
    agent_ref = _or_none(handed, agents["id"][agent_pick])
    bot_time = np.bincount(rows, weights=gaps_s, minlength=n)
    agent_time = np.where(handed, np.exp(rng.normal(np.log(360), 0.5, n)), 0)
    handle = bot_time + agent_time
    ended = start + (handle * US_PER_S).astype(np.int64)
    csat_mean = np.select(
        [outcome == "contained", handed, outcome == "abandoned"], [4.3, 3.2, 2.0], 3.6
    )
    responded = rng.random(n) < 0.22
    csat = np.where(responded, np.clip(np.round(rng.normal(csat_mean, 0.9)), 1, 5), np.nan)
    language = np.array(LANGUAGES, dtype=object)[rng.choice(3, n, p=[0.86, 0.1, 0.04])]
    tier = np.where(rng.random(n) < 0.15, "premier", "standard").astype(object)
    region = np.array(["north", "south", "east", "west"], dtype=object)[rng.integers(0, 4, n)]
    turn_cost = np.where(is_bot, tokens_in * price_in + tokens_out * price_out, np.nan)
    cost = 0.04 + agent_time / 60 * 0.9
    customers = _customers(rng, n)
    return _batch(
        ds,
        "care-bot",
        day,
        n,
        interactions={
            "started_at": start,
            "ended_at": ended,
            "channel": channel,
            "journey": journey,
            "customer_ref": customers,
            "agent_ref": agent_ref,
            "segments": _segments({"language": language, "region": region, "tier": tier}),
            "outcome": outcome,
            "csat": csat,
            "handle_time_s": np.round(handle, 1),
            "cost": np.round(cost, 4),
            "ai_used": np.ones(n, dtype=bool),
            "n_turns": n_turns,
        },
        turns={
            "rows": rows,
            "seq": pos,
            "ts": ts,
            "role": role,
            "text": text,
            "intent": _or_none(is_bot, np.where(fallback, "fallback", intents[rows])),
            "confidence": np.where(is_bot, np.round(confidence, 3), np.nan),
            "fallback": _or_none(is_bot, fallback),
            "latency_ms": np.where(is_bot, np.round(latency), np.nan),
            "error": _or_none(error, np.where(model_new, "model_timeout", "tool_error")),
            "model": _or_none(is_bot, model),
            "tokens_in": np.where(is_bot, tokens_in, -1),
            "tokens_out": np.where(is_bot, tokens_out, -1),
            "cost": turn_cost,
        },
    )


def _customers(rng: np.random.Generator, n: int) -> np.ndarray:
    # A long tail of customers: some come back within days, most once a quarter at most.
    ids = np.minimum(rng.zipf(1.3, n), 80_000) + rng.integers(0, 40_000, n) * (rng.random(n) < 0.7)
    return np.char.add("u-", ids.astype(str)).astype(object)


def _assist(
    rng: np.random.Generator,
    pools: _Pools,
    agents: dict[str, np.ndarray],
    ds: DemoDataset,
    day: int,
    day_us: int,
    n: int,
) -> Batch:
    p = ds._problems
    names = np.array(list(JOURNEY_PROFILE), dtype=object)
    prof = np.array(list(JOURNEY_PROFILE.values()))
    journey_idx = rng.choice(len(names), n, p=prof[:, 0] / prof[:, 0].sum())
    journey = names[journey_idx]
    doc = corpus()
    intents = np.empty(n, dtype=object)
    for j, name in enumerate(names):
        rows_j = np.flatnonzero(journey_idx == j)
        intents[rows_j] = rng.choice(np.array(doc["journeys"][name], dtype=object), len(rows_j))
    eligible = np.flatnonzero(agents["pilot"]) if day < PILOT_DAYS else np.arange(N_AGENTS)
    agent = rng.choice(eligible, n)
    site = agents["site"][agent]
    accept_p = agents["propensity"][agent].copy()
    if p is not None:
        decay = 1 - 0.75 * _ramp(day, p.decay_onset, 21)
        accept_p = np.where(site == p.decay_site, accept_p * decay, accept_p)
    channel = np.where(rng.random(n) < 0.7, "voice", "chat").astype(object)
    start = _start_times(rng, day_us, n)

    shown = rng.poisson(2.6, n)
    ev_rows = np.repeat(np.arange(n), shown)
    ev_first = np.repeat(np.cumsum(shown) - shown, shown)
    ev_pos = np.arange(len(ev_rows)) - ev_first
    # Each suggestion is shown, then accepted / edited / dismissed.
    u = rng.random(len(ev_rows))
    acc = accept_p[ev_rows]
    action = np.where(u < acc * 0.8, "accepted", np.where(u < acc, "edited", "dismissed")).astype(
        object
    )
    feature = np.array(["suggested_reply", "knowledge_card", "summary"], dtype=object)[
        rng.choice(3, len(ev_rows), p=[0.6, 0.3, 0.1])
    ]
    used = np.bincount(ev_rows, weights=(action != "dismissed").astype(float), minlength=n) > 0
    ev_ts = start[ev_rows] + ((ev_pos + 1) * 25 * US_PER_S).astype(np.int64)
    # Events: a "shown" then the agent's action, for each suggestion.
    a_rows = np.repeat(ev_rows, 2)
    a_action = np.empty(2 * len(ev_rows), dtype=object)
    a_action[0::2] = "shown"
    a_action[1::2] = action
    a_ts = np.repeat(ev_ts, 2) + np.tile(np.array([0, 4 * US_PER_S]), len(ev_rows))
    a_feature = np.repeat(feature, 2)

    pairs = 2 + np.minimum(rng.poisson(1.5, n), 5)
    n_turns = 2 * pairs
    rows = np.repeat(np.arange(n), n_turns)
    first = np.repeat(np.cumsum(n_turns) - n_turns, n_turns)
    pos = np.arange(len(rows)) - first
    role = np.where(pos % 2 == 0, "user", "agent").astype(object)
    text = np.where(
        role == "user",
        pools.sample(rng, intents[rows]),
        "Thanks for waiting, I can help with that.",
    )
    gaps_s = rng.gamma(2, 15, len(rows))
    csum = np.cumsum(gaps_s)
    ts = start[rows] + ((csum - csum[first]) * US_PER_S).astype(np.int64)
    handle = np.exp(rng.normal(np.log(430), 0.45, n)) * np.where(used, 0.92, 1.0)
    outcome = np.where(rng.random(n) < 0.9, "resolved_by_agent", "transferred").astype(object)
    responded = rng.random(n) < 0.2
    csat = np.where(responded, np.clip(np.round(rng.normal(4.0 + 0.2 * used, 0.9)), 1, 5), np.nan)
    cohort = np.where(agents["pilot"][agent], "pilot", "rollout").astype(object)
    language = np.array(LANGUAGES, dtype=object)[rng.choice(3, n, p=[0.86, 0.1, 0.04])]
    return _batch(
        ds,
        "care-assist",
        day,
        n,
        interactions={
            "started_at": start,
            "ended_at": start + (handle * US_PER_S).astype(np.int64),
            "channel": channel,
            "journey": journey,
            "customer_ref": _customers(rng, n),
            "agent_ref": agents["id"][agent],
            "segments": _segments(
                {
                    "site": site,
                    "team": agents["team"][agent],
                    "tenure": agents["tenure"][agent],
                    "cohort": cohort,
                    "language": language,
                }
            ),
            "outcome": outcome,
            "csat": csat,
            "handle_time_s": np.round(handle, 1),
            "cost": np.round(handle / 60 * 0.9 + 0.02, 4),
            "ai_used": used,
            "n_turns": n_turns,
        },
        turns={
            "rows": rows,
            "seq": pos,
            "ts": ts,
            "role": role,
            "text": text,
            "intent": np.full(len(rows), None, dtype=object),
            "confidence": np.full(len(rows), np.nan),
            "fallback": np.full(len(rows), None, dtype=object),
            "latency_ms": np.full(len(rows), np.nan),
            "error": np.full(len(rows), None, dtype=object),
            "model": np.full(len(rows), None, dtype=object),
            "tokens_in": np.full(len(rows), -1),
            "tokens_out": np.full(len(rows), -1),
            "cost": np.full(len(rows), np.nan),
        },
        assist={
            "rows": a_rows,
            "ts": a_ts,
            "agent_ref": agents["id"][agent][a_rows],
            "feature": a_feature,
            "action": a_action,
        },
    )


def _or_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` holds, None elsewhere (an object array for Arrow)."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = np.asarray(values, dtype=object)[mask]
    return out


def _nullable(values: np.ndarray, dtype: pa.DataType) -> pa.Array:
    if pa.types.is_floating(dtype):
        return pa.array(
            values.astype(np.float64), mask=np.isnan(values.astype(np.float64)), type=dtype
        )
    if pa.types.is_integer(dtype):
        return pa.array(values.astype(np.int64), mask=values.astype(np.int64) < 0, type=dtype)
    return pa.array(values, type=dtype, from_pandas=True)


def _batch(
    ds: DemoDataset,
    deployment: str,
    day: int,
    n: int,
    *,
    interactions: dict[str, Any],
    turns: dict[str, Any],
    assist: dict[str, Any] | None = None,
) -> Batch:
    prefix = "cb" if deployment == "care-bot" else "ca"
    ids = np.char.add(f"{prefix}-{ds.config.seed}-{day:03d}-", np.arange(n).astype(str))
    ids = ids.astype(object)
    records = np.arange(n, dtype=np.int64)
    icols: dict[str, Any] = {
        "interaction_id": pa.array(ids, type=pa.string()),
        "deployment": pa.array(np.full(n, deployment, dtype=object), type=pa.string()),
        "started_at": _ts(interactions["started_at"]),
        "ended_at": _ts(interactions["ended_at"]),
        "segments": interactions["segments"],
        "ai_used": pa.array(interactions["ai_used"], type=pa.bool_()),
        "attributes": pa.nulls(n, type=pa.string()),
        "n_turns": pa.array(interactions["n_turns"].astype(np.int32)),
        "_record": pa.array(records),
    }
    for name in ("channel", "journey", "customer_ref", "agent_ref", "outcome"):
        icols[name] = pa.array(interactions[name], type=pa.string(), from_pandas=True)
    for name in ("csat", "handle_time_s", "cost"):
        icols[name] = _nullable(np.asarray(interactions[name], dtype=np.float64), pa.float64())
    i_schema = with_locators(INTERACTIONS, pos=False)
    inter = pa.Table.from_pydict({f.name: icols[f.name] for f in i_schema}, schema=i_schema)

    rows = turns["rows"]
    tcols: dict[str, Any] = {
        "interaction_id": pa.array(ids[rows], type=pa.string()),
        "deployment": pa.array(np.full(len(rows), deployment, dtype=object), type=pa.string()),
        "seq": pa.array(turns["seq"].astype(np.int32)),
        "ts": _ts(turns["ts"]),
        "attributes": pa.nulls(len(rows), type=pa.string()),
        "_record": pa.array(rows.astype(np.int64)),
        "_pos": pa.array(turns["seq"].astype(np.int32)),
        "fallback": pa.array(turns["fallback"], type=pa.bool_(), from_pandas=True),
    }
    for name in ("role", "text", "intent", "error", "model"):
        tcols[name] = pa.array(turns[name], type=pa.string(), from_pandas=True)
    for name in ("confidence", "latency_ms", "cost"):
        tcols[name] = _nullable(np.asarray(turns[name], dtype=np.float64), pa.float64())
    for name in ("tokens_in", "tokens_out"):
        tcols[name] = _nullable(np.asarray(turns[name]), pa.int64())
    t_schema = with_locators(TURNS, pos=True)
    turn_table = pa.Table.from_pydict({f.name: tcols[f.name] for f in t_schema}, schema=t_schema)

    a_schema = with_locators(ASSIST_EVENTS, pos=True)
    if assist is None or len(assist["rows"]) == 0:
        assist_table = a_schema.empty_table()
    else:
        a_rows = assist["rows"]
        first = np.searchsorted(a_rows, a_rows)  # rows are grouped: first index of each row
        seq = (np.arange(len(a_rows)) - first).astype(np.int32)
        assist_table = pa.Table.from_pydict(
            {
                "interaction_id": pa.array(ids[a_rows], type=pa.string()),
                "deployment": pa.array(
                    np.full(len(a_rows), deployment, dtype=object), type=pa.string()
                ),
                "seq": pa.array(seq),
                "ts": _ts(assist["ts"]),
                "agent_ref": pa.array(assist["agent_ref"], type=pa.string()),
                "feature": pa.array(assist["feature"], type=pa.string()),
                "action": pa.array(assist["action"], type=pa.string()),
                "attributes": pa.nulls(len(a_rows), type=pa.string()),
                "_record": pa.array(a_rows.astype(np.int64)),
                "_pos": pa.array(seq),
            },
            schema=a_schema,
        )
    return Batch(inter, turn_table, assist_table)

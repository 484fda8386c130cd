"""What the demo deployment is, and what goes wrong in it: the declared ground truth.

The generator (``generator.py``, drawing each day in ``days.py``) only samples rows from the
declarations here; the manifest built here from the same declarations is what detectors, the
impact estimator and the tests are checked against. Keeping the truth in one module, apart
from the sampling code, means a number in the manifest and the behaviour in the rows cannot
drift apart.

Timeline of the injected problems, as fractions of the history (a 90-day demo in brackets):
duplicate deliveries at 0.33 (days 30-33), the containment fix at 0.42 (day 38), the knowledge
gap at 0.5 (day 45), adoption decay at 0.55 (day 50), the flow change at 0.58 (day 52), the
model change at 0.67 (day 60) and the feed outage at 0.78 (day 70). No other problem touches the
fixed journey or its control journeys, so the fix's true effect is the only change there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

SITES = ("leeds", "cork", "porto")
SITE_WEIGHTS = (0.40, 0.35, 0.25)
TEAMS_PER_SITE = 4
TENURE_BANDS = ("0-6m", "6-12m", "1-2y", "2y+")
TENURE_WEIGHTS = (0.25, 0.20, 0.25, 0.30)
# Newer agents are slower; experienced ones a little faster than the median.
TENURE_HANDLE_FACTOR = (1.2, 1.05, 0.95, 0.9)
LANGUAGES = ("en", "es", "fr")
LANGUAGE_WEIGHTS = (0.86, 0.10, 0.04)
N_AGENTS = 400
PILOT_AGENTS = 40
PILOT_DAYS = 14

BOT = "care-bot"
ASSIST = "care-assist"
# Share of a full day's contacts the virtual agent takes; human agents (with assist) the rest.
BOT_SHARE = 0.7
BOT_CHAT_SHARE = 0.65
ASSIST_VOICE_SHARE = 0.7
# Out-of-scope questions (CLINC150's ``oos`` queries) in every journey, every day.
OOS_SHARE = 0.03
OOS_CONTAINMENT = 0.10
OOS_ABANDONMENT = 0.30
MODEL_BEFORE = "gpt-4o-mini"
MODEL_AFTER = "gpt-4.1-mini"
# Dollars per token (input, output).
MODEL_PRICES = {MODEL_BEFORE: (0.15e-6, 0.6e-6), MODEL_AFTER: (0.4e-6, 1.6e-6)}
BASE_ERROR_RATE = 0.004
# A fallback is likelier in a conversation that ends badly: the chance per answer is the
# journey's (or topic's) rate times one of these, at most FALLBACK_CAP.
FALLBACK_IF_CONTAINED = 0.5
FALLBACK_IF_NOT = 1.6
FALLBACK_CAP = 0.95
AGENT_MINUTE_COST = 0.9
BOT_FEE = 0.04
ASSIST_FEE = 0.02
# What the bank declares a hand-over, a failed answer and a slowed conversation cost. A failed
# answer (an error or a timeout) is asked again or given up on: priced at a tenth of a hand-over.
# A conversation whose answers are slowed costs the customer's time: priced at a fiftieth.
ESCALATION_COST = 6.5
FAILED_ANSWER_COST = 0.65
SLOW_CONVERSATION_COST = 0.13
# Agent assist (``days.py``): a reply turn carries a suggestion with this chance, a conversation
# ends with a summary with this chance, an agent replies 2 + Poisson(this) times (at most 8), and
# a conversation where a suggestion was used takes this fraction of the time.
SUGGESTION_SHARE = 0.8
SUMMARY_SHARE = 0.7
EXTRA_REPLIES_MEAN = 1.8
AI_HANDLE_FACTOR = 0.9
# The virtual agent's answers per conversation, on average (greeting, main and thanks pairs of
# the layout in ``days.py``).
ANSWERS_PER_CONVERSATION = 2.4


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment of the demo, as it is registered in the ledger."""

    name: str
    kind: str
    go_live: date
    journeys: list[str]
    targets: dict[str, float]
    cost_model: dict[str, float]
    description: str
    # First day of the baseline window (None: the product's default, a week after go-live).
    baseline_start: date | None = None


@dataclass(frozen=True, slots=True)
class Journey:
    """A call type with its own traffic, outcomes, handling time and satisfaction."""

    name: str
    share: float  # of the virtual agent's traffic
    containment: float  # the virtual agent finishes it alone
    abandonment: float  # the customer leaves; the rest are handed to a human agent
    fallback: float  # chance that one in-scope answer is a fallback
    agent_minutes: float  # median time a human agent needs for it (voice)
    csat: float  # mean CSAT (1-5) when it is resolved
    answer: str  # what the virtual agent (or a suggested reply) says

    @property
    def escalation(self) -> float:
        return 1.0 - self.containment - self.abandonment


JOURNEYS: tuple[Journey, ...] = (
    Journey(
        "balance_and_transactions", 0.22, 0.78, 0.07, 0.05, 4.0, 4.4,
        "Your available balance and latest transactions are shown below.",
    ),
    Journey(
        "payments", 0.17, 0.66, 0.09, 0.08, 5.5, 4.2,
        "I can set that payment up for you. Which account should it come from?",
    ),
    Journey(
        "card_lost_or_damaged", 0.12, 0.50, 0.10, 0.10, 6.5, 4.1,
        "I have blocked the card and ordered a replacement; it arrives in 5 working days.",
    ),
    Journey(
        "card_declined", 0.11, 0.58, 0.12, 0.10, 7.0, 3.9,
        "Your card was declined by a security check. I can unblock it for you now.",
    ),
    Journey(
        "fraud", 0.07, 0.25, 0.06, 0.07, 11.0, 3.8,
        "I have frozen the card and opened a fraud case. A specialist will call you today.",
    ),
    Journey(
        "credit_limit", 0.10, 0.60, 0.10, 0.12, 6.0, 4.0,
        "Your current limit and rate are shown below; you can request a change here.",
    ),
    Journey(
        "rewards", 0.08, 0.74, 0.09, 0.07, 4.5, 4.5,
        "You have points to redeem; here are your options.",
    ),
    Journey(
        "applications", 0.07, 0.62, 0.10, 0.11, 8.0, 4.0,
        "Your application is being processed; I will send you an update by e-mail.",
    ),
    Journey(
        "travel_and_fees", 0.06, 0.64, 0.11, 0.13, 5.0, 4.2,
        "Fees abroad and your travel notice settings are shown below.",
    ),
)  # fmt: skip
JOURNEY_NAMES = tuple(j.name for j in JOURNEYS)


@dataclass(frozen=True, slots=True)
class ProblemSchedule:
    """When and where each problem is injected, and how large it is (days from the start)."""

    gap_onset: int
    fix_day: int
    decay_onset: int
    flow_day: int
    model_day: int
    outage_day: int
    duplicate_days: tuple[int, ...]
    # Knowledge gap: pay and tax questions after a payroll product launch.
    gap_share: float = 0.07  # of the virtual agent's traffic, once fully open
    gap_ramp_days: int = 14
    gap_fallback: float = 0.75  # chance that one answer to such a question is a fallback
    gap_containment: float = 0.06
    gap_abandonment: float = 0.30
    gap_journeys: tuple[str, ...] = ("payments", "balance_and_transactions")
    gap_journey_weights: tuple[float, ...] = (0.6, 0.4)
    # Model change on chat: slower and more failing answers.
    model_channel: str = "chat"
    latency_factor: float = 1.8
    error_rate_after: float = 0.05
    # Flow change that sends more of one journey to agents.
    flow_journey: str = "card_declined"
    flow_effect: float = 0.20  # escalation rate of the journey, absolute
    # Adoption decay at one site.
    decay_site: str = "porto"
    decay_ramp_days: int = 21
    decay_floor: float = 0.25  # acceptance ends at this fraction of its level
    # Feed outage.
    outage_hours: tuple[int, int] = (9, 14)
    # Duplicate deliveries by a retrying exporter.
    duplicate_share: float = 0.03
    late_csat_share: float = 1 / 3  # re-delivered copies that carry a survey answer
    # The fix: a knowledge article that lets the bot finish more of one journey.
    fix_journey: str = "card_lost_or_damaged"
    fix_effect: float = 0.08  # containment rate of the journey, absolute


def schedule_for(days: int) -> ProblemSchedule:
    """The problem days for a history of ``days`` days (at least 14)."""
    first_duplicate = round(days * 0.33)
    return ProblemSchedule(
        gap_onset=round(days * 0.5),
        fix_day=round(days * 0.42),
        decay_onset=round(days * 0.55),
        flow_day=round(days * 0.58),
        model_day=round(days * 0.67),
        outage_day=round(days * 0.78),
        duplicate_days=tuple(range(first_duplicate, first_duplicate + 4)),
    )


def ramp(day: int, onset: int, length: int) -> float:
    """0 before ``onset``, then rising linearly to 1 over ``length`` days."""
    if day < onset:
        return 0.0
    return min(1.0, (day - onset + 1) / length)


def journey(name: str) -> Journey:
    return JOURNEYS[JOURNEY_NAMES.index(name)]


def journey_containment(j: Journey, shift: float = 0.0) -> float:
    """Expected containment of a journey (its in-scope shifted by ``shift``, plus its OOS)."""
    return (1 - OOS_SHARE) * (j.containment + shift) + OOS_SHARE * OOS_CONTAINMENT


def journey_escalation(j: Journey, shift: float = 0.0) -> float:
    """Expected escalation (escalated + transferred) of a journey, in-scope shifted by ``shift``."""
    oos = 1 - OOS_CONTAINMENT - OOS_ABANDONMENT
    return (1 - OOS_SHARE) * (j.escalation + shift) + OOS_SHARE * oos


def deployment_specs(start: date) -> list[DeploymentSpec]:
    """The two deployments of the demo, both live on the first day of its history."""
    journeys = list(JOURNEY_NAMES)
    return [
        DeploymentSpec(
            name=BOT,
            kind="virtual_agent",
            go_live=start,
            journeys=journeys,
            targets={
                "containment_rate": 0.62,
                "escalation_rate": 0.28,
                "abandonment_rate": 0.10,
                "fallback_rate_conversation": 0.25,
                "error_rate": 0.01,
                "latency_p95": 2500.0,
                "csat": 3.8,
            },
            cost_model={
                "escalation": ESCALATION_COST,
                "agent_minute": AGENT_MINUTE_COST,
                "ai_per_interaction": BOT_FEE,
                "failed_answer": FAILED_ANSWER_COST,
                "slow_conversation": SLOW_CONVERSATION_COST,
            },
            description="Virtual agent on web chat and the phone line (voice) for retail "
            "banking customers.",
        ),
        DeploymentSpec(
            name=ASSIST,
            kind="agent_assist",
            go_live=start,
            journeys=journeys,
            targets={
                "suggestion_acceptance_rate": 0.45,
                "feature_utilisation": 0.85,
                "average_handle_time": 420.0,
                "csat": 4.0,
            },
            cost_model={"agent_minute": AGENT_MINUTE_COST, "ai_per_interaction": ASSIST_FEE},
            description="Agent assist (suggested replies, knowledge cards, summaries) for "
            f"about {N_AGENTS} agents on three sites; piloted by {PILOT_AGENTS} volunteers "
            f"for {PILOT_DAYS} days, then rolled out. Its baseline is the first two weeks of "
            "the roll-out: the pilot's volunteers (its most experienced agents) are no measure "
            "of the whole floor.",
            baseline_start=start + timedelta(days=PILOT_DAYS),
        ),
    ]


def iso(start: date, day: int, hour: int = 0) -> str:
    """The instant ``day`` days and ``hour`` hours after midnight UTC of ``start``."""
    at = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(days=day, hours=hour)
    return at.isoformat().replace("+00:00", "Z")


def build_manifest(
    *,
    seed: int,
    start: date,
    days: int,
    interactions_per_day: int,
    through: datetime,
    n_interactions: int,
    schedule: ProblemSchedule | None,
    gap_intents: list[str],
    duplicates: int,
) -> dict[str, Any]:
    """The ground truth as JSON-ready data: the deployment's facts and every injected problem."""
    manifest: dict[str, Any] = {
        "seed": seed,
        "start": start.isoformat(),
        "end": (start + timedelta(days=days - 1)).isoformat(),
        "through": through.isoformat().replace("+00:00", "Z"),
        "interactions_per_day": interactions_per_day,
        "n_interactions": n_interactions,
        "deployments": [BOT, ASSIST],
        "cohorts": {
            "deployment": ASSIST,
            "pilot_agents": PILOT_AGENTS,
            "pilot_until": iso(start, PILOT_DAYS),
            "note": "Pilot volunteers are the most experienced agents and accept more "
            "suggestions: compare cohorts within tenure and site.",
        },
        "problems": [],
    }
    if schedule is not None:
        manifest["problems"] = _problems(start, schedule, gap_intents, duplicates)
        costs = true_weekly_costs(schedule, interactions_per_day)
        for p in manifest["problems"]:
            if p["id"] in costs:
                p["expected"]["true_weekly_cost"] = costs[p["id"]]
    return manifest


def acceptance_before() -> tuple[float, float]:
    """Mean chance an agent takes a suggested reply or card, and a summary (``setting.py``:
    propensity 0.42 + 0.03 per tenure band + 0.12 for the pilot; a card is taken 0.85 as
    often as a reply, a summary 1.25 times)."""
    tenure = sum(i * w for i, w in enumerate(TENURE_WEIGHTS))
    propensity = 0.42 + 0.03 * tenure + 0.12 * PILOT_AGENTS / N_AGENTS
    reply_or_card = propensity * (0.65 * 1.0 + 0.35 * 0.85)
    return reply_or_card, min(0.97, propensity * 1.25)


def ai_used_share(reply: float, summary: float) -> float:
    """Chance a conversation uses at least one suggestion, at these acceptance chances."""
    suggestions = SUGGESTION_SHARE * (2 + EXTRA_REPLIES_MEAN)
    unused: float = (1 - reply) ** suggestions * (1 - SUMMARY_SHARE * summary)
    return 1 - unused


def true_weekly_costs(s: ProblemSchedule, interactions_per_day: int) -> dict[str, dict[str, Any]]:
    """What each injected problem costs a week once fully in effect, in the deployment's own
    cost model (the prices above), from the generator's parameters: the extra bad outcomes it
    causes over what the same conversations would have had without it, times their price.

    Volumes are those of the history's mean week. A lost contact is priced as a hand-over (the
    bot's cost model has no separate price, and the backlog prices it the same way). The feed
    outage and the duplicate deliveries cost customers nothing: no conversation went worse,
    only the data about them did, and both stopped before the end of the history.
    """
    bot_week = interactions_per_day * BOT_SHARE * 7
    assist_week = interactions_per_day * (1 - BOT_SHARE) * 7
    # Knowledge gap: its questions, routed to the gap journeys, end as hand-overs and lost
    # contacts far more often than those journeys' own questions.
    weights = [w / sum(s.gap_journey_weights) for w in s.gap_journey_weights]
    routed = [journey(j) for j in s.gap_journeys]
    escalation = 1 - s.gap_containment - s.gap_abandonment
    usual_escalation = sum(w * j.escalation for w, j in zip(weights, routed, strict=True))
    usual_abandonment = sum(w * j.abandonment for w, j in zip(weights, routed, strict=True))
    gap_volume = bot_week * s.gap_share
    gap_bad = (escalation - usual_escalation) + (s.gap_abandonment - usual_abandonment)
    gap = gap_volume * gap_bad * ESCALATION_COST
    # Flow change: the journey's in-scope conversations are handed over flow_effect more often.
    flowed = bot_week * journey(s.flow_journey).share * (1 - s.gap_share) * s.flow_effect
    flow = flowed * ESCALATION_COST
    # Model change: chat conversations with at least one failed answer, over the old model's;
    # and every chat conversation's answers slowed.
    chat_week = bot_week * BOT_CHAT_SHARE
    failed_share = (1 - BASE_ERROR_RATE) ** ANSWERS_PER_CONVERSATION - (
        1 - s.error_rate_after
    ) ** ANSWERS_PER_CONVERSATION
    model = chat_week * failed_share * FAILED_ANSWER_COST + chat_week * SLOW_CONVERSATION_COST
    # Adoption decay: the site's conversations that no longer use a suggestion lose the time a
    # used suggestion saves.
    reply, summary = acceptance_before()
    lost_use = ai_used_share(reply, summary) - ai_used_share(
        reply * s.decay_floor, summary * s.decay_floor
    )
    mix = [j.share * (1 - j.containment) for j in JOURNEYS]
    minutes = sum(m * j.agent_minutes for m, j in zip(mix, JOURNEYS, strict=True)) / sum(mix)
    channel = ASSIST_VOICE_SHARE * 1.0 + (1 - ASSIST_VOICE_SHARE) * 1.25
    tenure = sum(w * f for w, f in zip(TENURE_WEIGHTS, TENURE_HANDLE_FACTOR, strict=True))
    handle = minutes * channel * tenure * math.exp(0.4**2 / 2)  # lognormal(sigma 0.4) mean
    site_week = assist_week * SITE_WEIGHTS[SITES.index(s.decay_site)]
    decay = site_week * lost_use * handle * (1 - AI_HANDLE_FACTOR) * AGENT_MINUTE_COST

    def entry(value: float, basis: str) -> dict[str, Any]:
        return {"value": round(value, 2), "basis": basis}

    return {
        "knowledge-gap-payroll": entry(
            gap,
            f"{gap_volume:.0f} gap conversations a week x {gap_bad:.3f} more hand-overs and "
            f"lost contacts than their journeys' own x escalation {ESCALATION_COST:g}",
        ),
        "flow-change-escalations": entry(
            flow, f"{flowed:.0f} more hand-overs a week x escalation {ESCALATION_COST:g}"
        ),
        "model-regression": entry(
            model,
            f"{chat_week * failed_share:.0f} more chat conversations with a failed answer a week "
            f"x failed_answer {FAILED_ANSWER_COST:g} + {chat_week:.0f} slowed chat "
            f"conversations x slow_conversation {SLOW_CONVERSATION_COST:g}",
        ),
        "adoption-decay-porto": entry(
            decay,
            f"{site_week * lost_use:.0f} conversations a week without a used suggestion x "
            f"{handle * (1 - AI_HANDLE_FACTOR):.2f} agent minutes x agent_minute "
            f"{AGENT_MINUTE_COST:g}",
        ),
        "feed-outage": entry(0.0, "no conversation went worse: only the data was lost"),
        "duplicate-deliveries": entry(0.0, "no conversation went worse: only counted twice"),
    }


def _problems(
    start: date, s: ProblemSchedule, gap_intents: list[str], duplicates: int
) -> list[dict[str, Any]]:
    fixed, flowed = journey(s.fix_journey), journey(s.flow_journey)
    touched = {*s.gap_journeys, s.fix_journey, s.flow_journey}
    controls = [name for name in JOURNEY_NAMES if name not in touched]
    return [
        {
            "id": "knowledge-gap-payroll",
            "kind": "knowledge_gap",
            "deployment": BOT,
            "scope": {"intents": gap_intents, "journeys": list(s.gap_journeys)},
            "onset": iso(start, s.gap_onset),
            "end": None,
            "description": "After a payroll product launch customers ask about direct deposit, "
            "payday, W-2s and taxes. The bot was never built for it: it misroutes them to "
            "payments and balances, mostly falls back, and hands them over.",
            "expected": {
                "share_of_bot_traffic": s.gap_share,
                "ramp_days": s.gap_ramp_days,
                # The chance that one answer to such a question is a fallback, in the
                # conversations the bot does not finish, and in those it does.
                "fallback_per_answer": min(FALLBACK_CAP, s.gap_fallback * FALLBACK_IF_NOT),
                "fallback_per_answer_if_contained": min(
                    FALLBACK_CAP, s.gap_fallback * FALLBACK_IF_CONTAINED
                ),
                "containment": s.gap_containment,
                "before_onset": 0,
            },
        },
        {
            "id": "model-regression",
            "kind": "latency_error_regression",
            "deployment": BOT,
            "scope": {"channel": s.model_channel, "model": MODEL_AFTER},
            "onset": iso(start, s.model_day),
            "end": None,
            "description": f"The chat assistant moves from {MODEL_BEFORE} to {MODEL_AFTER} for "
            "conversations started from this day: answers are slower and more of them fail. "
            "Voice keeps the old model.",
            "expected": {
                "model_before": MODEL_BEFORE,
                "model_after": MODEL_AFTER,
                "latency_factor": s.latency_factor,
                "error_rate_before": BASE_ERROR_RATE,
                "error_rate_after": s.error_rate_after,
            },
        },
        {
            "id": "flow-change-escalations",
            "kind": "escalation_rise",
            "deployment": BOT,
            "scope": {"journey": s.flow_journey},
            "onset": iso(start, s.flow_day),
            "end": None,
            "description": "A new identity check in the card-declined flow sends many more "
            "customers to an agent.",
            "expected": {
                "escalation_rate_before": round(journey_escalation(flowed), 4),
                "escalation_rate_after": round(journey_escalation(flowed) + s.flow_effect, 4),
                "escalation_rate_delta": s.flow_effect,
            },
        },
        {
            "id": "adoption-decay-porto",
            "kind": "adoption_decay",
            "deployment": ASSIST,
            "scope": {"site": s.decay_site},
            "onset": iso(start, s.decay_onset),
            "end": None,
            "description": "Agents in Porto stop accepting assist suggestions after a "
            "workaround spreads: acceptance falls to a quarter of its level over three weeks.",
            "expected": {
                "acceptance_factor_at_end": s.decay_floor,
                "ramp_days": s.decay_ramp_days,
            },
        },
        {
            "id": "feed-outage",
            "kind": "feed_outage",
            "deployment": "*",
            "scope": {"deployments": [BOT, ASSIST]},
            "onset": iso(start, s.outage_day, s.outage_hours[0]),
            "end": iso(start, s.outage_day, s.outage_hours[1]),
            "description": "The export job fails for five hours: no interaction started in the "
            "window ever arrives, for either deployment.",
            "expected": {"interactions_in_window": 0},
        },
        {
            "id": "duplicate-deliveries",
            "kind": "duplicate_deliveries",
            "deployment": BOT,
            "scope": {"days": [iso(start, d)[:10] for d in s.duplicate_days]},
            # The problem is in the deliveries: it begins with the first batch that carries
            # copies (the day after the first affected day's conversations) and ends after the
            # last one. ``scope.days`` are the days of the conversations delivered twice.
            "onset": iso(start, s.duplicate_days[0] + 1),
            "end": iso(start, s.duplicate_days[-1] + 2),
            "description": "A retrying exporter delivers about 3% of four days' conversations "
            "again in the next day's batch; a third of the copies carry a survey answer that "
            "arrived late (the later copy wins).",
            "expected": {
                "count": duplicates,
                "share": s.duplicate_share,
                "late_csat_share": round(s.late_csat_share, 4),
                "redelivered_in": "next batch",
            },
        },
        {
            "id": "containment-fix",
            "kind": "improvement",
            "deployment": BOT,
            "scope": {"journey": s.fix_journey},
            "onset": iso(start, s.fix_day),
            "end": None,
            "description": "A new knowledge article for lost and damaged cards lets the bot "
            "finish more of them; nothing else changes in that journey or in the control "
            "journeys.",
            "expected": {
                "containment_before": round(journey_containment(fixed), 4),
                "containment_after": round(journey_containment(fixed) + s.fix_effect, 4),
                "containment_delta": s.fix_effect,
                "control_journeys": controls,
            },
        },
    ]

"""What the demo deployment is, and what goes wrong in it: the declared ground truth.

The generator (``generator.py``, drawing each day in ``days.py``) only samples rows from the
declarations here; the manifest built from the same declarations (``ground_truth.py``) is what
detectors, the impact estimator and the tests are checked against. Keeping the truth apart
from the sampling code, declared once, means a number in the manifest and the behaviour in the
rows cannot drift apart.

Timeline of the injected problems, as fractions of the history (a 90-day demo in brackets):
duplicate deliveries at 0.33 (days 30-33), the containment fix at 0.42 (day 38), the knowledge
gap at 0.5 (day 45), adoption decay at 0.55 (day 50), the flow change at 0.58 (day 52), the
model change at 0.67 (day 60) and the feed outage at 0.78 (day 70). No other problem touches the
fixed journey or its control journeys, so the fix's true effect is the only change there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

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
# How likely an agent takes a suggestion (``people.py``): a base, more with each tenure band,
# more again for the pilot's volunteers (keener than their tenure says), and each agent's own
# spread. Volunteers come forward with these odds by tenure band: mostly the experienced.
PROPENSITY_BASE = 0.28
PROPENSITY_PER_BAND = 0.06
VOLUNTEER_BONUS = 0.15
PROPENSITY_SD = 0.04
VOLUNTEER_ODDS = (0.1, 0.4, 1.0, 2.5)
# The tool's true effect on handle time, by tenure band: new agents gain the most.
AI_HANDLE_BY_TENURE = (0.80, 0.86, 0.92, 0.95)

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
DECAY_CHANGE_TITLE = "Suggestion service for Porto moved to the shared EU region"
# What the AI costs beyond the model tokens the bot's turns report: the conversational
# platform's fee per conversation (bot), the assist product's per assisted conversation.
BOT_FEE = 0.35
ASSIST_FEE = 0.08
# The investment: the build (one-off) and what running it costs a month (hosting, the team's
# share, licences), in the deployment's currency.
BOT_INVESTMENT = (180_000.0, 12_000.0)
ASSIST_INVESTMENT = (25_000.0, 1_500.0)
# What the bank declares a hand-over, a failed answer and a slowed conversation cost. A failed
# answer (an error or a timeout) is asked again or given up on: priced at a tenth of a hand-over.
# A conversation whose answers are slowed costs the customer's time: priced at a fiftieth.
ESCALATION_COST = 6.5
FAILED_ANSWER_COST = 0.65
SLOW_CONVERSATION_COST = 0.13
# Agent assist (``days.py``): a reply turn carries a suggestion with this chance, a conversation
# ends with a summary with this chance, an agent replies 2 + Poisson(this) times (at most 8); a
# conversation where a suggestion was used takes AI_HANDLE_BY_TENURE of the time.
SUGGESTION_SHARE = 0.8
SUMMARY_SHARE = 0.7
EXTRA_REPLIES_MEAN = 1.8
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
    # Its cause: the site's suggestion service moved to a slower region on the onset day.
    decay_latency_ms: tuple[float, float] = (700.0, 2600.0)  # median, before and after
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
                "ai_fee_per_interaction": BOT_FEE,
                # For planning, where no turn is measured yet: the fee and a typical model cost.
                "ai_per_interaction": BOT_FEE + 0.01,
                "one_off_investment": BOT_INVESTMENT[0],
                "running_per_month": BOT_INVESTMENT[1],
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
            cost_model={
                "agent_minute": AGENT_MINUTE_COST,
                "ai_per_interaction": ASSIST_FEE,
                "one_off_investment": ASSIST_INVESTMENT[0],
                "running_per_month": ASSIST_INVESTMENT[1],
            },
            description="Agent assist (suggested replies, knowledge cards, summaries) for "
            f"about {N_AGENTS} agents on three sites; piloted by {PILOT_AGENTS} volunteers "
            f"for {PILOT_DAYS} days, then rolled out. Its baseline is the first two weeks of "
            "the roll-out: the pilot's volunteers (its most experienced agents) are no measure "
            "of the whole floor.",
            baseline_start=start + timedelta(days=PILOT_DAYS),
        ),
    ]

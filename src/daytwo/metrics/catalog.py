"""The metric catalog: every KPI daytwo shows, as a registered definition.

A definition says what the metric means (for people) and how it is computed (for the query
builder), and nothing else; the API, the UI, reports and `docs/metrics.md` all read this one
registry. Expressions are SQL aggregates in the portable (DuckDB) dialect over one row per
interaction (``interactions``, with its facts) or one row per turn (``turns``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from daytwo.store.ledger.kinds import DeploymentKind
from daytwo.units import Unit

Group = Literal["system", "conversation", "adoption", "business", "support", "satisfaction"]
Kind = Literal[
    "ratio", "mean", "quantile", "count", "sum", "distinct", "median", "score", "expression"
]
Direction = Literal["up", "down"]
Source = Literal["interactions", "turns"]

TARGETABLE_KINDS: tuple[Kind, ...] = ("ratio", "mean", "score", "quantile", "median")

GROUPS: tuple[Group, ...] = (
    "system",
    "conversation",
    "adoption",
    "business",
    "support",
    "satisfaction",
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One registered KPI.

    ``kind`` decides how values, sample sizes and intervals are computed:

    - ``ratio``: ``numerator / denominator`` (both counts); Wilson interval, n = denominator;
    - ``mean``: mean of ``value`` over rows where it is not null; normal interval;
    - ``quantile`` / ``median``: exact quantile ``q`` of ``value``; n = values counted;
    - ``count``, ``sum``, ``distinct``: totals with no interval;
    - ``expression``: ``value`` is itself an aggregate expression; no interval;
    - ``score``: ``numerator / denominator`` on a signed scale (NPS, sentiment); no interval.

    Numerators, denominators, counts, sums and means are additive (the value of a slice follows
    from per-hour sums), so they are read from the exact hourly rollup where the slice allows;
    an ``expression`` is additive only when it names its ``parts`` (aggregates whose sums are
    additive) and a ``combine`` expression over them (``{part}`` stands for the part's sum).
    Quantiles and distinct counts are not additive and always read the raw rows.
    """

    id: str
    name: str
    definition: str
    formula: str
    unit: Unit
    good: Direction | None
    group: Group
    kind: Kind
    source: Source = "interactions"
    numerator: str | None = None
    denominator: str | None = None
    value: str | None = None
    q: float | None = None
    where: str | None = None
    needs: tuple[str, ...] = ()
    # Which conversations are "behind" the number (a predicate over interactions), for
    # drill-down from any value to the conversations; None means all in the slice.
    drill: str | None = None
    parts: tuple[tuple[str, str], ...] = ()
    combine: str | None = None
    # The kinds of deployment the metric means something for (an agent-assist tool contains
    # nothing; a virtual agent has no agents using suggestions). Pages show a metric only for
    # these kinds.
    kinds: tuple[str, ...] = tuple(k.value for k in DeploymentKind)

    def applies_to(self, kind: str | None) -> bool:
        """Whether the metric means something for a deployment of ``kind`` (unknown: yes)."""
        return kind is None or kind in self.kinds

    def __post_init__(self) -> None:
        if self.kind in ("ratio", "score") and not (self.numerator and self.denominator):
            raise ValueError(f"{self.id}: a {self.kind} needs numerator and denominator")
        if self.kind in ("mean", "quantile", "median", "sum", "distinct", "expression") and (
            not self.value
        ):
            raise ValueError(f"{self.id}: a {self.kind} needs a value expression")
        if self.kind == "quantile" and self.q is None:
            raise ValueError(f"{self.id}: a quantile needs q")
        if bool(self.parts) != bool(self.combine):
            raise ValueError(f"{self.id}: parts and combine go together")

    @property
    def targetable(self) -> bool:
        """Whether a target can be set on it: a rate, mean, score or quantile with a good
        direction. The SLO detector checks every target on such a metric; totals and counts
        (volumes, costs, distinct agents) have no target."""
        return self.good is not None and self.kind in TARGETABLE_KINDS

    @property
    def additive(self) -> bool:
        """Whether the value of a slice follows from sums over its hours (see above)."""
        if self.kind == "expression":
            return bool(self.parts)
        return self.kind in ("ratio", "score", "mean", "count", "sum")


_OUTCOME_KNOWN = "count_if(outcome IS NOT NULL)"
_RESOLVED = "outcome IN ('contained', 'resolved_by_agent')"
# Kinds of deployment whose AI answers customers itself, and the one that helps agents.
_ANSWERING = (DeploymentKind.virtual_agent.value, DeploymentKind.llm_app.value)
_ASSISTING = (DeploymentKind.agent_assist.value,)
# Conversations an agent handled with the AI's help, and without it.
_ASSISTED = "agent_ref IS NOT NULL AND ai_used"
_UNASSISTED = "agent_ref IS NOT NULL AND NOT ai_used"
_AGENT = "agent_ref IS NOT NULL"
# The two paths of an agent's conversation: the AI used in it, or not (the legacy path).
_PATHS = (
    ("ai", "with the AI", "in which the AI was used", "ai_used"),
    ("legacy", "on the legacy path", "in which the AI was not used", "NOT ai_used"),
)


def _ai_and_legacy(
    base: str,
    label: str,
    definition: str,
    good: Direction,
    *,
    numerator: str | None = None,
    value: tuple[str, Unit] | None = None,
) -> tuple[Metric, Metric]:
    """An outcome of agent conversations with the AI used and without (``ai_<base>`` and
    ``legacy_<base>``): a rate of ``numerator`` over those with an outcome, or the mean of a
    ``value`` column (with its unit). The catalog's values compare the paths as they are; the
    adoption page compares them like for like (same journey, agent and period)."""
    out: list[Metric] = []
    for prefix, name, path, used in _PATHS:
        where = f"{used} AND {_AGENT}"
        text = definition.format(path=path)
        if value is not None:
            column, unit = value
            metric = Metric(
                f"{prefix}_{base}",
                f"{label[0].upper()}{label[1:]} {name}",
                formula=f"mean of {column} where {where.lower()}",
                unit=unit,
                kind="mean",
                value=column,
                where=where,
                needs=(column, "ai_used", "agent_ref"),
                drill=f"{where} AND {column} IS NOT NULL",
                definition=text,
                good=good,
                group="adoption",
            )
        else:
            metric = Metric(
                f"{prefix}_{base}",
                f"{label.capitalize()} {name}",
                formula=f"{label} / agent conversations {path} with an outcome",
                unit="rate",
                kind="ratio",
                numerator=f"count_if({where} AND {numerator})",
                denominator=f"count_if({where} AND outcome IS NOT NULL)",
                needs=("outcome", "ai_used", "agent_ref"),
                drill=f"{where} AND {numerator}",
                definition=text,
                good=good,
                group="adoption",
            )
        out.append(metric)
    return out[0], out[1]


METRICS: tuple[Metric, ...] = (
    # -- system ---------------------------------------------------------------------------
    Metric(
        "availability",
        "Availability",
        "Share of conversations in which no turn failed with an error.",
        "interactions without an error turn / interactions",
        "rate",
        "up",
        "system",
        "ratio",
        numerator="count_if(n_error_turns = 0)",
        denominator="count(*)",
        needs=("turns.error",),
        drill="n_error_turns > 0",
    ),
    Metric(
        "error_rate",
        "Error rate",
        "Share of turns that carried an error (failed model, tool or integration call).",
        "turns with an error / turns",
        "rate",
        "down",
        "system",
        "ratio",
        numerator="sum(n_error_turns)",
        denominator="sum(n_turns)",
        needs=("turns.error",),
        drill="n_error_turns > 0",
    ),
    *(
        Metric(
            f"latency_p{p}",
            f"Latency p{p}",
            f"{p}th percentile of the assistant's response time per answer.",
            f"p{p} of latency_ms over assistant turns",
            "ms",
            "down",
            "system",
            "quantile",
            source="turns",
            value="latency_ms",
            q=p / 100,
            where="role = 'assistant' AND latency_ms IS NOT NULL",
            needs=("turns.latency_ms",),
            drill="n_latency > 0",
        )
        for p in (50, 95, 99)
    ),
    Metric(
        "latency_mean",
        "Latency (mean)",
        "Mean response time of the assistant's answers in a conversation, averaged over the "
        "conversations with a timed answer: the latency the detectors watch for slower answers.",
        "mean over conversations of latency_ms_sum / n_latency",
        "ms",
        "down",
        "system",
        "mean",
        value="latency_ms_sum / nullif(n_latency, 0)",
        needs=("turns.latency_ms",),
        drill="n_latency > 0",
    ),
    # -- conversation ---------------------------------------------------------------------
    Metric(
        "containment_rate",
        "Containment",
        "Share of conversations the AI resolved without a human.",
        "contained / conversations with an outcome",
        "rate",
        "up",
        "conversation",
        "ratio",
        numerator="count_if(outcome = 'contained')",
        denominator=_OUTCOME_KNOWN,
        needs=("outcome",),
        drill="outcome = 'contained'",
        kinds=_ANSWERING,
    ),
    Metric(
        "fallback_rate_turn",
        "Fallback rate (turns)",
        "Share of the assistant's answers that were fallbacks (it did not understand).",
        "fallback answers / assistant answers",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="sum(n_fallback_turns)",
        denominator="sum(n_assistant_turns)",
        needs=("turns.fallback",),
        drill="n_fallback_turns > 0",
        kinds=_ANSWERING,
    ),
    Metric(
        "fallback_rate_conversation",
        "Fallback rate (conversations)",
        "Share of conversations with at least one fallback answer.",
        "conversations with a fallback / conversations with an assistant answer",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="count_if(n_fallback_turns > 0)",
        denominator="count_if(n_assistant_turns > 0)",
        needs=("turns.fallback",),
        drill="n_fallback_turns > 0",
        kinds=_ANSWERING,
    ),
    Metric(
        "escalation_rate",
        "Escalation",
        "Share of conversations handed to a human agent (escalated or transferred).",
        "(escalated + transferred) / conversations with an outcome",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="count_if(outcome IN ('escalated', 'transferred'))",
        denominator=_OUTCOME_KNOWN,
        needs=("outcome",),
        drill="outcome IN ('escalated', 'transferred')",
    ),
    Metric(
        "abandonment_rate",
        "Abandonment",
        "Share of conversations the customer left before resolution.",
        "abandoned / conversations with an outcome",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="count_if(outcome = 'abandoned')",
        denominator=_OUTCOME_KNOWN,
        needs=("outcome",),
        drill="outcome = 'abandoned'",
    ),
    Metric(
        "rephrase_rate",
        "Rephrase rate",
        "Share of conversations in which the customer had to repeat themselves: a message "
        "right after a fallback answer, or the same words sent again.",
        "conversations with a repeat / conversations with 2+ customer messages",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="count_if(n_repeats > 0)",
        denominator="count_if(n_user_turns >= 2)",
        needs=("turns.text",),
        drill="n_repeats > 0",
        kinds=_ANSWERING,
    ),
    Metric(
        "repeat_contact_7d",
        "Repeat contact (7 days)",
        "Share of conversations after which the same customer came back within 7 days.",
        "conversations followed by another from the customer within 7 days / conversations "
        "with a customer_ref",
        "rate",
        "down",
        "conversation",
        "ratio",
        numerator="count_if(next_contact_at <= started_at + INTERVAL 7 DAY)",
        denominator="count_if(customer_ref IS NOT NULL)",
        needs=("customer_ref",),
    ),
    # -- adoption -------------------------------------------------------------------------
    Metric(
        "active_agents",
        "Active agents",
        "Distinct human agents who used the assist tool (saw a suggestion) in the period: "
        "daily active by day, weekly active by week.",
        "distinct agent_ref with a suggestion shown",
        "count",
        "up",
        "adoption",
        "distinct",
        value="CASE WHEN n_assist_shown > 0 THEN agent_ref END",
        needs=("assist_events",),
        drill="n_assist_shown > 0",
        kinds=_ASSISTING,
    ),
    Metric(
        "ai_usage_rate",
        "AI used",
        "Share of eligible conversations (those that report ai_used) in which the AI was used.",
        "ai_used / conversations reporting ai_used",
        "rate",
        "up",
        "adoption",
        "ratio",
        numerator="count_if(ai_used)",
        denominator="count_if(ai_used IS NOT NULL)",
        needs=("ai_used",),
        drill="ai_used",
        kinds=_ASSISTING,
    ),
    Metric(
        "suggestion_acceptance_rate",
        "Suggestion acceptance",
        "Share of assist suggestions shown that the agent accepted or edited and used.",
        "(accepted + edited, at most shown, per conversation) / shown",
        "rate",
        "up",
        "adoption",
        "ratio",
        # Capped per conversation: a source that logs uses without every "shown" must not
        # push the rate past 1.
        numerator="sum(least(n_assist_accepted + n_assist_edited, n_assist_shown))",
        denominator="sum(n_assist_shown)",
        needs=("assist_events",),
        drill="n_assist_shown > 0",
        kinds=_ASSISTING,
    ),
    Metric(
        "feature_utilisation",
        "Feature utilisation",
        "Share of agent-handled conversations in which the assist tool showed a suggestion.",
        "agent conversations with a suggestion shown / agent conversations",
        "rate",
        "up",
        "adoption",
        "ratio",
        numerator="count_if(agent_ref IS NOT NULL AND n_assist_shown > 0)",
        denominator="count_if(agent_ref IS NOT NULL)",
        needs=("agent_ref", "assist_events"),
        drill="agent_ref IS NOT NULL AND n_assist_shown > 0",
        kinds=_ASSISTING,
    ),
    Metric(
        "using_agents",
        "Agents using it",
        "Distinct human agents who used at least one assist suggestion (accepted or edited) in "
        "the period: daily by day, weekly by week.",
        "distinct agent_ref with a suggestion accepted or edited",
        "count",
        "up",
        "adoption",
        "distinct",
        value="CASE WHEN n_assist_accepted + n_assist_edited > 0 THEN agent_ref END",
        needs=("agent_ref", "assist_events"),
        drill="n_assist_accepted + n_assist_edited > 0",
    ),
    Metric(
        "suggestion_dismissal_rate",
        "Suggestion dismissal",
        "Share of assist suggestions shown that the agent dismissed.",
        "dismissed (at most shown, per conversation) / shown",
        "rate",
        "down",
        "adoption",
        "ratio",
        numerator="sum(least(n_assist_dismissed, n_assist_shown))",
        denominator="sum(n_assist_shown)",
        needs=("assist_events",),
        drill="n_assist_dismissed > 0",
    ),
    Metric(
        "suggestion_edit_rate",
        "Suggestions edited",
        "Share of the suggestions agents used that they edited before sending.",
        "edited / (accepted + edited)",
        "rate",
        None,
        "adoption",
        "ratio",
        numerator="sum(n_assist_edited)",
        denominator="sum(n_assist_accepted + n_assist_edited)",
        needs=("assist_events",),
        drill="n_assist_edited > 0",
    ),
    *_ai_and_legacy(
        "handle_time",
        "handle time",
        "Mean handling time, in seconds, of agent conversations {path}.",
        "down",
        value=("handle_time_s", "s"),
    ),
    Metric(
        "suggestions_per_conversation",
        "Suggestions used per conversation",
        "How much agents lean on the AI: suggestions used (accepted or edited) per agent "
        "conversation, those with none included. The adoption page gives the same use per "
        "agent and day.",
        "mean of min(accepted + edited, shown) over agent conversations",
        "count",
        "up",
        "adoption",
        "mean",
        value="least(n_assist_accepted + n_assist_edited, n_assist_shown)",
        where=_AGENT,
        needs=("agent_ref", "assist_events"),
        drill="agent_ref IS NOT NULL AND n_assist_accepted + n_assist_edited > 0",
    ),
    *_ai_and_legacy(
        "resolution_rate",
        "resolved",
        "Share of agent conversations {path} that the agent resolved (of those with an outcome).",
        "up",
        numerator=_RESOLVED,
    ),
    *_ai_and_legacy(
        "escalation_rate",
        "escalated",
        "Share of agent conversations {path} escalated or transferred onward (of those with an "
        "outcome).",
        "down",
        numerator="outcome IN ('escalated', 'transferred')",
    ),
    *_ai_and_legacy(
        "csat",
        "CSAT",
        "Mean customer satisfaction of agent conversations {path}.",
        "up",
        value=("csat", "score"),
    ),
    # -- business -------------------------------------------------------------------------
    Metric(
        "average_handle_time",
        "Average handle time",
        "Mean handling time of a conversation, in seconds.",
        "mean of handle_time_s",
        "s",
        "down",
        "business",
        "mean",
        value="handle_time_s",
        needs=("handle_time_s",),
    ),
    Metric(
        "cost_per_interaction",
        "Cost per interaction",
        "Mean cost of a conversation as reported by the platform.",
        "mean of cost",
        "currency",
        "down",
        "business",
        "mean",
        value="cost",
        needs=("cost",),
    ),
    Metric(
        "ai_cost",
        "AI cost",
        "Total model cost reported on the turns (answers and tool calls) in the period; "
        "no value where no turn reports a cost.",
        "sum of turn cost",
        "currency",
        None,
        "business",
        "sum",
        value="ai_cost",
        needs=("turns.cost",),
    ),
    Metric(
        "hours_saved",
        "Agent hours saved",
        "Agent time the AI saved, in two parts that add up: conversations the AI contained "
        "times the mean handle time of agent-handled conversations (a virtual agent's saving), "
        "plus conversations an agent handled with the AI times how much shorter those were "
        "than the ones handled without it (an agent-assist tool's saving). No value where "
        "neither part can be computed (no outcome or no agent-handled time; no conversation "
        "handled without the AI to compare with).",
        "contained × mean(handle_time_s of agent-handled) + assisted × (mean handle_time_s "
        "unassisted − mean handle_time_s assisted)",
        "s",
        "up",
        "business",
        "expression",
        # Explicit about unknown outcomes: engines differ on count_if over only NULLs.
        value=(
            "CASE WHEN (count(outcome) > 0 AND count(handle_time_s) FILTER (WHERE agent_ref IS "
            "NOT NULL) > 0) OR (count(handle_time_s) FILTER (WHERE "
            f"{_ASSISTED}) > 0 AND count(handle_time_s) FILTER (WHERE {_UNASSISTED}) > 0) "
            "THEN coalesce(count_if(outcome = 'contained') * avg(handle_time_s) FILTER "
            "(WHERE agent_ref IS NOT NULL), 0) + coalesce(count(handle_time_s) FILTER "
            f"(WHERE {_ASSISTED}) * (avg(handle_time_s) FILTER (WHERE {_UNASSISTED}) - "
            f"avg(handle_time_s) FILTER (WHERE {_ASSISTED})), 0) END"
        ),
        parts=(
            ("known", "count(outcome)"),
            ("contained", "count_if(outcome = 'contained')"),
            ("agent_s", "sum(handle_time_s) FILTER (WHERE agent_ref IS NOT NULL)"),
            ("agent_n", "count(handle_time_s) FILTER (WHERE agent_ref IS NOT NULL)"),
            ("ai_s", f"sum(handle_time_s) FILTER (WHERE {_ASSISTED})"),
            ("ai_n", f"count(handle_time_s) FILTER (WHERE {_ASSISTED})"),
            ("solo_s", f"sum(handle_time_s) FILTER (WHERE {_UNASSISTED})"),
            ("solo_n", f"count(handle_time_s) FILTER (WHERE {_UNASSISTED})"),
        ),
        combine="CASE WHEN ({known} > 0 AND {agent_n} > 0) OR ({ai_n} > 0 AND {solo_n} > 0) THEN "
        "coalesce({contained} * {agent_s} / nullif({agent_n}, 0), 0) + "
        "coalesce({ai_n} * ({solo_s} / nullif({solo_n}, 0) - {ai_s} / nullif({ai_n}, 0)), 0) "
        "END",
        needs=("outcome", "handle_time_s", "agent_ref", "ai_used"),
        drill="outcome = 'contained' OR (agent_ref IS NOT NULL AND ai_used)",
    ),
    # -- support --------------------------------------------------------------------------
    Metric(
        "contact_volume",
        "Contact volume",
        "Number of conversations.",
        "count of interactions",
        "count",
        None,
        "support",
        "count",
    ),
    Metric(
        "feedback_volume",
        "Feedback volume",
        "Number of conversations with a satisfaction score from the customer.",
        "count of interactions with csat",
        "count",
        None,
        "support",
        "count",
        where="csat IS NOT NULL",
        needs=("csat",),
        drill="csat IS NOT NULL",
    ),
    Metric(
        "median_resolution_time",
        "Median resolution time",
        "Median handling time of resolved conversations (contained or resolved by an agent).",
        "median of handle_time_s over resolved",
        "s",
        "down",
        "support",
        "median",
        value="handle_time_s",
        where=_RESOLVED,
        needs=("outcome", "handle_time_s"),
        drill="outcome IN ('contained', 'resolved_by_agent')",
    ),
    Metric(
        "first_contact_resolution",
        "First-contact resolution",
        "Share of resolved conversations after which the customer did not come back within 7 days.",
        "resolved without a contact in the next 7 days / resolved with a customer_ref",
        "rate",
        "up",
        "support",
        "ratio",
        numerator=f"count_if({_RESOLVED} AND customer_ref IS NOT NULL AND "
        "(next_contact_at IS NULL OR next_contact_at > started_at + INTERVAL 7 DAY))",
        denominator=f"count_if({_RESOLVED} AND customer_ref IS NOT NULL)",
        needs=("outcome", "customer_ref"),
        drill="outcome IN ('contained', 'resolved_by_agent')",
    ),
    # -- satisfaction ---------------------------------------------------------------------
    Metric(
        "csat",
        "CSAT",
        "Mean customer satisfaction score (the platform's scale, usually 1-5).",
        "mean of csat",
        "score",
        "up",
        "satisfaction",
        "mean",
        value="csat",
        needs=("csat",),
        drill="csat IS NOT NULL",
    ),
    Metric(
        "nps",
        "NPS",
        "Net promoter score from 0-10 `nps` answers: % promoters (9-10) minus % detractors (0-6).",
        "100 × (promoters − detractors) / answers",
        "score",
        "up",
        "satisfaction",
        "score",
        numerator="100.0 * (count_if(nps >= 9) - count_if(nps <= 6))",
        denominator="count_if(nps IS NOT NULL)",
        needs=("attributes.nps",),
        drill="nps IS NOT NULL",
    ),
    Metric(
        "sentiment",
        "Sentiment",
        "Balance of positive and negative customer messages (a word-list score): +1 all "
        "positive, -1 all negative.",
        "(positive − negative customer messages) / customer messages with either",
        "score",
        "up",
        "satisfaction",
        "score",
        numerator="sum(n_positive_turns) - sum(n_negative_turns)",
        denominator="sum(n_positive_turns + n_negative_turns)",
        needs=("turns.text",),
        drill="n_positive_turns + n_negative_turns > 0",
    ),
)

REGISTRY: dict[str, Metric] = {m.id: m for m in METRICS}
if len(REGISTRY) != len(METRICS):  # pragma: no cover - guarded by a test too
    raise RuntimeError("duplicate metric ids in the catalog")


def get_metric(metric_id: str) -> Metric:
    from daytwo.errors import NotFoundError

    try:
        return REGISTRY[metric_id]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise NotFoundError(f"Unknown metric {metric_id!r}. Known: {known}") from None

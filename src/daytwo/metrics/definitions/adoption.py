"""The adoption metrics of the catalog: how agents use the AI that assists them, and
how their conversations with it compare with those without (the legacy path)."""

from __future__ import annotations

from daytwo.metrics.definitions.conditions import AGENT, ASSISTING, RESOLVED
from daytwo.metrics.metric import Direction, Metric
from daytwo.units import Unit

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
    adoption page compares them like for like (same journey, agent and period). Agent-assist
    tools only: a virtual agent's hand-overs are agent conversations in which its AI was
    used, not agents assisted by it."""
    out: list[Metric] = []
    for prefix, name, path, used in _PATHS:
        where = f"{used} AND {AGENT}"
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
                kinds=ASSISTING,
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
                kinds=ASSISTING,
            )
        out.append(metric)
    return out[0], out[1]


METRICS: tuple[Metric, ...] = (
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        kinds=ASSISTING,
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
        where=AGENT,
        needs=("agent_ref", "assist_events"),
        drill="agent_ref IS NOT NULL AND n_assist_accepted + n_assist_edited > 0",
        kinds=ASSISTING,
    ),
    *_ai_and_legacy(
        "resolution_rate",
        "resolved",
        "Share of agent conversations {path} that the agent resolved (of those with an outcome).",
        "up",
        numerator=RESOLVED,
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
)

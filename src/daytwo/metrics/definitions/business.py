"""The business metrics of the catalog: handle time, cost and hours saved."""

from __future__ import annotations

from daytwo.metrics.definitions.conditions import ASSISTED, UNASSISTED
from daytwo.metrics.metric import Metric

METRICS: tuple[Metric, ...] = (
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
            f"{ASSISTED}) > 0 AND count(handle_time_s) FILTER (WHERE {UNASSISTED}) > 0) "
            "THEN coalesce(count_if(outcome = 'contained') * avg(handle_time_s) FILTER "
            "(WHERE agent_ref IS NOT NULL), 0) + coalesce(count(handle_time_s) FILTER "
            f"(WHERE {ASSISTED}) * (avg(handle_time_s) FILTER (WHERE {UNASSISTED}) - "
            f"avg(handle_time_s) FILTER (WHERE {ASSISTED})), 0) END"
        ),
        parts=(
            ("known", "count(outcome)"),
            ("contained", "count_if(outcome = 'contained')"),
            ("agent_s", "sum(handle_time_s) FILTER (WHERE agent_ref IS NOT NULL)"),
            ("agent_n", "count(handle_time_s) FILTER (WHERE agent_ref IS NOT NULL)"),
            ("ai_s", f"sum(handle_time_s) FILTER (WHERE {ASSISTED})"),
            ("ai_n", f"count(handle_time_s) FILTER (WHERE {ASSISTED})"),
            ("solo_s", f"sum(handle_time_s) FILTER (WHERE {UNASSISTED})"),
            ("solo_n", f"count(handle_time_s) FILTER (WHERE {UNASSISTED})"),
        ),
        combine="CASE WHEN ({known} > 0 AND {agent_n} > 0) OR ({ai_n} > 0 AND {solo_n} > 0) THEN "
        "coalesce({contained} * {agent_s} / nullif({agent_n}, 0), 0) + "
        "coalesce({ai_n} * ({solo_s} / nullif({solo_n}, 0) - {ai_s} / nullif({ai_n}, 0)), 0) "
        "END",
        needs=("outcome", "handle_time_s", "agent_ref", "ai_used"),
        drill="outcome = 'contained' OR (agent_ref IS NOT NULL AND ai_used)",
    ),
)

"""The support metrics of the catalog: contact and feedback volumes, resolution time
and first-contact resolution."""

from __future__ import annotations

from daytwo.metrics.definitions.conditions import RESOLVED
from daytwo.metrics.metric import Metric

METRICS: tuple[Metric, ...] = (
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
        where=RESOLVED,
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
        numerator=f"count_if({RESOLVED} AND customer_ref IS NOT NULL AND "
        "(next_contact_at IS NULL OR next_contact_at > started_at + INTERVAL 7 DAY))",
        denominator=f"count_if({RESOLVED} AND customer_ref IS NOT NULL)",
        needs=("outcome", "customer_ref"),
        drill="outcome IN ('contained', 'resolved_by_agent')",
    ),
)

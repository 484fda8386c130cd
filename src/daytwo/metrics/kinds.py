"""What each kind of deployment is judged by: the metrics its pages lead with.

A virtual agent is judged by what it resolves on its own (containment, escalation, fallback);
an agent-assist tool by whether agents use it and what it saves them (AI use, suggestion
acceptance, handle time, hours saved); an LLM app by its answers' quality, speed and cost.
The home page shows a deployment's ``headline``; the overview charts its ``trends``; the
journeys table has its ``journey_columns`` and a weekly sparkline of ``journey_trend``.
Metrics that do not apply to a kind (see ``Metric.kinds``) are never shown for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from daytwo.metrics.catalog import REGISTRY
from daytwo.store.ledger.kinds import DeploymentKind


@dataclass(frozen=True, slots=True)
class KindView:
    headline: tuple[str, ...]
    trends: tuple[str, ...]
    journey_columns: tuple[str, ...]
    journey_trend: str


VIEWS: dict[str, KindView] = {
    DeploymentKind.virtual_agent.value: KindView(
        headline=("containment_rate", "escalation_rate", "fallback_rate_conversation", "csat"),
        trends=(
            "containment_rate",
            "escalation_rate",
            "fallback_rate_conversation",
            "latency_p95",
            "csat",
            "hours_saved",
        ),
        journey_columns=(
            "contact_volume",
            "containment_rate",
            "fallback_rate_conversation",
            "escalation_rate",
            "csat",
        ),
        journey_trend="containment_rate",
    ),
    DeploymentKind.agent_assist.value: KindView(
        headline=(
            "ai_usage_rate",
            "suggestion_acceptance_rate",
            "average_handle_time",
            "hours_saved",
        ),
        trends=(
            "ai_usage_rate",
            "suggestion_acceptance_rate",
            "average_handle_time",
            "hours_saved",
            "csat",
            "escalation_rate",
        ),
        journey_columns=(
            "contact_volume",
            "ai_usage_rate",
            "suggestion_acceptance_rate",
            "average_handle_time",
            "csat",
        ),
        journey_trend="ai_usage_rate",
    ),
    DeploymentKind.llm_app.value: KindView(
        headline=("containment_rate", "error_rate", "latency_p95", "csat"),
        trends=(
            "containment_rate",
            "error_rate",
            "latency_p95",
            "csat",
            "cost_per_interaction",
            "hours_saved",
        ),
        journey_columns=(
            "contact_volume",
            "containment_rate",
            "error_rate",
            "latency_p95",
            "csat",
        ),
        journey_trend="containment_rate",
    ),
}
# A deployment seen only in the data, with no kind registered: what every kind shares.
UNKNOWN = KindView(
    headline=("contact_volume", "escalation_rate", "csat", "average_handle_time"),
    trends=("contact_volume", "escalation_rate", "csat", "average_handle_time"),
    journey_columns=("contact_volume", "escalation_rate", "csat", "average_handle_time"),
    journey_trend="escalation_rate",
)


def view_for(kind: str | None) -> KindView:
    """The metrics a deployment of ``kind`` is judged by (unregistered: the common ones)."""
    return VIEWS.get(kind or "", UNKNOWN)


def _check() -> None:
    for kind, view in (*VIEWS.items(), ("", UNKNOWN)):
        for metric_id in (*view.headline, *view.trends, *view.journey_columns, view.journey_trend):
            metric = REGISTRY[metric_id]  # a typo fails at import, and in the tests
            if kind and not metric.applies_to(kind):
                raise ValueError(f"{metric_id} does not apply to {kind} but is in its view")


_check()

"""The metric catalog: every KPI daytwo shows, as a registered definition.

A definition says what the metric means (for people) and how it is computed (for the query
builder), and nothing else; the API, the UI, reports and `docs/metrics.md` all read this one
registry. Expressions are SQL aggregates in the portable (DuckDB) dialect over one row per
interaction (``interactions``, with its facts) or one row per turn (``turns``).
"""

from __future__ import annotations

from daytwo.metrics.definitions import (
    adoption,
    business,
    conversation,
    satisfaction,
    support,
    system,
)
from daytwo.metrics.metric import (
    GROUPS,
    TARGETABLE_KINDS,
    Direction,
    Group,
    Kind,
    Metric,
    Source,
)

__all__ = [
    "GROUPS",
    "METRICS",
    "REGISTRY",
    "TARGETABLE_KINDS",
    "Direction",
    "Group",
    "Kind",
    "Metric",
    "Source",
    "get_metric",
]

# In the order of GROUPS: the docs, the catalog page and the API list metrics in this order.
METRICS: tuple[Metric, ...] = (
    *system.METRICS,
    *conversation.METRICS,
    *adoption.METRICS,
    *business.METRICS,
    *support.METRICS,
    *satisfaction.METRICS,
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

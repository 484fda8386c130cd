"""The satisfaction metrics of the catalog: CSAT, NPS and sentiment."""

from __future__ import annotations

from daytwo.metrics.metric import Metric

METRICS: tuple[Metric, ...] = (
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

"""The system metrics of the catalog: availability, errors and latency."""

from __future__ import annotations

from daytwo.metrics.metric import Metric

METRICS: tuple[Metric, ...] = (
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
)

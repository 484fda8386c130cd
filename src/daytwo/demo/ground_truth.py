"""The demo's manifest: the ground truth as data, built from the declarations in
``manifest.py``: every injected problem with where, when and how large it is, and what each
costs a week once fully in effect."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from daytwo.demo.manifest import (
    AGENT_MINUTE_COST,
    AI_HANDLE_BY_TENURE,
    ANSWERS_PER_CONVERSATION,
    ASSIST,
    ASSIST_VOICE_SHARE,
    BASE_ERROR_RATE,
    BOT,
    BOT_CHAT_SHARE,
    BOT_SHARE,
    DECAY_CHANGE_TITLE,
    ESCALATION_COST,
    EXTRA_REPLIES_MEAN,
    FAILED_ANSWER_COST,
    FALLBACK_CAP,
    FALLBACK_IF_CONTAINED,
    FALLBACK_IF_NOT,
    JOURNEY_NAMES,
    JOURNEYS,
    MODEL_AFTER,
    MODEL_BEFORE,
    N_AGENTS,
    PILOT_AGENTS,
    PILOT_DAYS,
    PROPENSITY_BASE,
    PROPENSITY_PER_BAND,
    SITE_WEIGHTS,
    SITES,
    SLOW_CONVERSATION_COST,
    SUGGESTION_SHARE,
    SUMMARY_SHARE,
    TENURE_HANDLE_FACTOR,
    TENURE_WEIGHTS,
    VOLUNTEER_BONUS,
    ProblemSchedule,
    journey,
    journey_containment,
    journey_escalation,
)


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
    """Mean chance an agent takes a suggested reply or card, and a summary, once past their
    first weeks with the tool (``people.py``: the propensity above; a card is taken 0.85 as
    often as a reply, a summary 1.25 times)."""
    tenure = sum(i * w for i, w in enumerate(TENURE_WEIGHTS))
    propensity = (
        PROPENSITY_BASE + PROPENSITY_PER_BAND * tenure + VOLUNTEER_BONUS * PILOT_AGENTS / N_AGENTS
    )
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
    # What a used suggestion saves, over the tenure bands: their handle time and the AI's share.
    saved_factor = sum(
        w * f * (1 - ai)
        for w, f, ai in zip(TENURE_WEIGHTS, TENURE_HANDLE_FACTOR, AI_HANDLE_BY_TENURE, strict=True)
    )
    saved = minutes * channel * saved_factor * math.exp(0.4**2 / 2)  # lognormal(sigma 0.4) mean
    site_week = assist_week * SITE_WEIGHTS[SITES.index(s.decay_site)]
    decay = site_week * lost_use * saved * AGENT_MINUTE_COST

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
            f"{saved:.2f} agent minutes x agent_minute "
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
            "description": "The suggestion service for Porto moves to a slower region: "
            "suggestions take almost four times as long to appear, agents stop waiting for them, "
            "and acceptance falls to a quarter of its level over three weeks.",
            "expected": {
                "acceptance_factor_at_end": s.decay_floor,
                "ramp_days": s.decay_ramp_days,
            },
            "cause": {
                "change": DECAY_CHANGE_TITLE,
                "kind": "config",
                "segments": {"site": [s.decay_site]},
                "shipped_at": iso(start, s.decay_onset),
                "latency_ms_before": s.decay_latency_ms[0],
                "latency_ms_after": s.decay_latency_ms[1],
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

"""Pure calculations of the rollout: which state changes are allowed, what a conversation
handled by the AI is worth, how steady a journey's outcomes are, and the ranking of the next
journeys to roll out (golden cases in ``tests/plan/test_calc.py``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from daytwo.errors import InputError
from daytwo.plan.schemas import RolloutState

# -- rollout ---------------------------------------------------------------------------------

FORWARD: dict[RolloutState, RolloutState] = {
    RolloutState.not_started: RolloutState.pilot,
    RolloutState.pilot: RolloutState.live,
    RolloutState.live: RolloutState.expanding,
}
ACTIVE = (RolloutState.pilot, RolloutState.live, RolloutState.expanding)
EXPANSIONS = frozenset({RolloutState.live, RolloutState.expanding})
ORDER = "not_started → pilot → live → expanding"


def check_rollout_transition(
    current: RolloutState,
    target: RolloutState,
    *,
    resume: RolloutState | None,
    reason: str,
) -> None:
    """Refuse a change that skips a state, goes backwards outside a pause or roll-back, or
    pauses or rolls back without a reason (an :class:`InputError` naming ``state``)."""
    if target == current:
        raise InputError(f"state: already {current.value}.", details={"field": "state"})
    if target in (RolloutState.paused, RolloutState.rolled_back):
        if not reason.strip():
            raise InputError(
                f"reason: say why it is {target.value.replace('_', ' ')}.",
                details={"field": "reason"},
            )
        if current == RolloutState.not_started:
            raise InputError(
                f"state: a journey that has not started cannot be {target.value}.",
                details={"field": "state"},
            )
        if current == RolloutState.rolled_back:
            raise InputError("state: it is already rolled back.", details={"field": "state"})
        return
    if current == RolloutState.paused:
        if target == resume:
            return
        raise InputError(
            f"state: a paused rollout resumes to {resume.value if resume else 'its state'} "
            f"(or is rolled back), not {target.value}.",
            details={"field": "state"},
        )
    if current == RolloutState.rolled_back:
        if target in (RolloutState.not_started, RolloutState.pilot):
            return
        raise InputError(
            f"state: after a roll-back a rollout starts again with a pilot, not {target.value}.",
            details={"field": "state"},
        )
    if FORWARD.get(current) == target:
        return
    if target == RolloutState.live and current == RolloutState.expanding:
        return  # the expansion is done
    raise InputError(
        f"state: {current.value} → {target.value} skips or reverses states ({ORDER}; pause "
        "or roll back with a reason).",
        details={"field": "state"},
    )


def value_per_interaction(
    kind: str, cost_model: dict[str, float], containment: float | None
) -> tuple[float | None, str]:
    """What one conversation handled by the AI is worth, from the cost model, and how.

    A virtual agent or LLM app saves a hand-over (``escalation``) on each contained
    conversation and costs ``ai_per_interaction``; agent assist saves ``assist_minutes_saved``
    agent minutes at ``agent_minute``.
    """
    ai_cost = cost_model.get("ai_per_interaction", 0.0)
    if kind == "agent_assist":
        minutes = cost_model.get("assist_minutes_saved")
        rate = cost_model.get("agent_minute")
        if minutes is None or rate is None:
            return None, "no assist_minutes_saved and agent_minute in the cost model"
        return minutes * rate - ai_cost, (
            f"{minutes:g} agent minutes saved × {rate:g} − AI {ai_cost:g}"
        )
    escalation = cost_model.get("escalation")
    if escalation is None:
        return None, "no escalation cost in the cost model"
    if containment is None:
        return None, "no containment measured"
    return containment * escalation - ai_cost, (
        f"containment {100 * containment:.0f}% × hand-over {escalation:g} − AI {ai_cost:g}"
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    readiness: float  # share of components met, in [0, 1]
    ready: bool
    expected_value: float | None  # per week
    volume: float | None  # per week


# Readiness checks no expected value makes up for: an open P1, no owner, no traffic.
BLOCKING = frozenset({"no_p1", "owner", "volume"})


def recommendable(components: Sequence[tuple[str, str]]) -> bool:
    """Whether a unit may be recommended: every blocking check met, and at most one other
    check unmet (named as a caveat). ``components`` are (key, verdict) pairs."""
    unmet = [key for key, verdict in components if verdict != "met"]
    return not BLOCKING.intersection(unmet) and len(unmet) <= 1


def rank(candidates: Sequence[Candidate]) -> list[tuple[Candidate, float]]:
    """Candidates by expected value × readiness, best first; by volume × readiness where no
    value can be priced (ties by name, so the order is stable)."""
    priced = any(c.expected_value is not None for c in candidates)

    def score(c: Candidate) -> float:
        base = c.expected_value if priced else c.volume
        return max(base or 0.0, 0.0) * c.readiness

    scored = [(c, score(c)) for c in candidates]
    return sorted(scored, key=lambda cs: (-cs[1], cs[0].name))


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Day-to-day spread of a rate relative to its mean (None below 3 days or a zero mean)."""
    if len(values) < 3:
        return None
    mean = sum(values) / len(values)
    if mean <= 0:
        return None
    var = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return math.sqrt(var) / mean

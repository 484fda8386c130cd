"""Tiny hand-written traffic for gap tests: three unmet needs, known intents, and noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

END = datetime(2026, 3, 29, tzinfo=UTC)

# What customers ask that the assistant does not know (each a gap of its own).
CRYPTO = [
    "can I pay my bill with bitcoin",
    "do you accept bitcoin payments",
    "pay with crypto currency bitcoin",
    "is bitcoin accepted for paying my bill",
    "can i use ethereum or bitcoin to pay",
    "bitcoin payment option for my bill",
    "how do I pay in bitcoin",
    "paying the bill using bitcoin wallet",
]
PETS = [
    "can I bring my dog on the train",
    "are dogs allowed on the train",
    "is my dog allowed on board the train",
    "travelling by train with a dog",
    "can pets like my dog ride the train",
    "dog on the train allowed or not",
    "may I take my small dog on the train",
    "train rules for bringing a dog",
]
SOLAR = [
    "how do I connect my solar panels to the grid",
    "solar panels grid connection request",
    "connect solar panels to the electricity grid",
    "I installed solar panels how do I connect them",
    "grid connection for new solar panels",
    "solar panel installation connect to the grid",
    "who connects my solar panels to the grid",
    "getting my solar panels hooked up to the grid",
]
# Handled well by the assistant: what its known intents look like.
KNOWN = {
    "reset_password": [
        "I forgot my password",
        "reset my password please",
        "how can I change my password",
        "password reset link",
        "I need a new password",
    ],
    "opening_hours": [
        "what time do you open",
        "when are you open on saturday",
        "opening hours today",
        "are you open on sunday",
        "what are your opening hours",
    ],
}
NOISE = [
    "what is the meaning of life",
    "tell me a joke about penguins",
    "who won the football yesterday",
    "recommend a good pizza place",
]


def record(
    n: int,
    text: str,
    *,
    fallback: bool,
    intent: str | None = None,
    confidence: float = 0.2,
    days_ago: float = 1.0,
    journey: str = "general",
    outcome: str | None = None,
    rephrase: str | None = None,
    deployment: str = "care-bot",
) -> dict[str, Any]:
    """One interaction: the customer's message and the assistant's answer (and a rephrase)."""
    start = END - timedelta(days=days_ago, minutes=n)
    turns: list[dict[str, Any]] = [
        {"seq": 0, "role": "user", "text": text},
        {
            "seq": 1,
            "role": "assistant",
            "text": "Sorry, I did not get that." if fallback else "Here you go.",
            "intent": intent or ("fallback" if fallback else None),
            "confidence": confidence,
            "fallback": fallback,
        },
    ]
    if rephrase is not None:
        turns.append({"seq": 2, "role": "user", "text": rephrase})
        turns.append(
            {"seq": 3, "role": "assistant", "text": "Sorry.", "fallback": True, "confidence": 0.1}
        )
    return {
        "id": f"i-{n:05d}",
        "deployment": deployment,
        "started_at": start.isoformat(),
        "journey": journey,
        "customer_ref": f"u-{n % 13}",
        "outcome": outcome or ("escalated" if fallback else "contained"),
        "turns": turns,
    }


def traffic(offset: int = 0, *, days_ago: float = 1.0, solar: bool = True) -> list[dict[str, Any]]:
    """Gaps (crypto, pets, optionally solar), known intents answered well, and noise."""
    out: list[dict[str, Any]] = []
    n = offset
    groups = [("billing", CRYPTO), ("travel", PETS)] + ([("energy", SOLAR)] if solar else [])
    for journey, texts in groups:
        for text in texts:
            out.append(record(n, text, fallback=True, journey=journey, days_ago=days_ago))
            n += 1
    for intent, texts in KNOWN.items():
        for _ in range(2):
            for text in texts:
                out.append(
                    record(n, text, fallback=False, intent=intent, confidence=0.93,
                           days_ago=days_ago, journey="account")
                )  # fmt: skip
                n += 1
    for text in NOISE:
        out.append(record(n, text, fallback=True, days_ago=days_ago))
        n += 1
    return out

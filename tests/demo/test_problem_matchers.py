"""The problems bench's ground truth: which findings show the demo's injected knowledge gap."""

from __future__ import annotations

from typing import Any

from bench.impact import QUESTIONS, SHOWS

GAP: dict[str, Any] = {
    "kind": "knowledge_gap",
    "scope": {"journeys": ["payments", "balance_and_transactions"]},
    QUESTIONS: frozenset({"q1", "q2", "q3"}),
}


def finding(kind: str, evidence: list[str], **scope: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "journey": scope.get("journey"),
        "metric": scope.get("metric"),
        "segment": None,
        "journeys": scope.get("journeys"),
        "evidence": evidence,
    }


def test_a_gap_of_other_questions_in_the_same_journeys_is_not_the_injected_gap() -> None:
    shows = SHOWS["knowledge_gap"]
    where = {"journeys": {"payments": 40}}
    # Most of its questions are the launch's: the injected gap.
    assert shows(finding("knowledge_gap", ["q1", "q2", "x1"], **where), GAP)
    # Questions about spending, landed in the same journey: another gap.
    assert not shows(finding("knowledge_gap", ["x1", "x2", "q1"], **where), GAP)
    # Without the ground truth, where the questions landed decides (as before).
    unknown = {k: v for k, v in GAP.items() if k != QUESTIONS}
    assert shows(finding("knowledge_gap", ["x1", "x2"], **where), unknown)


def test_a_journey_change_shows_the_gap_only_with_its_questions_in_evidence() -> None:
    shows = SHOWS["knowledge_gap"]
    rise = {"journey": "payments", "metric": "fallback_rate_conversation"}
    assert shows(finding("degradation", ["x1", "q3", "x2"], **rise), GAP)
    assert not shows(finding("degradation", ["x1", "x2"], **rise), GAP)

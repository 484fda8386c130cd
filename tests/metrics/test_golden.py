"""Every registered metric on tiny, hand-checked data; a meta-test keeps the tables complete.

Each case is a handful of wire-format records written out in full, the slice to measure and
the points expected, worked out by hand from the metric's definition (the comment on each case
shows the arithmetic). Rates are also checked against the Wilson interval computed here from
its textbook formula, and means against mean ± z·sd/√n.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from daytwo.ingest.decode import decode_json
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Bucket, Slice
from daytwo.metrics.service import metric_points, totals
from daytwo.store.events import EventStore

Z = 1.959963984540054  # two-sided 95%
Record = dict[str, Any]


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    """The Wilson score interval in its counts form, written out apart from calc.wilson."""
    root = Z * math.sqrt(k * (n - k) / n + Z * Z / 4)
    return (
        max(0.0, (k + Z * Z / 2 - root) / (n + Z * Z)),
        min(1.0, (k + Z * Z / 2 + root) / (n + Z * Z)),
    )


# -- writing records by hand -----------------------------------------------------------------


def rec(rid: str, at: str = "2026-03-02T10:00:00Z", **fields: Any) -> Record:
    """One interaction of deployment ``g`` started at ``at``, with exactly ``fields``."""
    return {"id": rid, "deployment": "g", "started_at": at, **fields}


def user(seq: int, text: str, **kw: Any) -> Record:
    return {"seq": seq, "role": "user", "text": text, **kw}


def bot(seq: int, text: str = "ok", **kw: Any) -> Record:
    return {"seq": seq, "role": "assistant", "text": text, **kw}


def shown(n: int = 1) -> list[Record]:
    return [{"action": "shown"}] * n


# -- expected points -------------------------------------------------------------------------


@dataclass(frozen=True)
class P:
    """An expected point. ``k`` (successes) makes it a rate whose bounds are checked by hand;
    ``lo``/``hi`` are checked when given; otherwise the point must carry no interval."""

    value: float | None
    n: int | None = None
    k: int | None = None
    lo: float | None = None
    hi: float | None = None
    bucket: str | None = None
    group: dict[str, str | None] = field(default_factory=dict)


def rate(k: int, n: int, *, bucket: str | None = None, **group: str | None) -> P:
    return P(k / n, n, k=k, bucket=bucket, group=group)


def no_rate(bucket: str | None = None, **group: str | None) -> P:
    return P(None, 0, bucket=bucket, group=group)


def mean(value: float, n: int, half: float | None = None, **group: str | None) -> P:
    """A mean with ``half`` = z·sd/√n worked out by hand (None: fewer than two values)."""
    lo = None if half is None else value - half
    hi = None if half is None else value + half
    return P(value, n, lo=lo, hi=hi, group=group)


def total(value: float | None, *, bucket: str | None = None, **group: str | None) -> P:
    return P(value, None, bucket=bucket, group=group)


def quantile(value: float | None, n: int, *, bucket: str | None = None, **group: str | None) -> P:
    return P(value, n, bucket=bucket, group=group)


@dataclass(frozen=True)
class Case:
    metric: str
    title: str
    records: list[Record]
    expect: list[P]
    group_by: tuple[str, ...] = ()
    bucket: Bucket | None = None
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    start: str = "2026-03-01T00:00:00Z"
    end: str = "2026-03-08T00:00:00Z"

    @property
    def id(self) -> str:
        return f"{self.metric}: {self.title}"

    def slice(self) -> Slice:
        return Slice(
            "g",
            datetime.fromisoformat(self.start),
            datetime.fromisoformat(self.end),
            bucket=self.bucket,
            group_by=self.group_by,
            filters=self.filters,
        )


OUTSIDE = "2026-02-20T10:00:00Z"  # before every case's range

CASES: list[Case] = [
    # -- system ------------------------------------------------------------------------------
    Case(
        "availability",
        "one of four conversations had an error turn; no turns is available",
        [
            rec("a"),
            rec("b", turns=[user(0, "hi"), bot(1)]),
            rec("c", turns=[user(0, "hi"), bot(1, error="timeout"), bot(2, error="timeout")]),
            rec("d", turns=[user(0, "hi")]),
        ],
        [rate(3, 4)],  # a, b, d
    ),
    Case(
        "availability",
        "an error on a tool turn counts too",
        [
            rec("a", turns=[{"seq": 0, "role": "tool", "error": "503"}]),
            rec("b", turns=[bot(0)]),
        ],
        [rate(1, 2)],
    ),
    Case(
        "availability",
        "empty slice: no value, n = 0",
        [rec("a", at=OUTSIDE)],
        [no_rate()],
    ),
    Case(
        "error_rate",
        "errors over all turns",
        [
            rec("a", turns=[user(0, "hi"), bot(1, error="x"), bot(2)]),
            rec("b", turns=[bot(0, error="x"), bot(1, error=True)]),  # true: "error"
            rec("c"),
        ],
        [rate(3, 5)],  # 1 + 2 error turns over 3 + 2 turns
    ),
    Case(
        "error_rate",
        "conversations without turns: no value",
        [rec("a"), rec("b")],
        [no_rate()],
    ),
    Case(
        "latency_p50",
        "assistant answers only; other roles and missing latencies ignored",
        [
            rec(
                "a",
                turns=[
                    user(0, "hi", latency_ms=5000),
                    bot(1, latency_ms=300),
                    bot(2, latency_ms=100),
                    bot(3),
                ],
            ),
            rec(
                "b", turns=[bot(0, latency_ms=1000), bot(1, latency_ms=200), bot(2, latency_ms=400)]
            ),
        ],
        [quantile(300.0, 5)],  # sorted 100 200 300 400 1000 -> the middle one
    ),
    Case(
        "latency_p50",
        "an even count interpolates",
        [rec("a", turns=[bot(0, latency_ms=100), bot(1, latency_ms=200)])],
        [quantile(150.0, 2)],
    ),
    Case(
        "latency_p50",
        "turns are dated by their conversation's start, with or without their own ts",
        [
            rec(
                "a",
                at="2026-03-02T23:59:00Z",
                turns=[bot(0, latency_ms=100, ts="2026-03-03T00:00:30Z")],
            ),
            rec("b", at="2026-03-03T09:00:00Z", turns=[bot(0, latency_ms=700)]),
        ],
        [quantile(100.0, 1, bucket="2026-03-02"), quantile(700.0, 1, bucket="2026-03-03")],
        bucket="day",
    ),
    Case(
        "latency_p50",
        "honours interaction filters and groups",
        [
            rec("a", channel="voice", journey="A", turns=[bot(0, latency_ms=900)]),
            rec("b", channel="chat", journey="A", turns=[bot(0, latency_ms=100)]),
            rec("c", channel="chat", journey="B", turns=[bot(0, latency_ms=300)]),
        ],
        [quantile(100.0, 1, journey="A"), quantile(300.0, 1, journey="B")],
        group_by=("journey",),
        filters=(("channel", ("chat",)),),
    ),
    Case(
        "latency_p50",
        "empty slice: no value, n = 0",
        [rec("a", at=OUTSIDE, turns=[bot(0, latency_ms=100)])],
        [quantile(None, 0)],
    ),
    Case(
        "latency_p95",
        "linear interpolation between order statistics",
        [
            rec(
                "a",
                turns=[
                    bot(0, latency_ms=100),
                    bot(1, latency_ms=200),
                    bot(2, latency_ms=300),
                    bot(3, latency_ms=400),
                    bot(4, latency_ms=1000),
                ],
            )
        ],
        [quantile(880.0, 5)],  # rank 0.95 * 4 = 3.8: 400 + 0.8 * (1000 - 400)
    ),
    Case(
        "latency_p95",
        "one answer: its latency",
        [rec("a", turns=[user(0, "hi"), bot(1, latency_ms=250)])],
        [quantile(250.0, 1)],
    ),
    Case(
        "latency_p99",
        "linear interpolation between order statistics",
        [
            rec("a", turns=[bot(0, latency_ms=100), bot(1, latency_ms=200)]),
            rec("b", turns=[bot(0, latency_ms=300), bot(1, latency_ms=400)]),
            rec("c", turns=[bot(0, latency_ms=1000)]),
        ],
        [quantile(976.0, 5)],  # rank 0.99 * 4 = 3.96: 400 + 0.96 * 600
    ),
    Case(
        "latency_mean",
        "each conversation's mean answer latency, averaged; no timed answer: left out",
        [
            rec("a", turns=[user(0, "hi"), bot(1, latency_ms=100), bot(2, latency_ms=300)]),
            rec("b", turns=[bot(0, latency_ms=600)]),
            rec("c", turns=[user(0, "hello")]),
        ],
        # (100 + 300) / 2 = 200 and 600: mean 400, sd = 200√2, half = z·200√2/√2
        [mean(400.0, 2, half=Z * 200)],
    ),
    # -- conversation ------------------------------------------------------------------------
    Case(
        "containment_rate",
        "contained over conversations with an outcome; no outcome is ignored",
        [
            rec("a", outcome="contained"),
            rec("b", outcome="contained"),
            rec("c", outcome="escalated"),
            rec("d", outcome="abandoned"),
            rec("e"),
        ],
        [rate(2, 4)],
    ),
    Case(
        "containment_rate",
        "by journey, a conversation without a journey in its own group (last)",
        [
            rec("a", journey="A", outcome="contained"),
            rec("b", journey="A", outcome="escalated"),
            rec("c", journey="B", outcome="contained"),
            rec("d", journey="B"),
            rec("e", outcome="abandoned"),
        ],
        [rate(1, 2, journey="A"), rate(1, 1, journey="B"), rate(0, 1, journey=None)],
        group_by=("journey",),
    ),
    Case(
        "containment_rate",
        "by a segment key, either spelling",
        [
            rec("a", segments={"site": "leeds"}, outcome="contained"),
            rec("b", segments={"site": "leeds"}, outcome="escalated"),
            rec("c", segments={"site": "cork"}, outcome="contained"),
        ],
        [rate(1, 1, site="cork"), rate(1, 2, site="leeds")],
        group_by=("segment.site",),
    ),
    Case(
        "containment_rate",
        "filtered by segment and by several journeys",
        [
            rec("a", journey="A", segments={"site": "leeds"}, outcome="contained"),
            rec("b", journey="B", segments={"site": "leeds"}, outcome="escalated"),
            rec("c", journey="C", segments={"site": "leeds"}, outcome="contained"),
            rec("d", journey="A", segments={"site": "cork"}, outcome="escalated"),
        ],
        [rate(1, 2)],  # a and b
        filters=(("site", ("leeds",)), ("journey", ("A", "B"))),
    ),
    Case(
        "containment_rate",
        "no outcome anywhere: no value",
        [rec("a"), rec("b")],
        [no_rate()],
    ),
    Case(
        "containment_rate",
        "other deployments and the range's end are outside; its start is inside",
        [
            rec("a", at="2026-03-01T00:00:00Z", outcome="contained"),
            rec("b", at="2026-03-08T00:00:00Z", outcome="escalated"),
            {**rec("c", outcome="escalated"), "deployment": "other"},
        ],
        [rate(1, 1)],
    ),
    Case(
        "fallback_rate_turn",
        "fallback answers over answers; a user turn's flag is not an answer",
        [
            rec("a", turns=[bot(0, fallback=True), bot(1, fallback=False)]),
            rec("b", turns=[user(0, "x", fallback=True), bot(1, fallback=True)]),
            rec("c", turns=[bot(0)]),
        ],
        [rate(2, 4)],
    ),
    Case(
        "fallback_rate_conversation",
        "a conversation counts once; no answers is not in the denominator",
        [
            rec("a", turns=[bot(0, fallback=True), user(1, "x"), bot(2, fallback=True)]),
            rec("b", turns=[bot(0)]),
            rec("c", turns=[user(0, "x")]),
        ],
        [rate(1, 2)],
    ),
    Case(
        "escalation_rate",
        "escalated and transferred over conversations with an outcome",
        [
            rec("a", outcome="escalated"),
            rec("b", outcome="transferred"),
            rec("c", outcome="resolved_by_agent"),
            rec("d", outcome="contained"),
            rec("e"),
        ],
        [rate(2, 4)],
    ),
    Case(
        "escalation_rate",
        "by channel and outcome",
        [
            rec("a", channel="chat", outcome="escalated"),
            rec("b", channel="chat", outcome="contained"),
            rec("c", channel="voice", outcome="escalated"),
        ],
        [
            rate(0, 1, channel="chat", outcome="contained"),
            rate(1, 1, channel="chat", outcome="escalated"),
            rate(1, 1, channel="voice", outcome="escalated"),
        ],
        group_by=("channel", "outcome"),
    ),
    Case(
        "abandonment_rate",
        "abandoned over conversations with an outcome",
        [rec("a", outcome="abandoned"), rec("b", outcome="contained"), rec("c")],
        [rate(1, 2)],
    ),
    Case(
        "rephrase_rate",
        "after a fallback or the same words again, over 2+ customer messages",
        [
            # after a fallback answer
            rec("a", turns=[user(0, "reset my pin"), bot(1, fallback=True), user(2, "PIN reset")]),
            # the same words again (case and punctuation aside)
            rec("b", turns=[user(0, "Block my card"), bot(1), user(2, "block my card!")]),
            # two different messages, no fallback
            rec("c", turns=[user(0, "hi"), bot(1), user(2, "thanks")]),
            # one message: not in the denominator
            rec("d", turns=[user(0, "hello")]),
        ],
        [rate(2, 3)],
    ),
    Case(
        "rephrase_rate",
        "a first message after an opening fallback repeats nothing",
        [
            rec("a", turns=[bot(0, fallback=True), user(1, "hi"), bot(2), user(3, "balance")]),
            rec("b", turns=[bot(0, fallback=True), user(1, "hi")]),
        ],
        [rate(0, 1)],
    ),
    Case(
        "repeat_contact_7d",
        "the next contact may fall after the range; 8 days later is not a repeat",
        [
            rec("r1", at="2026-03-02T10:00:00Z", customer_ref="u1"),  # next: 3 days later
            rec("r2", at="2026-03-05T10:00:00Z", customer_ref="u1"),  # next: 8 days later
            rec("r3", at="2026-03-03T10:00:00Z", customer_ref="u2"),  # next: after the range
            rec("r4", at="2026-03-04T10:00:00Z"),  # no customer: not counted
            rec("r5", at="2026-03-06T10:00:00Z", customer_ref="u3"),  # never again
            rec("r6", at="2026-03-13T10:00:00Z", customer_ref="u1"),  # outside the range
            rec("r7", at="2026-03-09T10:00:00Z", customer_ref="u2"),  # outside the range
        ],
        [rate(2, 4)],  # r1, r3 over r1, r2, r3, r5
    ),
    Case(
        "repeat_contact_7d",
        "exactly 7 days later counts; the next contact may be in another journey",
        [
            rec("a", at="2026-03-02T10:00:00Z", customer_ref="u1", journey="A"),
            rec("b", at="2026-03-09T10:00:00Z", customer_ref="u1", journey="B"),
        ],
        [rate(1, 1)],
        filters=(("journey", ("A",)),),
    ),
    Case(
        "repeat_contact_7d",
        "customers of another deployment are other customers",
        [
            rec("a", customer_ref="u1"),
            {**rec("b", at="2026-03-03T10:00:00Z", customer_ref="u1"), "deployment": "other"},
        ],
        [rate(0, 1)],
    ),
    # -- adoption ----------------------------------------------------------------------------
    Case(
        "active_agents",
        "distinct agents shown a suggestion",
        [
            rec("a", agent_ref="a1", assist_events=shown()),
            rec("b", agent_ref="a1", assist_events=shown(2)),
            rec("c", agent_ref="a2", assist_events=[{"action": "suggestion_shown"}]),
            rec("d", agent_ref="a3"),  # no suggestion
            rec("e", agent_ref="a4", assist_events=[{"action": "accepted"}]),  # none shown
            rec("f", assist_events=shown()),  # no agent
        ],
        [total(2.0)],
    ),
    Case(
        "active_agents",
        "daily active by day",
        [
            rec("a", at="2026-03-02T09:00:00Z", agent_ref="a1", assist_events=shown()),
            rec("b", at="2026-03-02T15:00:00Z", agent_ref="a2", assist_events=shown()),
            rec("c", at="2026-03-03T09:00:00Z", agent_ref="a1", assist_events=shown()),
        ],
        [total(2.0, bucket="2026-03-02"), total(1.0, bucket="2026-03-03")],
        bucket="day",
    ),
    Case(
        "active_agents",
        "empty slice: none active",
        [rec("a", at=OUTSIDE, agent_ref="a1", assist_events=shown())],
        [total(0.0)],
    ),
    Case(
        "ai_usage_rate",
        "used over conversations that report it",
        [
            rec("a", ai_used=True),
            rec("b", ai_used=True),
            rec("c", ai_used=False),
            rec("d"),
        ],
        [rate(2, 3)],
    ),
    Case(
        "suggestion_acceptance_rate",
        "accepted or edited over shown",
        [
            rec(
                "a",
                assist_events=[*shown(2), {"action": "accepted"}, {"action": "dismissed"}],
            ),
            rec("b", assist_events=[*shown(), {"action": "edited"}]),
            rec("c", assist_events=shown()),
        ],
        [rate(2, 4)],
    ),
    Case(
        "suggestion_acceptance_rate",
        "uses beyond what was shown count only up to it",
        [
            rec("a", assist_events=[*shown(), {"action": "accepted"}, {"action": "accepted"}]),
            rec("b", assist_events=[{"action": "accepted"}]),
        ],
        [rate(1, 1)],
    ),
    Case(
        "suggestion_acceptance_rate",
        "by agent",
        [
            rec("a", agent_ref="a1", assist_events=[*shown(), {"action": "accepted"}]),
            rec("b", agent_ref="a2", assist_events=shown()),
        ],
        [rate(1, 1, agent_ref="a1"), rate(0, 1, agent_ref="a2")],
        group_by=("agent_ref",),
    ),
    Case(
        "feature_utilisation",
        "agent conversations with a suggestion shown over agent conversations",
        [
            rec("a", agent_ref="a1", assist_events=shown()),
            rec("b", agent_ref="a2"),
            rec("c", agent_ref="a1", assist_events=[{"action": "accepted"}]),
            rec("d", assist_events=shown()),  # no agent: not counted
        ],
        [rate(1, 3)],
    ),
    Case(
        "using_agents",
        "distinct agents who accepted or edited one",
        [
            rec("a", agent_ref="a1", assist_events=[*shown(), {"action": "accepted"}]),
            rec("b", agent_ref="a1", assist_events=[*shown(), {"action": "edited"}]),
            rec("c", agent_ref="a2", assist_events=[*shown(), {"action": "dismissed"}]),
            rec("d", agent_ref="a3", assist_events=[*shown(), {"action": "edited"}]),
            rec("e", assist_events=[*shown(), {"action": "accepted"}]),  # no agent
        ],
        [total(2.0)],
    ),
    Case(
        "suggestion_dismissal_rate",
        "dismissed over shown",
        [
            rec("a", assist_events=[*shown(3), {"action": "dismissed"}, {"action": "accepted"}]),
            rec("b", assist_events=[*shown(), {"action": "dismissed"}]),
        ],
        [rate(2, 4)],
    ),
    Case(
        "suggestion_edit_rate",
        "edited over used",
        [
            rec("a", assist_events=[*shown(3), {"action": "edited"}, {"action": "accepted"}]),
            rec("b", assist_events=[*shown(2), {"action": "accepted"}, {"action": "accepted"}]),
        ],
        [rate(1, 4)],
    ),
    Case(
        "ai_handle_time",
        "agent conversations with the AI used",
        [
            rec("a", agent_ref="a1", ai_used=True, handle_time_s=100),
            rec("b", agent_ref="a1", ai_used=True, handle_time_s=200),
            rec("c", agent_ref="a1", ai_used=False, handle_time_s=900),
            rec("d", ai_used=True, handle_time_s=900),  # no agent: the bot's
        ],
        [mean(150.0, 2, half=Z * 50)],  # sd = 50√2; half = z·50√2/√2
    ),
    Case(
        "legacy_handle_time",
        "agent conversations without the AI",
        [
            rec("a", agent_ref="a1", ai_used=False, handle_time_s=300),
            rec("b", agent_ref="a2", ai_used=False, handle_time_s=500),
            rec("c", agent_ref="a1", ai_used=True, handle_time_s=10),
        ],
        [mean(400.0, 2, half=Z * 100)],
    ),
    Case(
        "suggestions_per_conversation",
        "suggestions used per agent conversation, none included",
        [
            rec("a", agent_ref="a1", assist_events=[*shown(3), *[{"action": "accepted"}] * 2]),
            rec("b", agent_ref="a1", assist_events=[*shown(), {"action": "edited"}]),
            rec("c", agent_ref="a2", assist_events=[*shown(2), {"action": "dismissed"}]),
            rec("d", agent_ref="a3"),  # no suggestion shown: 0
            rec("e", assist_events=[*shown(), {"action": "accepted"}]),  # the bot's: no agent
        ],
        # 2, 1, 0, 0: mean 0.75; squared deviations 2.75, sd = √(2.75 / 3); half = z·sd/√4
        [mean(0.75, 4, half=Z * math.sqrt(((1.25**2) + (0.25**2) + 2 * (0.75**2)) / 3) / 2)],
    ),
    Case(
        "ai_resolution_rate",
        "agent conversations with the AI used and an outcome",
        [
            rec("a", agent_ref="a1", ai_used=True, outcome="resolved_by_agent"),
            rec("b", agent_ref="a1", ai_used=True, outcome="transferred"),
            rec("c", agent_ref="a2", ai_used=True, outcome="resolved_by_agent"),
            rec("d", agent_ref="a2", ai_used=True),  # no outcome
            rec("e", agent_ref="a2", ai_used=False, outcome="resolved_by_agent"),  # legacy
            rec("f", ai_used=True, outcome="contained"),  # the bot's
        ],
        [rate(2, 3)],
    ),
    Case(
        "legacy_resolution_rate",
        "agent conversations without the AI; unknown use counts on neither path",
        [
            rec("a", agent_ref="a1", ai_used=False, outcome="resolved_by_agent"),
            rec("b", agent_ref="a1", ai_used=False, outcome="abandoned"),
            rec("c", agent_ref="a1", outcome="resolved_by_agent"),  # not said whether used
            rec("d", agent_ref="a2", ai_used=True, outcome="resolved_by_agent"),
        ],
        [rate(1, 2)],
    ),
    Case(
        "ai_escalation_rate",
        "escalated or transferred with the AI used",
        [
            rec("a", agent_ref="a1", ai_used=True, outcome="escalated"),
            rec("b", agent_ref="a1", ai_used=True, outcome="transferred"),
            rec("c", agent_ref="a2", ai_used=True, outcome="resolved_by_agent"),
            rec("d", agent_ref="a2", ai_used=True, outcome="abandoned"),
            rec("e", agent_ref="a2", ai_used=False, outcome="escalated"),
        ],
        [rate(2, 4)],
    ),
    Case(
        "legacy_escalation_rate",
        "escalated or transferred on the legacy path, by site",
        [
            rec("a", agent_ref="a1", ai_used=False, outcome="transferred", segments={"site": "x"}),
            rec(
                "b",
                agent_ref="a1",
                ai_used=False,
                outcome="resolved_by_agent",
                segments={"site": "x"},
            ),
            rec(
                "c",
                agent_ref="a2",
                ai_used=False,
                outcome="resolved_by_agent",
                segments={"site": "y"},
            ),
            rec("d", agent_ref="a2", ai_used=True, outcome="escalated", segments={"site": "y"}),
        ],
        [rate(1, 2, site="x"), rate(0, 1, site="y")],
        group_by=("site",),
    ),
    Case(
        "ai_csat",
        "agent conversations with the AI used and a score",
        [
            rec("a", agent_ref="a1", ai_used=True, csat=5),
            rec("b", agent_ref="a1", ai_used=True, csat=3),
            rec("c", agent_ref="a1", ai_used=True),  # no score
            rec("d", agent_ref="a1", ai_used=False, csat=1),
            rec("e", ai_used=True, csat=1),  # the bot's
        ],
        [mean(4.0, 2, half=Z * 1)],  # sd = √2; half = z·√2/√2
    ),
    Case(
        "legacy_csat",
        "agent conversations without the AI and a score",
        [
            rec("a", agent_ref="a1", ai_used=False, csat=2),
            rec("b", agent_ref="a2", ai_used=False, csat=4),
            rec("c", agent_ref="a2", ai_used=True, csat=5),
        ],
        [mean(3.0, 2, half=Z * 1)],
    ),
    # -- business ----------------------------------------------------------------------------
    Case(
        "average_handle_time",
        "mean of the reported times; missing ones ignored",
        [rec("a", handle_time_s=60), rec("b", handle_time_s=120), rec("c")],
        [mean(90.0, 2, half=Z * 30)],  # sd = √((30² + 30²) / 1) = 30√2; half = z·30√2/√2
    ),
    Case(
        "average_handle_time",
        "one value: no interval",
        [rec("a", handle_time_s=45)],
        [mean(45.0, 1)],
    ),
    Case(
        "average_handle_time",
        "none reported: no value",
        [rec("a"), rec("b")],
        [P(None, 0)],
    ),
    Case(
        "cost_per_interaction",
        "mean cost",
        [rec("a", cost=0.10), rec("b", cost=0.30), rec("c")],
        [mean(0.2, 2, half=Z * 0.1)],  # sd = 0.1√2; half = z·0.1√2/√2
    ),
    Case(
        "ai_cost",
        "sum of turn costs, tool calls included",
        [
            rec("a", turns=[bot(0, cost=0.002), bot(1, cost=0.003)]),
            rec("b", turns=[user(0, "x"), {"seq": 1, "role": "tool", "cost": 0.001}]),
            rec("c", turns=[bot(0)]),
        ],
        [total(0.006)],
    ),
    Case(
        "ai_cost",
        "no turn reports a cost: no value, not zero",
        [rec("a", turns=[user(0, "x"), bot(1)])],
        [total(None)],
    ),
    Case(
        "hours_saved",
        "contained times the mean handle time of agent-handled conversations",
        [
            rec("a", outcome="contained", handle_time_s=60),
            rec("b", outcome="contained"),
            rec("c", outcome="contained"),
            rec("d", outcome="resolved_by_agent", agent_ref="x", handle_time_s=600),
            rec("e", outcome="escalated", agent_ref="y", handle_time_s=1200),
            rec("f", outcome="escalated", agent_ref="y"),  # no time: not in the mean
        ],
        [total(2700.0)],  # 3 * (600 + 1200) / 2 seconds
    ),
    Case(
        "hours_saved",
        "no agent-handled conversation to compare with: no value",
        [rec("a", outcome="contained", handle_time_s=60)],
        [total(None)],
    ),
    Case(
        "hours_saved",
        "outcomes known, none contained: nothing saved",
        [rec("a", outcome="escalated", agent_ref="x", handle_time_s=600), rec("b")],
        [total(0.0)],
    ),
    Case(
        "hours_saved",
        "no outcome reported: no value, not zero",
        [rec("a", agent_ref="x", handle_time_s=600), rec("b")],
        [total(None)],
    ),
    Case(
        "hours_saved",
        "agent assist: assisted conversations times how much shorter they were than unassisted",
        [
            rec("a", outcome="resolved_by_agent", agent_ref="x", ai_used=True, handle_time_s=300),
            rec("b", outcome="resolved_by_agent", agent_ref="x", ai_used=True, handle_time_s=500),
            rec("c", outcome="resolved_by_agent", agent_ref="y", ai_used=False, handle_time_s=600),
            rec("d", outcome="resolved_by_agent", agent_ref="y", ai_used=False, handle_time_s=800),
        ],
        [total(600.0)],  # 2 * ((600 + 800) / 2 - (300 + 500) / 2)
    ),
    Case(
        "hours_saved",
        "agent assist with no outcome reported still counts the assisted saving",
        [
            rec("a", agent_ref="x", ai_used=True, handle_time_s=400),
            rec("b", agent_ref="y", ai_used=False, handle_time_s=700),
        ],
        [total(300.0)],
    ),
    Case(
        "hours_saved",
        "every agent used the AI: nothing to compare with, no value",
        [rec("a", agent_ref="x", ai_used=True, handle_time_s=400)],
        [total(None)],
    ),
    # -- support -----------------------------------------------------------------------------
    Case(
        "contact_volume",
        "conversations",
        [rec("a"), rec("b"), rec("c", at=OUTSIDE)],
        [total(2.0)],
    ),
    Case(
        "contact_volume",
        "by channel",
        [rec("a", channel="chat"), rec("b", channel="voice"), rec("c", channel="chat")],
        [total(2.0, channel="chat"), total(1.0, channel="voice")],
        group_by=("channel",),
    ),
    Case(
        "contact_volume",
        "by hour: start of the hour inclusive",
        [
            rec("a", at="2026-03-02T10:00:00Z"),
            rec("b", at="2026-03-02T10:59:59Z"),
            rec("c", at="2026-03-02T11:00:00Z"),
        ],
        [total(2.0, bucket="2026-03-02T10:00"), total(1.0, bucket="2026-03-02T11:00")],
        bucket="hour",
    ),
    Case(
        "contact_volume",
        "by week: weeks start on Monday",
        [
            rec("a", at="2026-03-02T10:00:00Z"),  # Monday
            rec("b", at="2026-03-08T23:00:00Z"),  # Sunday
            rec("c", at="2026-03-09T00:00:00Z"),  # Monday
        ],
        [total(2.0, bucket="2026-03-02"), total(1.0, bucket="2026-03-09")],
        bucket="week",
        end="2026-03-16T00:00:00Z",
    ),
    Case(
        "contact_volume",
        "by month and site",
        [
            rec("a", at="2026-02-27T10:00:00Z", segments={"site": "leeds"}),
            rec("b", at="2026-03-02T10:00:00Z", segments={"site": "leeds"}),
            rec("c", at="2026-03-03T10:00:00Z", segments={"site": "cork"}),
        ],
        [
            total(1.0, bucket="2026-02-01", site="leeds"),
            total(1.0, bucket="2026-03-01", site="cork"),
            total(1.0, bucket="2026-03-01", site="leeds"),
        ],
        bucket="month",
        group_by=("site",),
        start="2026-02-01T00:00:00Z",
    ),
    Case(
        "contact_volume",
        "empty slice: zero",
        [rec("a", at=OUTSIDE)],
        [total(0.0)],
    ),
    Case(
        "contact_volume",
        "a bucketed empty slice has no points",
        [rec("a", at=OUTSIDE)],
        [],
        bucket="day",
    ),
    Case(
        "feedback_volume",
        "conversations with a csat, 0 included",
        [rec("a", csat=5), rec("b", csat=0), rec("c")],
        [total(2.0)],
    ),
    Case(
        "median_resolution_time",
        "median over contained and resolved-by-agent conversations with a time",
        [
            rec("a", outcome="contained", handle_time_s=100),
            rec("b", outcome="resolved_by_agent", handle_time_s=300),
            rec("c", outcome="escalated", handle_time_s=50),
            rec("d", outcome="contained"),
            rec("e", handle_time_s=10),
        ],
        [quantile(200.0, 2)],
    ),
    Case(
        "median_resolution_time",
        "odd count: the middle value",
        [
            rec("a", outcome="contained", handle_time_s=10),
            rec("b", outcome="contained", handle_time_s=400),
            rec("c", outcome="resolved_by_agent", handle_time_s=70),
        ],
        [quantile(70.0, 3)],
    ),
    Case(
        "first_contact_resolution",
        "resolved and not back within 7 days, over resolved with a customer",
        [
            rec("r1", at="2026-03-02T10:00:00Z", outcome="contained", customer_ref="u1"),
            rec("r2", at="2026-03-04T10:00:00Z", outcome="escalated", customer_ref="u1"),
            rec("r3", at="2026-03-03T10:00:00Z", outcome="resolved_by_agent", customer_ref="u2"),
            rec("r4", at="2026-03-02T10:00:00Z", outcome="contained", customer_ref="u3"),
            rec("r5", at="2026-03-10T11:00:00Z", customer_ref="u3"),  # 8 days after r4
            rec("r6", at="2026-03-02T10:00:00Z", outcome="contained"),  # no customer
        ],
        [rate(2, 3)],  # r3, r4 over r1, r3, r4
    ),
    # -- satisfaction ------------------------------------------------------------------------
    Case(
        "csat",
        "mean score; missing ignored",
        [rec("a", csat=5), rec("b", csat=3), rec("c")],
        [mean(4.0, 2, half=Z)],  # sd = √2; half = z·√2/√2
    ),
    Case(
        "csat",
        "by site, a conversation without the key in its own group (last)",
        [
            rec("a", csat=5, segments={"site": "leeds"}),
            rec("b", csat=3, segments={"site": "leeds"}),
            rec("c", csat=1),
        ],
        [mean(4.0, 2, half=Z, site="leeds"), mean(1.0, 1, site=None)],
        group_by=("site",),
    ),
    Case(
        "nps",
        "promoters minus detractors in points; off-scale and missing ignored",
        [
            rec("a", nps=10),
            rec("b", nps=9),
            rec("c", nps=8),
            rec("d", nps=3),
            rec("e", nps=11),
            rec("f"),
        ],
        [P(25.0, 4)],  # 100 * (2 - 1) / 4
    ),
    Case(
        "nps",
        "no answers: no value",
        [rec("a")],
        [P(None, 0)],
    ),
    Case(
        "sentiment",
        "customer messages only",
        [
            rec("a", turns=[user(0, "thanks, that worked"), user(1, "this is useless")]),
            rec("b", turns=[user(0, "Great, perfect!"), bot(1, "thanks")]),
            rec("c", turns=[user(0, "hello")]),
        ],
        [P(1 / 3, 3)],  # (2 - 1) / 3
    ),
    Case(
        "sentiment",
        "a message with both kinds of words counts on both sides",
        [rec("a", turns=[user(0, "thanks but this is useless"), user(1, "awful")])],
        [P(-1 / 3, 3)],  # (1 - 2) / 3
    ),
]


def _case_store(records: list[Record], new_events: Callable[[], EventStore]) -> EventStore:
    store = new_events()
    decoded = decode_json(orjson.dumps(records))
    assert decoded.errors == []
    store.write(decoded.batch, source="t", batch_id="1")
    return store


def _bucket(expected: str | None) -> datetime | None:
    if expected is None:
        return None
    return datetime.fromisoformat(expected if "T" in expected else f"{expected}T00:00").replace(
        tzinfo=UTC
    )


def test_every_metric_has_a_golden_case() -> None:
    covered = {c.metric for c in CASES}
    assert covered == set(REGISTRY), f"no golden case for {sorted(set(REGISTRY) - covered)}"
    assert set(SAMPLE_TOTALS) == set(REGISTRY), set(REGISTRY) ^ set(SAMPLE_TOTALS)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_golden_case(case: Case, new_events: Callable[[], EventStore]) -> None:
    store = _case_store(case.records, new_events)
    try:
        points = metric_points(store, [case.metric], case.slice())
        flat = totals(store, [case.metric], case.slice())[case.metric]
    finally:
        store.close()
    got = [(p.bucket, p.group) for p in points]
    assert got == [(_bucket(e.bucket), e.group) for e in case.expect]
    for p, e in zip(points, case.expect, strict=True):
        assert p.metric == case.metric
        assert p.n == e.n
        if e.value is None:
            assert p.value is None
        else:
            assert p.value == pytest.approx(e.value, rel=1e-12, abs=1e-12)
        if e.k is not None:
            assert e.n is not None
            lo, hi = wilson_by_hand(e.k, e.n)
            assert (p.lo, p.hi) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12))
        elif e.lo is not None:
            assert (p.lo, p.hi) == (pytest.approx(e.lo, abs=1e-12), pytest.approx(e.hi, abs=1e-12))
        else:
            assert (p.lo, p.hi) == (None, None)
    if not case.bucket and not case.group_by and case.expect:
        # The whole-slice total is the single point.
        (only,) = points
        assert (flat.value, flat.n, flat.lo, flat.hi) == (only.value, only.n, only.lo, only.hi)


# -- one mixed sample, every metric at once ----------------------------------------------------
# Several metrics computed in one request share queries; this checks they stay independent.


def _t(seq: int, role: str, **kw: Any) -> dict[str, Any]:
    return {"seq": seq, "role": role, "ts": f"2026-03-02T09:00:{seq:02d}Z", **kw}


SAMPLE: list[Record] = [
    {
        "id": "i1",
        "deployment": "g",
        "started_at": "2026-03-02T09:00:00Z",
        "journey": "A",
        "channel": "chat",
        "outcome": "contained",
        "csat": 5,
        "handle_time_s": 60,
        "cost": 0.1,
        "ai_used": True,
        "customer_ref": "u1",
        "segments": {"site": "x"},
        "turns": [
            _t(0, "user", text="hi"),
            _t(
                1,
                "assistant",
                latency_ms=100,
                fallback=False,
                confidence=0.9,
                tokens_in=10,
                tokens_out=5,
                cost=0.001,
            ),
            _t(2, "user", text="thanks"),
            _t(3, "assistant", latency_ms=300),
        ],
    },
    {
        "id": "i2",
        "deployment": "g",
        "started_at": "2026-03-03T10:00:00Z",
        "journey": "A",
        "channel": "voice",
        "outcome": "escalated",
        "csat": 2,
        "handle_time_s": 300,
        "cost": 2.0,
        "ai_used": True,
        "customer_ref": "u1",
        "agent_ref": "a1",
        "segments": {"site": "y"},
        "turns": [
            _t(0, "user", text="card"),
            _t(1, "assistant", fallback=True, latency_ms=200),
            _t(2, "user", text="card"),
            _t(3, "assistant", error="x", latency_ms=400),
            _t(4, "agent", text="hello"),
        ],
    },
    {
        "id": "i3",
        "deployment": "g",
        "started_at": "2026-03-02T11:00:00Z",
        "journey": "B",
        "channel": "chat",
        "outcome": "abandoned",
        "handle_time_s": 30,
        "cost": 0.05,
        "ai_used": True,
        "customer_ref": "u2",
        "segments": {"site": "x"},
        "turns": [
            _t(0, "user", text="this is useless"),
            _t(1, "assistant", fallback=True, latency_ms=500),
        ],
    },
    {
        "id": "i4",
        "deployment": "g",
        "started_at": "2026-03-02T12:00:00Z",
        "journey": "B",
        "channel": "chat",
        "outcome": "resolved_by_agent",
        "csat": 4,
        "handle_time_s": 200,
        "agent_ref": "a2",
        "ai_used": False,
        "nps": 10,
        "segments": {"site": "y"},
        "turns": [_t(0, "user", text="great, thank you"), _t(1, "agent", text="welcome")],
        "assist_events": [
            {"action": "shown"},
            {"action": "accepted"},
            {"action": "shown"},
            {"action": "dismissed"},
        ],
    },
    {
        "id": "i5",
        "deployment": "g",
        "started_at": "2026-03-02T13:00:00Z",
        "journey": "A",
        "channel": "chat",
        "outcome": "transferred",
        "handle_time_s": 100,
        "agent_ref": "a2",
        "customer_ref": "u3",
        "nps": 3,
        "segments": {"site": "x"},
        "assist_events": [{"action": "shown"}, {"action": "edited"}],
    },
]

# Over the whole range, by hand from the definitions.
SAMPLE_TOTALS: dict[str, tuple[float | None, int | None]] = {
    "availability": (4 / 5, 5),
    "error_rate": (1 / 13, 13),
    "latency_p50": (300.0, 5),
    "latency_p95": (480.0, 5),  # 400 + 0.8 * (500 - 400)
    "latency_p99": (496.0, 5),
    "latency_mean": (1000 / 3, 3),  # i1 (100 + 300) / 2, i2 (200 + 400) / 2, i3 500
    "containment_rate": (1 / 5, 5),
    "fallback_rate_turn": (2 / 5, 5),
    "fallback_rate_conversation": (2 / 3, 3),
    "escalation_rate": (2 / 5, 5),
    "abandonment_rate": (1 / 5, 5),
    "rephrase_rate": (1 / 2, 2),
    "repeat_contact_7d": (1 / 4, 4),
    "active_agents": (1.0, None),
    "ai_usage_rate": (3 / 4, 4),
    "suggestion_acceptance_rate": (2 / 3, 3),
    "feature_utilisation": (2 / 3, 3),
    "using_agents": (1.0, None),  # a2 used one (i4, i5); a1 was never shown one
    "suggestion_dismissal_rate": (1 / 3, 3),
    "suggestion_edit_rate": (1 / 2, 2),
    "ai_handle_time": (300.0, 1),  # i2: a1 with the AI
    "legacy_handle_time": (200.0, 1),  # i4; i5 does not say whether the AI was used
    "suggestions_per_conversation": (2 / 3, 3),  # i2: 0, i4: 1, i5: 1
    "ai_resolution_rate": (0.0, 1),  # i2: a1 with the AI, escalated
    "legacy_resolution_rate": (1.0, 1),  # i4
    "ai_escalation_rate": (1.0, 1),  # i2
    "legacy_escalation_rate": (0.0, 1),  # i4
    "ai_csat": (2.0, 1),  # i2
    "legacy_csat": (4.0, 1),  # i4
    "average_handle_time": (690 / 5, 5),
    "cost_per_interaction": (2.15 / 3, 3),
    "ai_cost": (0.001, None),
    # 1 contained × 200 s (mean agent time) + 1 assisted × (200 s unassisted − 300 s assisted)
    "hours_saved": (100.0, None),
    "contact_volume": (5.0, None),
    "feedback_volume": (3.0, None),
    "median_resolution_time": (130.0, 2),
    "first_contact_resolution": (0.0, 1),
    "csat": (11 / 3, 3),
    "nps": (0.0, 2),
    "sentiment": (1 / 3, 3),
}

WHOLE = Slice("g", datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 5, tzinfo=UTC))


@pytest.fixture
def sample(new_events: Callable[[], EventStore]) -> EventStore:
    return _case_store(SAMPLE, new_events)


def test_every_metric_at_once_on_a_mixed_sample(sample: EventStore) -> None:
    result = totals(sample, list(REGISTRY), WHOLE)
    for metric_id, (value, n) in SAMPLE_TOTALS.items():
        est = result[metric_id]
        assert (est.value, est.n) == (pytest.approx(value, abs=1e-12), n), metric_id


def test_points_of_several_metrics_keep_the_requested_order(sample: EventStore) -> None:
    ids = ["latency_p50", "containment_rate", "csat"]
    points = metric_points(sample, ids, replace(WHOLE, group_by=("journey",)))
    assert [(p.metric, p.group["journey"]) for p in points] == [
        (m, j) for m in ids for j in ("A", "B")
    ]

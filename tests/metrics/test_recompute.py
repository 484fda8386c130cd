"""Every metric recomputed in plain Python from the raw wire records agrees with the engine.

The engine derives per-conversation facts with Arrow at write time and aggregates them in SQL;
here each definition is applied directly to the dicts that were sent, one group at a time, on
random small batches (several deployments, journeys, sites, channels and days, with missing
values everywhere the wire format allows them).
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from daytwo.ingest.decode import decode_json
from daytwo.metrics.catalog import REGISTRY
from daytwo.metrics.query import Bucket, Slice
from daytwo.metrics.service import metric_points
from daytwo.store.events import EventStore
from tests.metrics.test_golden import wilson_by_hand

Z = 1.959963984540054
START = datetime(2026, 3, 2, tzinfo=UTC)
END = datetime(2026, 3, 6, tzinfo=UTC)
OUTCOMES = ("contained", "escalated", "abandoned", "resolved_by_agent", "transferred")

# Customer messages with their sentiment worked out by hand from the word lists
# (positive, negative); "Reset my PIN!" has the same words as "reset my pin".
MESSAGES: dict[str | None, tuple[bool, bool]] = {
    "hi": (False, False),
    "reset my pin": (False, False),
    "Reset my PIN!": (False, False),
    "block my card": (False, False),
    "thanks, that worked": (True, False),
    "this is useless": (False, True),
    "great but still broken": (True, True),
    "I want to speak to a human": (False, True),
    "thanks": (True, False),
    "great, thank you": (True, False),
    "card": (False, False),
    None: (False, False),
}


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


# -- random wire records ---------------------------------------------------------------------


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


_money = st.floats(0, 5, allow_nan=False).map(lambda x: round(x, 4))
_turn = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "user", "assistant", "assistant", "agent", "tool"]),
        "text": st.sampled_from(list(MESSAGES)),
        "fallback": _maybe(st.booleans()),
        "latency_ms": _maybe(st.integers(0, 3000)),
        "error": _maybe(st.just("timeout")),
        "cost": _maybe(_money),
        "with_ts": st.booleans(),
    }
)


def _said(role: str, text: str | None = None, *, fallback: bool | None = None) -> dict[str, Any]:
    return {
        "role": role,
        "text": text,
        "fallback": fallback,
        "latency_ms": 400 if role == "assistant" else None,
        "error": None,
        "cost": None,
        "with_ts": True,
    }


# Exchanges that random turns rarely produce: rephrases, and one that only looks like one.
SCRIPTS = [
    [_said("user", "reset my pin"), _said("assistant", fallback=True), _said("user", "hi")],
    [_said("user", "reset my pin"), _said("assistant"), _said("user", "Reset my PIN!")],
    [_said("user", "block my card"), _said("user", "block my card")],
    [_said("assistant", fallback=True), _said("user", "hi"), _said("assistant")],
]
_turns = st.one_of(st.lists(_turn, max_size=6), st.sampled_from(SCRIPTS))
_record = st.fixed_dictionaries(
    {
        "deployment": st.sampled_from(["g", "g", "g", "h"]),
        # Mostly inside the range; some before it, after it, or within a week after it.
        "minutes": st.one_of(
            st.integers(0, 4 * 24 * 60 - 1), st.integers(-2 * 24 * 60, 10 * 24 * 60)
        ),
        "journey": _maybe(st.sampled_from(["A", "B", "C"])),
        "channel": _maybe(st.sampled_from(["chat", "voice"])),
        "site": _maybe(st.sampled_from(["leeds", "cork"])),
        "customer_ref": _maybe(st.sampled_from(["u1", "u2", "u3"])),
        "agent_ref": _maybe(st.sampled_from(["a1", "a2"])),
        "outcome": _maybe(st.sampled_from(OUTCOMES)),
        "csat": _maybe(st.integers(0, 5)),
        "handle_time_s": _maybe(st.integers(0, 900)),
        "cost": _maybe(_money),
        "ai_used": _maybe(st.booleans()),
        "nps": _maybe(st.integers(0, 11)),  # 11 is off the scale
        "turns": _turns,
        "assist": st.lists(
            st.sampled_from(["shown", "accepted", "edited", "dismissed"]), max_size=4
        ),
    }
)


def _wire(i: int, r: dict[str, Any]) -> dict[str, Any]:
    # Distinct start times (i seconds apart at least): "the next contact" is then unambiguous.
    started = START + timedelta(minutes=r["minutes"], seconds=i)
    rec: dict[str, Any] = {
        "id": f"c{i}",
        "deployment": r["deployment"],
        "started_at": _iso(started),
        "segments": {"site": r["site"]} if r["site"] else {},
        "turns": [
            {
                "seq": k,
                "role": t["role"],
                **({"ts": _iso(started + timedelta(seconds=30 * k))} if t["with_ts"] else {}),
                **{f: t[f] for f in ("text", "fallback", "latency_ms", "error", "cost")},
            }
            for k, t in enumerate(r["turns"])
        ],
        "assist_events": [{"action": a} for a in r["assist"]],
    }
    for f in (
        "journey",
        "channel",
        "customer_ref",
        "agent_ref",
        "outcome",
        "csat",
        "handle_time_s",
        "cost",
        "ai_used",
    ):
        rec[f] = r[f]
    if r["nps"] is not None:
        rec["nps"] = r["nps"]
    return rec


# -- the definitions, in plain Python --------------------------------------------------------


def _words(text: str | None) -> str | None:
    if text is None:
        return None
    return " ".join(re.sub(r"[,.!?;:'\"()\-]", " ", text.lower()).split())


@dataclass
class Conv:
    """One conversation as sent, plus what the definitions need from its turns."""

    rec: dict[str, Any]
    started: datetime
    next_contact: datetime | None = None

    def __getitem__(self, key: str) -> Any:
        return self.rec.get(key)

    @property
    def turns(self) -> list[dict[str, Any]]:
        return sorted(self.rec.get("turns", []), key=lambda t: t["seq"])

    def count(self, pred: Callable[[dict[str, Any]], bool]) -> int:
        return sum(1 for t in self.turns if pred(t))

    @property
    def answers(self) -> list[dict[str, Any]]:
        return [t for t in self.turns if t["role"] == "assistant"]

    @property
    def fallbacks(self) -> int:
        return sum(1 for t in self.answers if t.get("fallback") is True)

    @property
    def user_messages(self) -> list[dict[str, Any]]:
        return [t for t in self.turns if t["role"] == "user"]

    @property
    def repeats(self) -> int:
        """Customer messages after the first that follow a fallback or repeat the last one."""
        n = 0
        turns = self.turns
        last_user: dict[str, Any] | None = None
        for i, t in enumerate(turns):
            if t["role"] != "user":
                continue
            if last_user is not None:
                prev = turns[i - 1]
                after_fallback = prev["role"] == "assistant" and prev.get("fallback") is True
                words = _words(t.get("text"))
                n += after_fallback or (bool(words) and words == _words(last_user.get("text")))
            last_user = t
        return n

    def sentiment(self, side: int) -> int:
        return sum(MESSAGES[t.get("text")][side] for t in self.user_messages)

    def assist(self, action: str) -> int:
        return sum(1 for a in self.rec.get("assist_events", []) if a["action"] == action)

    @property
    def ai_cost(self) -> float | None:
        costs = [t["cost"] for t in self.turns if t.get("cost") is not None]
        return sum(costs) if costs else None

    @property
    def resolved(self) -> bool:
        return self["outcome"] in ("contained", "resolved_by_agent")

    @property
    def back_within_7d(self) -> bool:
        return self.next_contact is not None and self.next_contact <= self.started + timedelta(
            days=7
        )


Value = tuple[float | None, int | None, float | None, float | None]  # value, n, lo, hi


def _rate(k: int, n: int) -> Value:
    if n == 0:
        return (None, 0, None, None)
    return (k / n, n, *wilson_by_hand(k, n))


def _score(num: float, n: int) -> Value:
    return (num / n if n else None, n, None, None)


def _mean(values: list[float]) -> Value:
    if not values:
        return (None, 0, None, None)
    m = statistics.fmean(values)
    if len(values) < 2:
        return (m, 1, None, None)
    half = Z * statistics.stdev(values) / math.sqrt(len(values))
    return (m, len(values), m - half, m + half)


def _quantile(values: list[float], q: float) -> Value:
    if not values:
        return (None, 0, None, None)
    return (float(np.quantile(values, q)), len(values), None, None)


def _total(value: float | None) -> Value:
    return (value, None, None, None)


def _sum(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def _latencies(cs: list[Conv]) -> list[float]:
    return [t["latency_ms"] for c in cs for t in c.answers if t.get("latency_ms") is not None]


def _hours_saved(cs: list[Conv]) -> Value:
    timed = [c for c in cs if c["agent_ref"] and c["handle_time_s"] is not None]
    agent_times = [c["handle_time_s"] for c in timed]
    assisted = [c["handle_time_s"] for c in timed if c["ai_used"] is True]
    solo = [c["handle_time_s"] for c in timed if c["ai_used"] is False]
    containing = bool(agent_times) and any(c["outcome"] is not None for c in cs)
    comparing = bool(assisted) and bool(solo)
    if not (containing or comparing):
        return _total(None)
    contained = sum(c["outcome"] == "contained" for c in cs)
    saved = contained * statistics.fmean(agent_times) if agent_times else 0.0
    if comparing:
        saved += len(assisted) * (statistics.fmean(solo) - statistics.fmean(assisted))
    return _total(saved)


def _nps(cs: list[Conv]) -> Value:
    answers = [c["nps"] for c in cs if c["nps"] is not None and 0 <= c["nps"] <= 10]
    promoters = sum(a >= 9 for a in answers)
    detractors = sum(a <= 6 for a in answers)
    return _score(100.0 * (promoters - detractors), len(answers))


def _used(c: Conv) -> int:
    return c.assist("accepted") + c.assist("edited")


def _paths(
    base: str, outcome: Callable[[Conv], bool] | None
) -> dict[str, Callable[[list[Conv]], Value]]:
    """``ai_<base>`` and ``legacy_<base>``: over agent conversations that say whether the AI
    was used, a rate of ``outcome`` among those with an outcome, or mean CSAT."""

    def on(used: bool) -> Callable[[list[Conv]], Value]:
        def value(cs: list[Conv]) -> Value:
            mine = [c for c in cs if c["agent_ref"] and c["ai_used"] is used]
            if outcome is None:
                return _mean([c["csat"] for c in mine if c["csat"] is not None])
            known = [c for c in mine if c["outcome"] is not None]
            return _rate(sum(outcome(c) for c in known), len(known))

        return value

    return {f"ai_{base}": on(True), f"legacy_{base}": on(False)}


def _known(cs: list[Conv]) -> int:
    return sum(c["outcome"] is not None for c in cs)


DEFINITIONS: dict[str, Callable[[list[Conv]], Value]] = {
    "availability": lambda cs: _rate(
        sum(c.count(lambda t: t.get("error") is not None) == 0 for c in cs), len(cs)
    ),
    "error_rate": lambda cs: _rate(
        sum(c.count(lambda t: t.get("error") is not None) for c in cs),
        sum(len(c.turns) for c in cs),
    ),
    "latency_p50": lambda cs: _quantile(_latencies(cs), 0.50),
    "latency_p95": lambda cs: _quantile(_latencies(cs), 0.95),
    "latency_p99": lambda cs: _quantile(_latencies(cs), 0.99),
    "latency_mean": lambda cs: _mean(
        [statistics.fmean(lat) for c in cs if (lat := _latencies([c]))]
    ),
    "containment_rate": lambda cs: _rate(sum(c["outcome"] == "contained" for c in cs), _known(cs)),
    "fallback_rate_turn": lambda cs: _rate(
        sum(c.fallbacks for c in cs), sum(len(c.answers) for c in cs)
    ),
    "fallback_rate_conversation": lambda cs: _rate(
        sum(c.fallbacks > 0 for c in cs), sum(len(c.answers) > 0 for c in cs)
    ),
    "escalation_rate": lambda cs: _rate(
        sum(c["outcome"] in ("escalated", "transferred") for c in cs), _known(cs)
    ),
    "abandonment_rate": lambda cs: _rate(sum(c["outcome"] == "abandoned" for c in cs), _known(cs)),
    "rephrase_rate": lambda cs: _rate(
        sum(c.repeats > 0 for c in cs), sum(len(c.user_messages) >= 2 for c in cs)
    ),
    "repeat_contact_7d": lambda cs: _rate(
        sum(c.back_within_7d for c in cs), sum(c["customer_ref"] is not None for c in cs)
    ),
    "active_agents": lambda cs: _total(
        float(len({c["agent_ref"] for c in cs if c["agent_ref"] and c.assist("shown")}))
    ),
    "ai_usage_rate": lambda cs: _rate(
        sum(c["ai_used"] is True for c in cs), sum(c["ai_used"] is not None for c in cs)
    ),
    "suggestion_acceptance_rate": lambda cs: _rate(
        sum(min(c.assist("accepted") + c.assist("edited"), c.assist("shown")) for c in cs),
        sum(c.assist("shown") for c in cs),
    ),
    "feature_utilisation": lambda cs: _rate(
        sum(bool(c["agent_ref"]) and c.assist("shown") > 0 for c in cs),
        sum(bool(c["agent_ref"]) for c in cs),
    ),
    "using_agents": lambda cs: _total(
        float(len({c["agent_ref"] for c in cs if c["agent_ref"] and _used(c) > 0}))
    ),
    "suggestion_dismissal_rate": lambda cs: _rate(
        sum(min(c.assist("dismissed"), c.assist("shown")) for c in cs),
        sum(c.assist("shown") for c in cs),
    ),
    "suggestion_edit_rate": lambda cs: _rate(
        sum(c.assist("edited") for c in cs), sum(_used(c) for c in cs)
    ),
    "ai_handle_time": lambda cs: _mean(
        [
            c["handle_time_s"]
            for c in cs
            if c["ai_used"] is True and c["agent_ref"] and c["handle_time_s"] is not None
        ]
    ),
    "legacy_handle_time": lambda cs: _mean(
        [
            c["handle_time_s"]
            for c in cs
            if c["ai_used"] is False and c["agent_ref"] and c["handle_time_s"] is not None
        ]
    ),
    "suggestions_per_conversation": lambda cs: _mean(
        [float(min(_used(c), c.assist("shown"))) for c in cs if c["agent_ref"]]
    ),
    **_paths("resolution_rate", lambda c: c.resolved),
    **_paths("escalation_rate", lambda c: c["outcome"] in ("escalated", "transferred")),
    **_paths("csat", None),
    "average_handle_time": lambda cs: _mean(
        [c["handle_time_s"] for c in cs if c["handle_time_s"] is not None]
    ),
    "cost_per_interaction": lambda cs: _mean([c["cost"] for c in cs if c["cost"] is not None]),
    "ai_cost": lambda cs: _total(_sum([c.ai_cost for c in cs])),
    "hours_saved": _hours_saved,
    "contact_volume": lambda cs: _total(float(len(cs))),
    "feedback_volume": lambda cs: _total(float(sum(c["csat"] is not None for c in cs))),
    "median_resolution_time": lambda cs: _quantile(
        [c["handle_time_s"] for c in cs if c.resolved and c["handle_time_s"] is not None], 0.5
    ),
    "first_contact_resolution": lambda cs: _rate(
        sum(c.resolved and c["customer_ref"] is not None and not c.back_within_7d for c in cs),
        sum(c.resolved and c["customer_ref"] is not None for c in cs),
    ),
    "csat": lambda cs: _mean([c["csat"] for c in cs if c["csat"] is not None]),
    "nps": _nps,
    "sentiment": lambda cs: _score(
        sum(c.sentiment(0) - c.sentiment(1) for c in cs),
        sum(c.sentiment(0) + c.sentiment(1) for c in cs),
    ),
}


def _conversations(records: list[dict[str, Any]]) -> list[Conv]:
    convs = [Conv(r, datetime.fromisoformat(r["started_at"])) for r in records]
    for c in convs:
        # The next contact of the same customer in the same deployment, looked for up to
        # 7 days past the range (later ones cannot be within 7 days of a conversation in it).
        later = [
            o.started
            for o in convs
            if o["deployment"] == c["deployment"]
            and c["customer_ref"] is not None
            and o["customer_ref"] == c["customer_ref"]
            and c.started < o.started < END + timedelta(days=7)
        ]
        c.next_contact = min(later, default=None)
    return convs


def _truncate(ts: datetime, bucket: Bucket | None) -> datetime | None:
    if bucket is None:
        return None
    if bucket == "hour":
        return ts.replace(minute=0, second=0, microsecond=0)
    day = ts.replace(hour=0, minute=0, second=0, microsecond=0)
    if bucket == "week":  # ISO weeks start on Monday
        return day - timedelta(days=day.weekday())
    return day


def _dim(c: Conv, dim: str) -> str | None:
    value = (c["segments"] or {}).get(dim) if dim == "site" else c[dim]
    return None if value is None else str(value)


@dataclass(frozen=True)
class View:
    bucket: Bucket | None
    group_by: tuple[str, ...]
    site: str | None = None  # a filter

    def slice(self) -> Slice:
        filters = (("site", (self.site,)),) if self.site else ()
        return Slice("g", START, END, self.bucket, self.group_by, filters)


VIEWS = [
    View("day", ("journey",)),
    View("day", ("journey",), site="leeds"),
    View(None, ("site", "channel")),
    View("hour", ("outcome",)),
    View("hour", ("journey", "channel")),
    View("week", ("channel",)),
    View(None, ()),
]


def _expected(records: list[dict[str, Any]], view: View) -> dict[str, dict[Any, Value]]:
    convs = [
        c
        for c in _conversations(records)
        if c["deployment"] == "g"
        and START <= c.started < END
        and (view.site is None or _dim(c, "site") == view.site)
    ]
    groups: dict[Any, list[Conv]] = {}
    for c in convs:
        key = (_truncate(c.started, view.bucket), tuple(_dim(c, d) for d in view.group_by))
        groups.setdefault(key, []).append(c)
    if not groups and not view.bucket and not view.group_by:
        groups[(None, ())] = []  # a whole-slice aggregate always answers
    out: dict[str, dict[Any, Value]] = {}
    for metric_id, define in DEFINITIONS.items():
        m = REGISTRY[metric_id]
        out[metric_id] = {
            key: define(cs)
            for key, cs in groups.items()
            # Turn metrics have points only where a group has a value to measure; a
            # whole-slice aggregate always answers.
            if m.source == "interactions" or define(cs)[1] or key == (None, ())
        }
    return out


def _close(got: float | None, want: float | None) -> bool:
    if got is None or want is None:
        return got is want
    return got == pytest.approx(want, rel=1e-9, abs=1e-9)


def test_every_metric_has_a_recomputation() -> None:
    assert set(DEFINITIONS) == set(REGISTRY)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # a fresh store per example comes from the factory
    ],
)
@given(
    raw=st.lists(_record, min_size=4, max_size=16),
    view=st.sampled_from(VIEWS),
    rollups=st.booleans(),
)
def test_engine_agrees_with_a_plain_recomputation(
    raw: list[dict[str, Any]], view: View, rollups: bool, new_events: Callable[[], EventStore]
) -> None:
    """Both paths (exact rollups where the slice allows, raw rows otherwise) give the
    numbers a plain Python recomputation gives, on each engine."""
    records = [_wire(i, r) for i, r in enumerate(raw)]
    store = new_events()
    try:
        decoded = decode_json(orjson.dumps(records))
        assert decoded.errors == []
        store.write(decoded.batch, source="t", batch_id="1")
        points = metric_points(store, list(REGISTRY), view.slice(), rollups=rollups)
    finally:
        store.close()
    expected = _expected(records, view)
    got: dict[str, dict[Any, Value]] = {m: {} for m in REGISTRY}
    for p in points:
        key = (p.bucket, tuple(p.group[d] for d in view.group_by))
        got[p.metric][key] = (p.value, p.n, p.lo, p.hi)
    for metric_id in REGISTRY:
        assert got[metric_id].keys() == expected[metric_id].keys(), metric_id
        for key, want in expected[metric_id].items():
            value, n, lo, hi = got[metric_id][key]
            assert n == want[1], (metric_id, key)
            assert all(
                _close(g, w) for g, w in zip((value, lo, hi), (want[0], *want[2:]), strict=True)
            ), (metric_id, key, got[metric_id][key], want)
            if REGISTRY[metric_id].unit == "rate" and value is not None:
                assert 0.0 <= value <= 1.0

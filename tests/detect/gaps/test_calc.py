"""Gap ids across runs, and the type of each gap: golden cases on hand-made data."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone

import numpy as np

from daytwo.detect.gaps.calc import (
    GapParams,
    KnownIntents,
    PreviousGap,
    assign_ids,
    build_gaps,
    classify,
    kind_phrase,
    known_intents,
    new_gap_id,
    representative,
)
from daytwo.detect.gaps.candidates import Candidates
from daytwo.detect.gaps.cluster import Clustering

AS_OF = datetime(2026, 3, 29, tzinfo=UTC)


def unit(*values: float) -> np.ndarray:
    v = np.array(values, dtype=np.float32)
    return v / np.linalg.norm(v)


def keys(*ids: str) -> frozenset[tuple[str, int]]:
    return frozenset((i, 0) for i in ids)


def test_a_gap_found_again_keeps_its_id_by_shared_utterances() -> None:
    previous = [PreviousGap("gap-old", keys("a", "b", "c", "d"), None)]
    ids = assign_ids(
        "bot",
        [keys("x", "y", "z"), keys("b", "c", "d", "e", "f")],
        np.eye(2),
        previous,
        GapParams(),
    )
    assert ids[1] == "gap-old"
    assert ids[0] == new_gap_id("bot", sorted(keys("x", "y", "z")))


def test_a_gap_with_new_utterances_keeps_its_id_by_its_centre() -> None:
    previous = [PreviousGap("gap-old", keys("a", "b"), unit(1, 0.05))]
    ids = assign_ids("bot", [keys("p", "q")], np.stack([unit(1, 0)]), previous, GapParams())
    assert ids == ["gap-old"]
    far = assign_ids("bot", [keys("p", "q")], np.stack([unit(0, 1)]), previous, GapParams())
    assert far != ["gap-old"]


def test_one_previous_gap_goes_to_its_best_match_only() -> None:
    previous = [PreviousGap("gap-old", keys("a", "b", "c", "d"), None)]
    ids = assign_ids(
        "bot", [keys("a", "x", "y"), keys("a", "b", "c")], np.eye(2), previous, GapParams()
    )
    assert ids[1] == "gap-old"
    assert ids[0] != "gap-old"


def test_new_ids_do_not_depend_on_order_and_never_collide() -> None:
    a, b = keys("k1", "k2"), keys("k1", "k3")  # same first utterance can't happen, but guard
    ids = assign_ids("bot", [a, b], np.eye(2), [], GapParams())
    assert len(set(ids)) == 2
    assert new_gap_id("bot", [("k2", 1), ("k1", 0)]) == new_gap_id("bot", [("k1", 0), ("k2", 1)])
    assert new_gap_id("bot", [("k1", 0)]) != new_gap_id("other", [("k1", 0)])


def candidates(n: int, **over: object) -> Candidates:
    base: dict[str, object] = {
        "interaction_id": [f"i{k}" for k in range(n)],
        "seq": np.zeros(n, dtype=np.int64),
        "text": ["pay with bitcoin"] * n,
        "started_at": np.array(["2026-03-27T10:00"] * n, dtype="datetime64[us]"),
        "journey": ["billing"] * n,
        "customer_ref": [f"u{k % 2}" for k in range(n)],
        "answer_intent": ["fallback"] * n,
        "answer_confidence": np.full(n, 0.1),
        "signals": {
            "fallback": np.ones(n, dtype=bool),
            "low_confidence": np.ones(n, dtype=bool),
            "rephrased": np.zeros(n, dtype=bool),
            "escalated": np.zeros(n, dtype=bool),
        },
    }
    base.update(over)
    return Candidates(**base)  # type: ignore[arg-type]


KNOWN = KnownIntents(["reset_password"], np.stack([unit(1, 0, 0)]))


def test_far_from_every_known_intent_is_a_new_intent() -> None:
    kind, intent, reason = classify(
        candidates(6), np.arange(6), unit(0, 1, 0), np.full(6, 0.7), KNOWN, GapParams()
    )
    assert (kind, intent) == ("new_intent", None)
    assert "reset_password" in reason


def test_as_close_to_a_known_intent_as_to_itself_is_misrouting() -> None:
    kind, intent, _ = classify(
        candidates(6), np.arange(6), unit(1, 0.2, 0), np.full(6, 0.7), KNOWN, GapParams()
    )
    assert (kind, intent) == ("misrouting", "reset_password")


def test_low_confidence_answers_that_guess_one_known_intent_are_misrouting() -> None:
    cand = candidates(
        5,
        answer_intent=["reset_password"] * 4 + ["fallback"],
        answer_confidence=np.array([0.3, 0.3, 0.3, 0.3, 0.1]),
        signals={
            "fallback": np.array([False] * 4 + [True]),
            "low_confidence": np.ones(5, dtype=bool),
            "rephrased": np.zeros(5, dtype=bool),
            "escalated": np.zeros(5, dtype=bool),
        },
    )
    kind, intent, reason = classify(
        cand, np.arange(5), unit(0, 1, 0), np.full(5, 0.9), KNOWN, GapParams()
    )
    assert (kind, intent) == ("misrouting", "reset_password")
    assert "4 of 5" in reason


def test_understood_but_still_escalated_is_missing_knowledge() -> None:
    cand = candidates(
        4,
        answer_intent=["refund_status"] * 4,
        answer_confidence=np.full(4, 0.9),
        signals={
            "fallback": np.zeros(4, dtype=bool),
            "low_confidence": np.zeros(4, dtype=bool),
            "rephrased": np.zeros(4, dtype=bool),
            "escalated": np.ones(4, dtype=bool),
        },
    )
    kind, intent, _ = classify(
        cand, np.arange(4), unit(0, 1, 0), np.full(4, 0.8), None, GapParams()
    )
    assert (kind, intent) == ("missing_knowledge", "refund_status")


def test_without_known_intents_a_gap_is_new() -> None:
    kind, _, reason = classify(
        candidates(5), np.arange(5), unit(0, 1, 0), np.full(5, 0.8), None, GapParams()
    )
    assert kind == "new_intent"
    assert "no intent" in reason


def test_known_intents_need_a_few_examples_each() -> None:
    vectors = np.stack([unit(1, 0), unit(1, 0.1), unit(0.9, 0), unit(0, 1)])
    known = known_intents(["a", "a", "a", "b"], vectors)
    assert known.names == ["a"]
    assert np.isclose(np.linalg.norm(known.centroids[0]), 1.0)


def test_volume_growth_journeys_and_examples() -> None:
    days = ["2026-03-27", "2026-03-26", "2026-03-25", "2026-03-18", "2026-03-17", "2026-03-01"]
    cand = candidates(
        6,
        started_at=np.array([f"{d}T12:00" for d in days], dtype="datetime64[us]"),
        journey=["billing", "billing", "cards", None, "billing", "cards"],
        text=["pay bitcoin", "Pay  bitcoin", "bitcoin please", "crypto", "btc", "coins"],
    )
    clustering = Clustering(
        labels=np.zeros(6, dtype=np.int64),
        similarity=np.array([0.9, 0.95, 0.8, 0.7, 0.6, 0.5]),
        centroids=np.stack([unit(0, 1, 0)]),
        min_similarity=0.45,
        rounds=1,
    )
    [gap] = build_gaps("bot", cand, clustering, AS_OF, known=KNOWN)
    assert gap.volume == 6
    assert (gap.recent, gap.previous) == (3, 2)
    assert gap.growth == 0.5
    assert gap.journeys == {"billing": 3, "cards": 2, "(none)": 1}
    # Weeks end at the look: the last is the recent days, the one before the previous ones,
    # and a week with none counts 0 (a line over the gap would read as utterances).
    assert [w.isoformat() for w, _ in gap.weekly] == [
        "2026-03-01",
        "2026-03-08",
        "2026-03-15",
        "2026-03-22",
    ]
    assert [n for _, n in gap.weekly] == [1, 0, 2, 3]
    # Nearest the centre first, one per wording ("Pay  bitcoin" repeats "pay bitcoin").
    assert gap.examples[:3] == [1, 2, 3]
    assert gap.customers == 2
    assert gap.signals["fallback"] == 6
    assert gap.first_seen.date().isoformat() == "2026-03-01"
    assert gap.kind == "new_intent"
    assert gap.label == "pay bitcoin"  # the wording nearest the centre (two spellings of it)


def test_the_label_is_the_wording_nearest_the_centre_in_the_users_words() -> None:
    texts = ["pay bitcoin", "Pay  bitcoin?", "can I pay my bill with bitcoin", "btc"]
    cand = candidates(4, text=texts)
    label = representative(cand, np.arange(4), np.array([0.80, 0.80, 0.90, 0.50]))
    assert label == "can I pay my bill with bitcoin"
    # A near tie goes to the wording most customers used.
    tie = representative(cand, np.arange(4), np.array([0.88, 0.88, 0.90, 0.50]))
    assert tie == "pay bitcoin"
    long = candidates(1, text=["word " * 40])
    cut = representative(long, np.arange(1), np.array([0.9]))
    assert cut is not None
    assert len(cut) <= 80
    assert cut.endswith("…")


def _representative_per_member(texts: list[str], rows: np.ndarray, sim: np.ndarray) -> str | None:
    """The label's rule as first written, one member after another (the reference)."""
    weight: dict[str, float] = {}
    count: Counter[str] = Counter()
    shown: dict[str, str] = {}
    for r, s in zip(rows, sim, strict=True):
        text = " ".join(texts[int(r)].split())
        key = text.lower().rstrip("?.! ")
        if not key:
            continue
        shown.setdefault(key, text)
        count[key] += 1
        weight[key] = max(weight.get(key, -1.0), float(s))
    if not weight:
        return None
    most = max(count.values())
    best = max(weight, key=lambda k: (weight[k] + 0.05 * count[k] / most, -len(k), k))
    text = shown[best]
    return text if len(text) <= 80 else text[:79].rsplit(" ", 1)[0].rstrip(",;:") + "…"


def test_the_label_read_per_wording_is_the_one_read_per_member() -> None:
    # Repeats, spellings of one wording ("Pay bitcoin?" beside "pay  bitcoin"), texts with no
    # words, ties, NaN and similarities below -1: the same label as the per-member rule.
    words = ["pay bitcoin", "Pay bitcoin?", "pay  bitcoin", "PAY BITCOIN!", "btc", "  ", "?!",
             "can I pay my bill with bitcoin", "word " * 30, "refund", "Refund.", "x"]  # fmt: skip
    rng = np.random.default_rng(7)
    texts = [words[int(i)] for i in rng.integers(0, len(words), 400)]
    cand = candidates(len(texts), text=texts)
    for trial in range(300):
        rows = np.sort(rng.choice(len(texts), int(rng.integers(1, 40)), replace=False))
        sim = (
            rng.choice([0.5, 0.8, 0.9, -1.5, np.nan], len(rows))
            if trial % 3 == 0
            else (rng.uniform(-1, 1, len(rows)))
        )
        assert representative(cand, rows, sim) == _representative_per_member(texts, rows, sim)


def business_intents() -> KnownIntents:
    """Six intents of one business, each close to a neighbour, none on the third axis."""
    rows = [(1, 0, 0), (1, 0.3, 0), (0, 1, 0), (0.3, 1, 0), (1, 1, 0), (1, 1, 0.3)]
    vectors = np.stack([unit(*r) for r in rows])
    names = ["a", "b", "c", "d", "e", "f"]
    return known_intents([n for n in names for _ in range(3)], np.repeat(vectors, 3, axis=0))


def test_a_gap_far_outside_the_business_is_off_topic_not_a_new_intent() -> None:
    known = business_intents()
    assert known.floor is not None
    assert known.floor > 0.9
    kind, intent, reason = classify(
        candidates(6), np.arange(6), unit(0, 0, 1), np.full(6, 0.5), known, GapParams()
    )
    assert (kind, intent) == ("off_topic", None)
    assert "outside what the assistant is for" in reason
    # Among the business's intents, yet tighter than its nearest one: a new intent.
    kind, _, _ = classify(
        candidates(6), np.arange(6), unit(1, 0.5, 0), np.full(6, 0.995), known, GapParams()
    )
    assert kind == "new_intent"


def test_too_few_known_intents_say_nothing_of_what_is_off_topic() -> None:
    assert KNOWN.floor is None
    kind, _, _ = classify(
        candidates(6), np.arange(6), unit(0, 0, 1), np.full(6, 0.9), KNOWN, GapParams()
    )
    assert kind == "new_intent"


def test_what_a_gap_asks_of_its_owner() -> None:
    assert kind_phrase("misrouting", "transfer") == "retrain intent transfer"
    assert kind_phrase("missing_knowledge", "refund") == "missing answer in refund"
    assert kind_phrase("new_intent", None) == "new intent"
    assert kind_phrase("off_topic", None) == "off-topic"


def test_a_gap_of_a_known_intents_misses_asks_to_retrain_that_intent() -> None:
    # Far from every known intent by its centre (classify would call it new), but made of
    # utterances each attached to reset_password: its type says so.
    clustering = Clustering(
        labels=np.zeros(3, dtype=np.int64),
        similarity=np.full(3, 0.8),
        centroids=np.stack([unit(0, 1, 0)]),
        min_similarity=0.45,
        rounds=1,
    )
    [plain] = build_gaps("bot", candidates(3), clustering, AS_OF, known=KNOWN)
    assert plain.kind == "new_intent"
    [gap] = build_gaps(
        "bot", candidates(3), clustering, AS_OF, known=KNOWN, attached={0: "reset_password"}
    )
    assert (gap.kind, gap.intent) == ("misrouting", "reset_password")
    assert "3 utterances no gap holds" in gap.kind_reason
    assert kind_phrase(gap.kind, gap.intent) == "retrain intent reset_password"


def test_recent_previous_and_weeks_count_the_instants_at_their_edges_as_datetimes_do() -> None:
    # The window's edges and the weeks are compared as microsecond numbers now, not as a
    # datetime a member: the same counts as the datetimes give, at every edge (a microsecond
    # either side of the recent and previous windows' starts and of the end, Sunday night
    # against Monday morning in UTC), with an end that is not on a whole second or in UTC.
    as_of = datetime(2026, 3, 29, 9, 30, 0, 250, tzinfo=UTC)
    recent_start = as_of - timedelta(days=7)
    previous_start = recent_start - timedelta(days=7)
    micro = timedelta(microseconds=1)
    instants = [
        as_of - micro, as_of, as_of + micro, recent_start - micro, recent_start,
        recent_start + micro, previous_start - micro, previous_start, previous_start + micro,
        datetime(2026, 3, 22, 23, 59, 59, 999_999, tzinfo=UTC), datetime(2026, 3, 23, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2025, 12, 28, 23, 0, tzinfo=UTC),
    ]  # fmt: skip
    n = len(instants)
    stamps = np.array([t.replace(tzinfo=None) for t in instants], dtype="datetime64[us]")
    clustering = Clustering(
        labels=np.zeros(n, dtype=np.int64),
        similarity=np.linspace(0.9, 0.5, n),
        centroids=np.stack([unit(0, 1, 0)]),
        min_similarity=0.45,
        rounds=1,
    )
    paris = timezone(timedelta(hours=1))
    for end in (as_of, as_of.astimezone(paris)):
        [gap] = build_gaps("bot", candidates(n, started_at=stamps), clustering, end, known=KNOWN)
        assert gap.recent == sum(1 for t in instants if recent_start <= t < as_of) == 5
        assert gap.previous == sum(1 for t in instants if previous_start <= t < recent_start)
        assert gap.previous == 3
        week = timedelta(days=7)
        periods = Counter(max(0, (end - t - micro) // week) for t in instants)
        assert gap.weekly == [
            ((end - week * (p + 1)).date(), periods.get(p, 0)) for p in range(max(periods), -1, -1)
        ]
        # The last week is the recent days, the one before the previous ones, edges included
        # (and the instants from the end on, which a window ending at the look never holds).
        later = sum(1 for t in instants if t >= as_of)
        assert [n for _, n in gap.weekly[-2:]] == [gap.previous, gap.recent + later]
        assert all(type(w) is date and type(c) is int for w, c in gap.weekly)
        assert (gap.first_seen, gap.last_seen) == (min(instants), max(instants))
        assert gap.first_seen.tzinfo is not None

"""Silent failures: conversations that went wrong without an error or a complaint."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import in_window, started_ns, utc_day_number
from daytwo.detect.data import (
    DAY_US,
    INTERACTIONS_OF_SPAN,
    SPAN_END,
    SPAN_START,
    AnalysisData,
    EngineRead,
    days_before_end_sql,
)
from daytwo.detect.findings import (
    Finding,
    FindingScope,
    Measure,
    Severity,
    evidence_sample,
    weekly_impact,
)
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import benjamini_hochberg, normal_sf, two_proportion_z
from daytwo.detect.validators import transcripts, validators
from daytwo.interactions.facts import LOW_CONFIDENCE, flag_array
from daytwo.store.events.columns import epoch_us

WORD = re.compile(r"[a-z0-9']+")

SIGNALS = {
    "rephrase_after_answer": "customers rephrase right after an answer",
    "answer_loop": "the assistant repeats the same answer",
    "escalation_after_resolved": "hand-overs after a confident answer",
    "negative_after_resolved": "negative feedback on contained conversations",
    "abandon_after_answer": "customers leave right after an answer",
}


@dataclass(frozen=True, slots=True)
class SilentParams:
    """Tests per signal and journey against the baseline; validator sampling and threshold."""

    min_sample: int = 100
    min_effect: float = 0.03
    fdr: float = 0.01
    similarity: float = 0.5  # SIMILARITY: the engine reads count at this one
    validator_sample: int = 50  # VALIDATOR_SAMPLE: the engine read samples this many
    validator_fail_share: float = 0.2
    validator_min_failed: int = 5


def signals(interactions: pa.Table, turns: pa.Table, similarity: float) -> dict[str, np.ndarray]:
    """Per interaction, whether each silent-failure signal shows (one boolean array each)."""
    n = interactions.num_rows
    out = {name: np.zeros(n, dtype=bool) for name in SIGNALS}
    if n == 0:
        return out
    outcome = interactions["outcome"]
    contained = flag_array(pc.equal(outcome, "contained"))
    handed = flag_array(pc.is_in(outcome, pa.array(["escalated", "transferred"])))
    abandoned = flag_array(pc.equal(outcome, "abandoned"))
    csat = interactions["csat"].to_numpy(zero_copy_only=False).astype(np.float64)
    negative = np.asarray(
        pc.fill_null(interactions["n_negative_turns"], 0).to_numpy(zero_copy_only=False)
    )
    out["negative_after_resolved"] = contained & ((csat <= 2) | (negative > 0))
    if turns.num_rows == 0:
        return out
    rows = np.asarray(
        pc.fill_null(
            pc.index_in(turns["interaction_id"], interactions["interaction_id"]), -1
        ).to_numpy(zero_copy_only=False)
    )
    keep = rows >= 0
    # The roles as flags, compared in Arrow: not every turn's role as a Python string.
    is_user = flag_array(pc.equal(turns["role"], "user"))
    is_assistant = flag_array(pc.equal(turns["role"], "assistant"))
    fallback = flag_array(turns["fallback"])
    confidence = pc.fill_null(turns["confidence"], 0.0).to_numpy(zero_copy_only=False)
    is_answer = is_assistant & ~fallback
    same_prev = np.zeros(len(rows), dtype=bool)
    same_prev[1:] = (rows[1:] == rows[:-1]) & keep[1:]
    # Rephrase: user, answer (not a fallback), user again saying nearly the same thing.
    idx = np.flatnonzero(
        is_user[2:] & is_answer[1:-1] & is_user[:-2] & same_prev[2:]
        & same_prev[1:-1]
    ) + 2  # fmt: skip
    if len(idx):
        # Only the messages compared are taken out of Arrow (not every turn's text).
        before = turns["text"].take(pa.array(idx - 2, type=pa.int64())).to_pylist()
        after = turns["text"].take(pa.array(idx, type=pa.int64())).to_pylist()
        for i, x, y in zip(idx.tolist(), before, after, strict=True):
            if _rephrased(x or "", y or "", similarity):
                out["rephrase_after_answer"][rows[i]] = True
    # Answer loop: the same (non-fallback) answer text twice in one conversation.
    answers = np.flatnonzero(is_answer & keep)
    if len(answers):
        pairs = pa.table(
            {
                "row": pa.array(rows[answers]),
                "text": turns["text"].take(pa.array(answers, type=pa.int64())),
            }
        ).filter(pc.is_valid(pc.field("text")))
        counts = pairs.group_by(["row", "text"]).aggregate([("text", "count")])
        looped = counts.filter(pc.greater(counts["text_count"], 1))["row"].to_numpy()
        out["answer_loop"][np.unique(looped)] = True
    # The last turn of each conversation; and its last assistant turn.
    last = np.ones(len(rows), dtype=bool)
    last[:-1] = rows[:-1] != rows[1:]
    last_idx = np.flatnonzero(last & keep)
    ended_on_answer = np.zeros(n, dtype=bool)
    ended_on_answer[rows[last_idx]] = is_answer[last_idx]
    out["abandon_after_answer"] = abandoned & ended_on_answer
    confident = is_answer & (confidence >= LOW_CONFIDENCE)
    said = np.flatnonzero(is_assistant & keep)
    final = said[np.r_[rows[said][1:] != rows[said][:-1], True]] if len(said) else said
    final_confident = np.zeros(n, dtype=bool)
    final_confident[rows[final]] = confident[final]
    # The bot's final word was a confident answer (it deemed the request resolved), yet the
    # conversation was handed over.
    out["escalation_after_resolved"] = handed & final_confident
    return out


@lru_cache(maxsize=1 << 16)
def _words(text: str) -> frozenset[str]:
    return frozenset(WORD.findall(text.lower()))


@lru_cache(maxsize=1 << 16)
def _rephrased(before: str, after: str, similarity: float) -> bool:
    """Whether ``after`` shares at least ``similarity`` of the words of both messages (Jaccard);
    remembered, since the same pairs of messages recur from look to look."""
    a, b = _words(before), _words(after)
    return bool(a and b and len(a & b) / len(a | b) >= similarity)


# The similarity above which a message right after an answer is a rephrase (Jaccard of the
# two messages' words): what the engine reads compute with, and the params' default.
SIMILARITY = 0.5
# The days the flagged conversations are read for: the analysis's current period.
FLAGGED_DAYS = 7
_AGO = days_before_end_sql("started_at")
_ANSWER = "t.role = 'assistant' AND NOT coalesce(t.fallback, false)"
_BY_SEQ = "OVER (PARTITION BY t.interaction_id ORDER BY t.seq)"


def _words_sql(text: str) -> str:
    """The distinct words of ``text`` (:data:`WORD` over its lower case), as a list."""
    return f"array_distinct(regexp_extract_all(lower({text}), '[a-z0-9'']+'))"


_OF_SPAN = (
    "FROM turns t WHERE t.deployment = ? AND t.interaction_id IN "  # noqa: S608
    f"(SELECT interaction_id FROM {INTERACTIONS_OF_SPAN} s)"
)
# The customer's messages right after an answer (user, answer, user in a row), each with the
# customer's message before the answer: the rephrase candidates, in one pass over the turns in
# order (the window holds every turn of the span). The message before is the turn two back in
# that order (before: joined back twice by ``seq``, 0.5 s more of the engine's CPU on 90 days
# of a busy deployment, where the window itself costs about as much).
_AFTER_ANSWER = (
    f"t.role = 'user' AND lag(t.role, 1) {_BY_SEQ} = 'assistant' AND NOT "
    f"coalesce(lag(t.fallback, 1) {_BY_SEQ}, false) AND lag(t.role, 2) {_BY_SEQ} = 'user'"
)
_CANDIDATES = (
    "SELECT interaction_id, before_text, text FROM (SELECT t.interaction_id AS interaction_id, "  # noqa: S608
    f"CASE WHEN {_AFTER_ANSWER} THEN lag(t.text, 2) {_BY_SEQ} END AS before_text, "
    f"t.text AS text, CASE WHEN {_AFTER_ANSWER} THEN 1 ELSE 0 END AS candidate {_OF_SPAN}) c "
    "WHERE candidate = 1"
)
# A candidate is a rephrase where the two messages share at least SIMILARITY of their words:
# the words of each distinct message worked out once (the same messages recur across
# conversations), then compared per candidate.
_SHARED = "array_length(array_intersect(wa.words, wb.words))"
_REPHRASES = (
    f"WITH c AS MATERIALIZED ({_CANDIDATES}), "  # noqa: S608
    f"m AS MATERIALIZED (SELECT x AS text, {_words_sql('x')} AS words FROM "
    "(SELECT before_text AS x FROM c UNION SELECT text AS x FROM c) u WHERE x IS NOT NULL) "
    "SELECT DISTINCT c.interaction_id AS r_id FROM c "
    "JOIN m wa ON wa.text = c.before_text JOIN m wb ON wb.text = c.text "
    "WHERE array_length(wa.words) > 0 AND array_length(wb.words) > 0 "
    f"AND {_SHARED} / (array_length(wa.words) + array_length(wb.words) - {_SHARED}) "
    f">= {SIMILARITY}"
)
# Per conversation with turns: whether its last turn is an answer (no fallback) and whether its
# last assistant turn is a confident answer; each the parity of the largest ``2 * seq + flag``
# over the turns considered (the last turn's flag).
_ANSWER_FLAG = f"CASE WHEN {_ANSWER} THEN 1 ELSE 0 END"
_CONFIDENT_FLAG = (
    f"CASE WHEN {_ANSWER} AND coalesce(t.confidence, 0.0) >= {LOW_CONFIDENCE} THEN 1 ELSE 0 END"
)
_CONVERSATIONS = (
    "SELECT t.interaction_id AS c_id, "
    f"max(2 * t.seq + {_ANSWER_FLAG}) % 2 AS ended_on_answer, "
    f"max(CASE WHEN t.role = 'assistant' THEN 2 * t.seq + {_CONFIDENT_FLAG} END) % 2 "
    f"AS final_confident {_OF_SPAN} GROUP BY t.interaction_id"
)
# Those where the same answer (no fallback) came twice.
_LOOPS = (
    "SELECT DISTINCT interaction_id AS l_id FROM (SELECT t.interaction_id AS interaction_id "  # noqa: S608
    f"{_OF_SPAN} AND {_ANSWER} AND t.text IS NOT NULL "
    "GROUP BY t.interaction_id, t.text HAVING count(*) > 1) z"
)
_FLAGS = {
    "rephrase_after_answer": "r.r_id IS NOT NULL",
    "answer_loop": "l.l_id IS NOT NULL",
    "escalation_after_resolved": "i.outcome IN ('escalated', 'transferred') "
    "AND coalesce(c.final_confident, 0) = 1",
    "negative_after_resolved": "i.outcome = 'contained' "
    "AND (i.csat <= 2 OR coalesce(i.n_negative_turns, 0) > 0)",
    "abandon_after_answer": "i.outcome = 'abandoned' AND coalesce(c.ended_on_answer, 0) = 1",
}
if set(_FLAGS) != set(SIGNALS):  # pragma: no cover - a signal left out
    raise RuntimeError("every silent-failure signal needs its SQL in silent.py")
# Each conversation of the span: its day before the end, UTC day, journey ('' for none) and
# each signal as 0 or 1.
_SIGNALS = (
    f"SELECT i.interaction_id AS interaction_id, i.started_at AS started_at, {_AGO} AS ago, "  # noqa: S608
    "CAST(i.started_at AS DATE) AS day, coalesce(CAST(i.journey AS VARCHAR), '') AS journey, "
    + ", ".join(f"CASE WHEN {cond} THEN 1 ELSE 0 END AS {name}" for name, cond in _FLAGS.items())
    + " FROM (SELECT interaction_id, started_at, journey, outcome, csat, n_negative_turns "  # noqa: S608
    f"FROM interactions WHERE deployment = ? AND started_at >= {SPAN_START} "
    f"AND started_at < {SPAN_END}) i "
    f"LEFT JOIN ({_CONVERSATIONS}) c ON c.c_id = i.interaction_id "
    f"LEFT JOIN ({_REPHRASES}) r ON r.r_id = i.interaction_id "
    f"LEFT JOIN ({_LOOPS}) l ON l.l_id = i.interaction_id"
)
_DAYS_SQL = (
    "SELECT ago, day, journey, CAST(count(*) AS BIGINT) AS n, "  # noqa: S608
    + ", ".join(f"CAST(sum({name}) AS BIGINT) AS {name}" for name in SIGNALS)
    + f" FROM ({_SIGNALS}) f GROUP BY ago, day, journey"
)
_FLAGGED_SQL = (
    "SELECT interaction_id, started_at, "  # noqa: S608
    + ", ".join(f"CAST({name} AS BIGINT) AS {name}" for name in SIGNALS)
    + f" FROM ({_SIGNALS}) f WHERE "
    + " OR ".join(f"{name} = 1" for name in SIGNALS)
)


def _signal_rows(
    data: AnalysisData, start: datetime | None
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """The analysis's conversations started from ``start`` (None: all of them, the read's
    span) and their signals, from the raw rows."""
    t = data.interactions
    flags = signals(t, data.turns, SIMILARITY)
    if start is None:
        return t, flags
    keep = started_ns(t) >= epoch_us(start) * 1000
    return t.filter(pa.array(keep)), {k: v[keep] for k, v in flags.items()}


def _days_from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw interactions and turns."""
    t, flags = _signal_rows(data, None)
    end_us = epoch_us(data.window.current_end)
    started = started_ns(t) // 1000
    table = pa.table(
        {
            "ago": (end_us - started - 1) // DAY_US,
            "day": pa.array((started // DAY_US).astype(np.int32)).cast(pa.date32()),
            "journey": pc.fill_null(pc.cast(t["journey"], pa.string()), ""),
            "n": np.ones(t.num_rows, dtype=np.int64),
            **{name: flags[name].astype(np.int64) for name in SIGNALS},
        }
    )
    sums = [(c, "sum") for c in ("n", *SIGNALS)]
    grouped = table.group_by(["ago", "day", "journey"], use_threads=False).aggregate(sums)
    return grouped.rename_columns([c.removesuffix("_sum") for c in grouped.column_names]).select(
        ["ago", "day", "journey", "n", *SIGNALS]
    )


def _flagged_from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw interactions and turns (its last :data:`FLAGGED_DAYS`)."""
    t, flags = _signal_rows(data, data.window.current_end - timedelta(days=FLAGGED_DAYS))
    any_flag = np.zeros(t.num_rows, dtype=bool)
    for v in flags.values():
        any_flag |= v
    keep = pa.array(any_flag)
    return pa.table(
        {
            "interaction_id": pc.cast(t["interaction_id"], pa.string()).filter(keep),
            "started_at": pc.cast(t["started_at"], pa.timestamp("us", tz="UTC")).filter(keep),
            **{name: flags[name][any_flag].astype(np.int64) for name in SIGNALS},
        }
    )


# The validators' sample: this many contained conversations of the current period, spread
# evenly over them in time order (what ``np.linspace(0, n - 1, k).round()`` picks).
VALIDATOR_SAMPLE = 50
_GAPS = VALIDATOR_SAMPLE - 1  # odd: no pick falls half-way between two conversations
_CONTAINED = (
    "SELECT interaction_id, started_at, journey, outcome, "  # noqa: S608
    "row_number() OVER (ORDER BY started_at, interaction_id) - 1 AS r, "
    "count(*) OVER () AS total FROM interactions WHERE deployment = ? "
    f"AND started_at >= {SPAN_START} AND started_at < {SPAN_END} AND outcome = 'contained'"
)


def _nearest(i: str) -> str:
    """SQL: the conversation the ``i``-th pick falls on, ``round(i * (total - 1) / _GAPS)``
    (never half-way: the numerator's double is odd over an even denominator)."""
    return f"floor((2 * ({i}) * (total - 1) + {_GAPS}) / {2 * _GAPS}.0)"


# The ``r``-th conversation is picked when the pick nearest it (floor or ceiling of
# ``r * _GAPS / (total - 1)``) falls on it; every one where there are no more than the sample.
_LOWER = f"floor(r * {_GAPS} / greatest(total - 1, 1))"
_PICKED = (
    f"total <= {VALIDATOR_SAMPLE} OR {_nearest(_LOWER)} = r OR ({_LOWER} < {_GAPS} "
    f"AND {_nearest(_LOWER + ' + 1')} = r)"
)
_SAMPLE_SQL = (
    "WITH p AS MATERIALIZED (SELECT interaction_id, started_at, journey, outcome "  # noqa: S608
    f"FROM ({_CONTAINED}) c WHERE {_PICKED}) "
    "SELECT p.interaction_id AS interaction_id, p.started_at AS started_at, "
    "CAST(p.journey AS VARCHAR) AS journey, CAST(p.outcome AS VARCHAR) AS outcome, "
    "t.seq AS seq, t.role AS role, t.text AS text FROM p LEFT JOIN "
    "(SELECT interaction_id, seq, CAST(role AS VARCHAR) AS role, text FROM turns "
    "WHERE deployment = ? AND interaction_id IN (SELECT interaction_id FROM p)) t "
    "ON t.interaction_id = p.interaction_id"
)


def _sample_rows(t: pa.Table, contained: np.ndarray) -> np.ndarray:
    """The rows of ``t`` the validators judge: :data:`VALIDATOR_SAMPLE` of the ``contained``
    rows (in time order), spread evenly."""
    k = min(VALIDATOR_SAMPLE, len(contained))
    if k == 0:
        return contained
    picked: np.ndarray = contained[np.linspace(0, len(contained) - 1, k).round().astype(int)]
    return picked


def _sample_from_rows(data: AnalysisData) -> pa.Table:
    """:data:`VALIDATOR_TURNS` from an analysis's raw interactions and turns."""
    t = data.interactions
    end = data.window.current_end
    period = in_window(started_ns(t), end - timedelta(days=FLAGGED_DAYS), end)
    rows = _sample_rows(t, np.flatnonzero(period & flag_array(pc.equal(t["outcome"], "contained"))))
    picked = t.take(pa.array(rows, type=pa.int64()))
    ids = pc.cast(picked["interaction_id"], pa.string())
    turns = data.turns.filter(pc.is_in(data.turns["interaction_id"], value_set=ids))
    convs = pa.table(
        {
            "interaction_id": ids,
            "started_at": pc.cast(picked["started_at"], pa.timestamp("us", tz="UTC")),
            "journey": pc.cast(picked["journey"], pa.string()),
            "outcome": pc.cast(picked["outcome"], pa.string()),
        }
    )
    joined = convs.join(
        pa.table(
            {
                "interaction_id": pc.cast(turns["interaction_id"], pa.string()),
                "seq": turns["seq"],
                "role": pc.cast(turns["role"], pa.string()),
                "text": turns["text"],
            }
        ),
        "interaction_id",
        join_type="left outer",
    )
    return joined.select(
        ["interaction_id", "started_at", "journey", "outcome", "seq", "role", "text"]
    )


# The conversations whose signals the engine works out at once: it holds their turns for the
# windows and groupings (about 2 MB per 1,000 conversations of the demo), so the read is made
# a run of days at a time.
SIGNAL_CHUNK = 200_000
SIGNAL_DAYS = EngineRead(
    "silent_signal_days", _DAYS_SQL, "ago", _days_from_rows, chunk=SIGNAL_CHUNK
)
"""The analysed conversations per day before the end × UTC day × journey ('' for none): how
many, and how many show each silent-failure signal."""
FLAGGED = EngineRead(
    "silent_flagged", _FLAGGED_SQL, "started_at", _flagged_from_rows, days=FLAGGED_DAYS
)
"""The conversations of the last :data:`FLAGGED_DAYS` days that show a silent-failure signal
(each with its start and its signals as 0 or 1): where a finding's evidence and impact come
from, instead of every turn."""
VALIDATOR_TURNS = EngineRead(
    "silent_validator_turns",
    _SAMPLE_SQL,
    "look",
    _sample_from_rows,
    days=FLAGGED_DAYS,
    only_if=lambda: bool(validators()),
)
"""The validators' sample (:data:`VALIDATOR_SAMPLE` contained conversations of the last
:data:`FLAGGED_DAYS` days, spread evenly in time order) with their turns' role and text, one
row per turn (one with no turn for a conversation without any): the only turns' text the
analysis reads. A sample of the look's own span: read for each look (``cut`` ``look``), and
only while a validator is registered (none is by default)."""


@detector(
    "silent_failures",
    name="Silent failures",
    params=SilentParams(),
    # The signals are counted by the engine, and the validators' sample read by it.
    needs=Needs(reads=(SIGNAL_DAYS, FLAGGED, VALIDATOR_TURNS)),
)
def detect_silent_failures(data: AnalysisData, params: SilentParams) -> list[Finding]:
    """Conversations that fail without an error: signals that rose, and validator verdicts.

    Signals, per conversation: the customer *rephrases* right after an answer (the next
    message shares at least half its words with the one before the answer); an *answer loop*
    (the same non-fallback answer twice); a *hand-over after a confident answer* (the last
    answer was no fallback, with confidence of at least 0.5, yet the conversation was
    escalated); *negative feedback* on a contained conversation (CSAT of 2 or less, or a
    negative message); *abandonment right after an answer*. Each signal's rate in the current
    period is compared with the baseline, for the deployment and each journey (one-sided
    two-proportion test, at least 100 conversations, 3 points worse, Benjamini-Hochberg at
    1%). Registered validators (see ``validators.py``; the LLM judge when configured) judge a
    sample of 50 contained conversations of the current period; a validator that fails at
    least 20% of them (and 5 or more) is reported.
    """
    t = data.interactions
    w = data.window
    if t.num_rows == 0:
        return []
    if params.similarity != SIMILARITY:
        raise ValueError(f"silent failures count rephrases at a similarity of {SIMILARITY} only")
    starts = started_ns(t)
    cur = in_window(starts, w.current_start, w.current_end)
    # The signals per day before the end × UTC day × journey, from the events engine: the
    # baseline window is whole UTC days, the current period whole days before the end.
    days = data.read(SIGNAL_DAYS)
    ago = days["ago"].to_numpy(zero_copy_only=False)
    day = np.asarray(pc.cast(days["day"], pa.int32()).to_numpy(zero_copy_only=False), np.int64)
    base_rows = (day >= utc_day_number(w.baseline_start)) & (day < utc_day_number(w.baseline_end))
    cur_rows = ago < w.current_days
    journeys = np.asarray(days["journey"].to_numpy(zero_copy_only=False), dtype=object)
    n = days["n"].to_numpy(zero_copy_only=False)
    total = int(n.sum())
    cells: list[tuple[str | None, np.ndarray]] = [(None, np.ones(days.num_rows, dtype=bool))]
    for j in sorted(set(journeys.tolist())):  # in the order of the journeys' names
        mask = journeys == j
        if j and int(n[mask].sum()) != total:
            cells.append((j, mask))
    tests = []
    for name in SIGNALS:
        k = days[name].to_numpy(zero_copy_only=False)
        for journey, mask in cells:
            nb, nc = int(n[mask & base_rows].sum()), int(n[mask & cur_rows].sum())
            if nb < params.min_sample or nc < params.min_sample:
                continue
            kb, kc = int(k[mask & base_rows].sum()), int(k[mask & cur_rows].sum())
            z = two_proportion_z(kb, nb, kc, nc)
            tests.append((name, journey, kb, nb, kc, nc, z))
    out: list[Finding] = []
    if tests:
        found = benjamini_hochberg([normal_sf(x[-1]) for x in tests], params.fdr)
        hits = [x for x, hit in zip(tests, found, strict=True)
                if hit and x[4] / x[5] - x[2] / x[3] >= params.min_effect]  # fmt: skip
        whole = {x[0] for x in hits if x[1] is None}
        flagged = _flagged(data) if hits else {}
        for name, journey, kb, nb, kc, nc, z in hits:
            if journey is None and any(h[0] == name and h[1] is not None for h in hits):
                continue  # the journeys say where
            if journey is not None and name in whole and len([h for h in hits if h[0] == name]) > 3:
                continue  # everywhere at once: the deployment-wide finding says it
            in_journey = (
                np.ones(t.num_rows, dtype=bool)
                if journey is None
                else flag_array(pc.equal(pc.fill_null(t["journey"], ""), journey))
            )
            rows = np.flatnonzero(flagged[name] & in_journey & cur)
            rows = rows[np.argsort(starts[rows], kind="stable")]
            where = f" in {journey}" if journey else ""
            out.append(
                Finding(
                    detector="silent_failures",
                    kind="silent_failure",
                    title=f"More {SIGNALS[name]}{where}: {kb / nb:.1%} → {kc / nc:.1%}",
                    scope=FindingScope(data.deployment.name, journey=journey),
                    severity=Severity.medium if kc / nc - kb / nb >= 0.1 else Severity.low,
                    first_seen=w.current_start,
                    last_seen=w.current_end,
                    baseline=Measure(kb / nb, nb),
                    current=Measure(kc / nc, nc),
                    evidence=evidence_sample(
                        t["interaction_id"].take(pa.array(rows, type=pa.int64()))
                    ),
                    impact=weekly_impact(t.take(pa.array(rows, type=pa.int64())), w.current_days),
                    key=(name,),
                    details={"signal": name, "z": round(z, 2)},
                )
            )
    out += _validated(data, params)
    return out


def _flagged(data: AnalysisData) -> dict[str, np.ndarray]:
    """Per signal, which of the analysis's conversations show it (those of the flagged read:
    the current period's)."""
    t = data.interactions
    read = data.read(FLAGGED)
    row = pc.index_in(
        pc.cast(read["interaction_id"], pa.string()), pc.cast(t["interaction_id"], pa.string())
    )
    rows = np.asarray(pc.fill_null(row, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    found = rows >= 0
    out = {}
    for name in SIGNALS:
        flag = np.zeros(t.num_rows, dtype=bool)
        flag[rows[found]] = read[name].to_numpy(zero_copy_only=False)[found] == 1
        out[name] = flag
    return out


def _validated(data: AnalysisData, params: SilentParams) -> list[Finding]:
    active = validators()
    if not active:
        return []
    if params.validator_sample != VALIDATOR_SAMPLE:
        raise ValueError(f"silent failures' validators judge a sample of {VALIDATOR_SAMPLE} only")
    w = data.window
    read = data.read(VALIDATOR_TURNS)
    at = read["started_at"]
    read = read.filter(
        pc.and_(
            pc.greater_equal(at, pa.scalar(w.current_start)), pc.less(at, pa.scalar(w.current_end))
        )
    ).sort_by([("started_at", "ascending"), ("interaction_id", "ascending"), ("seq", "ascending")])
    if read.num_rows == 0:
        return []
    ids = np.asarray(pc.cast(read["interaction_id"], pa.string()).to_numpy(zero_copy_only=False))
    first = np.r_[True, ids[1:] != ids[:-1]]
    convs = read.filter(pa.array(first)).select(["interaction_id", "journey", "outcome"])
    turns = read.filter(pc.is_valid(read["seq"])).select(["interaction_id", "role", "text"])
    batch = transcripts(convs, turns, np.arange(convs.num_rows))
    out = []
    for v in active:
        verdicts = v.validate(batch)
        failed = [x for x in verdicts if x.failed]
        if not verdicts:
            continue
        share = len(failed) / len(verdicts)
        if len(failed) < params.validator_min_failed or share < params.validator_fail_share:
            continue
        out.append(
            Finding(
                detector="silent_failures",
                kind="silent_failure",
                title=f"Validator {v.name} fails {share:.0%} of contained conversations "
                f"({len(failed)} of {len(verdicts)} judged)",
                scope=FindingScope(data.deployment.name),
                severity=Severity.medium if share >= 0.4 else Severity.low,
                first_seen=w.current_start,
                last_seen=w.current_end,
                current=Measure(share, len(verdicts)),
                evidence=tuple(x.interaction_id for x in failed[:20]),
                key=("validator", v.name),
                details={"validator": v.name, "reasons": [x.reason for x in failed[:5]]},
            )
        )
    return out

"""The ``knowledge_gap`` detector's reads, computed by the events engine instead of every turn.

:data:`CANDIDATES`: the candidate user turns (:func:`~daytwo.detect.gaps.candidates.find_candidates`
picks the same ones out of raw turns), one row each with its signals, of the conversations of the
baseline window and the current period. Every candidate is kept: the clustering samples at most
``sample_size`` of them for its linkage, but then assigns every candidate to a gap, and a gap's
members, volume, weekly counts, first question and evidence are counted over all of them, so a
sample of the candidates would change the gaps. A window holds about one candidate for every
twelve turns, and only their texts are read.

:data:`CONFIDENT`: the confidently answered user turns the clustering learns its cut from
(:func:`~daytwo.detect.gaps.candidates.confident_turns` keeps the first 20 per intent in the
order of the conversations' ids): the engine keeps the first 20 per intent of each day (a UTC day
split where whole days before the read's end fall), so the first 20 of any look whose windows
start and end on those edges are among them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.data import (
    DAY_US,
    INTERACTIONS_OF_SPAN,
    AnalysisData,
    EngineRead,
    Window,
    days_before_end_sql,
)
from daytwo.detect.gaps.candidates import (
    HANDED_OVER,
    SIGNALS,
    Candidates,
    ConfidentTurns,
    confident_turns,
    find_candidates,
)
from daytwo.interactions.facts import LOW_CONFIDENCE, flag_array
from daytwo.store.events.columns import epoch_us

CONFIDENT_LIMIT = 20  # per intent, as :func:`confident_turns`
_NO_AGENT = 2**31 - 1
_HANDED = ", ".join(f"'{o}'" for o in HANDED_OVER)
_BY_SEQ = "OVER (PARTITION BY t.interaction_id ORDER BY t.seq)"
# Each turn of the span's conversations with what its neighbours say: the next turn (the answer
# of a user turn) and the previous one (what a rephrase follows), each conversation's last user
# turn before its first agent turn (the words before a hand-over), and whether the turn has a
# text. No text is carried through the window: the picked turns' texts are joined back by
# ``seq``. Only the conversations that can hold a candidate are read (an answer fell back or had
# low confidence, or it went to a person: the facts stored with each conversation say so).
_TURNS = (
    "SELECT t.interaction_id AS interaction_id, t.seq AS seq, t.role AS role, "  # noqa: S608
    "t.text IS NOT NULL AS has_text, "
    f"lead(t.role) {_BY_SEQ} AS next_role, lead(t.fallback) {_BY_SEQ} AS next_fallback, "
    f"lead(t.confidence) {_BY_SEQ} AS next_confidence, "
    f"lead(CAST(t.intent AS VARCHAR)) {_BY_SEQ} AS next_intent, "
    f"lag(t.role) {_BY_SEQ} AS prev_role, lag(t.fallback) {_BY_SEQ} AS prev_fallback, "
    "max(CASE WHEN t.role = 'user' AND t.seq < coalesce(x.first_agent_seq, "
    f"{_NO_AGENT}) THEN t.seq END) OVER (PARTITION BY t.interaction_id) AS last_before_agent "
    "FROM turns t JOIN (SELECT interaction_id, first_agent_seq FROM interactions "
    "WHERE deployment = ? AND (coalesce(n_fallback_turns, 0) > 0 OR "
    f"coalesce(n_low_confidence_turns, 0) > 0 OR outcome IN ({_HANDED}))) x "
    "ON x.interaction_id = t.interaction_id "
    "WHERE t.deployment = ? AND t.interaction_id IN "
    f"(SELECT interaction_id FROM {INTERACTIONS_OF_SPAN} s)"
)
# The texts of the picked turns: the turns scanned on the left of the join (ClickHouse builds
# a hash table of the right side: here the picked turns).
_TEXTS = (
    "FROM turns b JOIN ({picked}) p ON b.interaction_id = p.interaction_id AND b.seq = p.seq "  # noqa: S608
    "WHERE b.deployment = ? AND b.interaction_id IN "
    f"(SELECT interaction_id FROM {INTERACTIONS_OF_SPAN} s2)"
)
_ANSWERED = "coalesce(q.next_role = 'assistant', false)"
_SIGNAL_SQL = {
    "fallback": f"{_ANSWERED} AND coalesce(q.next_fallback, false)",
    "low_confidence": f"{_ANSWERED} AND coalesce(q.next_confidence < {LOW_CONFIDENCE}, false)",
    "rephrased": "coalesce(q.prev_role = 'assistant' AND q.prev_fallback, false)",
    "escalated": f"coalesce(i.outcome IN ({_HANDED}) AND q.seq = q.last_before_agent, false)",
}
_PICKED_CANDIDATES = (
    "SELECT q.interaction_id AS interaction_id, q.seq AS seq, "  # noqa: S608
    "s.started_at AS started_at, i.journey AS journey, i.customer_ref AS customer_ref, "
    f"CASE WHEN {_ANSWERED} THEN q.next_intent END AS answer_intent, "
    f"CASE WHEN {_ANSWERED} THEN q.next_confidence END AS answer_confidence, "
    + ", ".join(f"{sql} AS {name}" for name, sql in _SIGNAL_SQL.items())
    + f" FROM ({_TURNS}) q JOIN {INTERACTIONS_OF_SPAN} s "  # noqa: S608
    "ON s.interaction_id = q.interaction_id "
    "JOIN (SELECT interaction_id, outcome, journey, customer_ref FROM interactions "
    "WHERE deployment = ?) i ON i.interaction_id = q.interaction_id "
    "WHERE q.role = 'user' AND q.has_text AND ("
    + " OR ".join(f"({sql})" for sql in _SIGNAL_SQL.values())
    + ")"
)
_CANDIDATES_SQL = (
    "SELECT p.interaction_id AS interaction_id, p.seq AS seq, b.text AS text, "
    "p.started_at AS started_at, p.journey AS journey, p.customer_ref AS customer_ref, "
    "p.answer_intent AS answer_intent, p.answer_confidence AS answer_confidence, "
    + ", ".join(f"p.{name} AS {name}" for name in SIGNALS)
    + " "
    + _TEXTS.replace("{picked}", _PICKED_CANDIDATES)
    + " ORDER BY p.interaction_id, p.seq"
)
_AGO = days_before_end_sql("s.started_at")
# The user turns with a text and what the next turn says (no more is needed of the neighbours).
_ANSWERS = (
    "SELECT t.interaction_id AS interaction_id, t.seq AS seq, t.role AS role, "  # noqa: S608
    "coalesce(t.text <> '', false) AS nonempty, "
    f"lead(t.role) {_BY_SEQ} AS next_role, lead(t.fallback) {_BY_SEQ} AS next_fallback, "
    f"lead(t.confidence) {_BY_SEQ} AS next_confidence, "
    f"lead(CAST(t.intent AS VARCHAR)) {_BY_SEQ} AS next_intent "
    "FROM turns t WHERE t.deployment = ? AND t.interaction_id IN "
    f"(SELECT interaction_id FROM {INTERACTIONS_OF_SPAN} s)"
)
_PICKED_CONFIDENT = (
    "SELECT ago, started_at, interaction_id, seq, intent FROM ("  # noqa: S608
    f"SELECT {_AGO} AS ago, s.started_at AS started_at, q.interaction_id AS interaction_id, "
    "q.seq AS seq, q.next_intent AS intent, row_number() OVER (PARTITION BY "
    f"q.next_intent, {_AGO}, date_trunc('day', s.started_at) "
    "ORDER BY q.interaction_id, q.seq) AS k "
    f"FROM ({_ANSWERS}) q JOIN {INTERACTIONS_OF_SPAN} s ON s.interaction_id = q.interaction_id "
    "WHERE q.role = 'user' AND q.nonempty "
    "AND q.next_role = 'assistant' AND NOT coalesce(q.next_fallback, false) "
    f"AND q.next_confidence >= {LOW_CONFIDENCE} AND q.next_intent IS NOT NULL) r "
    f"WHERE k <= {CONFIDENT_LIMIT}"
)
_CONFIDENT_SQL = (
    "SELECT p.ago AS ago, p.started_at AS started_at, p.interaction_id AS interaction_id, "
    "p.seq AS seq, b.text AS text, p.intent AS intent "
    + _TEXTS.replace("{picked}", _PICKED_CONFIDENT)
    + " ORDER BY p.interaction_id, p.seq"
)

_CANDIDATE_SCHEMA = pa.schema(
    [
        ("interaction_id", pa.string()),
        ("seq", pa.int64()),
        ("text", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("journey", pa.string()),
        ("customer_ref", pa.string()),
        ("answer_intent", pa.string()),
        ("answer_confidence", pa.float64()),
        *((name, pa.bool_()) for name in SIGNALS),
    ]
)
_CONFIDENT_SCHEMA = pa.schema(
    [
        ("ago", pa.int64()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("interaction_id", pa.string()),
        ("seq", pa.int64()),
        ("text", pa.string()),
        ("intent", pa.string()),
    ]
)


def _in_windows(started: pa.Array | pa.ChunkedArray, window: Window) -> np.ndarray:
    """Which rows' conversations started in the baseline window or the current period (the
    turns the analysis reads for the detector's windows)."""
    us = np.asarray(
        pc.cast(started, pa.timestamp("us", tz="UTC"))
        .cast(pa.int64())
        .to_numpy(zero_copy_only=False),
        dtype=np.int64,
    )
    keep: np.ndarray = (
        (us >= epoch_us(window.baseline_start)) & (us < epoch_us(window.baseline_end))
    ) | ((us >= epoch_us(window.current_start)) & (us < epoch_us(window.current_end)))
    return keep


def _candidates_from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw turns (those of its windows' conversations)."""
    if data.turns.num_rows == 0 or "text" not in data.turns.column_names:
        return _CANDIDATE_SCHEMA.empty_table()
    inter = data.interactions.filter(_in_windows(data.interactions["started_at"], data.window))
    cand = find_candidates(data.turns, inter)
    started = pa.array(cand.started_at.astype("datetime64[us]").astype(np.int64), pa.int64())
    return pa.table(
        {
            "interaction_id": pa.array(cand.interaction_id, pa.string()),
            "seq": pa.array(cand.seq, pa.int64()),
            "text": pa.array(cand.text, pa.string()),
            "started_at": started.cast(pa.timestamp("us", tz="UTC")),
            "journey": pa.array(cand.journey, pa.string()),
            "customer_ref": pa.array(cand.customer_ref, pa.string()),
            "answer_intent": pa.array(cand.answer_intent, pa.string()),
            "answer_confidence": pa.array(
                cand.answer_confidence, pa.float64(), mask=np.isnan(cand.answer_confidence)
            ),
            **{name: pa.array(cand.signals[name], pa.bool_()) for name in SIGNALS},
        },
        schema=_CANDIDATE_SCHEMA,
    )


def _confident_from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw turns: every confidently answered user turn of the
    windows' conversations, the first :data:`CONFIDENT_LIMIT` of each intent and day kept."""
    turns = data.turns
    if turns.num_rows == 0 or "text" not in turns.column_names:
        return _CONFIDENT_SCHEMA.empty_table()
    inter = data.interactions.filter(_in_windows(data.interactions["started_at"], data.window))
    good = confident_turns(turns, inter, limit=turns.num_rows)
    ids = pa.array(good.interaction_id, pa.string())
    row = pc.index_in(ids, value_set=inter["interaction_id"].combine_chunks())
    started = pc.cast(inter["started_at"], pa.timestamp("us", tz="UTC")).take(row)
    end = epoch_us(data.window.current_end)
    us = np.asarray(started.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)
    ago = (end - us - 1) // DAY_US
    day = us // DAY_US
    # The first CONFIDENT_LIMIT of each intent, ago and day, in the order of the ids and seq.
    seen: dict[tuple[str, int, int], int] = {}
    keep = np.zeros(len(ids), dtype=bool)
    for k, key in enumerate(zip(good.intent, ago.tolist(), day.tolist(), strict=True)):
        n = seen.get(key, 0)
        if n < CONFIDENT_LIMIT:
            keep[k] = True
            seen[key] = n + 1
    table = pa.table(
        {
            "ago": pa.array(ago, pa.int64()),
            "started_at": started,
            "interaction_id": ids,
            "seq": pa.array(good.seq, pa.int64()),
            "text": pa.array(good.text, pa.string()),
            "intent": pa.array(good.intent, pa.string()),
        },
        schema=_CONFIDENT_SCHEMA,
    )
    return table.filter(pa.array(keep))


CANDIDATES = EngineRead(
    "gap_candidates", _CANDIDATES_SQL, "started_at", _candidates_from_rows, windows=True
)
"""The candidate user turns of the baseline window's and the current period's conversations,
one row each (its conversation's start, journey and customer, its answer's intent and
confidence, and its signals), in the order of the conversations' ids and ``seq``; a turn whose
text is blank is among them (the detector leaves it out, as :func:`find_candidates` does)."""

CONFIDENT = EngineRead("gap_confident", _CONFIDENT_SQL, "ago", _confident_from_rows, windows=True)
"""The confidently answered user turns with a text, the first :data:`CONFIDENT_LIMIT` in the
order of the ids and ``seq`` of each intent and each part of a UTC day cut where whole days
before the read's end fall (``ago``), in the order of the ids and ``seq``. A read of the
windows: the gap between them starts at the baseline window's end (a midnight) and ends at the
current period's start (whole days before the end), so it never splits a part, and what the
detector keeps of the windows is the same with or without it."""


def with_text(table: pa.Table) -> pa.Table:
    """The rows of ``table`` whose text is not blank (Unicode's white space, as
    :func:`find_candidates` reads it: the engines' ``trim`` takes spaces only)."""
    text = table["text"].combine_chunks()
    return table.filter(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0))


def candidates(data: AnalysisData) -> Candidates:
    """The detector's candidates, read by the engine (:data:`CANDIDATES`): what
    :func:`find_candidates` gives from the windows' raw turns, in the same order."""
    table = data.read(CANDIDATES)
    return candidates_of(table.filter(pa.array(_in_windows(table["started_at"], data.window))))


def candidates_of(table: pa.Table) -> Candidates:
    """The candidates of a :data:`CANDIDATES` table (of one span, or cut to an analysis's
    windows): what :func:`find_candidates` gives from the same conversations' raw turns."""
    table = table.sort_by([("interaction_id", "ascending"), ("seq", "ascending")])
    table = with_text(table)
    confidence = pc.fill_null(pc.cast(table["answer_confidence"], pa.float64()), np.nan)
    started = pc.cast(table["started_at"], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    return Candidates(
        interaction_id=_shared(table["interaction_id"]),
        seq=np.asarray(table["seq"].to_numpy(), dtype=np.int64),
        text=_shared(table["text"]),
        started_at=np.asarray(started.to_numpy(), dtype=np.int64).astype("datetime64[us]"),
        journey=_shared(table["journey"], keep_null=True),
        customer_ref=_shared(table["customer_ref"], keep_null=True),
        answer_intent=_shared(table["answer_intent"], keep_null=True),
        answer_confidence=np.asarray(confidence.to_numpy(), dtype=np.float64),
        # ClickHouse answers a condition as UInt8.
        signals={name: flag_array(pc.cast(table[name], pa.bool_())) for name in SIGNALS},
    )


def _shared(column: pa.ChunkedArray, *, keep_null: bool = False) -> list[Any]:
    """The column's values as Python strings, one object per distinct value: the candidates
    repeat themselves (a conversation's id for each of its candidates, a few journeys and
    intents, support traffic's wordings), and a list of a new string per row held about
    60-100 bytes a candidate more while the gaps are clustered. The same values, in order
    (a null stays ``None`` where ``keep_null``, else becomes ``"None"`` as ``str`` made it)."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = [str(v) for v in encoded.dictionary.to_pylist()]
    null = None if keep_null else "None"
    return [null if i is None else values[i] for i in encoded.indices.to_pylist()]


def confident(data: AnalysisData) -> ConfidentTurns:
    """The detector's confidently answered turns (:data:`CONFIDENT`): the first
    :data:`CONFIDENT_LIMIT` of each intent among the windows' conversations in the order of
    the ids and ``seq``, as :func:`confident_turns` picks them from the raw turns."""
    table = data.read(CONFIDENT)
    return confident_of(table.filter(pa.array(_in_windows(table["started_at"], data.window))))


def confident_of(table: pa.Table) -> ConfidentTurns:
    """The confident turns of a :data:`CONFIDENT` table (of one span, or cut to an analysis's
    windows on its edges): what :func:`confident_turns` picks from the same conversations'
    raw turns."""
    table = table.sort_by([("interaction_id", "ascending"), ("seq", "ascending")])
    per: dict[str, int] = {}
    text: list[str] = []
    intent: list[str] = []
    for t, name in zip(table["text"].to_pylist(), table["intent"].to_pylist(), strict=True):
        if per.get(name, 0) >= CONFIDENT_LIMIT:
            continue
        per[name] = per.get(name, 0) + 1
        text.append(str(t))
        intent.append(str(name))
    return ConfidentTurns(text, intent)

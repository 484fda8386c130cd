"""Drift of the intent mix and of the inputs (length, language, new vocabulary)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from daytwo.detect.cells import in_window, segment_column, started_ns
from daytwo.detect.data import INTERACTIONS_OF_SPAN, AnalysisData, EngineRead
from daytwo.detect.findings import Finding, FindingScope, Measure, Severity, evidence_sample
from daytwo.detect.registry import Needs, detector
from daytwo.detect.stats import chi2_sf, normal_sf, two_proportion_z, welch_z
from daytwo.interactions.facts import flag_array

WORD = re.compile(r"[a-z][a-z0-9'-]{2,}")


@dataclass(frozen=True, slots=True)
class DriftParams:
    """Effect sizes (total variation distance, relative length, new-word share) and tests."""

    min_messages: int = 200
    max_messages: int = 20_000
    top_categories: int = 30
    min_distance: float = 0.05
    p_value: float = 1e-6
    min_length_change: float = 0.2
    # New vocabulary: a word unknown to the baseline sample, used in this many messages of
    # the sample compared; reported when the share of messages using one rises this much.
    min_word_messages: int = 5
    min_new_word_share: float = 0.005
    examples: int = 10


# Each conversation's first customer message and the intent of its first answer (the
# assistant's first turn that names one): what drift compares, one row per conversation that
# has a customer message, computed by the engine instead of read turn by turn.
_OF_SPAN = (
    "FROM turns t WHERE t.deployment = ? AND t.interaction_id IN "  # noqa: S608
    f"(SELECT interaction_id FROM {INTERACTIONS_OF_SPAN} s)"
)
# The seq of each conversation's first customer message; its text is joined back by seq, so
# that only those messages' texts are carried (not every customer message's, into an
# aggregate), and the turns are scanned on the left of the joins (ClickHouse builds a hash
# table of the right side: here one row per conversation).
_FIRST_SEQ = (
    f"SELECT t.interaction_id AS interaction_id, min(t.seq) AS seq {_OF_SPAN} "
    "AND t.role = 'user' GROUP BY t.interaction_id"
)
_FIRST_INTENT = (
    "SELECT t.interaction_id AS interaction_id, "
    f"arg_min(CAST(t.intent AS VARCHAR), t.seq) AS intent {_OF_SPAN} "
    "AND t.role = 'assistant' AND t.intent IS NOT NULL GROUP BY t.interaction_id"
)
_FIRST_SQL = (
    "SELECT u.interaction_id AS interaction_id, i.started_at AS started_at, "  # noqa: S608
    "coalesce(u.text, '') AS text, a.intent AS intent "
    "FROM (SELECT t.interaction_id AS interaction_id, t.seq AS seq, t.text AS text "
    f"{_OF_SPAN} AND t.role = 'user') u "
    f"JOIN ({_FIRST_SEQ}) f ON f.interaction_id = u.interaction_id AND f.seq = u.seq "
    f"JOIN {INTERACTIONS_OF_SPAN} i ON i.interaction_id = u.interaction_id "
    f"LEFT JOIN ({_FIRST_INTENT}) a ON a.interaction_id = u.interaction_id "
    "ORDER BY u.interaction_id"
)


def _first_from_rows(data: AnalysisData) -> pa.Table:
    """The read from an analysis's raw turns (those of its interactions), in their order."""
    turns = data.turns
    t = data.interactions
    if turns.num_rows == 0 or "text" not in turns.column_names:
        return pa.table(
            {
                "interaction_id": pa.array([], pa.string()),
                "started_at": pa.array([], pa.timestamp("us", tz="UTC")),
                "text": pa.array([], pa.string()),
                "intent": pa.array([], pa.string()),
            }
        )
    role = turns["role"]
    ids = turns["interaction_id"]
    user = flag_array(pc.equal(role, "user"))
    answer = flag_array(pc.equal(role, "assistant")) & flag_array(pc.is_valid(turns["intent"]))
    new = np.ones(turns.num_rows, dtype=bool)
    new[1:] = flag_array(pc.not_equal(ids.slice(1), ids.slice(0, turns.num_rows - 1)))
    group = np.cumsum(new) - 1

    def first_of(mask: np.ndarray) -> np.ndarray:
        idx = np.flatnonzero(mask)
        _, first = np.unique(group[idx], return_index=True)
        return idx[first]

    first_user = first_of(user)
    first_answer = first_of(answer)
    row_of = pc.index_in(ids.take(pa.array(first_user)), t["interaction_id"])
    rows = np.asarray(pc.fill_null(row_of, -1).to_numpy(zero_copy_only=False))
    keep = rows >= 0
    gap = FIRST_MESSAGES.gap(data.window)
    if gap is not None:
        # Only the conversations of the windows, as the engine's read.
        started = started_ns(t)[np.maximum(rows, 0)]
        keep &= ~in_window(started, *gap)
    first_user, rows = first_user[keep], rows[keep]
    # The intent of the first answer of the same conversation (null where there is none).
    answer_of = np.full(int(group[-1]) + 1, -1, dtype=np.int64)
    answer_of[group[first_answer]] = first_answer
    at = answer_of[group[first_user]]
    taken = turns["intent"].take(pa.array(at, type=pa.int64(), mask=at < 0))
    at_rows = pa.array(rows, type=pa.int64())
    return pa.table(
        {
            "interaction_id": pc.cast(t["interaction_id"].take(at_rows), pa.string()),
            "started_at": pc.cast(t["started_at"].take(at_rows), pa.timestamp("us", tz="UTC")),
            "text": pc.fill_null(turns["text"].take(pa.array(first_user)), ""),
            "intent": pc.cast(taken, pa.string()),
        }
    )


FIRST_MESSAGES = EngineRead(
    "drift_first_messages", _FIRST_SQL, "started_at", _first_from_rows, windows=True
)
"""Each analysed conversation with a customer message: its start, first customer message ('' for
a null text) and the intent of its first answer that names one (null for none); in the order of
the conversations' ids, as the runner reads turns (the samples and the evidence follow it).
Only the conversations of the baseline window and the current period (``windows``)."""


@detector(
    "drift",
    name="Intent-mix and input drift",
    params=DriftParams(),
    # The first messages come from the engine, one row per conversation: no turn is read.
    needs=Needs(reads=(FIRST_MESSAGES,)),
)
def detect_drift(data: AnalysisData, params: DriftParams) -> list[Finding]:
    """What customers ask, and how, moved away from the baseline.

    Compared between the baseline window and the current period, on each conversation's first
    customer message and the first answer's recognised intent:

    - *intent mix*: the share of each intent (the 30 most common; the rest pooled), by a
      chi-square test, reported when the total variation distance is at least 0.05;
    - *language mix*: the same on the ``language`` segment;
    - *message length*: the mean words per first message (Welch), at least 20% longer or
      shorter;
    - *new vocabulary*: the share of messages using a word that an equally large sample of
      the baseline never used and that recurs (in 5+ messages), against the same share between
      two halves of the baseline itself, at least half a point higher; the finding lists the
      new words.

    Every test must reach p < 1e-6: with thousands of messages, smaller moves are noise in
    what customers ask rather than drift worth a look.
    """
    t = data.interactions
    w = data.window
    if t.num_rows == 0:
        return []
    starts = started_ns(t)
    base = in_window(starts, w.baseline_start, w.baseline_end)
    cur = in_window(starts, w.current_start, w.current_end)
    out: list[Finding] = []
    lang = segment_column(t, "language")
    out += _mix(data, "language_mix", "language", lang, base, cur, params)
    first = _first_messages(data, base | cur)
    if first is not None:
        rows, text, intent = first
        fb, fc = base[rows], cur[rows]
        out += _mix(data, "intent_mix", "intent", intent, fb, fc, params, rows)
        out += _length(data, rows, text, fb, fc, params)
        out += _vocabulary(data, rows, text, fb, fc, params)
    return out


@dataclass(frozen=True, slots=True)
class _Texts:
    """Messages as codes into their distinct texts (a null one is the empty text): support
    traffic repeats itself, so what is worked out of a message's text (its words, its length)
    is worked out once per distinct text and read by code."""

    codes: np.ndarray  # one per message, into ``distinct``
    distinct: list[str]

    @staticmethod
    def of(texts: pa.Array | pa.ChunkedArray) -> _Texts:
        if isinstance(texts, pa.ChunkedArray):
            texts = texts.combine_chunks()
        encoded = pc.fill_null(texts, "").dictionary_encode()
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=np.int64)
        return _Texts(codes, [str(x) for x in encoded.dictionary.to_pylist()])


def _first_messages(
    data: AnalysisData, wanted: np.ndarray
) -> tuple[np.ndarray, _Texts, pa.Array] | None:
    """For each interaction with a customer message that ``wanted`` picks (a mask over the
    analysis's interactions): its row, first customer message and first intent, in the
    read's order."""
    read = data.read(FIRST_MESSAGES)
    if read.num_rows == 0:
        return None
    ids = pc.cast(read["interaction_id"], pa.string())
    row_of = pc.index_in(ids, pc.cast(data.interactions["interaction_id"], pa.string()))
    rows = np.asarray(pc.fill_null(row_of, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    found = rows >= 0
    found[found] = wanted[rows[found]]
    picked = np.flatnonzero(found)
    taken = pa.array(picked, type=pa.int64())
    text = _Texts.of(read["text"].take(taken))
    intent = pc.cast(read["intent"].take(taken), pa.string())
    if isinstance(intent, pa.ChunkedArray):
        intent = intent.combine_chunks()
    return rows[picked], text, intent


def _mix(
    data: AnalysisData,
    kind: str,
    label: str,
    values: pa.Array | pa.ChunkedArray,
    base: np.ndarray,
    cur: np.ndarray,
    params: DriftParams,
    rows: np.ndarray | None = None,
) -> list[Finding]:
    v = np.asarray(pc.fill_null(values, "(none)").to_numpy(zero_copy_only=False), dtype=object)
    if int(base.sum()) < params.min_messages or int(cur.sum()) < params.min_messages:
        return []
    cb, cc = Counter(v[base].tolist()), Counter(v[cur].tolist())
    top = [k for k, _ in (cb + cc).most_common(params.top_categories)]
    nb, nc = sum(cb.values()), sum(cc.values())
    pb = np.array([cb[k] / nb for k in top] + [1 - sum(cb[k] for k in top) / nb])
    pcur = np.array([cc[k] / nc for k in top] + [1 - sum(cc[k] for k in top) / nc])
    tvd = 0.5 * float(np.abs(pcur - pb).sum())
    observed = np.array(
        [
            [cb[k] for k in top] + [nb - sum(cb[k] for k in top)],
            [cc[k] for k in top] + [nc - sum(cc[k] for k in top)],
        ],
        dtype=float,
    )
    observed = observed[:, observed.sum(axis=0) > 0]
    expected = observed.sum(axis=1, keepdims=True) * observed.sum(axis=0) / observed.sum()
    chi2 = float(((observed - expected) ** 2 / expected).sum())
    p = chi2_sf(chi2, observed.shape[1] - 1)
    if tvd < params.min_distance or p >= params.p_value:
        return []
    # Ties by the category, not in the order a set of strings happens to iterate (it follows
    # the process's string hashing): every process names the same moves.
    moves = sorted(
        ((k, cc[k] / nc - cb[k] / nb) for k in set(cb) | set(cc)),
        key=lambda x: (-abs(x[1]), x[0]),
    )[:5]
    grew = [k for k, d in moves if d > 0]
    sample_rows = np.flatnonzero(cur & np.isin(v, grew)) if grew else np.zeros(0, dtype=int)
    ids = data.interactions["interaction_id"].take(
        pa.array(rows[sample_rows] if rows is not None else sample_rows, type=pa.int64())
    )
    w = data.window
    return [
        Finding(
            detector="drift",
            kind=kind,
            title=f"The {label} mix moved ({tvd:.0%} of traffic shifted); most: "
            + ", ".join(f"{k} {d:+.1%}" for k, d in moves[:3]),
            scope=FindingScope(data.deployment.name),
            severity=Severity.medium if tvd >= 0.15 else Severity.low,
            first_seen=w.current_start,
            last_seen=w.current_end,
            baseline=Measure(None, nb),
            current=Measure(round(tvd, 4), nc),
            evidence=evidence_sample(ids),
            details={
                "total_variation": round(tvd, 4),
                "chi2": round(chi2, 1),
                "p_value": p,
                "moves": {str(k): round(d, 4) for k, d in moves},
            },
        )
    ]


def _length(
    data: AnalysisData,
    rows: np.ndarray,
    text: _Texts,
    base: np.ndarray,
    cur: np.ndarray,
    params: DriftParams,
) -> list[Finding]:
    per_text = np.array([len(x.split()) for x in text.distinct], dtype=np.float64)
    words = per_text[text.codes]
    b, c = words[base], words[cur]
    if len(b) < params.min_messages or len(c) < params.min_messages:
        return []
    mb, mc = float(b.mean()), float(c.mean())
    z = welch_z(mb, float(b.var(ddof=1)), len(b), mc, float(c.var(ddof=1)), len(c))
    change = (mc - mb) / mb if mb else 0.0
    if abs(change) < params.min_length_change or 2 * normal_sf(abs(z)) >= params.p_value:
        return []
    w = data.window
    return [
        Finding(
            detector="drift",
            kind="input_length",
            title=f"First messages are {abs(change):.0%} {'longer' if change > 0 else 'shorter'}"
            f": {mb:.1f} → {mc:.1f} words",
            scope=FindingScope(data.deployment.name),
            severity=Severity.low,
            first_seen=w.current_start,
            last_seen=w.current_end,
            baseline=Measure(mb, len(b)),
            current=Measure(mc, len(c)),
            details={"z": round(z, 2), "change": round(change, 4)},
        )
    ]


def _tokens(texts: list[str]) -> list[tuple[str, ...]]:
    return [_words(x) for x in texts]


@lru_cache(maxsize=1 << 16)
def _words(text: str) -> tuple[str, ...]:
    """A message's words, remembered: the same messages recur from look to look."""
    return tuple(WORD.findall(text.lower()))


def _vocabulary(
    data: AnalysisData,
    rows: np.ndarray,
    text: _Texts,
    base: np.ndarray,
    cur: np.ndarray,
    params: DriftParams,
) -> list[Finding]:
    bi, ci = np.flatnonzero(base), np.flatnonzero(cur)
    n = min(len(bi) // 2, len(ci), params.max_messages)
    if n < params.min_messages:
        return []

    # Evenly spaced, deterministic samples of equal size: vocabulary grows with sample size.
    def spread(idx: np.ndarray, k: int) -> np.ndarray:
        picked: np.ndarray = idx[np.linspace(0, len(idx) - 1, k).round().astype(int)]
        return picked

    half = len(bi) // 2
    ref = spread(bi[:half], n)
    held = spread(bi[half:], n)
    now = spread(ci, n)
    # Each distinct text's words once: a message's words are its text's.
    tokens = _tokens(text.distinct)
    vocab = {tok for c in np.unique(text.codes[ref]).tolist() for tok in tokens[c]}

    def new_share(idx: np.ndarray) -> tuple[int, int, list[str]]:
        """Messages using a word unknown to the reference that recurs in the sample (each
        distinct text worked out once, counted as often as the sample holds it)."""
        distinct, times = np.unique(text.codes[idx], return_counts=True)
        new = {c: set(tokens[c]) - vocab for c in distinct.tolist()}
        counts: Counter[str] = Counter()
        for c, k in zip(distinct.tolist(), times.tolist(), strict=True):
            for tok in new[c]:
                counts[tok] += k
        recurring = {tok for tok, k in counts.items() if k >= params.min_word_messages}
        # Most used first, ties by the word: a set's order follows the process's string
        # hashing, so counting order alone named different words from one run to the next.
        top = sorted(recurring, key=lambda tok: (-counts[tok], tok))[: params.examples]
        using = sum(
            k for c, k in zip(distinct.tolist(), times.tolist(), strict=True) if new[c] & recurring
        )
        return using, len(idx), top

    kh, nh, _ = new_share(held)
    kc, nc, new_words = new_share(now)
    if nh == 0 or nc == 0:
        return []
    rise = kc / nc - kh / nh
    z = two_proportion_z(kh, nh, kc, nc)
    if rise < params.min_new_word_share or normal_sf(z) >= params.p_value:
        return []
    named = set(new_words)
    with_new = np.array([bool(set(toks) & named) for toks in tokens], dtype=bool)
    has_new = ci[with_new[text.codes[ci]]]
    ids = data.interactions["interaction_id"].take(pa.array(rows[has_new], type=pa.int64()))
    w = data.window
    return [
        Finding(
            detector="drift",
            kind="new_vocabulary",
            title=f"Customers use new words: {kc / nc:.1%} of messages use a recurring word "
            f"unseen in the baseline (normal: {kh / nh:.1%}), e.g. {', '.join(new_words[:5])}",
            scope=FindingScope(data.deployment.name),
            severity=Severity.medium if rise >= 0.03 else Severity.low,
            first_seen=w.current_start,
            last_seen=w.current_end,
            baseline=Measure(kh / nh, nh),
            current=Measure(kc / nc, nc),
            evidence=evidence_sample(ids),
            details={"z": round(z, 2), "new_words": new_words, "messages_compared": n},
        )
    ]

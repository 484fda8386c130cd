"""The drift detector names the same new words and intent moves in every process: ties are
listed by the word or the intent, not in the order a set of strings happens to iterate (it
follows the process's string hashing)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pyarrow as pa

from daytwo.detect import AnalysisData, Finding, analysis_data, detectors
from daytwo.detect.drift import WORD, DriftParams, _first_messages, _length
from daytwo.store.events.columns import epoch_us as _us
from tests.detect.test_golden import WINDOW, inter

# Six words no baseline message uses, each in the same messages: a six-way tie.
NEW = "zulu yankee xray whiskey victor uniform"


def _data() -> AnalysisData:
    rows, turns = [], []
    for k in range(400):
        for when, day in (("b", k % 14), ("c", 21 + k % 7)):
            text = NEW if when == "c" and k % 5 == 0 else "please check my balance"
            i = f"{when}{k}"
            rows.append(inter(i, day))
            turns.append({"interaction_id": i, "seq": 0, "role": "user", "text": text})
            turns.append({"interaction_id": i, "seq": 1, "role": "assistant", "text": "ok",
                          "intent": "balance"})  # fmt: skip
    return analysis_data("bot", WINDOW, rows, turns)


def test_new_words_tied_in_count_are_listed_by_the_word() -> None:
    (drift,) = [d for d in detectors() if d.id == "drift"]
    (found,) = [f for f in drift.run(_data()) if f.kind == "new_vocabulary"]
    assert found.details["new_words"] == sorted(NEW.split())


def test_intent_moves_tied_in_size_are_listed_by_the_intent() -> None:
    # Six intents, new this week and each as often: their moves tie.
    new = ["zeta", "alpha", "mike", "delta", "kilo", "bravo"]
    rows, turns = [], []
    for k in range(600):
        for when, day in (("b", k % 14), ("c", 21 + k % 7)):
            intent = new[(k // 2) % 6] if when == "c" and k % 2 == 0 else "balance"
            i = f"{when}{k}"
            rows.append(inter(i, day))
            turns.append({"interaction_id": i, "seq": 0, "role": "user", "text": "hello"})
            turns.append({"interaction_id": i, "seq": 1, "role": "assistant", "text": "ok",
                          "intent": intent})  # fmt: skip
    (drift,) = [d for d in detectors() if d.id == "drift"]
    data = analysis_data("bot", WINDOW, rows, turns)
    (found,) = [f for f in drift.run(data) if f.kind == "intent_mix"]
    assert list(found.details["moves"]) == ["balance", "alpha", "bravo", "delta", "kilo"]


def _words_of(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def test_messages_worked_out_by_distinct_text_match_message_by_message() -> None:
    # Support traffic repeats itself: the vocabulary and length of the first messages are
    # worked out once per distinct text. Counted message by message instead, as here, the
    # shares, the new words and the lengths are the same.
    rng = np.random.default_rng(3)
    pool = ["please check my balance", "where is my card", "card blocked abroad again",
            "how do refunds work", "", "  spaced   out  words ", "qubit ledger refund"]  # fmt: skip
    novel = ["zulu yankee card", "xray whiskey refunds", "victor zulu balance"]
    rows, turns = [], []
    for k in range(900):
        for when, day in (("b", k % 14), ("c", 21 + k % 7)):
            choices = pool + (novel if when == "c" else [])
            text = choices[int(rng.integers(len(choices)))]
            i = f"{when}{k}"
            rows.append(inter(i, day))
            turn = {"interaction_id": i, "seq": 0, "role": "user", "text": text or None}
            turns.append(turn)
            turns.append({"interaction_id": i, "seq": 1, "role": "assistant", "text": "ok",
                          "intent": "balance"})  # fmt: skip
    data = analysis_data("bot", WINDOW, rows, turns)
    params = DriftParams()
    first = _first_messages(data, np.ones(data.interactions.num_rows, dtype=bool))
    assert first is not None
    picked, texts, _ = first
    messages = [texts.distinct[c] for c in texts.codes]
    firsts = {t["interaction_id"]: t["text"] or "" for t in turns if t["seq"] == 0}
    ids = data.interactions["interaction_id"].to_pylist()
    assert messages == [firsts[ids[r]] for r in picked]

    # The new-vocabulary finding, counted message by message.
    (found,) = [f for f in _vocabulary_of(data) if f.kind == "new_vocabulary"]
    start = data.interactions["started_at"].cast(pa.int64()).to_numpy()
    base = (start[picked] >= _us(WINDOW.baseline_start)) & (
        start[picked] < _us(WINDOW.baseline_end)
    )
    cur = (start[picked] >= _us(WINDOW.current_start)) & (start[picked] < _us(WINDOW.current_end))
    bi, ci = np.flatnonzero(base), np.flatnonzero(cur)
    n = min(len(bi) // 2, len(ci), params.max_messages)
    half = len(bi) // 2

    def spread(idx: np.ndarray) -> list[int]:
        chosen: list[int] = idx[np.linspace(0, len(idx) - 1, n).round().astype(int)].tolist()
        return chosen

    vocab = set().union(*(_words_of(messages[i]) for i in spread(bi[:half])))

    def share(idx: list[int]) -> tuple[int, int, list[str]]:
        new = [_words_of(messages[i]) - vocab for i in idx]
        counts = Counter(w for words in new for w in words)
        recurring = {w for w, k in counts.items() if k >= params.min_word_messages}
        top = sorted(recurring, key=lambda w: (-counts[w], w))[: params.examples]
        return sum(bool(words & recurring) for words in new), len(new), top

    kh, nh, _ = share(spread(bi[half:]))
    kc, nc, words = share(spread(ci))
    assert found.details["new_words"] == words
    assert found.baseline is not None
    assert found.current is not None
    assert (found.baseline.value, found.current.value) == (kh / nh, kc / nc)
    with_new = [ids[picked[i]] for i in ci if _words_of(messages[i]) & set(words)]
    assert set(found.evidence) <= set(with_new)

    # The first messages' lengths, message by message.
    (length,) = _length(data, picked, texts, base, cur, replace(params, min_length_change=0.0,
                                                                p_value=1.0))  # fmt: skip
    assert length.baseline is not None
    assert length.current is not None
    per_message = np.array([len(m.split()) for m in messages], dtype=np.float64)
    assert (length.baseline.value, length.current.value) == (
        float(per_message[base].mean()),
        float(per_message[cur].mean()),
    )


def _vocabulary_of(data: AnalysisData) -> list[Finding]:
    (drift,) = [d for d in detectors() if d.id == "drift"]
    return drift.run(data)

"""The drift detector names the same new words in every process: ties in count are listed by
the word, not in the order a set of strings happens to iterate (it follows the process's
string hashing)."""

from __future__ import annotations

from daytwo.detect import AnalysisData, analysis_data, detectors
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

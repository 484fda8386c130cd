"""Labels: short, made of words that are in the gap and set it apart from the others."""

from __future__ import annotations

import numpy as np

from daytwo.detect.gaps.labels import STOP_WORDS, gap_keywords, gap_label
from tests.detect.gaps.data import CRYPTO, NOISE, PETS, SOLAR


def test_each_gap_is_labelled_by_its_own_words() -> None:
    texts = CRYPTO + PETS + SOLAR + NOISE
    labels = np.array([0] * len(CRYPTO) + [1] * len(PETS) + [2] * len(SOLAR) + [-1] * len(NOISE))
    keywords = gap_keywords(texts, labels, 3, top=3)
    assert keywords[0][0] == "bitcoin"
    assert keywords[1][0] in ("dog", "train")
    assert "solar" in " ".join(keywords[2])
    for g, group in enumerate((CRYPTO, PETS, SOLAR)):
        joined = " ".join(group).lower()
        assert 1 <= len(keywords[g]) <= 3
        for term in keywords[g]:
            assert term in joined  # every keyword is in the gap's own utterances
            assert not set(term.split()) & set(STOP_WORDS)
        words = [w for term in keywords[g] for w in term.split()]
        assert len(words) == len(set(words))  # no word twice in one label


def test_label_text() -> None:
    assert gap_label(["bitcoin", "pay bill"]) == "bitcoin · pay bill"
    assert gap_label([]) == "(no distinctive words)"


def test_no_gaps_and_nothing_but_stop_words() -> None:
    assert gap_keywords(["a b"], np.array([-1]), 0) == []
    assert gap_keywords(["the and", "of the"], np.array([0, 0]), 1) == [[]]

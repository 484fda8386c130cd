"""Labels: short, made of words that are in the gap and set it apart from the others."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from daytwo.detect.gaps.labels import STOP_WORDS, WORD, gap_keywords, gap_label
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


def _scores_per_utterance(texts: list[str], labels: np.ndarray, n_gaps: int) -> np.ndarray:
    """The class TF-IDF scores counted one utterance at a time (the reference)."""
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), token_pattern=WORD)
    counts = vectorizer.fit_transform(texts)
    classes = np.where(labels >= 0, labels, n_gaps)
    onehot = sparse.csr_matrix(
        (np.ones(len(classes)), (classes, np.arange(len(classes)))),
        shape=(n_gaps + 1, len(classes)),
    )
    per_class = sparse.csr_matrix(onehot @ counts, dtype=np.float64)
    words = np.asarray(per_class.sum(axis=1)).ravel()
    freq = np.asarray(per_class.sum(axis=0)).ravel()
    idf = np.log1p(words.mean() / freq)
    return np.asarray((sparse.diags(1.0 / words) @ per_class @ sparse.diags(idf)).todense())


def test_repeated_texts_are_counted_as_often_as_said() -> None:
    # Each distinct text is tokenised once and weighed by how often each class says it: the
    # keywords are those of counting every utterance, also where one wording repeats within
    # and across gaps and in the utterances no gap holds.
    rng = np.random.default_rng(3)
    pool = CRYPTO + PETS + SOLAR + NOISE
    texts = [pool[int(i)] for i in rng.integers(0, len(pool), 400)]
    labels = rng.integers(-1, 3, len(texts))
    expected = _scores_per_utterance(texts, labels, 3)
    keywords = gap_keywords(texts, labels, 3, top=4)
    vocabulary = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), token_pattern=WORD).fit(
        texts
    )
    terms = list(vocabulary.get_feature_names_out())
    for g in range(3):
        best = sorted(range(len(terms)), key=lambda j: (-expected[g, j], j))
        chosen: list[str] = []
        used: set[str] = set()
        for j in best:
            if len(chosen) == 4 or expected[g, j] == 0:
                break
            if used.intersection(terms[j].split()):
                continue
            chosen.append(terms[j])
            used.update(terms[j].split())
        assert keywords[g] == chosen

"""Short labels for gaps: the words that set a gap apart from the others (class-based TF-IDF).

Each gap's utterances are read as one document; a term scores by how often it appears in the
gap (per word of the gap) times how rare it is across gaps (``log(1 + A / f)``, ``A`` the mean
number of words per gap and ``f`` the term's count over all gaps). Utterances in no gap take
part as one more class, so words common to all traffic never label a gap. Unigrams and bigrams
are scored; a term sharing a word with a better one is skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

# Words that carry no topic in a support conversation, on top of the usual English list.
CHAT_WORDS = frozenset(
    {"hi", "hello", "hey", "please", "thanks", "thank", "ok", "okay", "want", "need", "like",
     "know", "tell", "help", "just", "does", "did", "im", "ive", "id", "dont", "yes", "yeah",
     "let", "wanna", "gonna", "able", "way", "going", "make", "sure", "got"}
)  # fmt: skip
STOP_WORDS = sorted(ENGLISH_STOP_WORDS | CHAT_WORDS)
WORD = r"(?u)\b[a-zA-Z][a-zA-Z]+\b"  # words of two letters or more; no digits


def gap_keywords(
    texts: Sequence[str], labels: np.ndarray, n_gaps: int, top: int = 3
) -> list[list[str]]:
    """The ``top`` distinguishing terms of each gap ``0 .. n_gaps - 1`` (label ``-1``: none)."""
    if n_gaps == 0:
        return []
    # Support traffic repeats itself: each distinct text is tokenised once, and a class holds
    # it as many times as its members say it. The vocabulary is the same (every term is kept
    # whatever its frequency), and the counts are whole numbers summed exactly either way.
    distinct: dict[str, int] = {}
    row_of = np.fromiter(
        (distinct.setdefault(t, len(distinct)) for t in texts), dtype=np.int64, count=len(texts)
    )
    vectorizer = CountVectorizer(stop_words=STOP_WORDS, ngram_range=(1, 2), token_pattern=WORD)
    try:
        counts = vectorizer.fit_transform(list(distinct))
    except ValueError:  # nothing but stop words
        return [[] for _ in range(n_gaps)]
    terms = vectorizer.get_feature_names_out()
    classes = np.where(labels >= 0, labels, n_gaps)
    # One row per class (gaps first, then the utterances in no gap), one column per distinct
    # text, holding how often the class says it; sparse all the way, as 100,000 utterances
    # make thousands of gaps and a hundred thousand terms.
    times = sparse.csr_matrix(
        (np.ones(len(classes)), (classes, row_of)), shape=(n_gaps + 1, len(distinct))
    )
    times.sum_duplicates()
    per_class = sparse.csr_matrix(times @ counts, dtype=np.float64)
    words_per_class = np.asarray(per_class.sum(axis=1)).ravel()
    words_per_class[words_per_class == 0] = 1.0
    avg_words = float(words_per_class.mean())
    freq = np.asarray(per_class.sum(axis=0)).ravel()
    freq[freq == 0] = 1.0
    idf = np.log1p(avg_words / freq)
    scores = sparse.csr_matrix(sparse.diags(1.0 / words_per_class) @ per_class @ sparse.diags(idf))
    out: list[list[str]] = []
    for g in range(n_gaps):
        # The row's terms and scores, read off the matrix (a row object a gap cost more).
        cells = slice(scores.indptr[g], scores.indptr[g + 1])
        indices, data = scores.indices[cells], scores.data[cells]
        order = indices[np.lexsort((indices, -data))]
        chosen: list[str] = []
        used: set[str] = set()
        for j in order:
            if len(chosen) >= top:
                break
            words = str(terms[j]).split()
            if used.intersection(words):
                continue
            chosen.append(str(terms[j]))
            used.update(words)
        out.append(chosen)
    return out


def gap_label(keywords: Sequence[str]) -> str:
    """A short label from the keywords, e.g. ``"card declined · abroad"``."""
    return " · ".join(keywords) if keywords else "(no distinctive words)"

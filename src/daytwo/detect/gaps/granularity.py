"""Where one gap ends, read from the deployment's own intents (pure: numpy, SciPy).

How alike two wordings of one request are depends on the domain as much as on the encoder: the
fine-grained intents of a banking or home-assistant bot ("lost card" beside "stolen card",
"lights on" beside "lights up") sit far closer together than the long, chatty turns of an
insurance contact centre. One similarity for every deployment merges intents in the first and
splits them in the second.

Every deployment that has an assistant already holds a labelled sample of its own granularity:
the turns its assistant answered confidently, by the intent it recognised. Their average-linkage
tree is cut at each similarity of :data:`GRID`; the cut whose clusters agree best with the
intents (adjusted Rand index) is where *this* deployment's intents end. Gaps are then cut there
plus the encoder's offset (a property of the encoder, chosen by leave-one-dataset-out across
three development sets), since the confidently answered turns are the tidy end of the traffic.

A deployment with fewer than :data:`MIN_INTENTS` known intents (an assistant that has learned
nothing yet, or a contact centre where every request is unhandled) falls back to the encoder's
own similarity, chosen the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage

from daytwo.detect.gaps.cluster import cosine_distances

GRID = tuple(float(v) for v in np.round(np.arange(0.15, 0.801, 0.025), 3))
MIN_INTENTS = 5
MIN_EXAMPLES = 3  # an intent takes part from this many confidently answered turns
MAX_EXAMPLES = 3000  # linkage is quadratic: beyond this, a seeded sample of the intents


@dataclass(frozen=True, slots=True)
class Granularity:
    """The similarity at which this deployment's own intents separate best, and how sure."""

    similarity: float
    agreement: float  # adjusted Rand index of that cut against the intents
    intents: int
    examples: int


def intent_granularity(
    vectors: np.ndarray, names: Sequence[str], grid: Sequence[float] = GRID
) -> Granularity | None:
    """The cut of :data:`GRID` at which ``vectors`` (unit rows) cluster most like ``names``;
    ``None`` with fewer than :data:`MIN_INTENTS` intents of :data:`MIN_EXAMPLES` examples."""
    by: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        by.setdefault(name, []).append(i)
    kept = sorted(n for n, rows in by.items() if len(rows) >= MIN_EXAMPLES)
    if len(kept) < MIN_INTENTS:
        return None
    if sum(len(by[n]) for n in kept) > MAX_EXAMPLES:
        order = np.random.default_rng(0).permutation(len(kept))
        sizes = np.cumsum([len(by[kept[int(k)]]) for k in order])
        fits = max(MIN_INTENTS, int((sizes <= MAX_EXAMPLES).sum()))
        kept = sorted(kept[int(k)] for k in order[:fits])
    rows = np.concatenate([by[n] for n in kept])
    truth = np.concatenate([np.full(len(by[n]), k) for k, n in enumerate(kept)])
    x = np.asarray(vectors, dtype=np.float64)[rows]
    tree = linkage(cosine_distances(x), method="average")
    agreement = [
        adjusted_rand(truth, fcluster(tree, t=1.0 - s, criterion="distance")) for s in grid
    ]
    best = int(np.argmax(agreement))
    return Granularity(float(grid[best]), agreement[best], len(kept), len(rows))


def adjusted_rand(truth: np.ndarray, pred: np.ndarray) -> float:
    """The adjusted Rand index of two labellings of the same rows (non-negative integers):
    scikit-learn's ``adjusted_rand_score``, the same integer pair counts and the same formula,
    so the same float, without its input checks and sparse matrices (27 cuts a clustering,
    each a few milliseconds of checks for microseconds of counting)."""
    t = np.asarray(truth, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    n = len(t)
    if n == 0:
        return 1.0
    # The contingency table's non-empty cells, and its row and column sums.
    cells = np.unique(t * (int(p.max()) + 1) + p, return_counts=True)[1]
    sum_squares = int((cells * cells).sum())
    rows = np.bincount(t)
    cols = np.bincount(p)
    both = sum_squares - n
    only_pred = int((cols * cols).sum()) - sum_squares
    only_true = int((rows * rows).sum()) - sum_squares
    neither = n * n - only_pred - only_true - sum_squares
    if only_true == 0 and only_pred == 0:
        return 1.0
    return (
        2.0
        * (both * neither - only_true * only_pred)
        / ((both + only_true) * (only_true + neither) + (both + only_pred) * (only_pred + neither))
    )

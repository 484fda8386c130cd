"""Clustering candidate utterances into gaps: the product chooses how many (pure, numpy).

Sample, cluster, assign, repeat on what is left:

1. take a random sample of at most ``sample_size`` of the utterances not yet in a gap;
2. cluster the sample by average linkage on cosine distance, cut where the average similarity
   inside a cluster would fall below ``min_similarity``; that cut, not a count, decides how many
   gaps there are;
3. a new cluster whose members are on average ``min_similarity`` close to an earlier gap's
   members joins that gap (the merge average linkage would have made);
4. every utterance not yet in a gap joins the gap whose members it is closest to on average,
   when that average similarity is at least ``min_similarity`` (the same rule as the cut);
5. the utterances in no gap go back to step 1, until a round clusters all of them or
   ``max_rounds`` is reached; gaps left with fewer than ``min_gap_size`` utterances are not
   gaps;
6. what is still in no gap is clustered again the same way at a looser similarity
   (``min_similarity`` minus each step of ``relax``), into new gaps only: some requests are
   worded more variously than most (recipes, greetings), and a tight cut leaves them apart;
7. with ``join``, what is still in no gap joins the gap whose members it is closest to on
   average when that average is at least ``min_similarity - join`` (existing gaps only: no new
   gap is made there);
8. with known intents and ``attach`` (:func:`attach_to_intents`, called by the service, which
   holds the intents), what is still in no gap and clearly nearest one known intent becomes
   that intent's "retrain intent X" gap: a low-confidence miss of an intent the assistant
   has, not a request of its own.

With ``centre``, similarity is measured after subtracting what the utterances share (the
domain, the register): their mean vector, each weighted by one over its near-paraphrases
(:func:`background`); the gaps' centres are still given in the encoder's own space.

``min_similarity`` is a property of the encoder (how close two wordings of one request land),
calibrated once per encoder on held-out data; the number of gaps follows from it and from the
traffic. Linkage is quadratic in the sample only; assignment is one matrix product per round,
so 100,000 utterances cluster in seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from numpy._core.multiarray import _set_madvise_hugepage  # type: ignore[attr-defined]
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform


@dataclass(frozen=True, slots=True)
class ClusterParams:
    """How utterances are clustered into gaps (the defaults are the product's choice)."""

    min_gap_size: int = 5
    sample_size: int = 4000
    max_rounds: int = 4
    min_similarity: float = 0.45
    # Looser passes over what no gap holds: a request worded more variously than most (recipes,
    # greetings) is still a gap when its wordings are this much less alike. Each encoder brings
    # its own steps, chosen on CLINC150's val split (bench/gaps_calibration.py).
    relax: tuple[float, ...] = (0.05, 0.10)
    seed: int = 0
    # Measure similarity after taking away what every utterance shares (:func:`background`):
    # used where no known intents give the granularity (``effective_params``). A contact
    # centre's long turns share their domain and their style, which lifts every similarity
    # and merges requests; centred, similarity counts what sets one utterance apart from
    # this deployment's typical one.
    centre: bool = False
    # Step 7: what no gap holds joins its nearest gap this much below the cut. Used without
    # known intents (``effective_params``): there the cut is the encoder's, not the
    # deployment's, and the utterances it leaves alone are mostly its gaps' own wordings, the
    # stragglers of requests already found rather than requests of their own.
    join: float | None = None
    # With known intents: what no gap holds is attached to its nearest known intent (the
    # centre of that intent's confidently answered turns) when that similarity is at least
    # ``min_similarity + attach`` and ahead of the next intent's by ``attach_margin``; each
    # intent's attached utterances, ``attach_min`` or more, make one "retrain intent X" gap
    # (:func:`attach_to_intents`; None: nothing is attached).
    attach: float | None = None
    attach_margin: float = 0.0
    attach_min: int = 3

    def __post_init__(self) -> None:
        if self.min_gap_size < 2:
            raise ValueError("min_gap_size must be at least 2")
        if self.sample_size < 2 * self.min_gap_size:
            raise ValueError("sample_size must hold at least two of the smallest gaps")
        if not -1.0 < self.min_similarity < 1.0:
            raise ValueError("min_similarity is a cosine similarity in (-1, 1)")
        if any(not 0 < r < 1 + self.min_similarity for r in self.relax) or list(
            self.relax
        ) != sorted(self.relax):
            raise ValueError("relax steps are increasing and keep the similarity above -1")
        if self.join is not None and not 0 <= self.join < 1 + self.min_similarity:
            raise ValueError("join is a step down from min_similarity that keeps it above -1")
        if self.attach is not None and not -1 < self.min_similarity + self.attach < 1:
            raise ValueError("attach keeps min_similarity + attach a cosine similarity")
        if self.attach_margin < 0 or self.attach_min < 2:
            raise ValueError("attach_margin is at least 0 and attach_min at least 2")


@dataclass(frozen=True, slots=True)
class Clustering:
    """Which gap each utterance is in (``-1``: none), gaps numbered by size, largest first."""

    labels: np.ndarray
    similarity: np.ndarray  # to the centre of its gap; NaN outside gaps
    centroids: np.ndarray  # one unit row per gap
    min_similarity: float
    rounds: int

    @property
    def n_gaps(self) -> int:
        return int(self.centroids.shape[0])


# Rows normalised at a time by :func:`_unit`: its temporaries stay a few MB at any size.
UNIT_CHUNK = 8192


def _unit(
    rows: np.ndarray, minus: np.ndarray | None = None, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Unit float32 rows of ``rows`` (less ``minus`` first, where given), a chunk of rows at a
    time, into ``out`` (a new array unless given: ``rows`` itself may be). Each row's norm and
    quotient are its own, so the chunks give the same bits as the whole array at once, without
    its float64 copies (``rows - minus`` is float64 where the centre is)."""
    out = np.empty(rows.shape, dtype=np.float32) if out is None else out
    for i in range(0, len(rows), UNIT_CHUNK):
        part = rows[i : i + UNIT_CHUNK]
        if minus is not None:
            part = part - minus
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        out[i : i + UNIT_CHUNK] = part / norms
    return out


def cosine_distances(rows: np.ndarray) -> np.ndarray:
    """Condensed cosine distances (SciPy's ``pdist`` layout) between unit ``rows``, in float64,
    clipped to [0, 2].

    One matrix product: ``x @ x.T`` is exactly symmetric (NumPy computes it as one symmetric
    product), so the upper triangle is read as is; symmetrising the full matrix first (each
    entry the mean of itself and its mirror, the same number) was as costly again as the
    product and gave the same bits (``tests/detect/gaps/test_cluster.py`` checks it).

    Support traffic repeats itself (a sample of 4,000 candidates of the demo holds about
    2,750 distinct vectors): the product is taken over the distinct rows only and each pair's
    entry read from it. An entry is the dot product of the same two rows either way, one
    multiply-add after another along the row, so the bits are the same (checked on real
    utterances in the same tests), for about half the multiplications and memory.
    """
    x = np.ascontiguousarray(rows, dtype=np.float64)
    distinct, index = _distinct_rows(x)
    if len(distinct) < len(x):
        return _expand(_distances(distinct), index)
    full = x @ x.T
    # The upper triangle taken first, then made distances: each entry the same operations
    # on the same number, over half the entries.
    condensed: np.ndarray = squareform(full, checks=False)
    del full
    np.subtract(1.0, condensed, out=condensed)
    np.clip(condensed, 0.0, 2.0, out=condensed)
    return condensed


def _distinct_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows of ``x`` that differ bit for bit, in order of first appearance, and for each
    row of ``x`` its row among them."""
    seen: dict[bytes, int] = {}
    first: list[int] = []
    index = np.empty(len(x), dtype=np.int64)
    for i, row in enumerate(x):
        k = seen.setdefault(row.tobytes(), len(first))
        if k == len(first):
            first.append(i)
        index[i] = k
    return x[first], index


def _distances(x: np.ndarray) -> np.ndarray:
    """``1 - x @ x.T`` clipped to [0, 2], the full square (float64 unit rows)."""
    full: np.ndarray = x @ x.T
    np.subtract(1.0, full, out=full)
    np.clip(full, 0.0, 2.0, out=full)
    return full


def _expand(full: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The condensed distances between the rows that ``index`` names in ``full``: row ``i``
    of the condensed layout holds ``full[index[i], index[i + 1:]]`` (the indices are in range:
    ``clip`` only spares ``take`` the buffered copy its bounds checks make)."""
    n = len(index)
    out = np.empty(n * (n - 1) // 2, dtype=np.float64)
    start = 0
    for i in range(n - 1):
        end = start + n - 1 - i
        np.take(full[index[i]], index[i + 1 :], out=out[start:end], mode="clip")
        start = end
    return out


def _linkage_clusters(vectors: np.ndarray, min_similarity: float) -> np.ndarray:
    """Average-linkage clusters (0-based labels) cut at cosine distance 1 - min_similarity."""
    if vectors.shape[0] == 1:
        return np.zeros(1, dtype=np.int64)
    # Unit rows: cosine distance is 1 - dot product; one matrix product beats pdist's loop.
    tree = linkage(cosine_distances(vectors), method="average")
    labels: np.ndarray = fcluster(tree, t=1.0 - min_similarity, criterion="distance") - 1
    return labels.astype(np.int64)


CENTRE_NEIGHBOUR = 0.7
# Fewer regions of near-paraphrases than this and the traffic has no background to speak of
# (one or two requests: centred, they would be their own background and vanish).
MIN_REGIONS = 30


def _rows(x: np.ndarray, index: np.ndarray | None, rows: np.ndarray | None) -> np.ndarray:
    """The vectors of the utterances ``rows`` (None: all of them), where utterance ``i``'s
    vector is ``x[index[i]]`` (``x[i]`` without ``index``)."""
    if index is None:
        out: np.ndarray = x if rows is None else x[rows]
    else:
        out = x[index] if rows is None else x[index[rows]]
    return out


def _nearest(
    x: np.ndarray, index: np.ndarray | None, rows: np.ndarray, means: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each utterance of ``rows``, the row of ``means`` its vector is most similar to and
    that similarity. The product is taken once per distinct vector among them (``index``
    names them; without it, per row, on ``x`` itself where ``rows`` are all of its rows): an
    utterance repeated a thousand times costs one row of it, not a thousand, and each copy
    gets the same answer."""
    if index is None:
        distinct, inverse = rows, None
    else:
        distinct, inverse = np.unique(index[rows], return_inverse=True)
    part = x if len(distinct) == len(x) else x[distinct]
    affinity = part @ means.T
    del part
    best = affinity.argmax(axis=1)
    top = affinity[np.arange(len(distinct)), best]
    if inverse is None:
        return best, top
    return best[inverse], top[inverse]


def regions(
    vectors: np.ndarray, sample_size: int = 4000, *, index: np.ndarray | None = None
) -> float:
    """How many regions of near-paraphrases the traffic holds: each utterance counts one over
    its number of neighbours at similarity :data:`CENTRE_NEIGHBOUR` or more (over a seeded
    sample of at most ``sample_size``). ``index``: see :func:`cluster_utterances`."""
    n = len(vectors) if index is None else len(index)
    if n == 0:
        return 0.0
    x = np.asarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(0)
    # The sample first, then its rows made unit (row by row: the same rows as before).
    pick = None if n <= sample_size else rng.choice(n, sample_size, replace=False)
    rows = _unit(_rows(x, index, pick))
    near = (rows @ rows.T >= CENTRE_NEIGHBOUR).sum(axis=1)
    return float((1.0 / near).sum())


def background(
    x: np.ndarray,
    params: ClusterParams,
    rng: np.random.Generator,
    *,
    index: np.ndarray | None = None,
) -> np.ndarray:
    """What the utterances share: their mean, each counted against how many near-paraphrases
    it has (similarity at least :data:`CENTRE_NEIGHBOUR`, over a sample of at most
    ``sample_size``), so that one request asked very often weighs as one region of the
    traffic, not as most of it. ``index``: see :func:`cluster_utterances`."""
    n = len(x) if index is None else len(index)
    pick = None if n <= params.sample_size else rng.choice(n, params.sample_size, replace=False)
    rows = _rows(x, index, pick)
    near = (rows @ rows.T >= CENTRE_NEIGHBOUR).sum(axis=1)
    out: np.ndarray = (rows / near[:, None]).sum(axis=0) / (1.0 / near).sum()
    return out


# Clusterings under way in this process without huge pages (:func:`small_pages`), and
# NumPy's own choice before the first of them.
_PAGES_LOCK = threading.Lock()
_PAGES_HELD = [0, True]


@contextmanager
def small_pages() -> Iterator[None]:
    """NumPy asks the kernel for transparent huge pages for each array of 4 MB or more. The
    clustering's big arrays are written once and read once or twice (each linkage round's
    distances: about 64 MB at 4,000 utterances, three copies of them), so huge pages buy them
    nothing, while handing them out cost the kernel's time: the demo's ten clusterings took
    20.4 s of CPU in ordinary pages against 26.2 s (``docs/knowledge-gaps.md``). Inside, this
    process's new arrays take ordinary pages; NumPy's own choice comes back when the last
    clustering in the process ends. Which pages hold an array changes none of its bits."""
    with _PAGES_LOCK:
        if _PAGES_HELD[0] == 0:
            _PAGES_HELD[1] = _set_madvise_hugepage(False)
        _PAGES_HELD[0] += 1
    try:
        yield
    finally:
        with _PAGES_LOCK:
            _PAGES_HELD[0] -= 1
            if _PAGES_HELD[0] == 0:
                _set_madvise_hugepage(bool(_PAGES_HELD[1]))


def cluster_utterances(
    vectors: np.ndarray,
    params: ClusterParams | None = None,
    *,
    overwrite: bool = False,
    index: np.ndarray | None = None,
) -> Clustering:
    """Cluster unit-length ``vectors`` into gaps (see the module docstring).

    ``overwrite``: ``vectors`` (float32) may be made unit in place, for a caller done with
    them: one copy of the utterances' vectors fewer while they are clustered, the same bits.

    ``index``: utterance ``i``'s vector is ``vectors[index[i]]`` (the distinct texts' vectors
    and each utterance's text: support traffic repeats itself, and one row per utterance held
    about 1.5 KB for each, growing with the traffic). The same clustering as of
    ``vectors[index]``, where the similarities to the gaps, taken once per distinct vector
    instead of once per utterance, fall on the same side of every cut and choice (one matrix
    product may round a row's last bit differently from another product holding it among
    other rows); the labels are numbered over the utterances. Its arrays take
    ordinary pages (:func:`small_pages`)."""
    with small_pages():
        return _cluster_utterances(vectors, params, overwrite=overwrite, index=index)


def _cluster_utterances(
    vectors: np.ndarray,
    params: ClusterParams | None,
    *,
    overwrite: bool,
    index: np.ndarray | None,
) -> Clustering:
    params = params or ClusterParams()
    n = vectors.shape[0] if index is None else len(index)
    labels = np.full(n, -1, dtype=np.int64)
    if n < params.min_gap_size:
        dim = vectors.shape[1] if vectors.ndim == 2 else 0
        return Clustering(labels, np.full(n, np.nan), np.zeros((0, dim)), params.min_similarity, 0)
    own = overwrite and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    original = _unit(vectors, out=vectors) if own else _unit(np.asarray(vectors, np.float32))
    rng = np.random.default_rng(params.seed)
    x = (
        _unit(original, background(original, params, rng, index=index))
        if params.centre
        else original
    )
    # Per gap: the sum of its members' vectors and their count. x @ (sum / count) is the
    # average similarity of x to the members: the quantity average linkage cuts on.
    sums: list[np.ndarray] = []
    counts: list[int] = []
    rounds = 0
    for step in (0.0, *params.relax):
        first = len(sums)
        rounds += _cluster_pass(
            x, labels, params.min_similarity - step, params, rng, sums, counts, first, index
        )
        # Gaps of this pass that stayed below the minimum size are not gaps; their utterances
        # get another look in the next, looser pass.
        if not counts:
            continue  # no gap yet (a pass that found nothing)
        sizes = np.bincount(labels[labels >= 0], minlength=len(counts))
        small = sizes < params.min_gap_size
        labels[(labels >= 0) & small[np.maximum(labels, 0)]] = -1
    if params.join is not None:
        _join(x, labels, params.min_similarity - params.join, index=index)
    # Centres and members' similarity to them in the encoder's own space, whatever the
    # clustering measured: labels, ids and types compare them across runs and with intents.
    return _finish(original, labels, params.min_similarity, rounds, index=index)


def _cluster_pass(
    x: np.ndarray,
    labels: np.ndarray,
    s: float,
    params: ClusterParams,
    rng: np.random.Generator,
    sums: list[np.ndarray],
    counts: list[int],
    first: int,
    index: np.ndarray | None = None,
) -> int:
    """Steps 1-5 at similarity ``s`` over the utterances in no gap yet, making gaps numbered
    from ``first`` on (earlier passes' gaps are neither joined nor grown); the rounds it took.
    ``index``: see :func:`cluster_utterances`."""
    rounds = 0
    remaining = np.flatnonzero(labels < 0)
    while rounds < params.max_rounds and len(remaining) >= params.min_gap_size:
        rounds += 1
        exhaustive = len(remaining) <= params.sample_size
        sample = (
            remaining
            if exhaustive
            else np.sort(rng.choice(remaining, params.sample_size, replace=False))
        )
        local = _linkage_clusters(_rows(x, index, sample), s)
        sizes = np.bincount(local)
        # A gap shows in a sample at its sampled size; below three that is chance.
        scale = len(remaining) / len(sample)
        smallest = params.min_gap_size if exhaustive else max(3, round(params.min_gap_size / scale))
        kept = np.flatnonzero(sizes >= smallest)
        if len(kept) == 0:
            break
        # A new cluster as close on average to a gap of an earlier round as linkage allows
        # joins it (clusters of this round are apart by construction).
        earlier = (
            np.stack([t / k for t, k in zip(sums[first:], counts[first:], strict=True)])
            if len(sums) > first
            else None
        )
        target = np.empty(len(kept), dtype=np.int64)
        for i, c in enumerate(kept):
            rows = _rows(x, index, sample[local == c])
            gap = -1
            if earlier is not None:
                close = earlier @ rows.mean(axis=0)
                gap = first + int(np.argmax(close)) if close.max() >= s else -1
            if gap < 0:
                sums.append(np.zeros(x.shape[1], dtype=np.float64))
                counts.append(0)
                gap = len(sums) - 1
            sums[gap] += rows.sum(axis=0)
            counts[gap] += len(rows)
            target[i] = gap
        means = np.stack([t / k for t, k in zip(sums[first:], counts[first:], strict=True)]).astype(
            np.float32
        )
        best, top = _nearest(x, index, remaining, means)
        best += first
        joins = top >= s
        del top
        # Sampled members stay with the cluster linkage put them in.
        pos = np.searchsorted(remaining, sample)
        member = np.isin(local, kept)
        index_of = {int(c): int(target[i]) for i, c in enumerate(kept)}
        best[pos[member]] = [index_of[int(c)] for c in local[member]]
        joins[pos[member]] = True
        labels[remaining[joins]] = best[joins]
        remaining = remaining[~joins]
        if exhaustive:
            break
    return rounds


def _join(x: np.ndarray, labels: np.ndarray, s: float, *, index: np.ndarray | None = None) -> None:
    """Step 7: each utterance in no gap joins the gap whose members it is closest to on
    average, when that average similarity is at least ``s`` (``labels`` changed in place;
    the gaps are those before any joins). ``index``: see :func:`cluster_utterances`."""
    free = np.flatnonzero(labels < 0)
    if len(free) == 0 or labels.max() < 0:
        return
    inside = np.flatnonzero(labels >= 0)
    counts = np.bincount(labels[inside])
    sums = np.zeros((len(counts), x.shape[1]), dtype=np.float64)
    # A chunk of members at a time, in their order: the same additions in the same order as
    # all of them at once, without a copy of every member's vector.
    for i in range(0, len(inside), UNIT_CHUNK):
        part = inside[i : i + UNIT_CHUNK]
        np.add.at(sums, labels[part], _rows(x, index, part))
    present = counts > 0
    means = (sums[present] / counts[present, None]).astype(np.float32)
    gaps = np.flatnonzero(present)
    best, top = _nearest(x, index, free, means)
    close = top >= s
    labels[free[close]] = gaps[best[close]]


def attach_to_intents(
    vectors: np.ndarray,
    clustering: Clustering,
    centres: np.ndarray,
    params: ClusterParams,
    *,
    overwrite: bool = False,
    index: np.ndarray | None = None,
) -> tuple[Clustering, dict[int, int]]:
    """A known intent's misses, attached to it: each utterance in no gap whose nearest known
    intent (``centres``, unit rows, one per intent) is at least ``min_similarity +
    params.attach`` similar and ahead of the second nearest by ``params.attach_margin`` goes
    to that intent; an intent with at least ``params.attach_min`` of them gets one gap of its
    own (not the gap of another request that happens to sit near it). Returns the clustering
    (gaps renumbered by size) and, for each gap made here, the row of ``centres`` it belongs
    to. Without ``params.attach`` or with fewer than two intents, nothing changes.

    ``overwrite``: as for :func:`cluster_utterances` (``vectors`` made unit in place, the same
    bits, one copy of them fewer); ``index`` as there too."""
    labels = clustering.labels
    free = np.flatnonzero(labels < 0)
    if params.attach is None or len(centres) < 2 or len(free) == 0:
        return clustering, {}
    own = overwrite and vectors.dtype == np.float32 and vectors.flags.c_contiguous
    x = _unit(vectors, out=vectors) if own else _unit(np.asarray(vectors, np.float32))
    # Once per distinct vector among them (see :func:`_nearest`).
    if index is None:
        distinct, inverse = free, None
    else:
        distinct, inverse = np.unique(index[free], return_inverse=True)
    sims = x[distinct] @ np.asarray(centres, dtype=np.float32).T
    order = np.argsort(-sims, axis=1)[:, :2]
    first = sims[np.arange(len(distinct)), order[:, 0]]
    second = sims[np.arange(len(distinct)), order[:, 1]]
    del sims
    if inverse is not None:
        order, first, second = order[inverse], first[inverse], second[inverse]
    ok = (first >= params.min_similarity + params.attach) & (first - second >= params.attach_margin)
    intent = order[:, 0]
    counts = np.bincount(intent[ok], minlength=len(centres))
    ok &= counts[intent] >= params.attach_min
    if not ok.any():
        return clustering, {}
    raw = labels.copy()
    base = clustering.n_gaps
    raw[free[ok]] = base + intent[ok]
    out = _finish(x, raw, clustering.min_similarity, clustering.rounds, index=index)
    # Each gap's first member says where it came from (one pass over the labels, not one a gap).
    gaps, first_members = np.unique(out.labels, return_index=True)
    made: dict[int, int] = {}
    for g, first_member in zip(gaps.tolist(), first_members.tolist(), strict=True):
        if g >= 0 and raw[first_member] >= base:
            made[g] = int(raw[first_member] - base)
    return out, made


def members(labels: np.ndarray, k: int) -> list[np.ndarray]:
    """The rows of each gap ``0 .. k - 1`` in ascending order: ``np.flatnonzero(labels ==
    g)`` for each ``g``, from one sort of the labels instead of one pass over them a gap."""
    order = np.argsort(labels, kind="stable")  # equal labels keep their rows' order
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    return [order[bounds[g] : bounds[g + 1]] for g in range(k)]


def _finish(
    x: np.ndarray,
    labels: np.ndarray,
    threshold: float,
    rounds: int,
    *,
    index: np.ndarray | None = None,
) -> Clustering:
    """Number gaps by size (largest first) and measure members against their final centre.
    ``index``: see :func:`cluster_utterances`."""
    n = len(labels)
    if n == 0 or labels.max() < 0:
        return Clustering(labels, np.full(n, np.nan), np.zeros((0, x.shape[1])), threshold, rounds)
    sizes = np.bincount(labels[labels >= 0])
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] > 0]
    remap = np.full(len(sizes), -1, dtype=np.int64)
    remap[order] = np.arange(len(order))
    out = np.where(labels >= 0, remap[np.maximum(labels, 0)], -1)
    centres = _unit(
        np.stack([_rows(x, index, rows).mean(axis=0) for rows in members(out, len(order))])
    )
    similarity = np.full(n, np.nan)
    # A chunk of members at a time: each row's sum is its own (the same bits as all rows at
    # once), without two copies of every member's vector (its own and its centre's).
    inside = np.flatnonzero(out >= 0)
    for i in range(0, len(inside), UNIT_CHUNK):
        part = inside[i : i + UNIT_CHUNK]
        similarity[part] = np.einsum("ij,ij->i", _rows(x, index, part), centres[out[part]])
    return Clustering(out, similarity, centres, threshold, rounds)

"""Two ways of choosing gaps that were measured and not adopted, with their figures.

Both run in-process on the development sets' simulated deployments (``bench/gaps_sets.py``),
with the product's encoder and clustering (:func:`daytwo.detect.gaps.cluster.cluster_utterances`)
but without the ingest: a candidate is an utterance whose answer fell back or had a confidence
under 0.5, and a known intent's examples are the first 20 confidently answered utterances the
bot gave it. Scores are :func:`bench.gaps.partition_scores`, as in ``python -m bench gaps``.

- ``whitening`` (with a bot): the candidates' vectors are whitened by the known intents'
  within-intent covariance (shrunk towards its mean eigenvalue by ``lam``), so that the
  directions in which wordings of one intent vary count less; the granularity is then read on
  the whitened examples and the gaps cut there plus an offset. ``lam`` and the offset are chosen
  leave-one-dataset-out (the worst margin to the targets over the other two sets), as the gaps
  benchmark chooses its tuning; ``lam = null`` is the shipped method.
- ``unhandled_cuts`` (nothing handled, no known intents): the scores at every cut from 0.20 to
  0.80, whether any single cut meets the three targets at once, and the cut a silhouette
  criterion picks from the data alone (the cut of a 2,000-utterance sample's average-linkage
  tree whose clusters of at least 5 have the largest silhouette, summed over the sample).

    python -m bench gaps_alternatives
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.gaps import QUALITY, TARGETS, margin, partition_scores, unhandled
from bench.gaps_sets import DEVELOPMENT, LOADERS, Bot, simulate_bot

LAMS: tuple[float | None, ...] = (None, 0.3, 1.0, 3.0)
OFFSETS = (-0.05, 0.0, 0.05, 0.10)
CUTS = tuple(float(v) for v in np.round(np.arange(0.20, 0.801, 0.025), 3))
SEEDS = (0, 1, 2)
EXAMPLES = 20


def _unit(x: np.ndarray) -> np.ndarray:
    out: np.ndarray = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return out


def whitener(examples: np.ndarray, names: list[str], lam: float) -> Callable[..., np.ndarray]:
    """Whitening by the within-intent covariance of ``examples``, shrunk by ``lam`` times its
    mean eigenvalue (scale-free)."""
    labels = np.array(names)
    parts = [examples[labels == n] for n in sorted(set(names))]
    residual = np.concatenate([p - p.mean(axis=0) for p in parts if len(p) >= 2])
    eig, vec = np.linalg.eigh(residual.T @ residual / len(residual))
    eig = np.maximum(eig, 0.0)
    transform = (vec / np.sqrt(eig + lam * eig.mean())) @ vec.T
    centre = examples.mean(axis=0)
    return lambda x: _unit((x - centre) @ transform)


def _deployment(bot: Bot, encoder: Any) -> dict[str, Any]:
    from daytwo.detect.gaps.service import _embed

    cand = np.flatnonzero(bot.fallback | (bot.confidence < 0.5))
    per: dict[str, int] = {}
    good: list[int] = []
    for k in np.flatnonzero(~bot.fallback & (bot.confidence >= 0.5)):
        if per.get(bot.guess[k], 0) < EXAMPLES:
            per[bot.guess[k]] = per.get(bot.guess[k], 0) + 1
            good.append(int(k))
    return {
        "bot": bot,
        "cand": cand,
        "vectors": _embed(encoder, [bot.rows[int(k)][0] for k in cand]),
        "examples": _embed(encoder, [bot.rows[k][0] for k in good]) if good else None,
        "names": [bot.guess[k] for k in good],
    }


def _score(dep: dict[str, Any], labels: np.ndarray) -> dict[str, float]:
    bot: Bot = dep["bot"]
    assigned: list[str | None] = [None] * len(bot.rows)
    for row, lab in zip(dep["cand"], labels, strict=True):
        if lab >= 0:
            assigned[int(row)] = str(int(lab))
    scores = partition_scores(bot.truth, assigned, set(bot.hidden), [bool(f) for f in bot.fallback])
    return {k: scores[k] for k in (*QUALITY, "gaps", "coverage")}


def whitening(deps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from daytwo.detect.gaps.cluster import ClusterParams, cluster_utterances
    from daytwo.detect.gaps.granularity import intent_granularity

    grid: dict[str, dict[str, dict[str, float]]] = {}
    for name, dep in deps.items():
        grid[name] = {}
        for lam in LAMS:
            f = (lambda x: x) if lam is None else whitener(dep["examples"], dep["names"], lam)
            granularity = intent_granularity(f(dep["examples"]), dep["names"])
            assert granularity is not None
            vectors = f(dep["vectors"])
            for offset in OFFSETS:
                cut = round(granularity.similarity + offset, 3)
                labels = cluster_utterances(vectors, ClusterParams(min_similarity=cut, relax=()))
                grid[name][f"{lam}/{offset}"] = _score(dep, labels.labels)

    def mean_of(s: str, key: str) -> dict[str, float]:
        runs = [g[key] for n, g in grid.items() if n.split("/")[0] == s]
        return {k: float(np.mean([r[k] for r in runs])) for k in QUALITY}

    sets = sorted({n.split("/")[0] for n in grid})
    out: dict[str, Any] = {"held_out": {}, "grid": grid}
    for variant, lams in (("shipped", [None]), ("whitened", [x for x in LAMS if x is not None])):
        keys = [f"{lam}/{o}" for lam, o in itertools.product(lams, OFFSETS)]
        out["held_out"][variant] = {}
        for held in sets:
            others = [s for s in sets if s != held]
            key = max(keys, key=lambda k: margin([mean_of(s, k) for s in others]))
            out["held_out"][variant][held] = {"chosen_on_others": key, **mean_of(held, key)}
    return out


def silhouette_cut(vectors: np.ndarray, sample: int = 2000, smallest: int = 5) -> dict[str, Any]:
    """The cut of :data:`CUTS` whose clusters of at least ``smallest`` hold the largest summed
    silhouette over a seeded sample (the rest count 0)."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform
    from sklearn.metrics import silhouette_samples

    rng = np.random.default_rng(0)
    x = vectors[np.sort(rng.choice(len(vectors), min(sample, len(vectors)), replace=False))]
    x = x.astype(np.float64)
    distance = np.clip(1.0 - x @ x.T, 0.0, 2.0)
    distance = (distance + distance.T) / 2
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    curve: dict[float, float] = {}
    for cut in CUTS:
        labels = fcluster(tree, t=1.0 - cut, criterion="distance")
        if not 1 < len(set(labels)) < len(labels):
            curve[cut] = -1.0
            continue
        values = silhouette_samples(distance, labels, metric="precomputed")
        big = np.bincount(labels)[labels] >= smallest
        curve[cut] = float(values[big].sum() / len(values))
    return {"cut": max(curve, key=lambda c: curve[c]), "curve": curve}


def unhandled_cuts(deps: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from daytwo.detect.gaps.cluster import ClusterParams, cluster_utterances

    out: dict[str, Any] = {}
    for name, dep in deps.items():
        scores = {}
        for cut in CUTS:
            labels = cluster_utterances(dep["vectors"], ClusterParams(min_similarity=cut, relax=()))
            scores[cut] = _score(dep, labels.labels)
        met = [c for c, s in scores.items() if all(s[k] >= TARGETS[k] for k in QUALITY)]
        chosen = silhouette_cut(dep["vectors"])
        out[name] = {
            "cuts_meeting_all_three": met,
            "best_worst_margin": max(margin([s])[0] for s in scores.values()),
            "silhouette": {"cut": chosen["cut"], **scores[chosen["cut"]]},
            "silhouette_curve": chosen["curve"],
            "scores": scores,
        }
    return out


def run(sets: tuple[str, ...] = DEVELOPMENT, encoder_name: str = "minilm") -> dict[str, Any]:
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder(encoder_name)
    with_bot: dict[str, dict[str, Any]] = {}
    nothing: dict[str, dict[str, Any]] = {}
    for s in sets:
        data = LOADERS[s]()
        for seed in SEEDS:
            bot = simulate_bot(data, seed)
            with_bot[f"{s}/{seed}"] = _deployment(bot, encoder)
        # Nothing handled: the same traffic whatever the seed.
        nothing[s] = _deployment(unhandled(bot), encoder)
        print(s, "embedded", flush=True)
    return {
        "encoder": encoder_name,
        "seeds": list(SEEDS),
        "whitening": whitening(with_bot),
        "unhandled_cuts": unhandled_cuts(nothing),
    }

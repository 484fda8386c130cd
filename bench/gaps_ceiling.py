"""How far an encoder lets intents be told apart at all: an upper bound for the gaps' scores.

Per development set and encoder, a sample of the set's test utterances (the traffic a
deployment would see with nothing handled, out-of-scope queries left out) is clustered by
k-means **given the true number of intents** (an oracle the product never gets) and scored
with NMI and ARI against the true intents; twice that number shows what splitting costs.
When this oracle stays under a target, no choice of the number of gaps or of where one ends
reaches it with that encoder: the encoder is the limit, not the granularity.

    python -m bench gaps_ceiling
    python -m bench.gaps_ceiling --transforms   # MiniLM's vectors post-processed, see below

``--transforms`` asks the same oracle whether MiniLM's vectors, post-processed on the traffic's
own sample, separate intents better: centred (its mean taken away), "all-but-the-top" (also its
top principal directions, 1, 2, 5 or 8), and whitened (each direction of its covariance scaled to
unit variance, its eigenvalues raised by a share of their mean first). The k-means runs on the
rows made unit again, so it cuts on cosine similarity as the gaps do.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from bench.gaps_sets import DEVELOPMENT, LOADERS

SAMPLE = 3000


def ceiling(
    sets: list[str], encoders: list[str], seed: int = 0, sample: int = SAMPLE
) -> dict[str, Any]:
    """``{encoder: {set: {"k", "utterances", "nmi_at_k", "ari_at_k", "nmi_at_2k", ...}}}``."""
    from daytwo.detect.gaps.encoders import get_encoder

    out: dict[str, Any] = {}
    for name in encoders:
        encoder = get_encoder(name)
        per_set: dict[str, Any] = {}
        for dataset in sets:
            rows = list(LOADERS[dataset]().test)
            rng = np.random.default_rng(seed)
            if len(rows) > sample:
                rows = [rows[i] for i in rng.choice(len(rows), sample, replace=False)]
            vectors = encoder.encode([t for t, _ in rows])
            truth = [i for _, i in rows]
            k = len(set(truth))
            scores: dict[str, Any] = {"k": k, "utterances": len(rows)}
            for factor, tag in ((1, "k"), (2, "2k")):
                labels = KMeans(factor * k, n_init=3, random_state=seed).fit_predict(vectors)
                scores[f"nmi_at_{tag}"] = float(normalized_mutual_info_score(truth, labels))
                scores[f"ari_at_{tag}"] = float(adjusted_rand_score(truth, labels))
            per_set[dataset] = scores
        out[name] = per_set
    return out


TOPS = (1, 2, 5, 8)
SHRINKS = (0.3, 1.0, 3.0)


def transformed_ceiling(
    sets: list[str], seed: int = 0, sample: int = SAMPLE
) -> dict[str, dict[str, dict[str, float]]]:
    """``{set: {transform: {"nmi_at_k", "ari_at_k"}}}`` for MiniLM's vectors, raw and
    post-processed (:func:`bench.gaps_variants.all_but_the_top`, :func:`~bench.gaps_variants.
    whitened`), fitted on the sample itself."""
    from bench.gaps_variants import all_but_the_top, whitened
    from daytwo.detect.gaps.encoders import get_encoder

    encoder = get_encoder("minilm")
    out: dict[str, dict[str, dict[str, float]]] = {}
    for dataset in sets:
        rows = list(LOADERS[dataset]().test)
        rng = np.random.default_rng(seed)
        if len(rows) > sample:
            rows = [rows[i] for i in rng.choice(len(rows), sample, replace=False)]
        x = encoder.encode([t for t, _ in rows])
        truth = [i for _, i in rows]
        k = len(set(truth))
        forms = {
            "raw": x,
            "centred": all_but_the_top(x, len(x), 0),
            **{f"top_{d}_removed": all_but_the_top(x, len(x), d) for d in TOPS},
            **{f"whitened_{a}": whitened(x, len(x), a) for a in SHRINKS},
        }
        per: dict[str, dict[str, float]] = {}
        for name, v in forms.items():
            labels = KMeans(k, n_init=3, random_state=seed).fit_predict(v)
            per[name] = {
                "nmi_at_k": float(normalized_mutual_info_score(truth, labels)),
                "ari_at_k": float(adjusted_rand_score(truth, labels)),
            }
            print(dataset, name, *(round(f, 3) for f in per[name].values()), flush=True)
        out[dataset] = per
    return out


def run() -> dict[str, Any]:
    return {"oracle_kmeans": ceiling(list(DEVELOPMENT), ["minilm", "wordllama"])}


def main() -> None:
    import argparse
    import json

    from bench.__main__ import RESULTS, _environment

    parser = argparse.ArgumentParser(prog="python -m bench.gaps_ceiling", description=__doc__)
    parser.add_argument("--transforms", action="store_true", help="MiniLM post-processed")
    parser.add_argument("--sets", nargs="+", default=list(DEVELOPMENT))
    parser.add_argument("--out", default="gaps_ceiling_transforms.json")
    args = parser.parse_args()
    if not args.transforms:
        parser.error("python -m bench gaps_ceiling runs the plain ceiling")
    result = {
        "benchmark": "gaps_ceiling_transforms",
        "environment": _environment(),
        "oracle_kmeans_minilm": transformed_ceiling(args.sets),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""How far an encoder lets intents be told apart at all: an upper bound for the gaps' scores.

Per development set and encoder, a sample of the set's test utterances (the traffic a
deployment would see with nothing handled, out-of-scope queries left out) is clustered by
k-means **given the true number of intents** (an oracle the product never gets) and scored
with NMI and ARI against the true intents; twice that number shows what splitting costs.
When this oracle stays under a target, no choice of the number of gaps or of where one ends
reaches it with that encoder: the encoder is the limit, not the granularity.

    python -m bench gaps_ceiling
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


def run() -> dict[str, Any]:
    return {"oracle_kmeans": ceiling(list(DEVELOPMENT), ["minilm", "wordllama"])}

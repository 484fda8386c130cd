"""How each encoder's gap similarity was chosen: on CLINC150's ``val`` split, never ``test``.

The same simulated bot as ``bench/gaps.py`` (its own seeds, 100 and up, so other intents are
hidden), answering the ``val`` and ``oos_val`` utterances; the candidates (fallback or low
confidence) are clustered at each similarity on a grid and scored as the benchmark scores
(NMI over in-scope fallbacks, hidden-intent recall). The chosen value per encoder is the one
with the best mean of the two. Then, at that similarity, the looser passes (``relax``) are
chosen the same way from :data:`RELAX`; ``bench/gaps.py`` then measures both on ``test``.

    python -m bench.gaps_calibration
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench.gaps import load_clinc, partition_scores, simulate_bot

GRID = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
# The looser passes over what no gap holds, tried at each encoder's chosen similarity.
RELAX = ((), (0.05,), (0.10,), (0.05, 0.10), (0.05, 0.10, 0.15), (0.10, 0.20))
SEEDS = (100, 101, 102)


def main() -> None:
    from daytwo.detect.gaps.cluster import ClusterParams, cluster_utterances
    from daytwo.detect.gaps.encoders import ENCODERS, get_encoder
    from daytwo.interactions.facts import LOW_CONFIDENCE

    data = load_clinc()
    bots = []
    for seed in SEEDS:
        bot = simulate_bot(data, seed, split="val")
        cand = np.flatnonzero(bot["confidence"] < LOW_CONFIDENCE)
        bots.append((bot, cand, [bot["rows"][int(k)][0] for k in cand]))

    def score(vectors: list[np.ndarray], params: ClusterParams) -> dict[str, float]:
        runs = []
        for (bot, cand, _), x in zip(bots, vectors, strict=True):
            truth = [i for _, i in bot["rows"]]
            labels = cluster_utterances(x, params).labels
            assigned: list[str | None] = [None] * len(truth)
            for k, lab in zip(cand, labels, strict=True):
                if lab >= 0:
                    assigned[int(k)] = str(lab)
            fallback = [bool(f) for f in bot["fallback"]]
            runs.append(partition_scores(truth, assigned, bot["hidden"], fallback))
        return {k: float(np.mean([r[k] for r in runs])) for k in ("nmi", "hidden_recall")}

    out: dict[str, Any] = {}
    for name in ENCODERS:
        encoder = get_encoder(name)
        vectors = [encoder.encode(texts) for _, _, texts in bots]
        rows = {
            str(sim): score(vectors, ClusterParams(min_similarity=sim, relax=())) for sim in GRID
        }
        best = max(rows, key=lambda s: rows[s]["nmi"] + rows[s]["hidden_recall"])
        relaxed = {
            str(list(r)): score(vectors, ClusterParams(min_similarity=float(best), relax=r))
            for r in RELAX
        }
        chosen = max(relaxed, key=lambda r: relaxed[r]["nmi"] + relaxed[r]["hidden_recall"])
        out[name] = {
            "grid": rows,
            "chosen": float(best),
            "relax_grid": relaxed,
            "chosen_relax": json.loads(chosen),
        }
    from bench.__main__ import RESULTS, _environment

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "gaps_calibration", "environment": _environment(), "seeds": SEEDS, **out}
    (RESULTS / "gaps_calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

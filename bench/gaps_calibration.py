"""How each encoder's gap similarity was chosen: on CLINC150's ``val`` split, never ``test``.

The same simulated bot as ``bench/gaps.py`` (its own seeds, 100 and up, so other intents are
hidden), answering the ``val`` and ``oos_val`` utterances; the candidates (fallback or low
confidence) are clustered at each similarity on a grid and scored as the benchmark scores
(NMI over in-scope fallbacks, hidden-intent recall). The chosen value per encoder is the one
with the best mean of the two; ``bench/gaps.py`` then measures it on ``test``.

    python -m bench.gaps_calibration
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from bench.gaps import load_clinc, partition_scores, simulate_bot

GRID = (0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60)
SEEDS = (100, 101, 102)


def main() -> None:
    from daytwo.detect.gaps.cluster import ClusterParams, cluster_utterances
    from daytwo.detect.gaps.encoders import ENCODERS, get_encoder
    from daytwo.interactions.facts import LOW_CONFIDENCE

    data = load_clinc()
    table: dict[str, dict[float, list[dict[str, float]]]] = {n: {} for n in ENCODERS}
    for seed in SEEDS:
        bot = simulate_bot(data, seed, split="val")
        truth = [i for _, i in bot["rows"]]
        fallback = [bool(f) for f in bot["fallback"]]
        cand = np.flatnonzero(bot["confidence"] < LOW_CONFIDENCE)
        texts = [bot["rows"][int(k)][0] for k in cand]
        for name in ENCODERS:
            vectors = get_encoder(name).encode(texts)
            for sim in GRID:
                labels = cluster_utterances(vectors, ClusterParams(min_similarity=sim)).labels
                assigned: list[str | None] = [None] * len(truth)
                for k, lab in zip(cand, labels, strict=True):
                    if lab >= 0:
                        assigned[int(k)] = str(lab)
                scores = partition_scores(truth, assigned, bot["hidden"], fallback)
                table[name].setdefault(sim, []).append(scores)
    out: dict[str, Any] = {}
    for name, by_sim in table.items():
        rows = {
            str(sim): {k: float(np.mean([s[k] for s in runs])) for k in ("nmi", "hidden_recall")}
            for sim, runs in by_sim.items()
        }
        best = max(rows, key=lambda s: rows[s]["nmi"] + rows[s]["hidden_recall"])
        out[name] = {"grid": rows, "chosen": float(best)}
    from bench.__main__ import RESULTS, _environment

    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": "gaps_calibration", "environment": _environment(), "seeds": SEEDS, **out}
    (RESULTS / "gaps_calibration.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
